"""What every benchmark shares: the result row, the context it runs in, and timing helpers.

Each area has a module `benchmarks/<area>.py` with `run(ctx: BenchContext) -> list[Result]`;
`python -m scripts.benchmark` runs them all and prints one Markdown table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from config.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Result:
    """One figure: its value, what it is compared with, and the goal it must meet."""

    figure: str
    value: float
    unit: str
    reference: float | None = None
    reference_label: str = ""
    goal: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.reference if self.reference else None


@dataclass(frozen=True, kw_only=True)
class BenchContext:
    """Settings pointing at a running broker and a scratch lake; `scale` < 1 shrinks the workloads."""

    settings: Settings
    workdir: Path
    scale: float = 1.0

    def n(self, full: int, minimum: int = 1000) -> int:
        """A workload size: `full` at scale 1."""
        return max(minimum, int(full * self.scale))


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """fn's result and the seconds it took."""
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start
