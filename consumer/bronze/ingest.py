"""Bronze ingest: Kafka → the bronze Delta table, every record exactly once, untouched, in large files.

    python -m consumer.bronze [--max-records N] [--idle-exit S]

The table is the truth: each append records the last offset per topic-partition in the same Delta commit, and on
every partition assignment the consumer seeks to the offset after it. Kafka offsets are committed after each flush
only so that lag shows in Kafka UI and the status report. Run several processes to split the partitions.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

from common.cli import setup_logging, stop_on_signals
from common.kafka_io import broker_reachable, broker_unavailable, check_broker, client_config, group_lag
from config.errors import BrokerUnavailableError, KafkaSecurityError
from config.settings import Settings
from consumer.bronze import gaps as source_gaps
from consumer.bronze.batch import BronzeBatch, append_batch
from consumer.bronze.disk_full import DiskFull
from consumer.bronze.source import Continuity, check_topic
from lake import delta_io, tables

logger = logging.getLogger(__name__)

PROGRESS_EVERY_S = 10.0
BROKER_CHECK_EVERY_S = 5.0
# --idle-exit counts from the latest partition assignment; joining a group can take a session timeout when a
# killed member has to be expelled first.
JOIN_GRACE_S = 30.0
# A member left without partitions for two windows while records wait and nobody commits them is stuck outside
# its group (seen after a broker crash during a rebalance, and when it joined before the topic's metadata reached
# it): it starts over with a fresh consumer. A window spans at least three flush intervals.
STUCK_WINDOW_S = 20.0


@dataclass
class IngestStats:
    """Counters of one ingest run."""

    records: int = 0
    skipped: int = 0
    flushes: int = 0
    first_record_at: float | None = None
    finished_at: float | None = None

    @property
    def rate(self) -> float:
        """Records written per second since the first record arrived (group joins do not count)."""
        if self.first_record_at is None:
            return 0.0
        return self.records / max((self.finished_at or time.monotonic()) - self.first_record_at, 1e-9)


class _Rebalance(ConsumerRebalanceListener):
    """Flush before partitions move away; seek new partitions to the table's recorded position. kafka-python turns a
    listener's exception into a KafkaError of the poll: the ingest keeps the original and raises it from `poll`."""

    def __init__(self, ingest: BronzeIngest) -> None:
        self.ingest = ingest

    def on_partitions_revoked(self, revoked: Any) -> None:
        if revoked:
            self._guarded(lambda: self.ingest.flush(reason="rebalance"))

    def on_partitions_assigned(self, assigned: Any) -> None:
        self._guarded(lambda: self.ingest.seek_to_table(assigned))

    def _guarded(self, call: Callable[[], None]) -> None:
        try:
            call()
        except Exception as exc:
            self.ingest.listener_error = exc
            raise


class StuckCheck:
    """Notices a member that owns no partitions while records wait and the group commits nothing."""

    def __init__(self, group_progress: Callable[[], tuple[int, int]], *, window_s: float) -> None:
        self.group_progress = group_progress  # () -> (sum of committed offsets, lag)
        self.window_s = window_s
        self.since: float | None = None
        self.seen: tuple[int, int] | None = None  # (committed, lag) at the end of the previous window

    def stuck(self, *, assigned: bool, now: float) -> bool:
        """Whether the member has been unassigned for two windows, records waited at both ends of the second one
        and the group's committed offsets did not move in it (if another member consumes them, nothing is stuck)."""
        if assigned:
            self.since, self.seen = None, None
            return False
        if self.since is None:
            self.since = now
        if now - self.since < self.window_s:
            return False
        try:
            committed, lag = self.group_progress()
        except KafkaError:
            return False
        stuck = self.seen is not None and self.seen[1] > 0 and lag > 0 and committed == self.seen[0]
        self.since, self.seen = now, (committed, lag)
        return stuck


