"""Memory measurement and release (`josh.profiling`)."""

import contextlib
import mmap
import platform
import time

import numpy as np
import pytest

from josh import profiling
from josh.profiling import current_rss_mb, exact_peaks, measure, release_free_memory


@contextlib.contextmanager
def resident_block(mb: int):
    """`mb` MB of newly resident memory while the block runs, gone after it. An anonymous map with
    every page written, not a numpy array: an array may reuse freed C-heap memory that is still
    resident and raise no peak at all (late in the full suite it did; also with malloc's mmap and
    trim thresholds raised, MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_)."""
    with mmap.mmap(-1, mb * 2**20) as block:
        pages = np.frombuffer(block, np.uint8)
        pages[:: mmap.PAGESIZE] = 1
        del pages  # the map cannot close while a view of it is alive
        yield


@pytest.mark.skipif(not exact_peaks(), reason="the kernel's peak counter cannot be restarted here")
def test_measure_sees_a_brief_peak_that_is_gone_by_the_end():
    # far shorter than the sampler's interval for most of it: only the kernel's counter sees it
    with measure() as m, resident_block(64):
        pass
    assert m.peak_mem_mb >= current_rss_mb() + 40


def test_the_sampler_sees_a_held_peak_that_is_gone_by_the_end(monkeypatch):
    monkeypatch.setattr(profiling, "_restart_high_water", lambda: False)  # as where /proc cannot be written
    with measure() as m, resident_block(64):
        time.sleep(0.1)  # held for many sampling intervals
    assert m.peak_mem_mb >= current_rss_mb() + 40


def test_the_peak_so_far_can_be_read_inside_the_block():
    # a run writes its report, with its own peak, before its measured block ends
    with measure() as outer:
        with measure(), resident_block(64):
            time.sleep(0.05)
        assert outer.peak_mem_mb >= current_rss_mb() + 40
        with measure() as m:
            with resident_block(64):
                time.sleep(0.05)
            assert m.peak_mem_mb >= current_rss_mb() + 40
            assert outer.peak_mem_mb >= current_rss_mb() + 40


def test_nested_measurements_each_keep_their_own_peak():
    base = current_rss_mb()
    with measure() as outer:
        with resident_block(128):
            time.sleep(0.05)
        with measure() as inner:  # starts after the outer block's peak has gone
            pass
    assert outer.peak_mem_mb >= base + 100
    assert inner.peak_mem_mb < base + 50


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
