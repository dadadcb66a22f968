"""A full disk under the bronze ingest: wait and retry without losing the ingest's place."""

from __future__ import annotations

import logging
import time

from kafka import KafkaConsumer

from lake import delta_io

logger = logging.getLogger(__name__)

# A flush that finds the disk full keeps its records and retries after this backoff (doubling up to the maximum),
# with the partitions paused; a WARNING when it starts, then one every DISK_FULL_LOG_S while it lasts.
DISK_FULL_RETRY_S = (1.0, 60.0)
DISK_FULL_LOG_S = 300.0


class DiskFull:
    """A flush that failed for lack of disk space: the records stay buffered (and Kafka's offsets uncommitted), the
    partitions are paused so the buffer stops growing, and the flush is retried with backoff until space returns."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.retry_at = 0.0
        self.delay = DISK_FULL_RETRY_S[0]
        self.logged_at = 0.0

    def waiting(self, now: float) -> bool:
        return self.since is not None and now < self.retry_at

    def failed(self, consumer: KafkaConsumer, exc: BaseException, *, records: int) -> None:
        now = time.monotonic()
        if self.since is None:
            self.since, self.delay = now, DISK_FULL_RETRY_S[0]
            consumer.pause(*consumer.assignment())
        if now - self.logged_at >= DISK_FULL_LOG_S or self.logged_at == 0.0:
            self.logged_at = now
            logger.warning(
                "bronze flush failed, the disk is full (%s); keeping %d records buffered and retrying with "
                "backoff: free space under LAKE_ROOT",
                delta_io.one_line(str(exc)),
                records,
            )
        self.retry_at = now + self.delay
        self.delay = min(self.delay * 2, DISK_FULL_RETRY_S[1])

    def recovered(self, consumer: KafkaConsumer) -> None:
        if self.since is None:
            return
        logger.warning("disk space is back after %.0fs; bronze flushes again", time.monotonic() - self.since)
        self.since, self.logged_at = None, 0.0
        consumer.resume(*consumer.paused())
