"""`josh bench`: the synthetic ground-truth benchmark (DESIGN §6).

Generates a world (`--terrain`, `--people`, `--frames`, `--seed`, ...), simulates front-end
outputs with every error mode set by a flag (`--depth-noise`, `--focal-error`, ...; defaults and
their justification in `josh.synth.config.NoiseConfig`), runs the serial baseline, JOSH and its
ablations on the same inputs, and prints one table of metrics (plus wall time and peak memory).
`--suite default` runs the three terrains (and every `--seeds` value) and averages them.
`--json PATH` writes {"config": {...}, "methods": {method: {metric: value}}} (+ "truth": the
values a perfect reconstruction would score where a metric needs no prediction — jitter, FS — and
"runs": every world's own table). The "(truth)" row of the printed table is that reference.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time

import numpy as np

from josh.synth.config import TERRAINS, NoiseConfig, SynthConfig

METRIC_FORMAT = {  # key: (column title, format)
    "w_mpjpe": ("W-MPJPE mm", "{:.0f}"), "wa_mpjpe": ("WA-MPJPE mm", "{:.0f}"), "pa_mpjpe": ("PA-MPJPE mm", "{:.1f}"),
    "rte": ("RTE %", "{:.2f}"), "ate": ("ATE m", "{:.3f}"), "jitter": ("jitter", "{:.1f}"), "fs": ("FS mm", "{:.1f}"),
    "ffr": ("FFR", "{:.1%}"), "ffr_005": ("FFR@5cm", "{:.1%}"), "cd": ("CD m", "{:.3f}"), "abs_rel": ("AbsRel", "{:.3f}"),
    "scale_err": ("scale err", "{:.1%}"), "focal_err": ("focal err", "{:.1%}"), "time_s": ("time s", "{:.1f}"),
    "peak_mem_mb": ("peak MB", "{:.0f}"),
}  # fmt: skip


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from josh.optimize import METHODS

    world = parser.add_argument_group("generated world (josh.synth.config.SynthConfig)")
    for f in dataclasses.fields(SynthConfig):
        if isinstance(f.default, bool):
            world.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction, default=f.default)
            continue
        kwargs = {"choices": TERRAINS} if f.name == "terrain" else {}
        world.add_argument(_flag(f.name), type=type(f.default), default=f.default, **kwargs)
    noise = parser.add_argument_group("simulated front-end errors (josh.synth.config.NoiseConfig)")
    for f in dataclasses.fields(NoiseConfig):
        noise.add_argument(_flag(f.name), type=type(f.default), default=f.default)
    parser.add_argument("--suite", choices=("default",), default=None,
                        help="run every terrain (flat, steps, slope) and average")  # fmt: skip
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (default: --seed); averaged")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {', '.join(METHODS)}")
    parser.add_argument("--json", default=None, metavar="PATH", help="write the results as JSON")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")


def main(args: argparse.Namespace) -> int:
    import torch

    from josh.bench.runner import RESULT_KEYS, run_case
    from josh.body import load_body_model
    from josh.errors import InputError
    from josh.io.atomic import write_json
    from josh.optimize import METHODS, OptimConfig

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        raise InputError(f"unknown method(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(METHODS)}")
    seeds = _seeds(args)
    synth = SynthConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(SynthConfig)})
    noise = NoiseConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(NoiseConfig)})
    try:
        synth.validate()
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    if args.threads:
        torch.set_num_threads(args.threads)
    terrains = TERRAINS if args.suite == "default" else (synth.terrain,)
    body = load_body_model("anny")
    optim = OptimConfig()

    start = time.perf_counter()
    runs = []
    for terrain in terrains:
        for seed in seeds:
            case = dataclasses.replace(synth, terrain=terrain, seed=seed)
            logging.info("bench: terrain %s, seed %d, %d people, %d frames", terrain, seed, case.people, case.frames)
            results, truth = run_case(case, noise, optim, body, methods)
            runs.append({"terrain": terrain, "seed": seed, "methods": results, "truth": truth})
    mean = {m: {k: _nanmean([r["methods"][m][k] for r in runs]) for k in RESULT_KEYS} for m in methods}
    truth_mean = {k: _nanmean([r["truth"][k] for r in runs]) for k in RESULT_KEYS}

    title = f"josh bench: {', '.join(terrains)}; seeds {', '.join(map(str, seeds))}; {synth.people} people, {synth.frames} frames"
    _print_table(title, {**mean, "(truth)": truth_mean})
    if len(runs) > 1:
        for r in runs:
            _print_table(f"{r['terrain']}, seed {r['seed']}", {**r["methods"], "(truth)": r["truth"]})
    print(f"total {time.perf_counter() - start:.0f} s")
    if args.json:
        config = {**dataclasses.asdict(synth), **dataclasses.asdict(noise), "suite": args.suite, "seeds": seeds,
                  "terrains": list(terrains), "methods": methods, "optim": optim.to_dict()}  # fmt: skip
        write_json(args.json, {"config": config, "methods": mean, "truth": truth_mean, "runs": runs})
        print(f"wrote {args.json}")
    return 0


def _seeds(args) -> list[int]:
    from josh.errors import InputError

    if args.seeds is None:
        return [args.seed]
    try:
        return [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError as exc:
        raise InputError(f"--seeds must be comma-separated integers, got {args.seeds!r}") from exc


def _nanmean(values) -> float:
    v = np.asarray(values, float)
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")


def _print_table(title: str, results: dict[str, dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("method")
    for key, (name, _) in METRIC_FORMAT.items():
        table.add_column(name, justify="right")
    for method, row in results.items():
        table.add_row(method, *(fmt.format(row[k]) if np.isfinite(row[k]) else "-" for k, (_, fmt) in METRIC_FORMAT.items()))
    Console(width=250).print(table)
