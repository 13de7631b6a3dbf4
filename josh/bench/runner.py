"""Run every method on the same generated inputs and score each against the truth."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from josh.bench.scoring import METRIC_KEYS, score
from josh.optimize import METHODS, OptimConfig, reconstruct
from josh.profiling import measure
from josh.synth.config import TERRAINS, NoiseConfig, SynthConfig
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


def run_suite(synth: SynthConfig, noise: NoiseConfig, optim: OptimConfig, body, methods=METHODS,
              terrains=TERRAINS) -> tuple[dict[str, dict], dict[str, dict]]:  # fmt: skip
    """Every terrain with otherwise the same settings; returns (mean over terrains, per terrain)."""
    per_terrain = {t: run_case(dataclasses.replace(synth, terrain=t), noise, optim, body, methods) for t in terrains}
    mean = {m: {k: _nanmean([per_terrain[t][m][k] for t in terrains]) for k in RESULT_KEYS} for m in methods}
    return mean, per_terrain


def _nanmean(values) -> float:
    v = np.asarray(values, float)
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
