"""The ETL lease: which process, on any host, runs silver and gold on this lake, kept in the lake itself.

A lease is one row of the Delta table `system/leases` (lake/tables.py): its owner (`host:pid:random`), when it
was taken, until when it holds (`expires_at`, UTC), how often it was renewed, and whether it was released.
Acquiring, renewing and releasing are each one conditional Delta commit, planned on a snapshot: the commit
overwrites the lease's row and records the application transaction `lease:<name>` (one more than the
snapshot's), so any two lease commits planned on the same snapshot conflict and delta-rs rejects the second
(CommitFailedError) instead of rebasing it; the loser reads the lease again and finds the winner. Nothing but
Delta commits is used, so the lease works the same on a local folder and on S3 (where delta-rs commits with
conditional puts).

A lease whose expiry passed, or that was released, may be taken by anyone. Its holder renews it every third of
the TTL (`LeaseKeeper`, a thread); a holder that finds its lease taken, or cannot renew it before it expires,
stops holding it at once (`lost` is set) and must not start new work. Expiry is judged on each host's UTC clock:
the TTL must exceed the hosts' clock skew. Work that overlaps anyway (a holder paused past its expiry) stays
correct because every stage's commits are conditional on their own progress markers.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import polars as pl
import pyarrow as pa
from deltalake import QueryBuilder
from deltalake.exceptions import CommitFailedError, DeltaError

from common.clock import Clock, SystemClock
from config.errors import LakehouseError
from config.settings import Settings
from lake import delta_io, tables

logger = logging.getLogger(__name__)

T = TypeVar("T")

ETL = "etl"
ATTEMPTS = 5  # lease commits that lose a race re-read the lease and decide again, this many times at most


class LeaseHeldError(LakehouseError):
    """Another process holds the lease (`holder`: as it was read, when it was)."""

    def __init__(self, message: str, holder: LeaseState | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class LeaseLostError(LakehouseError):
    """The lease this process held was taken by another one (or could not be renewed in time)."""


@dataclass(frozen=True)
class LeaseState:
    """One lease as the table holds it."""

    name: str
    owner: str
    acquired_at: datetime
    expires_at: datetime
    renewals: int
    released: bool

    def live(self, now: datetime) -> bool:
        """Whether it still keeps others out."""
        return not self.released and self.expires_at > now

    def describe(self, now: datetime) -> str:
        """One line for people: who holds it until when, or since when it is free."""
        until = f"{self.expires_at:%Y-%m-%d %H:%M:%S}Z"
        if self.released:
            return f"free (released by {self.owner} at {until})"
        left = (self.expires_at - now).total_seconds()
        if left <= 0:
            return f"free (expired at {until}, {-left:.0f}s ago; {self.owner} stopped renewing it)"
        return f"held by {self.owner} until {until} (in {left:.0f}s, renewed {self.renewals} times)"


def new_owner() -> str:
    """This process's identity as a lease owner: host, pid, and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _state(snapshot: delta_io.Snapshot, name: str) -> LeaseState | None:
    """The lease's row in the snapshot. Read with delta-rs' own query engine: a pyarrow dataset scan (what
    `to_pyarrow_table` does) over delta-rs' Python filesystem sometimes aborts the process when it exits right after
    (`terminate called without an active exception`), as a refused manual run does."""
    if snapshot.table is None:
        return None
    query = QueryBuilder().register("leases", snapshot.table).execute(f"SELECT * FROM leases WHERE name = '{name}'")
    rows = pl.from_arrow(pa.table(query.read_all()))
    return None if rows.is_empty() else LeaseState(**rows.row(0, named=True))  # type: ignore[union-attr, arg-type]


def read_lease(settings: Settings, name: str = ETL) -> LeaseState | None:
    """The lease as it is now; None when it was never taken."""
    return _state(delta_io.snapshot(tables.LEASES.path(settings)), name)


