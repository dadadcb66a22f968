"""Bronze ingest against the real broker and a real Delta table: exactly once through crashes and rebalances."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from kafka.consumer.fetcher import ConsumerRecord

from common.kafka_io import end_offsets, ensure_topic, group_lag
from consumer.bronze import ingest as ingest_bronze
from consumer.bronze.batch import BronzeBatch, append_batch
from lake import delta_io, tables
from tests.conftest import REPO, make_settings
from tests.kafka_helpers import bronze_count, bronze_rows, env_of, produce_raw, start_module, wait_for
from tests.races import commit_in_turn, run_both


def _record(
    topic: str, partition: int, offset: int, value: bytes | None, *, key: bytes | None = b"k", headers=()
) -> ConsumerRecord:
    return ConsumerRecord(
        topic,
        partition,
        0,
        offset,
        1_700_000_000_000,
        0,
        key,
        value,
        list(headers),
        None,
        len(key) if key is not None else -1,
        len(value) if value is not None else -1,
        0,
    )


def _batch(topic: str, partition: int, offsets: range) -> BronzeBatch:
    batch = BronzeBatch()
    batch.add(topic, partition, [_record(topic, partition, o, b"v%d" % o) for o in offsets], now=0.0)
    return batch


def test_batch_to_arrow_keeps_bytes_keys_and_headers_exactly():
    batch = BronzeBatch()
    batch.add(
        "t",
        3,
        [_record("t", 3, 7, b"\xff\x00not json", key=None, headers=[("h", b"\x01")]), _record("t", 3, 8, None)],
        now=1.0,
    )
    at = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    rows = pl.from_arrow(batch.to_arrow(ingested_at=at))
    assert rows.select("topic", "partition", "offset", "key", "value").rows() == [
        ("t", 3, 7, None, b"\xff\x00not json"),
        ("t", 3, 8, b"k", None),
    ]
    assert rows["headers"].to_list() == [[{"key": "h", "value": b"\x01"}], []]
    assert rows["ingest_date"].to_list() == [at.date()] * 2
    assert rows["kafka_timestamp"][0] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert batch.records == 2
    assert _batch("t", 0, range(3)).bytes == 3 * len(b"v0") + 3 * len(b"k")  # serialized value + key sizes


def test_append_is_idempotent_and_records_offsets_in_the_same_commit(settings):
    path = Path(tables.BRONZE.path(settings))
    first = append_batch(path, _batch("t", 0, range(0, 10)))
    again = append_batch(path, _batch("t", 0, range(5, 15)))  # overlaps what the table holds
    assert (first.rows, again.rows, again.skipped) == (10, 5, 5)
    table = delta_io.open_table(path)
    assert table.transaction_version(tables.offset_marker("t", 0)) == 14
    assert sorted(bronze_rows(settings)["offset"].to_list()) == list(range(15))
    replay = append_batch(path, _batch("t", 0, range(0, 15)))
    assert (replay.rows, replay.skipped, delta_io.open_table(path).version()) == (0, 15, table.version())


@pytest.mark.parametrize("table_exists", [False, True])
def test_two_writers_appending_one_partitions_records_at_the_same_instant_write_each_offset_once(
    settings, monkeypatch, table_exists
):
    path = Path(tables.BRONZE.path(settings))
    if table_exists:
        append_batch(path, _batch("t", 1, range(10)))
    commit_in_turn(monkeypatch)
    results = run_both(
        lambda: append_batch(path, _batch("t", 0, range(0, 1000))),
        lambda: append_batch(path, _batch("t", 0, range(500, 1500))),
    )
    offsets = bronze_rows(settings).filter(pl.col("partition") == 0)["offset"]
    assert offsets.len() == offsets.n_unique() == 1500 and offsets.min() == 0 and offsets.max() == 1499
    assert (results["first"].rows, results["second"].rows, results["second"].skipped) == (1000, 500, 500)
    assert delta_io.open_table(path).transaction_version(tables.offset_marker("t", 0)) == 1499


def test_keep_only_drops_partitions_no_longer_owned():
    batch = _batch("t", 0, range(3))
    batch.add("t", 1, [_record("t", 1, 0, b"x")], now=0.0)
    assert batch.keep_only({("t", 1)}) == 3
    assert batch.last_offsets() == {("t", 1): 0}


def _assert_exactly_once(settings, expected: int) -> None:
    rows = bronze_rows(settings)
    assert rows.height == expected
    per_partition = rows.group_by("partition").agg(
        pl.len().alias("n"),
        pl.col("offset").min().alias("lo"),
        pl.col("offset").max().alias("hi"),
        pl.col("offset").n_unique().alias("u"),
    )
    for p in per_partition.iter_rows(named=True):  # one row per offset, no gaps
        assert p["lo"] == 0 and p["hi"] == p["n"] - 1 and p["u"] == p["n"], p


@pytest.mark.integration
def test_hostile_values_land_byte_identical(kafka_settings):
    values = [b"", b"\xff\xfe\x00garbage", b"not json", b'{"truncated":', b"x" * 900_000, None, "é✓".encode()]
    keys = [None, b"\x00", b"k", None, b"big", b"tomb", b"u"]
    headers = [[("trace", b"\x01\x02")], [], [("a", b""), ("b", b"2")], [], [], [], []]
    produce_raw(kafka_settings, values, keys=keys, headers=headers)
    stats = ingest_bronze.run(kafka_settings, max_records=len(values), idle_exit_s=30)
    assert stats.records == len(values)
    got = bronze_rows(kafka_settings, ("key", "value", "headers")).to_dicts()
    expected = [
        {"key": k, "value": v, "headers": [{"key": hk, "value": hv} for hk, hv in h]}
        for k, v, h in zip(keys, values, headers)
    ]
    assert sorted(got, key=repr) == sorted(expected, key=repr)


@pytest.mark.integration
def test_clean_stop_then_restart_resumes_where_it_stopped(kafka_settings):
    produce_raw(kafka_settings, (b"a%d" % i for i in range(3000)))
    stop = threading.Event()
    thread = threading.Thread(target=ingest_bronze.run, args=(kafka_settings,), kwargs={"stop_event": stop})
    thread.start()
    wait_for(lambda: bronze_count(kafka_settings) == 3000, what="first 3000 records in bronze")
    stop.set()
    thread.join(30)
    assert not thread.is_alive()
    lag = group_lag(kafka_settings, kafka_settings.telemetry_topic, kafka_settings.bronze_consumer_group)
    assert sum(p.lag for p in lag) == 0  # offsets committed to Kafka after the flush
    produce_raw(kafka_settings, (b"b%d" % i for i in range(2000)))
    stats = ingest_bronze.run(kafka_settings, max_records=2000, idle_exit_s=30)
    assert stats.records == 2000
    _assert_exactly_once(kafka_settings, 5000)


@pytest.mark.integration
def test_a_member_restarted_with_a_fresh_consumer_lands_every_record_once(kafka_settings):
    produce_raw(kafka_settings, (b"a%d" % i for i in range(2000)))
    ingest = ingest_bronze.BronzeIngest(kafka_settings, ingest_bronze.make_consumer(kafka_settings))
    ingest.subscribe()

    def poll_until(total: int) -> bool:
        ingest.poll()
        if ingest.batch.records:
            ingest.flush(reason="test")
        return bronze_count(kafka_settings) == total

    wait_for(lambda: poll_until(2000), what="the first 2000 records in bronze")
    produce_raw(kafka_settings, (b"b%d" % i for i in range(1000)))
    ingest.poll()  # part of the new records may be buffered when the restart comes
    ingest.restart_consumer(ingest_bronze.make_consumer(kafka_settings))
    wait_for(lambda: poll_until(3000), what="all 3000 records in bronze after the restart")
    ingest.close()
    _assert_exactly_once(kafka_settings, 3000)


@pytest.mark.integration
def test_sigkill_at_three_random_moments_loses_and_duplicates_nothing(kafka_settings, tmp_path):
    total = 100_000
    produce_raw(kafka_settings, (b'{"n":%d}' % i for i in range(total)))
    rng = random.Random(7)
    log = tmp_path / "ingest.log"
    small = {"BRONZE_FLUSH_RECORDS": "500", "BRONZE_FLUSH_SECONDS": "0.5"}  # ~200 commits: kills land mid-stream
    for kill in range(3):
        before = bronze_count(kafka_settings)
        proc = start_module("consumer.bronze", kafka_settings, log=log, **small)
        wait_for(
            lambda before=before: bronze_count(kafka_settings) > before,
            timeout_s=90,
            what=f"progress before kill {kill}",
        )
        threading.Event().wait(rng.uniform(0.0, 1.0))  # a random moment within the next flushes
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert bronze_count(kafka_settings) < total, "the kills came too late to prove anything"
    proc = start_module("consumer.bronze", kafka_settings, "--idle-exit", "5", log=log, **small)
    assert proc.wait(180) == 0, log.read_text()[-2000:]
    _assert_exactly_once(kafka_settings, total)


def _stuck_after(progress: list[tuple[int, int]], *, assigned: bool = False) -> list[bool]:
    """StuckCheck's verdicts at t = 0, 20, 40, ... s with the group's (committed, lag) at each check."""
    answers = iter(progress)
    check = ingest_bronze.StuckCheck(lambda: next(answers), window_s=20.0)
    return [check.stuck(assigned=assigned, now=t * 20.0) for t in range(len(progress) + 1)]


def test_a_member_without_partitions_is_stuck_only_while_records_wait_and_nobody_commits():
    assert _stuck_after([(100, 50), (100, 50)]) == [False, False, True]  # nobody consumes the waiting records
    assert _stuck_after([(100, 50), (180, 50)]) == [False, False, False]  # another member consumes them
    assert _stuck_after([(100, 0), (100, 0)]) == [False, False, False]  # nothing to consume
    assert _stuck_after([(100, 0), (100, 3)]) == [False, False, False]  # records just arrived: not waiting yet
    assert _stuck_after([(100, 50), (100, 50)], assigned=True) == [False, False, False]


def _last_assignment(log) -> list[str] | None:
    """The partitions of the ingest's latest assignment (None before its first one)."""
    lines = [line for line in log.read_text().splitlines() if "consumer.bronze.ingest: assigned " in line]
    if not lines:
        return None
    listed = lines[-1].split("assigned ", 1)[1]
    return [] if listed == "no partitions" else listed.split(", ")


