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
from producer.sink import KafkaSink

logger = logging.getLogger(__name__)

PROGRESS_EVERY_S = 10.0


def epoch_ms(moment: datetime) -> int:
    """A UTC-aware datetime as epoch milliseconds."""
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class ProducerSummary:
    """What one producer run sent: valid events, failed deliveries, faults by kind, events/s."""

    sent: int
    failed: int
    faults: dict[str, int]
    rate: float
    elapsed_s: float


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
        self.sink.send(keys, values)
        records = fault_records(ordered, values, rows, kinds, rng=self.rng, now_ms=epoch_ms(self.clock.now()))
        self.sink.send([r.key for r in records], [r.value for r in records])
        self.ledger.add_events(ordered)
        self.ledger.add_faults(records, frame[late.tolist()] if late.size else None)
        self.events += frame.height
        self.faults.update(r.kind for r in records)
        self.faults["late_event"] += int(late.size)
        self._progress()

    def _progress(self) -> None:
        now = self.clock.monotonic()
        if now - self.last_log >= PROGRESS_EVERY_S:
            rate = (self.events - self.last_events) / (now - self.last_log)
            logger.info("sent %d events (+%d faulty records), %.0f events/s over the last %.0f s", self.events,
                        sum(self.faults.values()), rate, now - self.last_log)
            self.last_log, self.last_events = now, self.events

    def summary(self) -> ProducerSummary:
        elapsed = self.clock.monotonic() - self.started if self.started is not None else 0.0
        return ProducerSummary(self.events, self.sink.failed, {k: self.faults[k] for k in FAULT_KINDS},
                               self.events / elapsed if elapsed else 0.0, elapsed)
