"""Memory measurement and release (`josh.profiling`)."""

import platform

import numpy as np
import pytest

from josh.profiling import current_rss_mb, measure, release_free_memory


def test_measure_sees_a_peak_that_is_gone_by_the_end():
    with measure() as m:
        block = np.ones(64 * 2**20 // 8)  # 64 MB, touched
        del block
    assert m.peak_mem_mb >= current_rss_mb() + 40


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_heap_memory_goes_back_to_the_os():
    # many small blocks live on the C heap, which keeps them after they are freed
    blocks = [np.ones(128) for _ in range(200_000)]  # ~250 MB in 1 KB blocks
    held = current_rss_mb()
    del blocks
    kept = current_rss_mb()
    release_free_memory()
    assert held - kept < 0.5 * (held - current_rss_mb())  # most of it was kept, and is released now
    assert kept - current_rss_mb() > 100
