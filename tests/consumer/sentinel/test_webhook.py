"""The webhook against a local HTTP server the test starts: JSON bodies, retries with backoff, failures counted,
the caller never blocked."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from consumer.sentinel.webhook import Webhook
from tests.kafka_helpers import wait_for


class Receiver(ThreadingHTTPServer):
    """Answers 500 to the first `failures` requests, then 204; keeps the bodies it accepted."""

    def __init__(self, failures: int) -> None:
        self.failures, self.attempts, self.bodies = failures, 0, []
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.attempts += 1
        ok = self.server.attempts > self.server.failures and self.headers["Content-Type"] == "application/json"
        if ok:
            self.server.bodies.append(json.loads(body))
        self.send_response(204 if ok else 500)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    server = Receiver(failures=request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("receiver", [2], indirect=True)
def test_failures_are_retried_with_backoff_until_delivered(receiver: Receiver) -> None:
    hook = Webhook(f"http://127.0.0.1:{receiver.server_port}/hook", timeout_s=2, retries=3, backoff_s=0.05)
    hook.send([b'{"change_id": "a", "change": "open"}', b'{"change_id": "b", "change": "resolve"}'])
    wait_for(lambda: hook.stats.sent == 2, timeout_s=10, what="both changes delivered")
    hook.close()
    assert [b["change_id"] for b in receiver.bodies] == ["a", "b"]
    assert receiver.attempts == 4 and hook.stats.failed == 0


@pytest.mark.parametrize("receiver", [100], indirect=True)
def test_a_failing_endpoint_is_counted_and_never_blocks_the_caller(receiver: Receiver) -> None:
    hook = Webhook(f"http://127.0.0.1:{receiver.server_port}/hook", timeout_s=2, retries=2, backoff_s=0.05)
    started = time.perf_counter()
    hook.send([b'{"change_id": "a"}'] * 3)
    assert time.perf_counter() - started < 0.05
    wait_for(lambda: hook.stats.failed == 3, timeout_s=10, what="three failures counted")
    hook.close()
    assert receiver.attempts == 9 and hook.stats.sent == 0 and receiver.bodies == []
