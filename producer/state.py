"""Per-device sequence numbers that survive restarts (a small JSON file next to the lake).

On start the producer reserves a block of seq numbers and writes the reservation before sending, so after a
kill -9 the next run continues above anything that may have been sent (a gap, never a reused seq). A clean
stop writes the exact next seq and the time of each device's previous reading (energy continues from it).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from config.settings import Settings
from producer.simulator import DeviceCursor

RESERVE = 1000


def state_path(settings: Settings) -> Path:
    """The producer's seq state file."""
    return settings.lake_root / "producer_state" / "devices.json"


@contextmanager
def _locked(path: Path) -> Iterator[dict]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        yield state
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)


class SeqStore:
    """Loads, reserves and saves the cursor of a list of devices."""

    def __init__(self, path: Path, device_ids: list[str]) -> None:
        self.path = path
        self.device_ids = device_ids
        self.reserved = np.zeros(len(device_ids), np.int64)

    def load(self) -> DeviceCursor:
        """The devices' cursor as last saved (seq 0 and no previous reading for new devices); reserves a block."""
        with _locked(self.path) as state:
            entries = [state.get(d, {}) for d in self.device_ids]
        seq = np.array([e.get("seq", 0) for e in entries], np.int64)
        last = np.array([e.get("last_ms") if e.get("last_ms") is not None else -1 for e in entries], np.int64)
        cursor = DeviceCursor(seq, last)
        self.reserve(cursor)
        return cursor

    def needs_reservation(self, cursor: DeviceCursor) -> bool:
        """True when the last reading used a seq at or above the reservation (reserve before sending it)."""
        return bool((cursor.seq > self.reserved).any())

    def reserve(self, cursor: DeviceCursor) -> None:
        """Record seq + RESERVE as every device's next seq (used if this run dies without `save`)."""
        self.reserved = cursor.seq + RESERVE
        with _locked(self.path) as state:
            for device_id, seq in zip(self.device_ids, self.reserved.tolist()):
                state[device_id] = {"seq": seq, "last_ms": None}

    def save(self, cursor: DeviceCursor) -> None:
        """Record the exact next seq and previous reading time of every device (after a clean flush)."""
        with _locked(self.path) as state:
            for device_id, seq, last in zip(self.device_ids, cursor.seq.tolist(), cursor.last_ms.tolist()):
                state[device_id] = {"seq": seq, "last_ms": last if last >= 0 else None}
