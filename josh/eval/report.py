"""Benchmark tables: per-sequence and overall, as Markdown and JSON, written atomically.

Overall values follow the field's averaging (reference/official-josh.md §1.1): per-frame metrics
(and FS per contact entry) are concatenated over all sequences and averaged ("frame-weighted");
ATE and the reconstruction metrics are averaged over sequences; depth metrics over keyframes.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import numpy as np

from josh import __version__
from josh.eval.datasets.base import DatasetRules
from josh.eval.protocol import DatasetResult, SequenceResult
from josh.io.atomic import write_json, write_text

# key -> (label, unit, averaging, decimals)
METRICS = {
    "pa_mpjpe": ("PA-MPJPE", "mm", "frames", 1),
    "mpjpe": ("MPJPE", "mm", "frames", 1),
    "pve": ("PVE", "mm", "frames", 1),
    "accel": ("Accel", "m/s²", "frames", 2),
    "w_mpjpe": ("W-MPJPE100", "mm", "frames", 1),
    "wa_mpjpe": ("WA-MPJPE100", "mm", "frames", 1),
    "rte": ("RTE", "%", "frames", 2),
    "jitter": ("Jitter", "10 m/s³", "frames", 2),
    "fs": ("FS", "mm", "contact entries", 2),
    "ate": ("ATE", "m", "sequences", 3),
    "cd": ("CD", "m", "sequences", 3),
    "cd_accuracy": ("CD accuracy", "m", "sequences", 3),
    "cd_completeness": ("CD completeness", "m", "sequences", 3),
    "ffr": ("FFR", "fraction", "sequences", 3),
    **{f"cr@{x}": (f"CR@{x}", "fraction", "sequences", 3) for x in range(4, 11)},
    "depth_abs_rel": ("Depth AbsRel", "", "keyframes", 3),
    "depth_rmse": ("Depth RMSE", "m", "keyframes", 3),
    "depth_log_rmse": ("Depth logRMSE", "", "keyframes", 3),
    "depth_si_log_rmse": ("Depth SI-logRMSE", "", "keyframes", 3),
    "depth_delta1": ("Depth δ1", "fraction", "keyframes", 3),
    "depth_delta2": ("Depth δ2", "fraction", "keyframes", 3),
    "depth_delta3": ("Depth δ3", "fraction", "keyframes", 3),
}
# Metrics shown in the per-sequence Markdown table (all of them are in the JSON).
TABLE_KEYS = ("w_mpjpe", "wa_mpjpe", "rte", "jitter", "fs", "pa_mpjpe", "mpjpe", "pve", "accel", "ate", "cd",
              "ffr", "cr@5", "depth_abs_rel")  # fmt: skip


def _mean(values) -> float | None:
    arr = np.concatenate([np.ravel(np.asarray(v, dtype=np.float64)) for v in values]) if values else np.zeros(0)
    return float(arr.mean()) if arr.size else None


def _count(values) -> int:
    return int(sum(np.size(v) for v in values))


def overall(result: DatasetResult) -> dict[str, dict]:
    """key -> {"value", "count", "averaging"} following the field's averaging rules."""
    pooled: dict[str, list] = {}
    for seq in result.sequences:
        for group in (seq.per_frame, seq.per_keyframe):
            for key, values in group.items():
                pooled.setdefault(key, []).append(values)
        for key, value in seq.per_sequence.items():
            pooled.setdefault(key, []).append([value])
    out = {}
    for key in [k for k in METRICS if k in pooled]:
        out[key] = {"value": _mean(pooled[key]), "count": _count(pooled[key]), "averaging": METRICS[key][2]}
    return out


def sequence_values(seq: SequenceResult) -> dict[str, float | None]:
    values = {k: _mean([v]) for k, v in seq.per_frame.items()}
    values.update({k: _mean([v]) for k, v in seq.per_keyframe.items()})
    values.update(seq.per_sequence)
    return {k: values[k] for k in METRICS if k in values}


SKIP_LABELS = {"cr": "CR", "depth": "Depth metrics"}


def protocol_notes(rules: DatasetRules) -> list[str]:
    """The protocol in a few lines, from the dataset's switches (reference/official-josh.md §1)."""
    rich = rules.name == "rich"
    lines = [
        f"Joints: first 24 SMPL joints; GT {'neutral' if rich else 'gendered'} SMPL, SMPL predictions neutral with "
        "per-sequence mean betas; non-SMPL predictions (Anny) use their 24 SMPL-ordered skeleton joints (approximate).",
        f"Global frame: GT {'as given' if rich else 'mapped by the GT world-to-camera of frame 0'}; predictions by "
        "inv(C_m0) C_i, m0 = first evaluated frame; the smplx transl is moved as a point.",
        "W-/WA-MPJPE100: 100-frame chunks, similarity (with scale) fitted on the first two frames / all frames.",
        "RTE: rigid fit over the whole sequence, / GT path length, x100"
        + ("; tracks the GT camera-frame transl through the predicted cameras (SLOPER4D protocol)."
           if rules.rte_uses_gt_camera_transl else "."),
        f"Jitter /10 and accel x fps² at {rules.fps:g} fps; accel on "
        + ("pelvis-centred camera joints." if rules.accel_on == "camera" else "global joints, unaligned (RICH)."),
        "FS: SMPL foot vertices 3216, 3387, 6617, 6787; GT contact = GT displacement < 1 cm/frame.",
    ]
    if rules.local_metrics:
        lines.append("PA-MPJPE, MPJPE, PVE: camera frame, centred on the hip midpoint (joints 1, 2).")
    if rules.ate_stat:
        lines.append(f"ATE: w2c translation columns relative to camera 0, rigid fit, {rules.ate_stat.upper()}"
                     + (" (evo APE)." if rules.ate_stat == "mean" else "; seq009 excluded."))
    if rules.recon:
        lines.append("CD: 0.3 m voxels, (accuracy + completeness) / 2, "
                     + ("no alignment, GT restricted to the camera views; depth without scale alignment."
                        if rules.recon == "sloper4d" else "registered through the first matched body (6-DoF)."))
        lines.append("FFR: closest foot vertex > 0.2 m from the predicted scene of the same 100-frame window; "
                     "CR@x: > x predicted points inside the SMPL mesh, every 20th frame.")
    lines.append("Averaging: per-frame metrics concatenated over sequences (frame-weighted), FS per contact entry; "
                 "ATE and reconstruction metrics per sequence; depth per keyframe.")
    return lines


