"""The seq state file shared by producer runs: restarts and parallel producers never reuse a seq."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np

from producer.state import SeqStore

IDS = ["d1", "d2"]


def test_interleaved_producers_claim_disjoint_blocks_and_the_last_claim_wins_on_save(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    a, b = SeqStore(path, IDS), SeqStore(path, IDS)
    ca = a.load(block=3)
    cb = b.load(block=3)
    assert (ca.seq.tolist(), cb.seq.tolist()) == ([0, 0], [3, 3])
    ca.seq += 3  # a used 0, 1, 2
    assert a.needs_reservation(ca)
    a.reserve(ca, block=3)
    assert ca.seq.tolist() == [6, 6]  # jumped over b's block
    ca.seq += 1
    cb.seq += 2
    b.save(cb)  # a claimed after b: b's exact seq would hand a's block out again
    a.save(ca)
    assert SeqStore(path, IDS).load().seq.tolist() == [7, 7]


def _claim(path: Path, rounds: int, out: multiprocessing.Queue) -> None:
    store = SeqStore(path, IDS)
    cursor = store.load(block=4)
    used = []
    for _ in range(rounds):
        if store.needs_reservation(cursor):
            store.reserve(cursor, block=4)
        used.append(cursor.seq.copy())
        cursor.seq += 1
    store.save(cursor)
    out.put(np.stack(used).tolist())


def test_parallel_producer_processes_never_use_the_same_seq(tmp_path: Path) -> None:
    path, out = tmp_path / "state.json", multiprocessing.get_context("spawn").Queue()
    procs = [multiprocessing.get_context("spawn").Process(target=_claim, args=(path, 300, out)) for _ in range(3)]
    for proc in procs:
        proc.start()
    used = [np.array(out.get(timeout=60)) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    for device in range(len(IDS)):
        seqs = np.concatenate([u[:, device] for u in used])
        assert np.unique(seqs).size == seqs.size == 900
        assert SeqStore(path, IDS).load().seq[device] > seqs.max()
