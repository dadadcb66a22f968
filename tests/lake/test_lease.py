"""The ETL lease in the lake: acquire, renew, expire, take over, release; racing processes never both win it, on a
local lake through lake/lease.py and on a real S3 server with the same commit made by raw delta-rs (lake/delta_io.py
takes local paths until the lake moves to S3)."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError

from common.clock import ManualClock
from config.settings import Settings
from consumer import maintenance
from lake import delta_io, tables
from lake.lease import Lease, LeaseHeldError, LeaseKeeper, LeaseLostError, read_lease
from ops import status
from tests.conftest import REPO, make_settings
from tests.kafka_helpers import env_of, wait_for
from tests.races import commit_in_turn, run_both

# A taker process: for each "go <epoch>" line, tries the lease at that instant and prints "held <owner>" or
# "refused"; for each "release" line, releases what it holds and prints "released".
TAKER = """
import sys, time
from config.settings import Settings
from consumer import maintenance
from lake.lease import Lease, LeaseHeldError
lease = Lease(Settings.from_env())
for line in sys.stdin:
    word, *args = line.split()
    if word == "go":
        time.sleep(max(0.0, float(args[0]) - time.time()))
        try:
            lease.acquire()
            print("held", lease.owner, flush=True)
        except LeaseHeldError:
            print("refused", flush=True)
    else:
        lease.release()
        print("released", flush=True)
"""
START = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)


def test_acquire_renew_expire_take_over_and_release(settings: Settings):
    clock = ManualClock(START)
    first = Lease(settings, owner="host-a:1:aaaaaa", ttl_s=30, clock=clock)
    second = Lease(settings, owner="host-b:2:bbbbbb", ttl_s=30, clock=clock)
    assert read_lease(settings) is None
    first.acquire()
    with pytest.raises(LeaseHeldError, match=r"held by host-a:1:aaaaaa until 2026-11-30 05:00:30Z \(in 30s"):
        second.acquire()
    clock.advance(20)
    assert first.renew().expires_at == START + timedelta(seconds=50)
    clock.advance(40)  # still held at 05:00:40 after the renewal; 10 s past its expiry now
    assert not read_lease(settings).live(clock.now())
    second.acquire()
    with pytest.raises(LeaseLostError, match="held by host-b:2:bbbbbb"):
        first.renew()
    first.release()  # no longer its lease: a no-op
    assert read_lease(settings).owner == "host-b:2:bbbbbb" and read_lease(settings).live(clock.now())
    second.release()
    assert read_lease(settings).describe(clock.now()).startswith("free (released by host-b:2:bbbbbb")
    first.acquire()  # a released lease is taken at once
    state = read_lease(settings)
    assert (state.owner, state.renewals, state.released) == ("host-a:1:aaaaaa", 0, False)


def test_two_takers_planned_on_the_same_free_lease_one_wins_the_other_reads_it_again(settings, monkeypatch):
    commit_in_turn(monkeypatch)  # both read the lease free, then commit one after the other
    takers = {name: Lease(settings, owner=f"{name}:1:000000") for name in ("first", "second")}

    def take(name: str):
        def attempt() -> str:
            try:
                takers[name].acquire()
            except LeaseHeldError as exc:
                return str(exc)
            return "held"

        return attempt

    results = run_both(take("first"), take("second"))
    assert results["first"] == "held"
    assert results["second"].startswith("the ETL lease is held by first:1:000000")
    assert read_lease(settings).owner == "first:1:000000"


def _taker(settings: Settings) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", TAKER],
        cwd=REPO,
        env=env_of(settings),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _say(proc: subprocess.Popen, line: str) -> str:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    return proc.stdout.readline().strip()


@pytest.mark.parametrize("planted", ["free", "expired"])
def test_two_processes_racing_for_the_lease_at_the_same_instant_exactly_one_wins_every_round(settings, planted):
    takers = [_taker(settings) for _ in range(2)]
    try:
        for _ in range(15):
            if planted == "expired":  # a holder killed with -9 stopped renewing a minute ago
                past = ManualClock(datetime.now(UTC) - timedelta(minutes=1))
                Lease(settings, owner="gone:9:dead00", ttl_s=1, clock=past).acquire()
            start = time.time() + 0.3
            for taker in takers:
                taker.stdin.write(f"go {start}\n")
                taker.stdin.flush()
            answers = [taker.stdout.readline().split() for taker in takers]
            winners = [answer[1] for answer in answers if answer[0] == "held"]
            assert sorted(a[0] for a in answers) == ["held", "refused"], answers
            assert read_lease(settings).owner == winners[0]
            assert [_say(taker, "release") for taker in takers] == ["released", "released"]
            assert read_lease(settings).released
    finally:
        for taker in takers:
            taker.stdin.close()
            taker.wait(30)


def test_the_keeper_renews_steps_down_when_taken_and_leaves_the_taker_holding(settings: Settings):
    lease = Lease(settings, owner="keeper:1:000000", ttl_s=1.5)
    with LeaseKeeper(lease) as kept:
        wait_for(lambda: read_lease(settings).renewals >= 2, what="two renewals", interval_s=0.05)
        assert not kept.lost.is_set()
        later = ManualClock(datetime.now(UTC) + timedelta(minutes=5))  # a taker that sees the lease expired
        Lease(settings, owner="taker:2:000000", clock=later).acquire()
        assert kept.lost.wait(30)
    assert read_lease(settings).owner == "taker:2:000000"  # the keeper did not release the taker's lease


def test_the_lease_table_keeps_its_log_short(settings: Settings):
    lease = Lease(settings)
    lease.acquire()
    for _ in range(25):
        lease.renew()
    table = delta_io.open_table(tables.LEASES.path(settings))
    checkpoint = delta_io.checkpoint_version(Path(tables.LEASES.path(settings)) / "_delta_log")
    assert 0 < table.version() - checkpoint <= 10  # delta-rs checkpoints every 10 commits after the commit
    assert table.metadata().configuration == dict(tables.LEASES.configuration)
    assert delta_io.read(tables.LEASES.path(settings)).height == 1
    (done,) = maintenance.run(settings, only=[tables.LEASES.key])  # compacts, checkpoints, vacuums (after 1 h)
    assert done.table == tables.LEASES.key and tables.LEASES.vacuum_retention_hours(settings) == 1.0
    assert lease.renew().renewals == 26


def test_status_shows_the_holder_and_its_expiry_and_is_red_while_nobody_holds_it(lake_root: Path):
    settings = make_settings(LAKE_ROOT=lake_root, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")

    def lease_check() -> status.Check:
        return {check.name: check for check in status.checks(settings)}["etl lease"]

    assert not lease_check().healthy and lease_check().detail.startswith("never taken")
    lease = Lease(settings, owner="host-a:1:aaaaaa")
    lease.acquire()
    assert lease_check().healthy
    assert lease_check().detail.startswith(f"held by host-a:1:aaaaaa until {lease.expires_at:%Y-%m-%d %H:%M:%S}Z")
    lease.release()
    assert not lease_check().healthy and lease_check().detail.startswith("free (released by host-a:1:aaaaaa")


def _lease_committer(uri: str, options: dict[str, str], rounds: int, barrier, results) -> None:
    """One process making the lease's commit (lake/lease.py `Lease._commit`) with raw delta-rs: each round, read
    the lease's generation, wait for the others, then overwrite the row recording the next generation."""
    for round_ in range(rounds):
        table = DeltaTable(uri, storage_options=options)
        fresh = table.version() == 0  # the empty version 0 a first write commits against (delta_io._first_version)
        generation = (table.transaction_version("lease:etl") or 0) + 1
        marker = Transaction("lease:etl", generation, int(datetime.now(UTC).timestamp() * 1000))
        barrier.wait(timeout=120)
        try:
            write_deltalake(
                table,
                pa.table({"name": ["etl"], "owner": [f"{os.getpid()}:{round_}"]}),
                mode="overwrite",
                predicate=None if fresh else "name = 'etl'",
                commit_properties=CommitProperties(app_transactions=[marker]),
            )
            results.put((round_, "committed"))
        except CommitFailedError:
            results.put((round_, "conflict"))
        barrier.wait(timeout=120)