def _json_number(x):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


def to_json(result: DatasetResult, rules: DatasetRules, gt_root: Path, pred_root: Path) -> dict:
    return {
        "dataset": result.dataset,
        "generated_by": f"josh {__version__}",
        "ground_truth_root": str(gt_root),
        "prediction_root": str(pred_root),
        "protocol": {**asdict(rules), "notes": protocol_notes(rules)},
        "metrics": {k: {"label": v[0], "unit": v[1], "averaging": v[2]} for k, v in METRICS.items()},
        "overall": {k: {**v, "value": _json_number(v["value"])} for k, v in overall(result).items()},
        "sequences": [
            {
                "name": seq.name,
                "frames": seq.n_frames,
                "body_model": seq.body_model,
                "prediction": seq.prediction,
                "metrics": {k: _json_number(v) for k, v in sequence_values(seq).items()},
                "counts": {k: int(np.size(v)) for k, v in {**seq.per_frame, **seq.per_keyframe}.items()},
                "skipped_metrics": seq.skipped,
                "notes": seq.notes,
            }
            for seq in result.sequences
        ],
        "skipped_sequences": result.skipped,
    }


def _fmt(value, key: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{METRICS[key][3]}f}"


def to_markdown(result: DatasetResult, rules: DatasetRules, gt_root: Path, pred_root: Path) -> str:
    totals = overall(result)
    n_frames = sum(s.n_frames for s in result.sequences)
    lines = [
        f"# Evaluation on {result.dataset.upper()}",
        "",
        f"Ground truth `{gt_root}`, predictions `{pred_root}`: {len(result.sequences)} sequence(s) evaluated "
        f"({n_frames} frames), {len(result.skipped)} skipped. Protocol of reference/official-josh.md §1 "
        f"({rules.fps:g} fps); josh {__version__}.",
        "",
        "## Overall",
        "",
        "| Metric | Value | Unit | Averaged over | N |",
        "|---|---:|---|---|---:|",
    ]
    for key, item in totals.items():
        label, unit, _, _ = METRICS[key]
        lines.append(f"| {label} | {_fmt(item['value'], key)} | {unit} | {item['averaging']} | {item['count']} |")
    keys = [k for k in TABLE_KEYS if k in totals]
    lines += ["", "## Per sequence", "",
              "| Sequence | Frames | Body | " + " | ".join(METRICS[k][0] for k in keys) + " |",
              "|---|---:|---|" + "---:|" * len(keys)]  # fmt: skip
    for seq in result.sequences:
        values = sequence_values(seq)
        cells = [_fmt(values.get(k), k) for k in keys]
        lines.append(f"| {seq.name} | {seq.n_frames} | {seq.body_model} | " + " | ".join(cells) + " |")
    lines += ["", "Per-sequence values are that sequence's means; overall values are frame-weighted where the "
              "metric is per frame. `–`: not reported (see below)."]  # fmt: skip
    details = [(seq.name, f"{METRICS[k][0] if k in METRICS else SKIP_LABELS.get(k, k)} skipped: {why}")
               for seq in result.sequences for k, why in seq.skipped.items()]  # fmt: skip
    details += [(seq.name, note) for seq in result.sequences for note in dict.fromkeys(seq.notes)]
    if details:
        lines += ["", "## Skipped metrics and notes", ""] + [f"- {name}: {text}" for name, text in details]
    if result.skipped:
        lines += ["", "## Skipped sequences", ""] + [f"- {name}: {why}" for name, why in result.skipped.items()]
    lines += ["", "## Protocol", ""] + [f"- {line}" for line in protocol_notes(rules)]
    return "\n".join(lines) + "\n"


def write_report(result: DatasetResult, rules: DatasetRules, gt_root: Path, pred_root: Path,
                 out_dir: Path) -> tuple[Path, Path]:  # fmt: skip
    """Write `eval_<dataset>.md` and `eval_<dataset>.json` into out_dir (atomically)."""
    md_path = Path(out_dir) / f"eval_{result.dataset}.md"
    json_path = Path(out_dir) / f"eval_{result.dataset}.json"
    write_json(json_path, to_json(result, rules, gt_root, pred_root))
    write_text(md_path, to_markdown(result, rules, gt_root, pred_root))
    return md_path, json_path
