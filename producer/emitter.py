"""Events frames → Kafka records: fault injection, encoding, sending, the ledger, progress and the run summary."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import polars as pl

from common.clock import Clock
from producer.encode import encode
from producer.faults import FAULT_KINDS, choose_faults, fault_records, make_late
from producer.ledger import Ledger
from producer.sink import DeliveryStoppedError, KafkaSink

logger = logging.getLogger(__name__)

PROGRESS_EVERY_S = 10.0


def epoch_ms(moment: datetime) -> int:
    """A UTC-aware datetime as epoch milliseconds."""
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class ProducerSummary:
    """What one producer run sent: valid events (delivered, failed after retries, unconfirmed when it ended), failed
    records of any kind, faults by kind, events/s, and the undelivered events per device (count, time range)."""

    sent: int
    failed: int
    faults: dict[str, int]
    rate: float
    elapsed_s: float
    delivered: int = 0
    failed_events: int = 0
    unconfirmed: int = 0
    undelivered: pl.DataFrame = field(default_factory=lambda: undelivered_by_device([]))

    @property
    def complete(self) -> bool:
        """Whether every record is known to be in the topic."""
        return self.failed == 0 and self.unconfirmed == 0


def undelivered_by_device(events: list[tuple[bytes, int, str]]) -> pl.DataFrame:
    """One row per device and outcome (failed, unconfirmed): how many events and their first and last event time."""
    frame = pl.DataFrame(events, schema={"device_id": pl.Binary, "ts_ms": pl.Int64, "outcome": pl.String}, orient="row")
    return (
        frame.group_by(pl.col("device_id").cast(pl.String), "outcome")
        .agg(
            events=pl.len().cast(pl.Int64),
            first=pl.from_epoch(pl.col("ts_ms").min(), time_unit="ms"),
            last=pl.from_epoch(pl.col("ts_ms").max(), time_unit="ms"),
        )
        .sort("device_id", "outcome")
    )


@dataclass
class Emitter:
    """Turns event frames into Kafka records (with faults), counts them and logs progress."""

    sink: KafkaSink
    clock: Clock
    bad_fraction: float
    rng: np.random.Generator
    ledger: Ledger = field(default_factory=Ledger)
    events: int = 0
    faults: Counter = field(default_factory=Counter)
    started: float | None = None
    last_log: float = 0.0
    last_events: int = 0

    def emit(self, frame: pl.DataFrame) -> None:
        """Send `frame`'s events plus the faults drawn for them; count them in the ledger."""
        if self.started is None:
            self.started = self.last_log = self.clock.monotonic()
        rows, kinds = choose_faults(self.rng, frame.height, self.bad_fraction)
        late = np.unique(rows[kinds == FAULT_KINDS.index("late_event")])
        frame = make_late(frame, late)
        ordered, keys, values = encode(frame)
        try:
            self.sink.send(keys, values, event_ms=ordered["ts_ms"].to_list())
        except DeliveryStoppedError as stopped:  # count what was queued, then stop the run
            self._count(ordered.head(stopped.queued))
            raise
        self._count(ordered)
        records = fault_records(ordered, values, rows, kinds, rng=self.rng, now_ms=epoch_ms(self.clock.now()))
        if records:
            self.sink.send([r.key for r in records], [r.value for r in records])
        self.ledger.add_faults(records, frame[late.tolist()] if late.size else None)
        self.faults.update(r.kind for r in records)
        self.faults["late_event"] += int(late.size)
        self._progress()

    def _count(self, sent: pl.DataFrame) -> None:
        """Valid events queued for sending: into the ledger and the count."""
        self.ledger.add_events(sent)
        self.events += sent.height

    def _progress(self) -> None:
        now = self.clock.monotonic()
        if now - self.last_log >= PROGRESS_EVERY_S:
            rate = (self.events - self.last_events) / (now - self.last_log)
            logger.info(
                "sent %d events (+%d faulty records), %.0f events/s over the last %.0f s",
                self.events,
                sum(self.faults.values()),
                rate,
                now - self.last_log,
            )
            self.last_log, self.last_events = now, self.events

    def summary(self) -> ProducerSummary:
        """What was sent and how it fared (call after the sink was flushed)."""
        elapsed = self.clock.monotonic() - self.started if self.started is not None else 0.0
        outcome = self.sink.outcome()
        return ProducerSummary(
            self.events,
            self.sink.failed,
            {k: self.faults[k] for k in FAULT_KINDS},
            self.events / elapsed if elapsed else 0.0,
            elapsed,
            delivered=outcome.delivered,
            failed_events=outcome.failed,
            unconfirmed=outcome.unconfirmed,
            undelivered=undelivered_by_device(outcome.undelivered),
        )
