"""Delta Lake on a real S3 server (SeaweedFS): delta-rs 1.6.6 commits with put-if-absent, so concurrent writers
from several processes (or hosts) can neither both commit a version nor overwrite one another's commit.

These use deltalake directly; tests/lake/test_lake_on_s3.py runs the stages themselves on the server.
"""

import multiprocessing
import uuid
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError

pytestmark = pytest.mark.integration


def _uri(object_store, name: str) -> str:
    return f"s3://{object_store.bucket}/{uuid.uuid4().hex}/{name}"


def _rows(table: DeltaTable) -> list[int]:
    return sorted(table.to_pyarrow_table(columns=["x"]).column("x").to_pylist())


def test_a_table_on_s3_is_written_and_read_with_the_aws_environment_alone(object_store, monkeypatch):
    for name, value in object_store.storage_options().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_S3_ALLOW_UNSAFE_RENAME", raising=False)
    monkeypatch.delenv("AWS_S3_LOCKING_PROVIDER", raising=False)
    uri = _uri(object_store, "readings")
    write_deltalake(uri, pa.table({"x": [1, 2], "device": ["a", "b"]}), partition_by=["device"])
    write_deltalake(uri, pa.table({"x": [3], "device": ["a"]}), mode="append")
    table = DeltaTable(uri)
    assert table.version() == 1 and _rows(table) == [1, 2, 3]
    status, listing = object_store.client().request("GET", f"/{object_store.bucket}")
    assert status == 200 and b"_delta_log/00000000000000000001.json" in listing


def test_two_writers_planned_on_one_snapshot_commit_one_application_transaction_once(object_store):
    """The bronze ingest's exactly-once rests on this: a zombie writer's stale commit of the same progress marker
    is refused, on S3 as on a local disk."""
    options = object_store.storage_options()
    uri = _uri(object_store, "bronze")
    write_deltalake(uri, pa.table({"x": [0]}), storage_options=options)
    first, second = DeltaTable(uri, storage_options=options), DeltaTable(uri, storage_options=options)
    marker = [Transaction("bronze-ingest-p0", 41, int(datetime.now(UTC).timestamp() * 1000))]
    write_deltalake(
        first, pa.table({"x": [1]}), mode="append", commit_properties=CommitProperties(app_transactions=marker)
    )
    with pytest.raises(CommitFailedError):
        write_deltalake(
            second, pa.table({"x": [2]}), mode="append", commit_properties=CommitProperties(app_transactions=marker)
        )
    table = DeltaTable(uri, storage_options=options)
    assert table.version() == 1 and _rows(table) == [0, 1]
    assert table.transaction_version("bronze-ingest-p0") == 41


def _writer(uri: str, options: dict[str, str], writer: int, rounds: int, retries: int | None, barrier, results) -> None:
    """One process: each round, load the table, wait for the others, then commit `writer`'s rows at once."""
    for round_ in range(rounds):
        table = DeltaTable(uri, storage_options=options)
        barrier.wait(timeout=120)
        try:
            write_deltalake(
                table,
                pa.table({"x": [writer * 1000 + round_]}),
                mode="append",
                commit_properties=CommitProperties(max_commit_retries=retries, custom_metadata={"writer": str(writer)}),
            )
            results.put((round_, writer, "committed"))
        except CommitFailedError:
            results.put((round_, writer, "conflict"))


def _race(object_store, *, writers: int, rounds: int, retries: int | None) -> tuple[str, list[tuple[int, int, str]]]:
    options = object_store.storage_options()
    uri = _uri(object_store, "race")
    write_deltalake(uri, pa.table({"x": [-1]}), storage_options=options)
    context = multiprocessing.get_context("spawn")  # deltalake's runtime does not survive a fork
    barrier, results = context.Barrier(writers), context.Queue()
    processes = [
        context.Process(target=_writer, args=(uri, options, w, rounds, retries, barrier, results))
        for w in range(writers)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=300) for _ in range(writers * rounds)]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return uri, outcomes


def test_processes_creating_the_same_version_at_once_get_exactly_one_winner(object_store):
    """Without retries each round is a straight race for version N+1: one commit, the rest refused, and the
    winner's commit is the one in the log (no loser overwrote it)."""
    writers, rounds = 4, 3
    uri, outcomes = _race(object_store, writers=writers, rounds=rounds, retries=0)
    table = DeltaTable(uri, storage_options=object_store.storage_options())
    winners = {}
    for round_ in range(rounds):
        committed = [w for r, w, outcome in outcomes if r == round_ and outcome == "committed"]
        assert len(committed) == 1, outcomes
        winners[round_] = committed[0]
    assert table.version() == rounds
    history = {entry["version"]: entry for entry in table.history()}
    assert [history[v + 1]["writer"] for v in range(rounds)] == [str(winners[r]) for r in range(rounds)]
    assert _rows(table) == sorted([-1] + [w * 1000 + r for r, w in winners.items()])


def test_simultaneous_appends_from_several_processes_all_land(object_store):
    """With delta-rs' retries every append lands on its own version: nothing lost, nothing overwritten."""
    writers, rounds = 4, 3
    uri, outcomes = _race(object_store, writers=writers, rounds=rounds, retries=None)
    assert {outcome for _, _, outcome in outcomes} == {"committed"}, outcomes
    table = DeltaTable(uri, storage_options=object_store.storage_options())
    assert table.version() == writers * rounds
    assert _rows(table) == sorted([-1] + [w * 1000 + r for w in range(writers) for r in range(rounds)])
    history = table.history()
    assert sorted(entry["version"] for entry in history) == list(range(writers * rounds + 1))
