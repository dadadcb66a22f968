"""Every entry point allocates Arrow memory through jemalloc (common/memory.py), unless the user chose a pool."""

import os
import subprocess
import sys

import pytest

from benchmarks.harness import REPO

PROBE = "import pyarrow as pa; from common.cli import run; run(lambda: print(pa.default_memory_pool().backend_name))"


@pytest.mark.parametrize(("chosen", "expected"), [(None, "jemalloc"), ("system", "system")])
def test_an_entry_point_uses_jemalloc_unless_a_pool_is_chosen(chosen, expected):
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if chosen:
        env["ARROW_DEFAULT_MEMORY_POOL"] = chosen
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
