"""Optional webhook: each episode change POSTed as JSON to WEBHOOK_URL, from a background thread.

The sentinel only enqueues (a bounded queue: when it is full the change is dropped and counted, never waited for).
The thread retries a failed POST WEBHOOK_RETRIES times with exponential backoff (0.5 s, 1 s, 2 s … at most 10 s);
a change that still fails is logged and counted. Delivery is at least once per successful send attempt (a restart
re-sends the changes it publishes again); receivers deduplicate on `change_id`.
"""

from __future__ import annotations

import logging
import queue
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass

from config.settings import Settings

logger = logging.getLogger(__name__)

QUEUE_SIZE = 10_000
MAX_BACKOFF_S = 10.0


@dataclass
class WebhookStats:
    sent: int = 0
    failed: int = 0
    dropped: int = 0


class Webhook:
    """POSTs bodies to a URL in the background (see the module doc)."""

    def __init__(self, url: str, *, timeout_s: float, retries: int, backoff_s: float = 0.5) -> None:
        self.url, self.timeout_s, self.retries, self.backoff_s = url, timeout_s, retries, backoff_s
        self.stats = WebhookStats()
        self._queue: queue.Queue[bytes | None] = queue.Queue(QUEUE_SIZE)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)
        self._thread.start()

    @classmethod
    def from_settings(cls, settings: Settings) -> Webhook | None:
        if not settings.webhook_url:
            return None
        return cls(settings.webhook_url, timeout_s=settings.webhook_timeout_s, retries=settings.webhook_retries)

    def send(self, bodies: list[bytes]) -> None:
        """Enqueue without blocking; what does not fit is dropped and counted."""
        for body in bodies:
            try:
                self._queue.put_nowait(body)
            except queue.Full:
                self.stats.dropped += 1
                logger.warning("webhook queue full: a change was dropped (%d so far)", self.stats.dropped)

    def close(self, *, timeout_s: float = 5.0) -> None:
        """Deliver what is queued for at most `timeout_s`, then stop."""
        self._queue.put(None)
        self._thread.join(timeout_s)
        self._stop.set()

    def _run(self) -> None:
        while (body := self._queue.get()) is not None:
            if self._post(body):
                self.stats.sent += 1
            else:
                self.stats.failed += 1
                logger.warning(
                    "webhook %s: a change failed after %d attempts (%d failed so far)",
                    self.url,
                    self.retries + 1,
                    self.stats.failed,
                )

    def _post(self, body: bytes) -> bool:
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(
                self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    if 200 <= response.status < 300:
                        return True
            except (urllib.error.URLError, OSError) as exc:
                logger.debug("webhook attempt %d failed: %s", attempt + 1, exc)
            if attempt < self.retries and self._stop.wait(delay):
                return False
            delay = min(delay * 2, MAX_BACKOFF_S)
        return False
