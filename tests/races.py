"""Deterministic races between two writers in threads: both plan on the same table state, then commit in turn."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from lake import delta_io

T = TypeVar("T")
WRITERS = ("first", "second")


def commit_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads named "first" and "second" each reach their first commit before either makes it, then "first"
    commits and only then "second": the interleaving in which a check made before another writer's commit meets
    a table that changed since."""
    real_write, both_planned, first_done = delta_io.write, threading.Barrier(2, timeout=120), threading.Event()
    waiting = set(WRITERS)

    def write_in_turn(*args: Any, **kwargs: Any) -> None:
        name = threading.current_thread().name
        if name in waiting:
            waiting.discard(name)
            both_planned.wait()
            if name == "second":
                first_done.wait(120)
        try:
            real_write(*args, **kwargs)
        finally:
            if name == "first":
                first_done.set()

    monkeypatch.setattr(delta_io, "write", write_in_turn)


def run_both(first: Callable[[], T], second: Callable[[], T]) -> dict[str, T]:
    """Run the two writers in threads named "first" and "second"; their results, or the first one's error."""
    results: dict[str, T] = {}
    errors: list[BaseException] = []

    def call(name: str, target: Callable[[], T]) -> None:
        try:
            results[name] = target()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=call, args=(name, target), name=name) for name, target in zip(WRITERS, (first, second))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    if errors:
        raise errors[0]
    assert not any(thread.is_alive() for thread in threads), "a writer did not finish within 300 s"
    return results
