"""Wall time and peak resident memory of a block of code, for benchmark tables and run reports.

Peak memory is the process's resident set size sampled by a background thread (every few ms)
while the block runs: it includes everything already loaded (Python, torch, the body model), which
is what a user's machine has to hold. Where /proc is unavailable it falls back to the process's
lifetime maximum (`ru_maxrss`).
"""

from __future__ import annotations

import ctypes
import os
import resource
import threading
import time
from dataclasses import dataclass

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def release_free_memory() -> None:
    """Give the C heap's freed memory back to the OS (glibc's `malloc_trim`; nothing elsewhere).

    Why: after a large stage the heap keeps what it freed. On a 400-frame clip structure from
    motion leaves 330 MB of it, and the later stages then start that much higher."""
    try:
        ctypes.CDLL(None).malloc_trim(0)  # the symbols already loaded in the process: no library search
    except (OSError, AttributeError, TypeError):  # not glibc, or no such handle on this platform
        pass


@dataclass
class Measurement:
    seconds: float = 0.0
    peak_mem_mb: float = 0.0


class measure:
    """`with measure() as m: ...` then `m.seconds`, `m.peak_mem_mb`."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.result = Measurement()
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.result.peak_mem_mb = max(self.result.peak_mem_mb, current_rss_mb())
            self._stop.wait(self.interval)

    def __enter__(self) -> Measurement:
        self.result.peak_mem_mb = current_rss_mb()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self._start = time.perf_counter()
        return self.result

    def __exit__(self, *exc) -> None:
        self.result.seconds = time.perf_counter() - self._start
        self._stop.set()
        self._thread.join()
        self.result.peak_mem_mb = max(self.result.peak_mem_mb, current_rss_mb())
