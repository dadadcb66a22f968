"""Silver runs against real Delta tables: reconciliation under faults, incremental reruns, crashes at any point."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from config.settings import Settings
from consumer.silver import run as bronze_to_silver
from consumer.silver.storage import progress
from lake import delta_io, tables
from tests.conftest import REPO, make_settings
from tests.consumer.silver.fixtures import append_bronze, encode, plug_event
from tests.kafka_helpers import env_of
from tests.races import commit_in_turn, run_both

RUN_COLUMNS = ("run_id", "started_at", "finished_at")
LATER = datetime(2026, 11, 25, tzinfo=UTC)  # after every event of the longest stream (100,000 s)
FAULTS = {
    "invalid_json": lambda n: b'{"event_id": "broken' + str(n).encode(),
    "invalid_utf8": lambda n: b"\xff\xfe" + str(n).encode(),
    "wrong_type": lambda n: encode(plug_event(n, power_w=str(n))),
    "out_of_range": lambda n: encode(plug_event(n, power_w=99_999.0)),
    "unknown_device": lambda n: encode(plug_event(n, device_id=f"ghost_{n}")),
    "missing_field": lambda n: encode({k: v for k, v in plug_event(n).items() if k != "device_id"}),
    "future": lambda n: encode(plug_event(n, timestamp="2030-01-01T00:00:00Z")),
}
RULES_FAILED = {
    "invalid_json": ["valid_json"],
    "invalid_utf8": ["valid_utf8"],
    "wrong_type": ["field_types"],
    "out_of_range": ["value_in_range"],
    "unknown_device": ["known_device"],
    "missing_field": ["required_fields"],
    "future": ["not_in_future"],
    "conflict": ["consistent_event_id"],
}
QUARANTINED = (*FAULTS, "conflict")


def faulty_stream(n: int, *, fault_rate: float, seed: int) -> tuple[list[bytes], list[str]]:
    """n bronze values: valid readings plus faults, exact redeliveries and conflicts (a recent event's id with
    another power reading) at `fault_rate`; the kind of each."""
    rng = random.Random(seed)
    values, kinds, valid = [], [], []
    for i in range(n):
        kind = rng.choice([*FAULTS, "duplicate", "conflict"]) if rng.random() < fault_rate else "valid"
        if kind in ("duplicate", "conflict") and not valid:
            kind = "invalid_json"
        if kind == "valid":
            valid.append(i)
            values.append(encode(plug_event(i)))
        elif kind == "duplicate":
            values.append(encode(plug_event(rng.choice(valid[-50:]))))
        elif kind == "conflict":
            original = plug_event(rng.choice(valid[-50:]))
            values.append(encode(original | {"power_w": original["power_w"] + 0.5, "seq": original["seq"] + 7}))
        else:
            values.append(FAULTS[kind](i))
        kinds.append(kind)
    return values, kinds


def load(settings: Settings, values: list[bytes], *, per_commit: int) -> None:
    """Bronze commits of `per_commit` values each, ingested a day after the events."""
    for start in range(0, len(values), per_commit):
        append_bronze(settings, values[start : start + per_commit], start_offset=start, ingested_at=LATER)


def silver_state(settings: Settings) -> dict[str, pl.DataFrame]:
    """The silver tables without run-time columns, sorted: equal for equal content."""
    telemetry = delta_io.read(tables.SILVER.path(settings)).drop("warnings").sort("event_id")
    quarantine = delta_io.read(tables.QUARANTINE.path(settings)).drop("quarantined_at").sort("offset")
    run_log = delta_io.read(tables.RUN_LOG.path(settings)).drop(RUN_COLUMNS).sort("bronze_version_to")
    return {"telemetry": telemetry, "quarantine": quarantine, "run_log": run_log}


def test_every_bronze_row_is_accounted_for(settings):
    values, kinds = faulty_stream(100_000, fault_rate=0.05, seed=7)
    counts = {kind: kinds.count(kind) for kind in [*QUARANTINED, "duplicate", "valid"]}
    load(settings, values, per_commit=25_000)
    result = bronze_to_silver.run(settings, max_chunk_rows=40_000)
    faults = sum(counts[kind] for kind in QUARANTINED)
    assert min(counts.values()) > 400  # every kind, many times
    assert result.bronze_rows == 100_000
    assert result.quarantined_rows == faults
    assert result.duplicate_rows == counts["duplicate"]
    assert result.silver_rows == counts["valid"]
    silver = delta_io.read(tables.SILVER.path(settings))
    assert silver.height == result.silver_rows and silver["event_id"].is_unique().all()
    quarantine = delta_io.read(tables.QUARANTINE.path(settings))
    assert quarantine.height == faults
    assert quarantine["value"].to_list() == [values[o] for o in quarantine["offset"].to_list()]
    assert quarantine["failed_rules"].to_list() == [RULES_FAILED[kinds[o]] for o in quarantine["offset"].to_list()]
    log = delta_io.read(tables.RUN_LOG.path(settings))
    assert log["reconciled"].all() and int(log["bronze_rows"].sum()) == 100_000
    names = ("valid_json", "valid_utf8", "field_types", "known_device", "consistent_event_id")
    per_rule = {k: sum(orjson.loads(c).get(k, 0) for c in log["rule_counts"]) for k in names}
    assert per_rule == {
        "valid_json": counts["invalid_json"],
        "valid_utf8": counts["invalid_utf8"],
        "field_types": counts["wrong_type"],
        "known_device": counts["unknown_device"],
        "consistent_event_id": counts["conflict"],
    }


def test_rerun_without_new_bronze_is_a_no_op(settings):
    append_bronze(settings, [encode(plug_event(i)) for i in range(100)])
    bronze_to_silver.run(settings)
    versions = {
        name: delta_io.open_table(tables.get(f"silver/{name}").path(settings)).version()
        for name in ("telemetry", "run_log")
    }
    again = bronze_to_silver.run(settings)
    assert again.chunks == 0 and again.bronze_rows == 0
    assert versions == {
        name: delta_io.open_table(tables.get(f"silver/{name}").path(settings)).version()
        for name in ("telemetry", "run_log")
    }


def test_redelivery_in_a_later_commit_is_a_duplicate(settings):
    append_bronze(settings, [encode(plug_event(i)) for i in range(10)])
    bronze_to_silver.run(settings)
    append_bronze(settings, [encode(plug_event(i)) for i in range(5, 15)], start_offset=10)
    result = bronze_to_silver.run(settings)
    assert (result.silver_rows, result.duplicate_rows) == (5, 5)
    assert delta_io.read(tables.SILVER.path(settings)).height == 15


def test_same_event_id_with_other_content_is_a_conflict_against_silver(settings):
    append_bronze(settings, [encode(plug_event(i)) for i in range(10)])
    bronze_to_silver.run(settings)
    again = [encode(plug_event(i)) for i in range(3)] + [encode(plug_event(i, status="error")) for i in range(3, 5)]
    append_bronze(settings, again + [encode(plug_event(3, status="error"))], start_offset=10)
    result = bronze_to_silver.run(settings)
    assert (result.silver_rows, result.quarantined_rows, result.duplicate_rows) == (0, 3, 3)
    assert result.rule_counts["consistent_event_id"] == 3
    quarantine = delta_io.read(tables.QUARANTINE.path(settings)).sort("offset")
    assert quarantine["offset"].to_list() == [13, 14, 15]
    assert quarantine["failed_rules"].to_list() == [["consistent_event_id"]] * 3
    silver = delta_io.read(tables.SILVER.path(settings))
    assert silver.height == 10 and set(silver["status"]) == {"online"}


@pytest.mark.parametrize("fail_on_write", [1, 2, 3, 4, 5])
def test_a_crash_between_any_two_commits_then_a_rerun_equals_an_uninterrupted_run(tmp_path, monkeypatch, fail_on_write):
    values, _ = faulty_stream(3_000, fault_rate=0.1, seed=fail_on_write)
    clean, crashed = (make_settings(LAKE_ROOT=tmp_path / name) for name in ("clean", "crashed"))
    for target in (clean, crashed):
        load(target, values, per_commit=1_000)
    bronze_to_silver.run(clean, max_chunk_rows=1_500)

    real_write, calls = delta_io.write, {"n": 0}

    def crashing_write(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == fail_on_write:
            raise SystemExit("simulated crash")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(delta_io, "write", crashing_write)
    with pytest.raises(SystemExit):
        bronze_to_silver.run(crashed, max_chunk_rows=1_500)
    monkeypatch.setattr(delta_io, "write", real_write)
    bronze_to_silver.run(crashed, max_chunk_rows=1_500)
    for name, frame in silver_state(clean).items():
        assert_frame_equal(silver_state(crashed)[name], frame, check_row_order=True), name


def test_sigkill_at_a_random_moment_then_rerun_equals_an_uninterrupted_run(tmp_path):
    values, _ = faulty_stream(60_000, fault_rate=0.05, seed=3)
    clean, killed = (make_settings(LAKE_ROOT=tmp_path / name) for name in ("clean", "killed"))
    for target in (clean, killed):
        load(target, values, per_commit=6_000)
    bronze_to_silver.run(clean, max_chunk_rows=6_000)
    rng, last = random.Random(11), delta_io.open_table(tables.BRONZE.path(killed)).version()
    for _ in range(3):
        if progress(killed).marks["run_log"] >= last:
            break
        proc = subprocess.Popen(
            [sys.executable, "-m", "consumer.silver", "--max-chunk-rows", "6000"],
            cwd=REPO,
            env=env_of(killed),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(1.0, 4.0))  # a random instant of the run is the point of this test
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    bronze_to_silver.run(killed, max_chunk_rows=6_000)
    for name, frame in silver_state(clean).items():
        assert_frame_equal(silver_state(killed)[name], frame), name


def test_two_runs_at_the_same_instant_without_the_lock_write_every_chunk_once(tmp_path, monkeypatch):
    values, kinds = faulty_stream(6_000, fault_rate=0.1, seed=5)
    clean, raced = (make_settings(LAKE_ROOT=tmp_path / name) for name in ("clean", "raced"))
    for target in (clean, raced):
        load(target, values, per_commit=1_000)
    bronze_to_silver.run(clean, max_chunk_rows=2_000)
    commit_in_turn(monkeypatch)
    results = run_both(
        lambda: bronze_to_silver.run(raced, max_chunk_rows=2_000),
        lambda: bronze_to_silver.run(raced, max_chunk_rows=2_000),
    )
    assert sum(r.bronze_rows for r in results.values()) == 6_000  # every chunk counted by exactly one of them
    silver = delta_io.read(tables.SILVER.path(raced), columns=["event_id"])
    assert silver.height == silver["event_id"].n_unique() == kinds.count("valid")
    for name, frame in silver_state(clean).items():
        assert_frame_equal(silver_state(raced)[name], frame), name