@pytest.mark.integration
def test_two_processes_in_one_group_land_every_record_once(kafka_settings, tmp_path):
    total = 60_000
    ensure_topic(kafka_settings)
    logs = [tmp_path / f"ingest-{i}.log" for i in range(2)]
    small = {"BRONZE_FLUSH_RECORDS": "3000", "BRONZE_FLUSH_SECONDS": "0.5"}
    procs = [start_module("consumer.bronze", kafka_settings, "--idle-exit", "8", log=log, **small) for log in logs]
    wait_for(lambda: all(_last_assignment(log) for log in logs), timeout_s=90, what="both members to own partitions")
    produce_raw(kafka_settings, (b"r%d" % i for i in range(total)))
    for proc, log in zip(procs, logs):
        assert proc.wait(180) == 0, log.read_text()[-2000:]
    _assert_exactly_once(kafka_settings, total)


def test_unreachable_broker_with_idle_exit_is_one_line_within_its_bound(tmp_path):
    env = env_of(make_settings(LAKE_ROOT=tmp_path / "lake", KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1"))
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "consumer.bronze", "--idle-exit", "5"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 30
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "INFO" not in line]
    assert errors == [
        "error: Kafka broker not reachable at 127.0.0.1:1 (ConnectionRefusedError): start it with "
        "./start.sh (or scripts/kafka_local.sh start), or set KAFKA_BOOTSTRAP_SERVERS"
    ]


def _produce_until(settings, stop: threading.Event, *, per_batch: int = 200, every_s: float = 0.1) -> None:
    """Keep the topic flowing: a batch of records every `every_s` until `stop` is set."""
    n = 0
    while not stop.is_set():
        produce_raw(settings, (b"z%d" % i for i in range(n, n + per_batch)))
        n += per_batch
        stop.wait(every_s)


@pytest.mark.integration
def test_a_member_paused_and_resumed_ten_times_never_duplicates_a_record(kafka_settings, tmp_path):
    """The zombie scenario: while one member is stopped (SIGSTOP) the group gives its partitions to the other; on
    SIGCONT it still holds polled records and flushes them (every 0.1 s) before it learns it lost them."""
    fast = {"BRONZE_FLUSH_SECONDS": "0.1"}
    logs = [tmp_path / "zombie.log", tmp_path / "other.log"]
    zombie, other = (start_module("consumer.bronze", kafka_settings, log=log, **fast) for log in logs)
    stop = threading.Event()
    producer = threading.Thread(target=_produce_until, args=(kafka_settings, stop))
    try:
        wait_for(
            lambda: all(_last_assignment(log) for log in logs), timeout_s=90, what="both members to own partitions"
        )
        producer.start()
        for pause in range(10):
            wait_for(
                lambda: bronze_count(kafka_settings) > 0 and _last_assignment(logs[0]),
                timeout_s=90,
                what=f"the zombie to own partitions before pause {pause}",
            )
            zombie.send_signal(signal.SIGSTOP)
            wait_for(
                lambda: len(_last_assignment(logs[1]) or []) == 6,
                timeout_s=60,
                what=f"the other member to take every partition during pause {pause}",
            )
            zombie.send_signal(signal.SIGCONT)
            wait_for(
                lambda: _last_assignment(logs[0]) and len(_last_assignment(logs[1]) or []) < 6,
                timeout_s=90,
                what=f"the zombie to rejoin after pause {pause}",
            )
        stop.set()
        producer.join(60)
        total = sum(end_offsets(kafka_settings, kafka_settings.telemetry_topic).values())
        wait_for(lambda: bronze_count(kafka_settings) >= total, timeout_s=120, what=f"all {total} records in bronze")
    finally:
        stop.set()
        for proc in (zombie, other):
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
    for proc, log in zip((zombie, other), logs):
        assert proc.wait(60) == 0, log.read_text()[-2000:]
    _assert_exactly_once(kafka_settings, total)
