"""Event identity: an event_id names one reading, so a re-sent reading keeps its id and a new one never reuses one.

    simulated event:  (device_id, seq)            seq survives restarts and is reserved per run (producer/state.py)
    replayed reading: (device_id, event time ms)  replaying the same file again gives the same ids

The id is 128 bits laid out as an RFC 9562 version-8 UUID: 64 bits of SHA-1 over the namespace and device id
(computed once per device), then the 64-bit key. Two readings share an id only when they are the same device
and key: the same reading sent again (a duplicate) or two different readings claiming the same place (a conflict,
which silver quarantines). Vectorised: no per-row Python.
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl
import pyarrow as pa

SIMULATED = "smart-home/simulated"
REPLAYED = "smart-home/replayed"

_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
_UUID_POS = np.array([i + (i >= 8) + (i >= 12) + (i >= 16) + (i >= 20) for i in range(32)])


def device_digest(namespace: str, device_id: str) -> np.ndarray:
    """The 8 bytes that stand for one device in its ids."""
    return np.frombuffer(hashlib.sha1(f"{namespace}\x00{device_id}".encode()).digest()[:8], np.uint8)


def event_ids(device_ids: pl.Series, keys: np.ndarray, *, namespace: str) -> pl.Series:
    """The event_id of each (device, key) pair: `keys` are seqs (SIMULATED) or epoch milliseconds (REPLAYED)."""
    devices, index = np.unique(device_ids.to_numpy().astype(str), return_inverse=True)
    digests = np.stack([device_digest(namespace, d) for d in devices]) if len(devices) else np.zeros((0, 8), np.uint8)
    raw = np.empty((len(index), 16), np.uint8)
    raw[:, :8] = digests[index]
    raw[:, 8:] = np.asarray(keys, dtype=">u8").view(np.uint8).reshape(-1, 8)
    return uuid_strings(raw, version=8)


def uuid_strings(raw: np.ndarray, *, version: int) -> pl.Series:
    """Rows of 16 bytes as UUID strings of `version` (its version and variant bits set)."""
    raw = raw.copy()
    n = raw.shape[0]
    raw[:, 6] = (raw[:, 6] & 0x0F) | (version << 4)
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    text = np.full((n, 36), ord("-"), np.uint8)
    text[:, _UUID_POS] = np.stack([_HEX[raw >> 4], _HEX[raw & 15]], axis=2).reshape(n, 32)
    offsets = np.arange(0, 36 * (n + 1), 36, dtype=np.int32)
    array = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(text.tobytes())])
    return pl.Series("event_id", pl.from_arrow(array), dtype=pl.String)