def group_progress(settings: Settings) -> tuple[int, int]:
    """The bronze group's committed offsets (summed) and lag on the telemetry topic."""
    partitions = group_lag(settings, settings.telemetry_topic, settings.bronze_consumer_group)
    return sum(p.committed or 0 for p in partitions), sum(p.lag for p in partitions)


class BrokerWatch:
    """Between polls without records: logs when the broker goes away or comes back, and restarts a stuck member."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.up = True
        self.last_check = time.monotonic()
        self.stuck_check = StuckCheck(
            lambda: group_progress(settings), window_s=max(STUCK_WINDOW_S, 3 * settings.bronze_flush_seconds)
        )

    def tick(self, ingest: BronzeIngest, stop: threading.Event, *, now: float, idle_exit_s: float | None) -> bool:
        """Check at most every BROKER_CHECK_EVERY_S; False when the ingest should stop."""
        if now - self.last_check < BROKER_CHECK_EVERY_S:
            return True
        self.last_check = now
        up = broker_reachable(self.settings)
        if up != self.up:
            self.up = up
            logger.warning(
                "Kafka broker %s",
                "reachable again" if up else f"not reachable at {self.settings.kafka_bootstrap_servers}; retrying",
            )
        if up and self.stuck_check.stuck(assigned=bool(ingest.consumer.assignment()), now=now):
            logger.warning(
                "no partitions for %.0fs while records wait and nobody commits; rejoining the group with a "
                "fresh consumer",
                2 * self.stuck_check.window_s,
            )
            fresh = _connect(self.settings, stop, give_up_after_s=idle_exit_s)
            if fresh is None:
                return False
            ingest.restart_consumer(fresh)
        return True


class BronzeIngest:
    """One consumer-group member that lands its partitions' records in bronze."""

    def __init__(
        self, settings: Settings, consumer: KafkaConsumer, *, topic_configs: dict[str, str] | None = None
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        self.path = tables.BRONZE.path(settings)
        self.batch = BronzeBatch()
        self.gaps: list[source_gaps.Gap] = []  # detected, not recorded yet (recorded by the next flush)
        self.continuity = Continuity(lambda tps: self.consumer.beginning_offsets(tps), configs=topic_configs)
        self.disk_full = DiskFull()
        self.stats = IngestStats()
        self.assigned_at = 0.0
        self.listener_error: Exception | None = None
        self.to_commit: dict[TopicPartition, OffsetAndMetadata] = {}

    def seek_to_table(self, partitions: Any) -> None:
        """Position each partition right after the last offset the table holds (or at offset 0); what lies before its
        log start offset is a gap (deleted before bronze read it), found by the next poll."""
        self.assigned_at = time.monotonic()
        table = delta_io.open_table(self.path)
        marks = {tp: delta_io.txn_version(table, tables.offset_marker(tp.topic, tp.partition)) for tp in partitions}
        positions = {tp: 0 if upto is None else upto + 1 for tp, upto in marks.items()}
        for tp, position in positions.items():
            self.consumer.seek(tp, position)  # below the log start offset, the offset reset starts at the log start
        self.continuity.expect(positions)
        if self.disk_full.since is not None:
            self.consumer.pause(*partitions)
        logger.info("assigned %s", ", ".join(f"p{tp.partition}" for tp in sorted(partitions)) or "no partitions")

    def subscribe(self) -> None:
        """Join the group; the topic's metadata is fetched first, so that the group's first assignment sees its
        partitions (kafka-python's leader otherwise assigns nothing when its metadata lags: "No partition metadata")."""
        try:
            self.consumer.partitions_for_topic(self.settings.telemetry_topic)
        except KafkaError as exc:
            logger.debug("topic metadata not fetched before joining: %s", exc)
        self.consumer.subscribe([self.settings.telemetry_topic], listener=_Rebalance(self))

    def restart_consumer(self, consumer: KafkaConsumer) -> None:
        """Leave the group with the old consumer (flushing first) and join it again with `consumer`."""
        self.close()
        self.consumer = consumer
        self.subscribe()

    def poll(self) -> int:
        """One poll into the buffer; returns the number of records received (0 when the broker is unreachable:
        the client reconnects on the next poll)."""
        try:
            polled = self.consumer.poll(timeout_ms=200, max_records=min(50_000, self.settings.bronze_flush_records))
        except KafkaError as exc:
            if self.listener_error is not None:  # e.g. a damaged table: stop, never consume from an unknown position
                raise self.listener_error from None
            logger.debug("poll failed: %s", exc)
            time.sleep(0.5)
            return 0
        self.gaps += self.continuity.check_assigned()
        self.commit_offsets()
        now = time.monotonic()
        if polled and self.stats.first_record_at is None:
            self.stats.first_record_at = now
        for tp, records in polled.items():
            if records:
                self.gaps += self.continuity.polled(tp, records)
            self.batch.add(tp.topic, tp.partition, records, now=now)
        return sum(len(r) for r in polled.values())

    def due(self) -> bool:
        """Whether the buffer reached a flush threshold (records, bytes or age)."""
        s, b = self.settings, self.batch
        if self.disk_full.waiting(time.monotonic()):
            return False
        return b.records > 0 and (
            b.records >= s.bronze_flush_records
            or b.bytes >= s.bronze_flush_bytes
            or time.monotonic() - (b.started or 0) >= s.bronze_flush_seconds
        )

    def flush(self, *, reason: str) -> None:
        """Record the gaps found, land the buffer in bronze, then commit the Kafka offsets it covers. A full disk
        keeps both for a later retry (see DiskFull)."""
        if reason == "threshold" and self.disk_full.waiting(time.monotonic()):
            return
        owned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        dropped = self.batch.keep_only(owned)
        if dropped:
            logger.warning(
                "dropped %d buffered records of partitions no longer assigned (their new owner "
                "re-reads them from the table's position)",
                dropped,
            )
        self.gaps = [g for g in self.gaps if (g.topic, g.partition) in owned]
        try:
            if self.gaps:
                source_gaps.record(tables.GAPS.path(self.settings), self.gaps)
                self.gaps = []
            result = append_batch(self.path, self.batch) if self.batch.records else None
        except Exception as exc:
            if not delta_io.disk_full(exc):
                raise
            self.disk_full.failed(self.consumer, exc, records=self.batch.records)
            return
        self.disk_full.recovered(self.consumer)
        self.batch = BronzeBatch()
        if result is None:
            return
        self.stats.records += result.rows
        self.stats.skipped += result.skipped
        self.stats.flushes += 1
        logger.debug("flush (%s): %d rows, %d already present", reason, result.rows, result.skipped)
        self.to_commit.update(
            {TopicPartition(t, p): OffsetAndMetadata(o + 1, "", -1) for (t, p), o in result.positions.items()}
        )
        if reason != "rebalance":  # kafka-python 3 cannot commit from a rebalance listener: the next poll does
            self.commit_offsets()

    def commit_offsets(self) -> None:
        """Commit to Kafka the positions of the flushes since the last commit (informational: the table holds the
        position; a failure is a warning)."""
        if not self.to_commit:
            return
        owned = self.consumer.assignment()
        offsets = {tp: offset for tp, offset in self.to_commit.items() if tp in owned}  # never behind a new owner
        self.to_commit = {}
        try:
            self.consumer.commit(offsets)
        except KafkaError as exc:
            logger.warning("Kafka offset commit failed (%s); bronze is unaffected", type(exc).__name__)

    def lag(self) -> int | None:
        """Records behind the partitions' high watermarks, from the last fetch responses (no extra request)."""
        total = 0
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is None:
                return None
            total += max(high - self.consumer.position(tp), 0)
        return total

    def close(self) -> None:
        self.flush(reason="shutdown")
        self.commit_offsets()
        self.consumer.close(autocommit=False)


def make_consumer(settings: Settings) -> KafkaConsumer:
    """A bronze-group member (not yet subscribed): no auto-commit, large fetches, a short session timeout."""
    return KafkaConsumer(
        **client_config(settings),
        group_id=settings.bronze_consumer_group,
        client_id="bronze-ingest",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
        receive_buffer_bytes=4 * 1024 * 1024,
        max_poll_interval_ms=600_000,
        reconnect_backoff_max_ms=5000,
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
    )


def _connect(settings: Settings, stop: threading.Event, *, give_up_after_s: float | None) -> KafkaConsumer | None:
    """A consumer once the broker answers; retries with backoff (logging once while it is down), and raises
    BrokerUnavailableError after `give_up_after_s` without a broker. None when stopped first."""
    delay, started, logged = 1.0, time.monotonic(), False
    while not stop.is_set():
        try:
            check_broker(settings)  # a TCP check first: kafka-python's own bootstrap blocks for 30 s
            return make_consumer(settings)
        except BrokerUnavailableError as exc:
            error = exc
        except (KafkaError, OSError) as exc:
            error = broker_unavailable(settings, exc)
        if isinstance(error, KafkaSecurityError):
            raise error  # refused credentials do not heal by waiting
        left = None if give_up_after_s is None else give_up_after_s - (time.monotonic() - started)
        if left is not None and left <= 0:
            raise error
        if not logged and give_up_after_s is None:
            logger.warning("%s; retrying with backoff", error)
            logged = True
        stop.wait(delay if left is None else min(delay, left))
        delay = min(delay * 2, 30.0)
    return None


def run(
    settings: Settings,
    *,
    max_records: int | None = None,
    idle_exit_s: float | None = None,
    stop_event: threading.Event | None = None,
) -> IngestStats:
    """Ingest until stopped, until `max_records` were written, or until nothing arrived for `idle_exit_s`."""
    stop = stop_event or threading.Event()
    consumer = _connect(settings, stop, give_up_after_s=idle_exit_s)
    if consumer is None:
        return IngestStats()
    try:
        configs = check_topic(settings)
    except BaseException:
        consumer.close(autocommit=False)
        raise
    ingest = BronzeIngest(settings, consumer, topic_configs=configs)
    ingest.subscribe()
    watch = BrokerWatch(settings)
    last_progress = time.monotonic()
    last_data, join_deadline = 0.0, last_progress + JOIN_GRACE_S
    try:
        while not stop.is_set():
            received = ingest.poll()
            now = time.monotonic()
            last_data = max(now if received else last_data, ingest.assigned_at)
            if ingest.due() or (max_records is not None and ingest.stats.records + ingest.batch.records >= max_records):
                ingest.flush(reason="threshold")
            if max_records is not None and ingest.stats.records >= max_records:
                break
            if idle_exit_s is not None and now - (last_data or join_deadline) >= idle_exit_s:
                break
            if not received and not watch.tick(ingest, stop, now=now, idle_exit_s=idle_exit_s):
                break
            if now - last_progress >= PROGRESS_EVERY_S:
                last_progress = now
                _log_progress(ingest)
    finally:
        ingest.close()
        ingest.stats.finished_at = time.monotonic()
    _log_progress(ingest)
    return ingest.stats


def _log_progress(ingest: BronzeIngest) -> None:
    s = ingest.stats
    lag = ingest.lag()
    logger.info(
        "bronze: %d records written (%.0f rec/s), %d commits, %d already present, lag %s",
        s.records,
        s.rate,
        s.flushes,
        s.skipped,
        "?" if lag is None else lag,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m consumer.bronze",
        description="Ingest the telemetry topic into the bronze Delta table, exactly once.",
    )
    parser.add_argument("--max-records", type=int, metavar="N", help="stop after writing N records")
    parser.add_argument("--idle-exit", type=float, metavar="S", help="stop after S seconds without new records")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    stop = stop_on_signals()
    logger.info(
        "bronze ingest: %s → %s (group %s)",
        settings.telemetry_topic,
        tables.BRONZE.path(settings),
        settings.bronze_consumer_group,
    )
    run(settings, max_records=args.max_records, idle_exit_s=args.idle_exit, stop_event=stop)
    return 0
