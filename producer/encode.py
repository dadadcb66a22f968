"""Events frame → Kafka keys and JSON values, vectorised: one NDJSON write per device type, no per-row dicts."""

from __future__ import annotations

import polars as pl

from common.events import HEADER
from config.catalog import device_types


def encode(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[bytes], list[bytes]]:
    """`frame` grouped by device type, with the UTF-8 keys (device_id) and JSON values of its rows, in that order.

    A type's metrics that are null in every row of the frame (not measured) are left out of the JSON, and so is a
    metric that is null in one row (a value missing in a replayed file): the contract has no null metrics.
    """
    parts: list[pl.DataFrame] = []
    keys: list[bytes] = []
    values: list[bytes] = []
    types = device_types()
    for (device_type,), part in frame.partition_by("device_type", as_dict=True, maintain_order=True).items():
        metrics = [
            m for m in types[str(device_type)].metrics if m in part.columns and part[m].null_count() < part.height
        ]
        ndjson = part.select(*HEADER, *metrics).write_ndjson().encode()
        for metric in metrics:  # never the first key, and a string value's quotes are escaped: no false match
            ndjson = ndjson.replace(b',"' + metric.encode() + b'":null', b"")
        lines = ndjson.split(b"\n")
        values.extend(lines[:-1])
        keys.extend(part["device_id"].cast(pl.Binary).to_list())
        parts.append(part)
    return (pl.concat(parts) if len(parts) != 1 else parts[0]), keys, values
