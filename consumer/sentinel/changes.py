"""An episode change: one record per state change (open, update, resolve), with ids that any replay reproduces.

`episode_id` is a UUID-5 of (device, kind, start); `change_id` one of (episode, change, update bucket). Both depend
only on the readings, so a change recomputed after a restart has the id it had: the lake table drops it, and a
reader of the alerts topic deduplicates on it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import orjson
import polars as pl

from config.alert_rules import SEVERITY
from lake import tables

NAMESPACE = uuid.UUID("6f1c5c1e-8a59-4d7e-9b1a-5e7d1c0a2b44")
CHANGES = ("open", "update", "resolve")
# The episodes table's columns (lake/tables.py), split: what a change says, and the ids it gets
ID_COLUMNS = {c: tables.ALERT_EPISODES.schema[c] for c in ("change_id", "episode_id", "severity")}
CHANGE_COLUMNS = {
    c: kind
    for c, kind in tables.ALERT_EPISODES.schema.items()
    if c not in ID_COLUMNS and c not in ("batch", "recorded_at")
}


def episode_id(device_id: str, kind: str, started_at: datetime) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{device_id}|{kind}|{started_at.isoformat()}"))


def with_ids(changes: pl.DataFrame) -> pl.DataFrame:
    """Changes with change_id, episode_id and severity in front (per change, not per reading: changes are few)."""
    episodes = [episode_id(d, k, s) for d, k, s in changes.select("device_id", "kind", "started_at").iter_rows()]
    ids = [
        str(uuid.uuid5(NAMESPACE, f"{e}|{c}|{b}"))
        for e, c, b in zip(episodes, changes["change"], changes["bucket"], strict=True)
    ]
    return changes.select(
        pl.Series("change_id", ids, pl.String),
        pl.Series("episode_id", episodes, pl.String),
        pl.col("kind").replace_strict(SEVERITY, default="warning", return_dtype=pl.String).alias("severity"),
        *list(CHANGE_COLUMNS),
    ).cast(ID_COLUMNS | CHANGE_COLUMNS)


def to_json(changes: pl.DataFrame) -> list[bytes]:
    """Each change as the JSON object the alerts topic and the webhook carry (times ISO-8601 UTC)."""
    return [orjson.dumps(row, option=orjson.OPT_UTC_Z) for row in changes.drop("bucket").iter_rows(named=True)]
