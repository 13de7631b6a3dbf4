"""The per-sequence benchmark protocol of WHAM/TRAM/GVHMR/JOSH (reference/official-josh.md §1.2-1.6).

For one GT sequence and one predicted sequence:

1. Frames: GT rows that are valid (EMDB `good_frames_mask`) and predicted (track `frame`). The
   official scripts assume the track covers exactly these frames; we match by frame index and note
   any good frame the prediction misses.
2. Global frame: GT world quantities mapped by E_0 (GT w2c of video frame 0; RICH GT as given);
   predicted camera-frame joints, foot vertices and the `transl` vector mapped *as points* by
   inv(C_m0) C_i, m0 = first evaluated frame.
3. Global metrics: W-MPJPE100 / WA-MPJPE100 (100-frame chunks, similarity fitted on the chunk's
   first two frames / all frames), RTE (rigid fit over the whole sequence, / GT path length, x100;
   SLOPER4D tracks the GT camera-frame `transl` through the predicted cameras), jitter (/10),
   FS (4 SMPL foot vertices, GT contact = GT displacement < 1 cm/frame).
4. Local metrics (EMDB, SLOPER4D): GT camera bodies E_i X_world; both sides centred on the hip
   midpoint (joints 1, 2); PA-MPJPE (per-frame similarity), MPJPE, PVE (vertices centred on the
   joints' pelvis), accel error (x fps^2, m/s^2). RICH: accel error on the global joints.
5. ATE: w2c translation columns relative to camera 0 over all video frames, rigid fit; evo mean
   (EMDB) or RMSE (SLOPER4D, without seq009). EMDB skips the whole sequence when `pred_cam` does not
   cover every frame (official).
6. Reconstruction (SLOPER4D, RICH): `josh.eval.recon`.

Per-frame vectors are kept so that `josh.eval.report` can average them frame-weighted over all
sequences; ATE and reconstruction metrics are per-sequence values (averaged per sequence), depth
metrics per keyframe.

Non-SMPL predictions (Anny): the 24 skeleton joints (SMPL order) stand in for SMPL joints in every
joint metric; FS and FFR use the model's own foot vertices; PVE and CR are skipped (no SMPL mesh);
RICH CD is skipped (its registration needs SMPL root parameters). Results say so per sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from josh.errors import JoshError, SetupError
from josh.eval import metrics as M
from josh.eval import recon
from josh.eval.datasets.base import DatasetRules, SequenceRef
from josh.eval.sequence import GroundTruthSequence, PredictedSequence, rigid_inverse, transform_points
from josh.eval.smpl_eval import PELVIS_JOINTS, SmplEvaluator

CHUNK = 100  # W-/WA-MPJPE chunk length (frames)
FS_THRESHOLD = 0.01  # m per frame: GT foot contact


class SequenceSkipped(Exception):
    """The sequence cannot be evaluated (the reason is reported, the run goes on)."""


@dataclass
class SequenceResult:
    name: str
    n_frames: int  # evaluated frames
    body_model: str
    prediction: str
    per_frame: dict[str, np.ndarray] = field(default_factory=dict)  # averaged frame-weighted
    per_sequence: dict[str, float] = field(default_factory=dict)  # averaged over sequences
    per_keyframe: dict[str, list[float]] = field(default_factory=dict)  # averaged over keyframes
    skipped: dict[str, str] = field(default_factory=dict)  # metric -> why it is not reported
    notes: list[str] = field(default_factory=list)


def evaluation_frames(gt: GroundTruthSequence, pred: PredictedSequence):
    """(GT rows, pred rows, notes): valid GT frames that are predicted, in frame order."""
    predicted = np.isin(gt.frame_ids, pred.frames)
    rows = np.flatnonzero(gt.valid & predicted)
    notes = []
    missing = int((gt.valid & ~predicted).sum())
    if missing:
        notes.append(f"{missing} of {int(gt.valid.sum())} valid GT frames have no prediction and are not evaluated")
    return rows, pred.rows_for(gt.frame_ids[rows]), notes


def evaluate_sequence(gt: GroundTruthSequence, pred: PredictedSequence, rules: DatasetRules, smpl: SmplEvaluator,
                      with_recon: bool = True) -> SequenceResult:  # fmt: skip
    n_cams = len(pred.cam_c2w)
    if rules.skip_if_camera_track_incomplete and gt.n_video_frames is not None and n_cams != gt.n_video_frames:
        raise SequenceSkipped(f"pred_cam has {n_cams} frames, the sequence {gt.n_video_frames} (official skip)")
    gt_rows, pred_rows, notes = evaluation_frames(gt, pred)
    if len(gt_rows) < 2:
        raise SequenceSkipped("fewer than two predicted frames among the valid GT frames")
    frames = gt.frame_ids[gt_rows]
    if frames.max() >= n_cams:
        raise SequenceSkipped(f"pred_cam has {n_cams} frames but the track reaches frame {int(frames.max())}")

    result = SequenceResult(gt.name, len(gt_rows), pred.body_model, pred.source, notes=list(gt.notes) + notes)
    fps = rules.fps

    # -- global frame ------------------------------------------------------------------------
    gt_to_global = np.eye(4) if gt.w2c is None else gt.w2c[0]
    gt_joints = transform_points(gt_to_global, gt.joints[gt_rows])
    gt_feet = transform_points(gt_to_global, gt.feet[gt_rows])
    gt_transl = transform_points(gt_to_global, gt.transl[gt_rows])
    pred_rel = rigid_inverse(pred.cam_c2w[frames[0]]) @ pred.cam_c2w[frames]
    pred_joints = transform_points(pred_rel, pred.joints_cam[pred_rows])
    if rules.rte_uses_gt_camera_transl:
        track = transform_points(gt.w2c[gt_rows], gt.transl[gt_rows][:, None])[:, 0]
    else:
        track = pred.transl_cam[pred_rows]
    pred_transl = transform_points(pred_rel, track[:, None])[:, 0]

    pf = result.per_frame
    pf["w_mpjpe"] = M.w_mpjpe(pred_joints, gt_joints, CHUNK)
    pf["wa_mpjpe"] = M.wa_mpjpe(pred_joints, gt_joints, CHUNK)
    if np.linalg.norm(np.diff(gt_transl, axis=0), axis=-1).sum() > 0:
        pf["rte"] = M.rte(pred_transl, gt_transl)
    else:
        result.skipped["rte"] = "the GT root does not move (zero path length)"
    pf["jitter"] = M.jitter(pred_joints, fps)
    if pred.feet_cam is None:
        result.skipped["fs"] = "the prediction has no foot vertices"
    else:
        pf["fs"] = M.foot_sliding(transform_points(pred_rel, pred.feet_cam[pred_rows]), gt_feet, FS_THRESHOLD)
        if pred.body_model != "smpl":
            result.notes.append(f"FS: {pred.body_model} foot vertices (L/R heel, toe) against GT SMPL contact labels")
    if pred.body_model != "smpl":
        result.notes.append(f"joint metrics use the {pred.body_model} 24 skeleton joints as SMPL joints (approximate)")

    # -- local (camera-frame) metrics --------------------------------------------------------
    if rules.local_metrics:
        _local_metrics(result, gt, pred, gt_rows, pred_rows, smpl, fps)
    else:
        pf["accel"] = M.accel_error(pred_joints, gt_joints, fps)

    # -- cameras ------------------------------------------------------------------------------
    if rules.ate_stat:
        _camera_metrics(result, gt, pred, rules)

    # -- reconstruction ----------------------------------------------------------------------
    if with_recon and rules.recon:
        _recon_metrics(result, gt, pred, rules, smpl, gt_rows, pred_rows)
    return result


def _local_metrics(result, gt, pred, gt_rows, pred_rows, smpl: SmplEvaluator, fps: float) -> None:
    pf = result.per_frame
    E = gt.w2c[gt_rows]
    gt_joints_cam = transform_points(E, gt.joints[gt_rows])
    pred_joints_cam = pred.joints_cam[pred_rows]
    pf["pa_mpjpe"] = M.pa_mpjpe(pred_joints_cam, gt_joints_cam)
    pf["mpjpe"] = M.mpjpe(pred_joints_cam, gt_joints_cam, PELVIS_JOINTS)
    centre = lambda j: j - j[:, list(PELVIS_JOINTS)].mean(axis=1, keepdims=True)  # noqa: E731
    pf["accel"] = M.accel_error(centre(pred_joints_cam), centre(gt_joints_cam), fps)
    if pred.smpl is None:
        result.skipped["pve"] = f"needs SMPL vertices; the prediction is {pred.body_model}"
        return
    chunks = []
    for start in range(0, len(gt_rows), smpl.chunk):
        sl = slice(start, start + smpl.chunk)
        gt_verts = transform_points(E[sl], smpl.run(gt.body.take(gt_rows[sl]), with_vertices=True).vertices)
        pred_verts = smpl.run(pred.smpl.take(pred_rows[sl]), with_vertices=True).vertices
        chunks.append(M.pve(pred_verts, gt_verts, pred_joints_cam[sl], gt_joints_cam[sl], PELVIS_JOINTS))
    pf["pve"] = np.concatenate(chunks)


def _camera_metrics(result, gt: GroundTruthSequence, pred: PredictedSequence, rules: DatasetRules) -> None:
    if not gt.evaluate_ate:
        result.skipped["ate"] = "excluded by the official protocol"
    elif gt.w2c is None or len(gt.w2c) != gt.n_video_frames:
        result.skipped["ate"] = "no GT camera for every video frame"
    elif len(pred.cam_c2w) != len(gt.w2c):
        result.skipped["ate"] = f"pred_cam has {len(pred.cam_c2w)} frames, GT cameras {len(gt.w2c)}"
    else:
        result.per_sequence["ate"] = M.ate(pred.cam_c2w, rigid_inverse(gt.w2c), stat=rules.ate_stat)


def _recon_metrics(result, gt, pred, rules, smpl, gt_rows, pred_rows) -> None:
    reason = None
    if not gt.evaluate_recon:
        reason = "excluded by the official protocol"
    elif pred.scene is None:
        reason = "the prediction has no dense scene (depth_hw, conf_hw, intrinsics, img_idx)"
    if reason:
        for key in ("cd", "ffr", "cr") + (("depth",) if rules.recon == "sloper4d" else ()):
            result.skipped[key] = reason
        return
    if rules.recon == "sloper4d":
        out = recon.evaluate_sloper4d(gt, pred, smpl)
    else:
        out = recon.evaluate_rich(gt, pred, smpl, gt_rows, pred_rows)
    result.per_sequence.update(out.per_sequence)
    result.per_keyframe.update(out.per_keyframe)
    result.skipped.update(out.skipped)
    result.notes.extend(out.notes)


# ------------------------------------------------------------------------------------------------
# Whole dataset
# ------------------------------------------------------------------------------------------------


def official_prediction_dir(pred_root: Path, ref: SequenceRef) -> Path | None:
    """The first `<pred_root>/<candidate>` holding a `josh/` folder."""
    for candidate in ref.prediction_dirs:
        if (Path(pred_root) / candidate / "josh").is_dir():
            return Path(pred_root) / candidate
    return None


@dataclass
class DatasetResult:
    dataset: str
    sequences: list[SequenceResult]
    skipped: dict[str, str]  # sequence name -> reason


def evaluate_dataset(
    reader,
    refs: list[SequenceRef],
    pred_root: Path,
    smpl: SmplEvaluator,
    load_prediction: Callable[[Path], PredictedSequence],
    locate_prediction: Callable[[Path, SequenceRef], Path | None] = official_prediction_dir,
    with_recon: bool = True,
    log: Callable[[str], None] = lambda msg: None,
) -> DatasetResult:
    """Evaluate every sequence; a sequence that cannot be evaluated is reported, not fatal.

    `load_prediction(folder)` reads one sequence's prediction (official layout by default; plug a
    loader built on `predictions.prediction_from_world_arrays` for other results).
    """
    results, skipped = [], {}
    for ref in refs:
        folder = locate_prediction(pred_root, ref)
        if folder is None:
            skipped[ref.name] = "no prediction (looked for " + ", ".join(f"{c}/josh" for c in ref.prediction_dirs) + ")"
            continue
        try:
            pred = load_prediction(folder)
            gt = reader.load_sequence(ref, smpl)
            results.append(evaluate_sequence(gt, pred, reader.RULES, smpl, with_recon))
            log(f"{ref.name}: {results[-1].n_frames} frames evaluated")
        except SetupError:
            raise  # no model files: nothing else can be evaluated either
        except (SequenceSkipped, JoshError) as exc:
            skipped[ref.name] = str(exc)
            log(f"{ref.name}: skipped ({exc})")
    return DatasetResult(reader.RULES.name, results, skipped)
