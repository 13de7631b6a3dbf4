"""Run every method on the same generated inputs and score each against the truth."""

from __future__ import annotations

import logging

from josh.bench.scoring import METRIC_KEYS, score, truth_reference
from josh.optimize import METHODS, OptimConfig, reconstruct
from josh.profiling import measure
from josh.synth.config import NoiseConfig, SynthConfig
from josh.synth.frontend import simulate_frontends
from josh.synth.generate import generate_world

log = logging.getLogger(__name__)
RESULT_KEYS = METRIC_KEYS + ("time_s", "peak_mem_mb")


def run_case(synth: SynthConfig, noise: NoiseConfig, optim: OptimConfig, body, methods=METHODS) -> tuple[dict[str, dict], dict]:
    """Metrics (RESULT_KEYS) of each method on one generated world, and the truth's own reference
    values (`truth_reference`)."""
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
    truth = truth_reference(gt)
    truth.update(time_s=float("nan"), peak_mem_mb=float("nan"))
    return results, truth
