"""`josh eval --dataset {emdb,sloper4d,rich} --root DATA --pred RESULTS`: the field's benchmark
protocol on predictions in the official JOSH layout (`<RESULTS>/<seq>/josh/scene.pkl` +
`hps_track_*.npy`), tables written as `eval_<dataset>.md` and `.json`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from josh.errors import InputError

log = logging.getLogger("josh.eval")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, choices=("emdb", "sloper4d", "rich"), help="benchmark protocol")
    parser.add_argument("--root", required=True, type=Path, help="dataset root (ground-truth annotations)")
    parser.add_argument("--pred", type=Path, default=None,
                        help="prediction root holding <seq>/josh/ folders (default: --root, the official layout)")
    parser.add_argument("--smpl", type=Path, default=None,
                        help="folder with SMPL_{NEUTRAL,MALE,FEMALE}.pkl (default: $JOSH_SMPL_DIR)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the tables (default: --pred)")
    parser.add_argument("--sequences", nargs="+", default=None, metavar="NAME", help="evaluate only these sequences")
    parser.add_argument("--subset", choices=("emdb1", "emdb2"), default=None,
                        help="EMDB only: sequences flagged emdb1 (local metrics) or emdb2 (global) in their pkl")
    parser.add_argument("--no-recon", action="store_true", help="skip the reconstruction metrics (CD, depth, FFR, CR)")


def main(args: argparse.Namespace) -> int:
    from josh.eval import datasets
    from josh.eval.predictions import load_official_prediction
    from josh.eval.protocol import evaluate_dataset
    from josh.eval.report import overall, write_report
    from josh.eval.smpl_eval import SmplEvaluator
    from josh.io.atomic import ensure_writable_dir

    root = Path(args.root).expanduser()
    if not root.is_dir():
        raise InputError(f"dataset root {root} is not a folder")
    pred_root = Path(args.pred).expanduser() if args.pred else root
    if not pred_root.is_dir():
        raise InputError(f"prediction root {pred_root} is not a folder")
    reader = datasets.get(args.dataset)
    refs = reader.find_sequences(root)
    if args.sequences:
        wanted = set(args.sequences)
        refs = [r for r in refs if r.name in wanted or wanted & set(r.prediction_dirs)]
    if args.subset:
        if args.dataset != "emdb":
            raise InputError("--subset applies to EMDB only")
        refs = [r for r in refs if reader.subset_tags(r).get(args.subset)]
    if not refs:
        raise InputError(f"no {args.dataset} sequences found under {root}")
    smpl = SmplEvaluator(args.smpl)
    out_dir = ensure_writable_dir(args.out.expanduser() if args.out else pred_root)

    result = evaluate_dataset(reader, refs, pred_root, smpl, lambda folder: load_official_prediction(folder, smpl),
                              with_recon=not args.no_recon, log=log.info)  # fmt: skip
    md_path, json_path = write_report(result, reader.RULES, root, pred_root, out_dir)
    for key, item in overall(result).items():
        if item["value"] is not None:
            log.info("%s: %.4g (%s, n=%d)", key, item["value"], item["averaging"], item["count"])
    log.info("tables: %s, %s", md_path, json_path)
    if not result.sequences:
        first = next(iter(result.skipped.items()))
        raise InputError(f"no sequence could be evaluated (e.g. {first[0]}: {first[1]}); see {md_path}")
    return 0
