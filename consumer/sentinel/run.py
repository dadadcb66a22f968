"""The sentinel's loop: poll → judge (episodes, silence) → commit the changes → publish them → snapshot now and
then.

    python -m consumer.sentinel [--idle-exit S] [--max-changes N]

Per poll (100 ms at most) the changes are committed to gold/alert_episodes with the offsets read, then sent to
ALERTS_TOPIC and the webhook. Every SENTINEL_STATE_EVERY_S (and on shutdown or rebalance) the state is snapshotted
with the offsets it reflects; a restart loads it, re-publishes the changes committed but perhaps not sent, seeks
to its offsets and re-reads: recomputed changes keep their ids and the table drops them (docs/sentinel.md).
One sentinel process per lake: its state covers every partition.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import polars as pl
from kafka import ConsumerRebalanceListener, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

from common.kafka_io import check_broker, ensure_topic
from config.settings import Settings
from consumer.sentinel import episodes, silence, stream
from consumer.sentinel.changes import to_json
from consumer.sentinel.store import Store
from consumer.sentinel.webhook import Webhook

logger = logging.getLogger(__name__)

POLL_MS = 100
# A poll returns what has arrived, up to this many records: small batches (low latency) at low rates, large ones
# (the per-batch cost shared by many events) when behind. kafka-python's default of 500 capped the sentinel near
# 10,000 events/s on 2 cores: every batch costs about 50 ms whatever its size.
MAX_POLL_RECORDS = 20_000
# A member that joined before the topic's metadata reached the group leader gets no partitions; the sentinel is
# alone in its group, so without an assignment for this long it joins again.
REJOIN_AFTER_S = 5.0


@dataclass
class SentinelStats:
    events: int = 0
    changes: int = 0
    commits: int = 0
    opened: int = 0


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, sentinel: Sentinel) -> None:
        self.sentinel = sentinel

    def on_partitions_revoked(self, revoked: Any) -> None:
        if revoked:  # kafka-python runs this on its IO thread, where a blocking commit is refused
            self.sentinel.save(commit_offsets=False)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.sentinel.seek(assigned)


class Sentinel:
    """One process judging every partition of the telemetry topic."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rules = episodes.Rules.from_settings(settings)
        self.store = Store(settings, partitions=settings.telemetry_partitions)
        self.state = self.store.load()
        self.watermark = silence.Watermark(self.state.watermarks, idle_s=settings.sentinel_idle_partition_s)
        self.consumer = stream.make_consumer(settings)
        self.producer = stream.make_producer(settings)
        self.webhook = Webhook.from_settings(settings)
        self.stats = SentinelStats()
        self.saved_at = self.joined_at = time.monotonic()
        self._republish()

    def _republish(self) -> None:
        """Send again what was committed after the last snapshot's published batch (a crash may have lost it)."""
        pending = self.store.after(self.state.published)
        if not pending.is_empty():
            logger.info("re-publishing %d episode changes committed before the restart", pending.height)
            self._publish(pending.drop("batch", "recorded_at"))
            newest = int(pending["batch"].max())  # type: ignore[arg-type]
            self.state.published = self.state.batch = max(self.state.batch, newest)

    def subscribe(self, *, timeout_s: float = 30.0) -> None:
        """Join the group once the topic's partitions are known to this client (bounded wait)."""
        deadline = time.monotonic() + timeout_s
        while not self.consumer.partitions_for_topic(self.settings.telemetry_topic) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.consumer.subscribe([self.settings.telemetry_topic], listener=_Rebalance(self))
        self.joined_at = time.monotonic()

    def rejoin_if_unassigned(self) -> None:
        if not self.consumer.assignment() and time.monotonic() - self.joined_at > REJOIN_AFTER_S:
            logger.warning("no partitions after %.0fs; joining the group again", REJOIN_AFTER_S)
            self.consumer.unsubscribe()
            self.subscribe()

    def seek(self, partitions: Any) -> None:
        """Each partition right after the offset the state snapshot reflects (or at its beginning)."""
        for tp in partitions:
            offset = self.state.offsets.get(tp.partition)
            if offset is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, offset + 1)
        logger.info("assigned %s", ", ".join(f"p{tp.partition}" for tp in sorted(partitions)) or "no partitions")

    def poll(self) -> int:
        """One poll, judged and committed; returns the number of changes it caused."""
        try:
            polled = self.consumer.poll(timeout_ms=POLL_MS, max_records=MAX_POLL_RECORDS)
        except KafkaError as exc:
            logger.debug("poll failed: %s", exc)
            time.sleep(0.5)
            polled = {}
        batch = stream.events(polled)
        offsets = {tp.partition: records[-1].offset for tp, records in polled.items() if records}
        if not batch.is_empty():
            newest = batch.group_by("partition").agg(pl.col("event_time").max())
            self.watermark.advance(dict(newest.iter_rows()))
        changes = self.judge(batch)
        self.state.offsets |= offsets
        self.stats.events += batch.height
        if not changes.is_empty():
            self.commit(changes, offsets)
        if time.monotonic() - self.saved_at >= self.settings.sentinel_state_every_s:
            self.save()
        return changes.height

    def judge(self, batch: pl.DataFrame) -> pl.DataFrame:
        """The batch's changes; the carried conditions and devices move on."""
        found, self.state.conditions = episodes.step(batch, self.state.conditions, self.rules)
        now = time.monotonic()
        silent, self.state.devices = silence.step(
            batch, self.state.devices, self.watermark.value(now=now), silent_after_s=self.rules.silent_after_s, now=now
        )
        return pl.concat([found, silent]).sort("changed_at", "device_id", "kind")

    def commit(self, changes: pl.DataFrame, offsets: dict[int, int]) -> None:
        """Commit to the lake (exactly once), then publish (at least once, stable ids)."""
        self.state.batch += 1
        written = self.store.append(changes, offsets=offsets, batch=self.state.batch)
        if not written.is_empty():
            self._publish(written.drop("batch", "recorded_at"))
        self.state.published = self.state.batch
        self.stats.changes += written.height
        self.stats.opened += int((written["change"] == "open").sum()) if not written.is_empty() else 0
        self.stats.commits += 1

    def _publish(self, changes: pl.DataFrame) -> None:
        stream.publish(self.producer, self.settings.alerts_topic, changes)
        if self.webhook is not None:
            self.webhook.send(to_json(changes))

    def save(self, *, commit_offsets: bool = True, attempts: int = 1) -> None:
        """Snapshot the state with the offsets and clock it reflects; then commit those offsets to Kafka too, only
        so that the group's lag shows in the dashboard's Kafka page and Kafka UI (the table holds the position)."""
        self.state.watermarks = dict(self.watermark.newest)
        self.store.snapshot(self.state)
        self.saved_at = time.monotonic()
        if not commit_offsets:
            return
        topic = self.settings.telemetry_topic
        owned = {tp.partition for tp in self.consumer.assignment()}
        offsets = {
            TopicPartition(topic, p): OffsetAndMetadata(o + 1, "", -1)
            for p, o in self.state.offsets.items()
            if p in owned
        }
        for attempt in range(1, attempts + 1):
            try:
                if offsets:
                    self.consumer.commit(offsets)
                return
            except KafkaError as exc:  # e.g. a rebalance under way: the next save (or a retry on close) commits
                logger.debug(
                    "Kafka offset commit failed (%s, attempt %d); the state table is unaffected",
                    type(exc).__name__,
                    attempt,
                )
                if attempt < attempts:
                    time.sleep(0.5)

    def close(self) -> None:
        self.save(attempts=5)  # the last chance to show the group's true lag; bounded (5 × request timeout)
        self.consumer.close(autocommit=False)
        self.producer.close(timeout=10)
        if self.webhook is not None:
            self.webhook.close()


def run(
    settings: Settings,
    *,
    idle_exit_s: float | None = None,
    max_changes: int | None = None,
    stop_event: threading.Event | None = None,
) -> SentinelStats:
    """Watch until stopped, after `max_changes` changes, or after `idle_exit_s` without records."""
    stop = stop_event or threading.Event()
    check_broker(settings)
    ensure_topic(settings)
    ensure_topic(settings, settings.alerts_topic)
    sentinel = Sentinel(settings)
    sentinel.subscribe()
    last_events, seen = time.monotonic(), 0
    try:
        while not stop.is_set():
            sentinel.poll()
            sentinel.rejoin_if_unassigned()
            now = time.monotonic()
            if sentinel.stats.events > seen:
                last_events, seen = now, sentinel.stats.events
            if max_changes is not None and sentinel.stats.changes >= max_changes:
                break
            if idle_exit_s is not None and now - last_events >= idle_exit_s:
                break
    finally:
        sentinel.close()
    s = sentinel.stats
    logger.info(
        "sentinel: %d events judged, %d episode changes (%d opened) in %d commits",
        s.events,
        s.changes,
        s.opened,
        s.commits,
    )
    return s
