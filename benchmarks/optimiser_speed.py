"""Wall time and peak memory of the JOSH optimiser on the issue's reference problem: 100 frames,
2 people, 20 keyframes (the default synthetic world), median over several runs.

    python benchmarks/optimiser_speed.py [--runs 5] [--threads 1] [--method josh] [--terrain flat]

Inputs are generated once; each run optimises from scratch. Peak memory is the process's
resident set (Python, torch and the body model included).
"""

from __future__ import annotations

import argparse
import json
import platform

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads inside the optimiser")
    parser.add_argument("--method", default="josh")
    parser.add_argument("--terrain", default="flat")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from josh.body import load_body_model
    from josh.optimize import OptimConfig, reconstruct
    from josh.profiling import measure
    from josh.synth.config import NoiseConfig, SynthConfig
    from josh.synth.frontend import simulate_frontends
    from josh.synth.generate import generate_world

    body = load_body_model()
    gt = generate_world(SynthConfig(terrain=args.terrain, seed=args.seed), body)
    inputs = simulate_frontends(gt, NoiseConfig(), body, seed=args.seed)
    config = OptimConfig(threads=args.threads)
    times, peaks = [], []
    for i in range(args.runs):
        with measure() as m:
            reconstruct(inputs, body, config, args.method)
        times.append(m.seconds)
        peaks.append(m.peak_mem_mb)
        print(f"run {i + 1}: {m.seconds:.2f} s, peak {m.peak_mem_mb:.0f} MB", flush=True)
    summary = {
        "problem": {"frames": gt.n_frames, "people": len(gt.people), "keyframes": len(gt.keyframe_ids),
                    "correspondences": len(inputs.correspondences)},
        "method": args.method, "threads": args.threads, "runs": args.runs,
        "median_s": float(np.median(times)), "min_s": float(np.min(times)), "max_s": float(np.max(times)),
        "peak_mem_mb": float(np.max(peaks)), "machine": platform.processor() or platform.machine(),
    }  # fmt: skip
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
