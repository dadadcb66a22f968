"""The ETL scheduler: failing stages do not stop the others, gold follows silver, the lease keeps a second scheduler
and manual runs out, SIGTERM."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from common.clock import ManualClock
from consumer.scheduler import EtlScheduler, serve
from lake import tables
from lake.lease import Lease, read_lease
from tests.conftest import REPO, make_settings
from tests.kafka_helpers import env_of, wait_for


def counting(calls: list[str], name: str, result=None, error: Exception | None = None):
    def stage(_settings):
        calls.append(name)
        if error is not None:
            raise error
        return result

    return stage


def test_a_failing_stage_does_not_stop_the_others(lake_root, caplog):
    settings = make_settings(LAKE_ROOT=lake_root, SILVER_INTERVAL_S=1, GOLD_INTERVAL_S=1)
    calls: list[str] = []
    stop = threading.Event()
    scheduler = EtlScheduler(
        settings,
        stop_event=stop,
        stages={
            "silver": counting(calls, "silver", error=RuntimeError("disk on fire")),
            "gold": counting(calls, "gold"),
            "maintenance": counting(calls, "maintenance"),
        },
    )
    thread = threading.Thread(target=scheduler.run_forever)
    with caplog.at_level(logging.ERROR, logger="consumer.scheduler"):
        thread.start()
        wait_for(
            lambda: calls.count("silver") >= 3 and calls.count("gold") >= 3,
            what="three runs of each stage",
            interval_s=0.02,
        )
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert scheduler.failures["silver"] >= 3 and scheduler.failures["gold"] == 0
    failures = [r.getMessage() for r in caplog.records if r.name == "consumer.scheduler"]
    assert failures[0] == "stage silver failed: RuntimeError: disk on fire; retrying at its next tick"


def test_gold_follows_a_silver_run_that_wrote_rows(settings):
    calls: list[str] = []
    rows = {"n": 5}
    scheduler = EtlScheduler(
        settings,
        stages={
            "silver": lambda _s: (calls.append("silver"), SimpleNamespace(silver_rows=rows["n"]))[1],
            "gold": counting(calls, "gold"),
            "maintenance": counting(calls, "maintenance"),
        },
    )
    scheduler.tick("silver")
    rows["n"] = 0
    scheduler.tick("silver")
    assert calls == ["silver", "gold", "silver"]


def test_run_once_reports_failure(settings):
    calls: list[str] = []
    scheduler = EtlScheduler(
        settings,
        stages={
            "silver": counting(calls, "silver"),
            "gold": counting(calls, "gold", error=ValueError("bad")),
            "maintenance": counting(calls, "maintenance"),
        },
    )
    assert scheduler.run_once() is False
    assert calls == ["silver", "gold", "maintenance"]


def _holder_pid(settings) -> int | None:
    lease = read_lease(settings)
    return int(lease.owner.split(":")[1]) if lease is not None and lease.live(datetime.now(UTC)) else None


def test_while_a_scheduler_holds_the_lease_once_exits_0_manual_runs_refuse_and_sigterm_releases_it(settings):
    env = env_of(settings, SILVER_INTERVAL_S="1", GOLD_INTERVAL_S="1")
    first = subprocess.Popen(
        [sys.executable, "-m", "consumer.scheduler", "--stage", "gold"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: _holder_pid(settings) == first.pid, what="the first scheduler to hold the lease")
        second = subprocess.run(
            [sys.executable, "-m", "consumer.scheduler", "--once"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 0
        assert f"the ETL lease is held by {read_lease(settings).owner} until" in second.stderr
        for stage in ("consumer.silver", "consumer.gold"):
            manual = subprocess.run(
                [sys.executable, "-m", stage], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
            )
            assert manual.returncode != 0
            assert manual.stderr.startswith(f"error: the ETL lease is held by {read_lease(settings).owner} until ")
            assert manual.stderr.count("\n") == 1, manual.stderr
        first.send_signal(signal.SIGTERM)
        _, stderr = first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, stderr
    assert "ETL scheduler stopped" in stderr
    assert read_lease(settings).released


def test_silver_and_gold_run_on_each_new_bronze_commit_without_waiting_for_their_intervals(lake_root):
    settings = make_settings(LAKE_ROOT=lake_root, SILVER_INTERVAL_S=3600, GOLD_INTERVAL_S=3600)
    calls: list[str] = []
    stop = threading.Event()
    scheduler = EtlScheduler(
        settings,
        stop_event=stop,
        poll_s=0.05,
        stages={
            "silver": lambda _s: (calls.append("silver"), SimpleNamespace(silver_rows=1))[1],
            "gold": counting(calls, "gold"),
            "maintenance": counting(calls, "maintenance"),
        },
    )
    log = Path(tables.BRONZE.path(settings)) / "_delta_log"
    thread = threading.Thread(target=scheduler.run_forever)
    thread.start()
    try:
        wait_for(lambda: calls == ["silver", "gold"], what="the first runs", interval_s=0.02)
        log.mkdir(parents=True)
        for version in range(2):
            (log / f"{version:020d}.json").write_text("{}\n")
            wait_for(
                lambda v=version: calls.count("gold") == v + 2,
                what=f"gold after bronze version {version}",
                interval_s=0.02,
            )
        time.sleep(0.3)  # no new commit: nothing runs
    finally:
        stop.set()
        thread.join(timeout=10)
    assert calls == ["silver", "gold"] * 3


def test_a_holder_whose_lease_is_taken_steps_down_and_takes_it_again_once_released(settings, caplog):
    calls: list[str] = []
    stop = threading.Event()
    stages = {name: counting(calls, name) for name in ("silver", "gold", "maintenance")}
    lease = Lease(settings, owner="sched:1:000000", ttl_s=1.5)
    thread = threading.Thread(target=serve, args=(settings,), kwargs={"stop": stop, "lease": lease, "stages": stages})
    with caplog.at_level(logging.INFO, logger="consumer.scheduler"):
        thread.start()
        try:
            wait_for(lambda: "gold" in calls, what="the holder's first stage runs", interval_s=0.02)
            taker = Lease(settings, owner="taker:2:000000", clock=ManualClock(datetime.now(UTC) + timedelta(minutes=5)))
            taker.acquire()  # sees the holder's lease expired: the holder was paused, say
            wait_for(lambda: "ETL scheduler: back to standby" in caplog.messages, what="the holder to step down")
            ran = len(calls)
            wait_for(lambda: any(m.startswith("standby: the ETL lease is held by taker:2") for m in caplog.messages))
            assert len(calls) == ran  # a standby runs nothing
            taker.release()
            wait_for(lambda: len(calls) > ran, what="the holder to take the released lease and run again")
        finally:
            stop.set()
            thread.join(timeout=30)
    assert not thread.is_alive() and read_lease(settings).released
