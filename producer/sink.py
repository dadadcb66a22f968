"""The Kafka side of the producer: an idempotent, compressed, batching KafkaProducer with bounded waits, tracking
whether each valid event was delivered, failed or is still unconfirmed."""

from __future__ import annotations

import importlib.util
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.partitioner.default import murmur2
from kafka.producer.future import FutureRecordMetadata

from common.kafka_io import broker_unavailable, client_config, ensure_topic
from config.settings import Settings

logger = logging.getLogger(__name__)


def compression() -> str | None:
    """The best codec whose Python package is installed (lz4, else zstd, else none)."""
    for codec, module in (("lz4", "lz4"), ("zstd", "zstandard")):
        if importlib.util.find_spec(module) is not None:
            return codec
    return None


def producer_config(settings: Settings) -> dict:
    """KafkaProducer options: acks=all, idempotent (no duplicates on retry), compressed, large batches; every wait
    bounded by PRODUCER_DELIVERY_TIMEOUT_S (a send blocked on a full buffer too)."""
    timeout_ms = int(settings.producer_delivery_timeout_s * 1000)
    return {
        **client_config(settings),
        "acks": "all",
        "enable_idempotence": True,
        "compression_type": compression(),
        "linger_ms": 20,
        "batch_size": 512 * 1024,
        "max_in_flight_requests_per_connection": 5,
        "bootstrap_timeout_ms": 10_000,
        "client_id": "telemetry-sim",
        "delivery_timeout_ms": timeout_ms,
        "request_timeout_ms": min(30_000, timeout_ms - 1000),
        "max_block_ms": timeout_ms,
    }


class DeliveryStoppedError(Exception):
    """Records are failing: one failed after the client's retries, or none could be queued within the delivery
    timeout (the broker has been away too long). The run stops sending and reports what it cannot vouch for.
    `queued`: how many records of the batch being sent were queued before it stopped."""

    def __init__(self, message: str, *, queued: int = 0) -> None:
        super().__init__(message)
        self.queued = queued


@dataclass(frozen=True)
class Outcome:
    """How the valid events of a run fared: acknowledged, failed after retries, or still unconfirmed when the
    run ended (they may or may not have reached the topic), and the undelivered ones (key, event time ms)."""

    delivered: int
    failed: int
    unconfirmed: int
    undelivered: list[tuple[bytes, int, str]]


class KafkaSink:
    """Sends key/value batches to one topic and tracks every valid event's delivery (`outcome()`).

    Partitions are assigned as Kafka's default partitioner does (murmur2 of the key), but computed once per
    device instead of once per record: the pure-Python hash is a fifth of kafka-python's per-record cost.
    """

    def __init__(self, settings: Settings, *, topic: str | None = None) -> None:
        self.settings = settings
        self.topic = topic or settings.telemetry_topic
        ensure_topic(settings, self.topic)
        try:
            self.producer = KafkaProducer(**producer_config(settings))
        except (KafkaError, OSError) as exc:
            raise broker_unavailable(settings, exc) from None
        self.partitions = sorted(self.producer.partitions_for(self.topic))
        self._partition_of: dict[bytes, int] = {}
        self.sent = 0
        self.failed = 0  # every record, faults included
        self._in_flight: deque[tuple[FutureRecordMetadata, bytes, int]] = deque()  # valid events not yet done
        self._failed_events: list[tuple[bytes, int, str]] = []
        self._tracked = 0  # valid events queued

    def partition(self, key: bytes) -> int:
        """The partition Kafka's default partitioner picks for `key` (murmur2), computed once per key."""
        partition = self._partition_of.get(key)
        if partition is None:
            partition = self.partitions[(murmur2(key) & 0x7FFFFFFF) % len(self.partitions)]
            self._partition_of[key] = partition
        return partition

    def _on_error(self, exc: BaseException) -> None:
        self.failed += 1
        if self.failed <= 5:
            logger.error("delivery failed after retries: %s", exc)

    def send(self, keys: list[bytes], values: list[bytes], *, event_ms: Sequence[int] | None = None) -> None:
        """Queue every (key, value) record; the client batches, compresses and retries them. With `event_ms` (the
        records are valid events) each one's delivery is tracked. SendBlockedError when the client could not queue
        one within the delivery timeout, or after a record failed (sending on would only queue more to fail)."""
        if self.failed:
            raise DeliveryStoppedError(f"{self.failed} records failed after retries")
        send, topic, errback, cached = self.producer.send, self.topic, self._on_error, self._partition_of
        track = self._in_flight.append if event_ms is not None else None
        queued = 0
        try:
            for key, value in zip(keys, values):
                partition = cached.get(key)
                future = send(
                    topic, value=value, key=key, partition=self.partition(key) if partition is None else partition
                ).add_errback(errback)
                if track is not None:
                    track((future, key, event_ms[queued]))  # type: ignore[index]
                queued += 1
        except KafkaTimeoutError as exc:
            raise DeliveryStoppedError(f"no record could be queued: {exc}", queued=queued) from None
        except KafkaError as exc:  # the client cannot queue at all
            raise broker_unavailable(self.settings, exc) from None
        finally:
            self.sent += queued
            self._tracked += queued if track is not None else 0
        self._settle()

    def _settle(self) -> None:
        """Drop the tracked events whose delivery is decided (records complete roughly in the order sent)."""
        while self._in_flight and self._in_flight[0][0].is_done:
            future, key, ms = self._in_flight.popleft()
            if future.failed():
                self._failed_events.append((key, ms, "failed"))

    def flush(self, timeout_s: float) -> bool:
        """Wait at most `timeout_s` until every queued record is acknowledged or failed; False on timeout."""
        try:
            self.producer.flush(timeout=timeout_s)
            return True
        except KafkaTimeoutError:
            return False
        finally:
            self._settle()

    def outcome(self) -> Outcome:
        """The valid events' delivery so far (call after `flush`)."""
        self._settle()
        unconfirmed = [(key, ms, "unconfirmed") for future, key, ms in self._in_flight if not future.is_done]
        failed = self._failed_events + [
            (key, ms, "failed") for future, key, ms in self._in_flight if future.is_done and future.failed()
        ]
        return Outcome(
            self._tracked - len(failed) - len(unconfirmed), len(failed), len(unconfirmed), failed + unconfirmed
        )

    def close(self, timeout_s: float) -> None:
        """Close the client, waiting at most `timeout_s` for records in flight; what is still in flight then is
        abandoned (and reported unconfirmed). kafka-python's close raises instead of giving up, so the sender
        thread is stopped by hand then."""
        try:
            self.producer.close(timeout=timeout_s)
        except KafkaTimeoutError:
            sender = getattr(self.producer, "_sender", None)
            if sender is not None:
                sender.force_close()
            logger.warning("closed the Kafka client with records still in flight (reported as unconfirmed)")
