"""Appends written by lake/parquet_append.py read back exactly as delta-rs's own writer's: same rows, statistics that
agree with delta-rs's (timestamps rounded outwards to the millisecond), the same conditional commit and markers."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import polars as pl
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError

from config.location import Location
from lake import delta_io, parquet_append

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("names", pa.list_(pa.struct([("key", pa.string()), ("value", pa.binary())]))),  # leaves before `at`
        pa.field("at", pa.timestamp("us", tz="UTC"), nullable=False),
        ("day", pa.date32()),
        ("watts", pa.float64()),
        ("count", pa.int64()),
        ("on", pa.bool_()),
        ("blank", pa.float64()),
        ("raw", pa.binary()),
    ]
)
T0 = datetime(2026, 11, 29, 23, 59, 59, 999_500, tzinfo=UTC)  # half a millisecond before a day boundary


def readings(n: int) -> pa.Table:
    """Rows over two days: a nested column first, sub-millisecond times, -0.0, nulls, an all-null column, bytes."""
    return pa.table(
        {
            "id": [f"dev-{i % 7}" for i in range(n)],
            "names": [[{"key": "k", "value": b"v"}] if i % 3 else None for i in range(n)],
            "at": [T0 + timedelta(microseconds=137 * i) for i in range(n)],
            "day": [(T0 + timedelta(microseconds=137 * i)).date() for i in range(n)],
            "watts": [-0.0 if i == 0 else (None if i % 5 == 0 else i * 1.5) for i in range(n)],
            "count": list(range(-3, n - 3)),
            "on": [i % 2 == 0 for i in range(n)],
            "blank": [None] * n,
            "raw": [bytes([i % 256]) * 3 for i in range(n)],
        },
        schema=SCHEMA,
    )


def _stats(path: Path) -> dict[str, dict]:
    """partition value → the statistics of its one file."""
    table = DeltaTable(str(path))
    latest = delta_io.log_actions(Location(str(path)), table.version()) or []
    return {a["add"]["partitionValues"]["day"]: orjson.loads(a["add"]["stats"]) for a in latest if "add" in a}


def _millis(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_an_append_holds_the_rows_and_the_statistics_delta_rs_writes(tmp_path):
    data = readings(10_000)
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for path in (ours, theirs):
        write_deltalake(str(path), data.slice(0, 1), partition_by=["day"])
    delta_io.write(Location(str(ours)), data, partition_by=["day"])
    write_deltalake(str(theirs), data, partition_by=["day"], mode="append")

    def rows(path: Path) -> pl.DataFrame:
        return pl.from_arrow(DeltaTable(str(path)).to_pyarrow_table()).sort("count", "at")

    assert rows(ours).equals(rows(theirs)) and rows(ours).height == 10_001
    mine, reference = _stats(ours), _stats(theirs)
    assert set(mine) == set(reference) == {"2026-11-29", "2026-11-30"}
    for day in reference:
        got, want = mine[day], reference[day]
        assert got["numRecords"] == want["numRecords"] and got["nullCount"] == want["nullCount"]
        assert set(got["minValues"]) == set(want["minValues"]) and "raw" not in got["nullCount"]
        for column, value in want["minValues"].items():
            if column == "at":  # delta-rs truncates both bounds to the millisecond; ours never cut a row off
                top = _millis(want["maxValues"]["at"])
                assert _millis(got["minValues"]["at"]) == _millis(value)
                assert top <= _millis(got["maxValues"]["at"]) <= top + timedelta(milliseconds=1)
            else:
                assert (got["minValues"][column], got["maxValues"][column]) == (value, want["maxValues"][column])
        assert "blank" not in got["minValues"] and got["nullCount"]["blank"] == want["numRecords"]


def test_the_maximum_time_is_rounded_up_so_no_row_is_skipped():
    """A file whose last event is at .9995 s must still be read by a query for times after .999 s."""
    assert parquet_append._json_value(T0, up=True) == "2026-11-30T00:00:00.000Z"
    assert parquet_append._json_value(T0, up=False) == "2026-11-29T23:59:59.999Z"
    assert parquet_append._json_value(date(2026, 2, 28), up=True) == "2026-02-28"


def test_a_large_append_is_split_over_parallel_files_with_one_commit(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet_append, "FILE_ROWS", 4_000)
    path = Location(str(tmp_path / "t"))
    data = readings(10_000).filter(pa.compute.equal(readings(10_000)["day"], date(2026, 11, 30)))
    delta_io.write(path, data.slice(0, 1), partition_by=["day"])
    delta_io.write(path, data, partition_by=["day"], app_transactions={"app": 7}, metadata={"writer": "test"})
    table = DeltaTable(str(tmp_path / "t"))
    actions = delta_io.log_actions(path, table.version()) or []
    adds = [a["add"] for a in actions if "add" in a]
    assert table.version() == 2 and len(adds) == 3  # version 0: the empty table a first write creates
    assert sum(orjson.loads(a["stats"])["numRecords"] for a in adds) == data.num_rows
    info = next(a["commitInfo"] for a in actions if "commitInfo" in a)
    assert info["writer"] == "test" and info[parquet_append.ADDS_KEY] == "3" and table.transaction_version("app") == 7
    assert table.to_pyarrow_table().num_rows == data.num_rows + 1


def test_an_append_planned_on_an_old_snapshot_is_refused_when_the_marker_moved(tmp_path):
    """The exactly-once rests on this, for the fast path as for delta-rs's writer."""
    path = Location(str(tmp_path / "t"))
    delta_io.write(path, readings(3), partition_by=["day"])
    planned = delta_io.snapshot(path)
    delta_io.write(path, readings(2), partition_by=["day"], app_transactions={"bronze-p0": 5})
    with pytest.raises(CommitFailedError):
        delta_io.write(planned, readings(4), partition_by=["day"], app_transactions={"bronze-p0": 9})
    table = DeltaTable(str(tmp_path / "t"))
    assert table.transaction_version("bronze-p0") == 5 and table.to_pyarrow_table().num_rows == 5


def test_a_commit_cut_after_its_files_is_noticed(tmp_path):
    path = Location(str(tmp_path / "t"))
    delta_io.write(path, readings(3), partition_by=["day"])
    delta_io.write(path, readings(3), partition_by=["day"], app_transactions={"app": 1})
    log = tmp_path / "t" / "_delta_log" / "00000000000000000001.json"
    lines = log.read_bytes().splitlines()
    log.write_bytes(b"\n".join(line for line in lines if b'"add"' not in line[:8]) + b"\n")
    assert "cut" in (delta_io.text_problem(log.read_bytes()) or "")


@pytest.mark.parametrize("value", [None, "a/b", "x y"])
def test_partition_values_needing_escapes_go_through_delta_rs(tmp_path, value):
    data = pa.table({"x": [1], "p": pa.array([value], pa.string())})
    write_deltalake(str(tmp_path / "t"), data, partition_by=["p"])
    table = DeltaTable(str(tmp_path / "t"))
    assert not parquet_append.supported(table, data, ["p"])
    delta_io.write(Location(str(tmp_path / "t")), data, partition_by=["p"])
    assert DeltaTable(str(tmp_path / "t")).to_pyarrow_table().column("p").to_pylist() == [value, value]


def test_markers_of_a_fast_append_are_read_like_any_other(tmp_path):
    path = Location(str(tmp_path / "t"))
    delta_io.write(path, readings(3), partition_by=["day"])
    delta_io.write(path, readings(3), partition_by=["day"], app_transactions={"silver:bronze": 12})
    assert delta_io.snapshot(path).txn_version("silver:bronze") == 12
