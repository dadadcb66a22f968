"""Per-device sequence numbers that survive restarts (a small JSON file next to the lake).

The file holds, per device, the next seq nobody has claimed. A run claims a block of seqs (under a file lock)
before it uses them, starting at the higher of its own next seq and the file's, so a kill -9 leaves a gap,
never a reused seq, and two producers sharing the file (same devices, in parallel) never use the same seq.
A clean stop writes the exact next seq and the time of each device's previous reading (energy continues from
it), for the devices whose block nobody claimed after this run's.
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
    """The producer's seq state file (in the local state folder: the lake folder, unless the lake is on S3)."""
    return settings.state_root / "producer_state" / "devices.json"


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
    """Loads, claims and saves the cursor of a list of devices."""

    def __init__(self, path: Path, device_ids: list[str]) -> None:
        self.path = path
        self.device_ids = device_ids
        self.reserved = np.zeros(len(device_ids), np.int64)

    def load(self, *, block: np.ndarray | int = RESERVE) -> DeviceCursor:
        """The devices' cursor as last saved (seq 0 and no previous reading for new devices), with a block claimed."""
        with _locked(self.path) as state:
            entries = [state.get(d, {}) for d in self.device_ids]
        seq = np.array([e.get("seq", 0) for e in entries], np.int64)
        last = np.array([e.get("last_ms") if e.get("last_ms") is not None else -1 for e in entries], np.int64)
        cursor = DeviceCursor(seq, last)
        self.reserve(cursor, block=block)
        return cursor

    def needs_reservation(self, cursor: DeviceCursor) -> bool:
        """True when a device's next seq lies outside its claimed block (claim before using it)."""
        return bool((cursor.seq >= self.reserved).any())

    def reserve(self, cursor: DeviceCursor, *, block: np.ndarray | int = RESERVE) -> None:
        """Claim the next `block` seqs of every device: from max(cursor, file), moving the cursor there."""
        with _locked(self.path) as state:
            claimed = np.array([state.get(d, {}).get("seq", 0) for d in self.device_ids], np.int64)
            cursor.seq[:] = np.maximum(cursor.seq, claimed)
            self.reserved = cursor.seq + np.maximum(np.asarray(block, np.int64), 1)
            for device_id, seq in zip(self.device_ids, self.reserved.tolist()):
                state[device_id] = {"seq": seq, "last_ms": None}

    def save(self, cursor: DeviceCursor) -> None:
        """Record the exact next seq and previous reading time of every device whose block is still the last one
        claimed (after a clean flush); a device another producer claimed seqs of since keeps that claim."""
        with _locked(self.path) as state:
            for device_id, seq, last, mine in zip(
                self.device_ids, cursor.seq.tolist(), cursor.last_ms.tolist(), self.reserved.tolist()
            ):
                if state.get(device_id, {}).get("seq") == mine:
                    state[device_id] = {"seq": seq, "last_ms": last if last >= 0 else None}