@pytest.mark.integration
@pytest.mark.parametrize("start", ["free", "held"])
def test_on_s3_racing_lease_commits_from_three_processes_have_one_winner_every_round(object_store, start):
    """The lease's commit on a real S3 server, with delta-rs' default retries (which rebase a commit over
    non-conflicting ones): the application transaction makes every other lease commit conflict."""
    options = object_store.storage_options()
    uri = f"s3://{object_store.bucket}/{uuid.uuid4().hex}/system/leases"
    schema = pa.schema([pa.field("name", pa.string()), pa.field("owner", pa.string())])
    DeltaTable.create(uri, schema, storage_options=options)
    if start == "held":
        write_deltalake(
            uri, pa.table({"name": ["etl"], "owner": ["gone"]}, schema=schema), mode="append", storage_options=options
        )
    context = multiprocessing.get_context("spawn")  # deltalake's runtime does not survive a fork
    processes, rounds = 3, 1 if start == "free" else 5
    barrier, results = context.Barrier(processes), context.Queue()
    workers = [
        context.Process(target=_lease_committer, args=(uri, options, rounds, barrier, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=300) for _ in range(processes * rounds)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    for round_ in range(rounds):
        assert sorted(o for r, o in outcomes if r == round_) == ["committed", "conflict", "conflict"], outcomes
    table = DeltaTable(uri, storage_options=options)
    assert table.transaction_version("lease:etl") == rounds
    assert table.to_pyarrow_table().num_rows == 1
