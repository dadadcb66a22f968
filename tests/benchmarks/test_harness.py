"""The benchmark harness measures what it says: a child's peak memory is the child's own."""

from __future__ import annotations

import numpy as np

from benchmarks.harness import in_child
from config.settings import Settings


def test_child_peak_rss_leaves_out_the_parents_peak(settings: Settings) -> None:
    """Linux carries a parent's peak RSS into the ru_maxrss of a child it spawns; the child's figure must not."""
    held = np.ones(1024 * 2**20 // 8)  # the parent peaks 1 GiB above the child's needs
    held.fill(2.0)
    del held
    child = in_child("consumer.gold.run:run", settings)  # no silver table yet: returns at once
    assert child.peak_rss_mib < 600
