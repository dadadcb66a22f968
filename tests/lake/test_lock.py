"""The ETL lock across real processes: taking over a stale holder is one atomic step."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from lake.lock import EtlLock
from tests.conftest import REPO

# A taker process: for each "go <epoch>" line, tries the lock at that instant and says "held" or "refused";
# for each "release" line, releases what it holds and says "released".
TAKER = """
import sys, time
from pathlib import Path
from lake.lock import EtlLock, LockHeldError
lock = EtlLock(Path(sys.argv[1]))
for line in sys.stdin:
    word, *args = line.split()
    if word == "go":
        time.sleep(max(0.0, float(args[0]) - time.time()))
        try:
            lock.acquire()
            print("held", flush=True)
        except LockHeldError:
            print("refused", flush=True)
    else:
        lock.release()
        print("released", flush=True)
"""


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _say(proc: subprocess.Popen, line: str) -> str:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    return proc.stdout.readline().strip()


def test_two_takers_of_a_stale_lock_at_the_same_instant_never_both_hold_it(tmp_path: Path):
    path = tmp_path / ".etl.lock"
    takers = [
        subprocess.Popen(
            [sys.executable, "-c", TAKER, str(path)], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    try:
        for _ in range(40):
            path.write_text(str(_dead_pid()))  # a holder killed with -9 left its pid behind
            start = time.time() + 0.2
            for taker in takers:
                taker.stdin.write(f"go {start}\n")
                taker.stdin.flush()
            answers = sorted(taker.stdout.readline().strip() for taker in takers)
            assert answers == ["held", "refused"]
            assert int(path.read_text()) in {taker.pid for taker in takers}
            assert [_say(taker, "release") for taker in takers] == ["released", "released"]
            assert not path.exists()
    finally:
        for taker in takers:
            taker.stdin.close()
            taker.wait(30)


def test_a_holder_killed_with_sigkill_leaves_a_lock_the_next_taker_gets_at_once(tmp_path: Path):
    path = tmp_path / ".etl.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", TAKER, str(path)], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert _say(holder, f"go {time.time()}") == "held"
    holder.kill()
    holder.wait(30)
    holder.stdin.close()
    assert path.read_text() == str(holder.pid)  # the killed holder's pid stays in the file
    with EtlLock(path) as lock:
        assert lock.held and path.read_text() == str(os.getpid())