class Lease:
    """One process's handle on a lease: acquire, renew, release (each one conditional commit)."""

    def __init__(
        self,
        settings: Settings,
        *,
        name: str = ETL,
        owner: str | None = None,
        ttl_s: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.path = tables.LEASES.path(settings)
        self.name = name
        self.owner = owner or new_owner()
        self.ttl = timedelta(seconds=ttl_s if ttl_s is not None else settings.etl_lease_ttl_s)
        self.clock = clock or SystemClock()
        self.expires_at: datetime | None = None  # of the lease this handle holds; None: not held

    @property
    def marker(self) -> str:
        return tables.LEASES.marker().format(name=self.name)

    def _commit(self, snapshot: delta_io.Snapshot, row: LeaseState) -> None:
        """Overwrite the lease's row, conditional on nothing having committed a lease change since `snapshot`."""
        generation = (snapshot.txn_version(self.marker) or 0) + 1
        delta_io.write(
            snapshot,
            pl.DataFrame([asdict(row)], schema=tables.LEASES.schema),
            mode="overwrite",
            predicate=f"name = '{self.name}'" if snapshot.table is not None else None,
            app_transactions={self.marker: generation},
            configuration=tables.LEASES.configuration if snapshot.table is None else None,
        )

    def _change(self, decide: Callable[[LeaseState | None, datetime], LeaseState], what: str) -> LeaseState:
        """Read the lease, let `decide` return the new row (or raise), commit it; on a lost race, read again."""
        for _ in range(ATTEMPTS):
            snapshot = delta_io.snapshot(self.path)
            row = decide(_state(snapshot, self.name), self.clock.now())
            try:
                self._commit(snapshot, row)
            except CommitFailedError:
                continue
            return row
        raise LeaseHeldError(f"ETL lease {self.name}: {what} lost {ATTEMPTS} races in a row; try again")

    def acquire(self) -> LeaseState:
        """Take the lease if it is free, expired or ours; LeaseHeldError naming the holder and expiry if not."""

        def decide(state: LeaseState | None, now: datetime) -> LeaseState:
            if state is not None and state.live(now) and state.owner != self.owner:
                raise LeaseHeldError(f"the ETL lease is {state.describe(now)}", state)
            return LeaseState(self.name, self.owner, now, now + self.ttl, 0, False)

        row = self._change(decide, "taking it")
        self.expires_at = row.expires_at
        return row

    def renew(self) -> LeaseState:
        """Extend the lease by a TTL from now; LeaseLostError if another process took it meanwhile."""

        def decide(state: LeaseState | None, now: datetime) -> LeaseState:
            if state is None or state.owner != self.owner or state.released:
                self.expires_at = None
                taker = f"it is {state.describe(now)}" if state is not None else "it is gone"
                raise LeaseLostError(f"lost the ETL lease: {taker}")
            return LeaseState(self.name, self.owner, state.acquired_at, now + self.ttl, state.renewals + 1, False)

        row = self._change(decide, "renewing it")
        self.expires_at = row.expires_at
        return row

    def release(self) -> None:
        """Give the lease up (others may take it at once); a no-op when another process holds it by now."""

        def decide(state: LeaseState | None, now: datetime) -> LeaseState:
            if state is None or state.owner != self.owner or state.released:
                raise LeaseLostError("not held")
            return LeaseState(self.name, self.owner, state.acquired_at, now, state.renewals, True)

        try:
            self._change(decide, "releasing it")
        except LeaseLostError:
            pass
        self.expires_at = None


class LeaseKeeper:
    """Holds an acquired lease: renews it every third of its TTL in a thread, sets `lost` (and logs one line)
    when another process took it or it could not be renewed before it expired, and releases it on exit."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew_until_done, name=f"lease-{lease.name}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        if self.lease.expires_at is None:
            self.lease.acquire()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        if not self.lost.is_set():
            self.lease.release()

    def _renew_until_done(self) -> None:
        every = self.lease.ttl.total_seconds() / 3
        while not self._done.wait(every):
            try:
                self.lease.renew()
            except LeaseLostError as exc:
                self._step_down(str(exc))
                return
            except (LakehouseError, DeltaError, OSError) as exc:  # the lake is unreachable: retry until expiry
                expires_at = self.lease.expires_at
                if expires_at is None or expires_at <= self.lease.clock.now():
                    self._step_down(f"could not renew the ETL lease before it expired ({delta_io.one_line(str(exc))})")
                    return
                logger.warning("could not renew the ETL lease (retrying): %s", delta_io.one_line(str(exc)))

    def _step_down(self, why: str) -> None:
        self.lease.expires_at = None
        self.lost.set()
        logger.warning("%s; stepping down", why)


def run_holding(settings: Settings, work: Callable[[], T]) -> T:
    """Run `work` (a stage run by hand) holding the ETL lease: LeaseHeldError naming the holder and its expiry if
    another process holds it; LeaseLostError after `work` if another process took the lease meanwhile (the run's
    commits are conditional on the stage's progress markers, so the overlap wrote nothing twice)."""
    with LeaseKeeper(Lease(settings)) as kept:
        result = work()
    if kept.lost.is_set():
        raise LeaseLostError("another process took the ETL lease during this run; see the warning above")
    return result
