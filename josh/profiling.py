"""Wall time and peak resident memory of a block of code, for benchmark tables and run reports.

Peak memory is the process's resident set size at its highest while the block runs: it includes
everything already loaded (Python, torch, the body model), which is what a user's machine has to
hold. On Linux it is exact: the kernel's high-water mark (`VmHWM`), restarted at the block's start
through `/proc/self/clear_refs`. Elsewhere, or where that file cannot be written, a background thread
samples the resident size every few ms, which can miss a peak shorter than that. The restart is
process-wide: code around josh that reads `VmHWM` itself sees it restarted.
"""

from __future__ import annotations

import ctypes
import os
import resource
import threading
import time

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


def _high_water_mb() -> float | None:
    """The kernel's peak resident size since the last restart, or None where it is not kept."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def exact_peaks() -> bool:
    """Whether `measure` reads the kernel's peak counter here (else it samples)."""
    return _high_water_mb() is not None and os.access("/proc/self/clear_refs", os.W_OK)


_running: list[Measurement] = []  # the measurements whose blocks are running now, outermost first
_running_lock = threading.Lock()


def _fold_high_water(into: list[Measurement]) -> None:
    high = _high_water_mb()
    if high is not None:
        for m in into:
            m.hand_in(high)


def _restart_high_water() -> bool:
    """Restart the kernel's peak counter, first handing its value to every running measurement
    (so that nested blocks each keep their own peak). False where it cannot be restarted."""
    _fold_high_water(_running)
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # 5: reset the peak resident size to the current one (Linux >= 4.0)
        return True
    except OSError:
        return False


class Measurement:
    """What `measure` gives: `seconds` (set when the block ends) and `peak_mem_mb`, which may also
    be read while the block still runs (the peak so far: a run's report is written inside its
    own measured block)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.folded_mb = 0.0  # the peak as far as handed in (by the sampler or a counter restart)
        self.running_exact = False  # running, with the kernel's counter restarted for it

    @property
    def peak_mem_mb(self) -> float:
        if self.running_exact:  # the counter has run since the last restart, which handed in what came before
            return max(self.folded_mb, _high_water_mb() or 0.0)
        return self.folded_mb

    def hand_in(self, mb: float) -> None:
        self.folded_mb = max(self.folded_mb, mb)

    def __repr__(self) -> str:
        return f"Measurement(seconds={self.seconds:.3f}, peak_mem_mb={self.peak_mem_mb:.1f})"


class measure:
    """`with measure() as m: ...` then `m.seconds`, `m.peak_mem_mb`."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.result = Measurement()
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.result.hand_in(current_rss_mb())
            self._stop.wait(self.interval)

    def __enter__(self) -> Measurement:
        self.result.hand_in(current_rss_mb())
        with _running_lock:
            self.result.running_exact = _restart_high_water()
            _running.append(self.result)
        self._thread = None if self.result.running_exact else threading.Thread(target=self._sample, daemon=True)
        if self._thread is not None:
            self._thread.start()
        self._start = time.perf_counter()
        return self.result

    def __exit__(self, *exc) -> None:
        self.result.seconds = time.perf_counter() - self._start
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.result.hand_in(current_rss_mb())
        with _running_lock:
            if self.result.running_exact:
                _fold_high_water([self.result])
            self.result.running_exact = False
            _running[:] = [m for m in _running if m is not self.result]  # by identity, not value
