"""What every benchmark shares: the result row, the context it runs in, and timing helpers.

Each area has a module `benchmarks/<area>.py` with `run(ctx: BenchContext) -> list[Result]`;
`python -m scripts.benchmark` runs them all and prints one Markdown table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from config.settings import Settings

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent


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


@dataclass(frozen=True)
class ChildRun:
    """A call made in a fresh interpreter: the seconds it took (imports excluded) and the process's peak RSS."""

    seconds: float
    peak_rss_mib: float


def in_child(call: str, settings: Settings, **kwargs: object) -> ChildRun:
    """Run `module:function(settings, **kwargs)` in a fresh Python process (settings from the environment, Arrow's
    memory pool as an entry point sets it), so its peak RSS is its own: interpreter and libraries included, nothing
    left over from earlier benchmarks.

    The child reports its own high-water mark (VmHWM of its address space): the ru_maxrss `wait4` returns is not
    its own, Linux carries the parent's peak into it when the (v)forked child execs (a parent that peaked at
    3 GiB before spawning `print(1)` reports 3 GiB for it)."""
    module, function = call.split(":")
    code = (
        "import json, sys, time; from importlib import import_module; from config.settings import Settings; "
        "from common.memory import use_jemalloc; use_jemalloc(); "  # as common.cli.run does for every entry point
        f"fn = getattr(import_module({module!r}), {function!r}); s = Settings.from_env(dotenv=None); "
        f"t = time.perf_counter(); fn(s, **json.loads({json.dumps(kwargs)!r})); "
        "seconds = time.perf_counter() - t; "
        "hwm = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')); "
        "print(json.dumps([seconds, hwm]))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, env={**os.environ, **settings.to_env()}, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait()
    if proc.returncode:
        raise RuntimeError(f"{call} failed in its child process (exit {proc.returncode})")
    seconds, hwm_kib = json.loads(out.splitlines()[-1])
    return ChildRun(seconds=seconds, peak_rss_mib=hwm_kib / 1024)
