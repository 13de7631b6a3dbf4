"""Run every method on the same generated inputs and score each against the truth."""

from __future__ import annotations

import logging

from josh.bench.scoring import METRIC_KEYS, score
from josh.optimize import METHODS, OptimConfig, reconstruct
from josh.profiling import measure
from josh.synth.config import NoiseConfig, SynthConfig
from josh.synth.frontend import simulate_frontends
from josh.synth.generate import generate_world

log = logging.getLogger(__name__)
RESULT_KEYS = METRIC_KEYS + ("time_s", "peak_mem_mb")


def run_case(synth: SynthConfig, noise: NoiseConfig, optim: OptimConfig, body, methods=METHODS) -> dict[str, dict]:
    """Metrics (RESULT_KEYS) of each method on one generated world."""
    gt = generate_world(synth, body)
    inputs = simulate_frontends(gt, noise, body, seed=synth.seed)
    results = {}
    for method in methods:
        with measure() as m:
            recon = reconstruct(inputs, body, optim, method=method)
        row = score(recon, gt)
        row.update(time_s=m.seconds, peak_mem_mb=m.peak_mem_mb)
        results[method] = row
        log.debug("%s %s: %s", synth.terrain, method, row)
    return results
