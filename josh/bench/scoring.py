"""Score a `Reconstruction` against the `GroundTruth` of a generated world (DESIGN §6).

The reconstruction lives in its internal world (keyframe 0's camera frame, metric); the truth in a
Z-up world. Motion metrics align as the field does (similarity per 100-frame chunk for W/WA-MPJPE,
rigid for RTE and ATE), so the frame difference does not matter to them. Scene metrics (CD, depth
AbsRel, scale) use no alignment at all: the truth is mapped into its own keyframe-0 camera frame,
which is exactly where a metric reconstruction must put it (the SLOPER4D protocol).
"""

from __future__ import annotations

import numpy as np

from josh.eval import metrics as M
from josh.synth.truth import GroundTruth
from josh.types import Reconstruction

METRIC_KEYS = ("w_mpjpe", "wa_mpjpe", "pa_mpjpe", "rte", "ate", "jitter", "fs", "ffr", "ffr_005", "cd",
               "abs_rel", "scale_err", "focal_err")  # fmt: skip


def score(recon: Reconstruction, gt: GroundTruth) -> dict[str, float]:
    out = {k: float("nan") for k in METRIC_KEYS}
    out.update(_people_metrics(recon, gt))
    out["ate"] = M.ate(recon.T_wc, gt.T_wc, stat="mean")
    out.update(_scene_metrics(recon, gt))
    out["focal_err"] = M.relative_error(recon.intrinsics.focal, gt.intrinsics.focal)
    return out


def truth_reference(gt: GroundTruth) -> dict[str, float]:
    """The metrics that need no prediction, computed on the truth itself (jitter, and the truth's
    own foot motion on its contact entries): what a perfect reconstruction would score, so a
    method smoother than the truth can be told apart from an accurate one."""
    out = {k: float("nan") for k in METRIC_KEYS}
    out["jitter"] = M.frame_weighted_mean([M.jitter(p.joints, gt.fps) for p in gt.people]) if gt.people else float("nan")
    fs = [M.foot_sliding(p.foot_vertices, p.foot_vertices) for p in gt.people]
    fs = [f for f in fs if f.size]
    out["fs"] = M.frame_weighted_mean(fs) if fs else float("nan")
    return out


def _matched_people(recon: Reconstruction, gt: GroundTruth):
    truth = {p.person_id: p for p in gt.people}
    for pred in recon.people:
        true = truth.get(pred.person_id)
        if true is None:
            continue
        common, i_pred, i_true = np.intersect1d(pred.frames, true.frames, return_indices=True)
        if len(common) >= 4:
            yield pred, true, i_pred, i_true


def _people_metrics(recon: Reconstruction, gt: GroundTruth) -> dict[str, float]:
    per = {k: [] for k in ("w_mpjpe", "wa_mpjpe", "pa_mpjpe", "rte", "jitter", "fs", "ffr", "ffr_005")}
    for pred, true, ip, it in _matched_people(recon, gt):
        pj, tj = pred.joints[ip], true.joints[it]
        per["w_mpjpe"].append(M.w_mpjpe(pj, tj))
        per["wa_mpjpe"].append(M.wa_mpjpe(pj, tj))
        per["pa_mpjpe"].append(M.pa_mpjpe(pj, tj))
        per["rte"].append(M.rte(pred.root_transl[ip], true.root_transl[it]))
        per["jitter"].append(M.jitter(pj, recon.fps))
        per["fs"].append(M.foot_sliding(pred.foot_vertices[ip], true.foot_vertices[it]))
        if len(recon.scene_points):
            for key, thr in (("ffr", 0.2), ("ffr_005", 0.05)):
                per[key].append(np.array([M.foot_floating_rate(pred.foot_vertices[ip], recon.scene_points, thr)]))
    out = {}
    for key, arrays in per.items():
        arrays = [a for a in arrays if np.size(a)]
        out[key] = M.frame_weighted_mean(arrays) if arrays else float("nan")
    return out


def truth_in_first_camera(gt: GroundTruth, points: np.ndarray) -> np.ndarray:
    """World points of the truth expressed in its keyframe-0 camera frame (the internal world)."""
    T0 = gt.T_wc[gt.keyframe_ids[0]]
    return (np.asarray(points) - T0[:3, 3]) @ T0[:3, :3]


def _scene_metrics(recon: Reconstruction, gt: GroundTruth) -> dict[str, float]:
    out = {}
    if len(recon.scene_points) and len(gt.scene_points):
        out["cd"] = M.chamfer_distance(recon.scene_points, truth_in_first_camera(gt, gt.scene_points))["chamfer"]
    valid = gt.keyframe_background & (gt.keyframe_depth > 0) & (recon.keyframe_depth > 0)
    if valid.any():
        out["abs_rel"] = M.depth_metrics(np.where(valid, recon.keyframe_depth, 0), np.where(valid, gt.keyframe_depth, 0))["abs_rel"]
        ratios = [np.median(recon.keyframe_depth[k][valid[k]] / gt.keyframe_depth[k][valid[k]])
                  for k in range(len(valid)) if valid[k].any()]  # fmt: skip
        out["scale_err"] = float(np.mean(np.abs(np.asarray(ratios) - 1.0)))
    return out
