"""Field-standard metrics for 4D human-scene reconstruction (WHAM/TRAM/GVHMR/JOSH protocol).

Every input is in metres (and seconds through ``fps``). Each function returns a per-frame (or
per-entry) vector where the field does, so callers can concatenate over sequences and average
with :func:`frame_weighted_mean` (the field's frame-weighted averaging). Definitions follow
reference/official-josh.md §1; units are stated in each docstring.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from josh.geometry.align import apply_similarity, procrustes_per_frame, umeyama

M2MM = 1000.0


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _per_frame_joint_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Mean over joints of the L2 distance, per frame. (T,J,3) -> (T,) in the input unit."""
    return np.linalg.norm(_f64(pred) - _f64(gt), axis=-1).mean(axis=-1)


def _chunk_slices(n_frames: int, chunk: int):
    return [slice(i, min(i + chunk, n_frames)) for i in range(0, n_frames, chunk)]


def _chunked_aligned_error(pred, gt, chunk: int, n_fit_frames: int | None) -> np.ndarray:
    """Per chunk, fit a similarity on the first ``n_fit_frames`` frames (None: all), apply it to
    the whole chunk and return the per-frame mean joint error in mm."""
    pred, gt = _f64(pred), _f64(gt)
    out = np.empty(len(pred))
    for sl in _chunk_slices(len(pred), chunk):
        p, g = pred[sl], gt[sl]
        fit = slice(None, n_fit_frames)
        s, rot, t = umeyama(p[fit].reshape(-1, 3), g[fit].reshape(-1, 3), with_scale=True)
        out[sl] = _per_frame_joint_error(apply_similarity(s, rot, t, p), g)
    return out * M2MM


# ------------------------------------------------------------------------------------------------
# Joint errors
# ------------------------------------------------------------------------------------------------


def w_mpjpe(pred: np.ndarray, gt: np.ndarray, chunk: int = 100) -> np.ndarray:
    """W-MPJPE per frame [mm] of global joints pred, gt (T,J,3) [m].

    Frames are cut into consecutive ``chunk``-frame chunks (last one shorter); each chunk is
    aligned by one similarity (with scale) fitted on the joints of its first two frames only, so
    drift inside the chunk is measured.
    """
    return _chunked_aligned_error(pred, gt, chunk, n_fit_frames=2)


def wa_mpjpe(pred: np.ndarray, gt: np.ndarray, chunk: int = 100) -> np.ndarray:
    """WA-MPJPE per frame [mm]: like :func:`w_mpjpe` but the similarity of each chunk is fitted
    on all joints of all its frames."""
    return _chunked_aligned_error(pred, gt, chunk, n_fit_frames=None)


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """PA-MPJPE per frame [mm]: per-frame similarity Procrustes of pred (T,J,3) onto gt [m]."""
    return _per_frame_joint_error(procrustes_per_frame(pred, gt), gt) * M2MM


def _pelvis_centred(points: np.ndarray, joints: np.ndarray, pelvis) -> np.ndarray:
    return _f64(points) - _f64(joints)[:, list(pelvis)].mean(axis=1, keepdims=True)


def mpjpe(pred: np.ndarray, gt: np.ndarray, pelvis=(1, 2)) -> np.ndarray:
    """MPJPE per frame [mm] after pelvis centring of both sides.

    The pelvis is the mean of joints ``pelvis`` (SMPL hips 1 and 2, not joint 0, as in the field).
    """
    return _per_frame_joint_error(_pelvis_centred(pred, pred, pelvis), _pelvis_centred(gt, gt, pelvis)) * M2MM


def pve(pred_vertices, gt_vertices, pred_joints, gt_joints, pelvis=(1, 2)) -> np.ndarray:
    """PVE per frame [mm]: mean vertex L2 (T,V,3) after subtracting each side's *joint* pelvis
    (hip midpoint of its (T,J,3) joints), as the field does."""
    pred_c = _pelvis_centred(pred_vertices, pred_joints, pelvis)
    gt_c = _pelvis_centred(gt_vertices, gt_joints, pelvis)
    return _per_frame_joint_error(pred_c, gt_c) * M2MM


# ------------------------------------------------------------------------------------------------
# Trajectories
# ------------------------------------------------------------------------------------------------


def rte(pred_transl: np.ndarray, gt_transl: np.ndarray) -> np.ndarray:
    """Root translation error per frame [%] of root trajectories (T,3) [m].

    Rigid (no scale) fit of the whole predicted trajectory onto GT, per-frame L2 error divided by
    the GT path length Σ‖gt[t+1] − gt[t]‖, ×100.
    """
    pred, gt = _f64(pred_transl), _f64(gt_transl)
    s, rot, t = umeyama(pred, gt, with_scale=False)
    err = np.linalg.norm(apply_similarity(s, rot, t, pred) - gt, axis=-1)
    path_length = np.linalg.norm(np.diff(gt, axis=0), axis=-1).sum()
    return err / path_length * 100.0


def _relative_w2c_translations(c2w: np.ndarray) -> np.ndarray:
    """Translation columns of inv(inv(C0)·Ci) = inv(Ci)·C0 (w2c relative to camera 0), (T,3).

    These equal −R_iᵀ(c_i − c_0) expressed per camera, NOT camera centres: the evo/EMDB
    convention, which differs from centre-based ATE for rotating cameras.
    """
    c2w = _f64(c2w)
    rel_w2c = np.linalg.inv(c2w) @ c2w[0]
    return rel_w2c[:, :3, 3]


def ate(pred_c2w: np.ndarray, gt_c2w: np.ndarray, stat: str = "mean") -> float:
    """Absolute trajectory error [m] of camera-to-world poses (T,4,4).

    Uses the w2c translation columns relative to camera 0 (see
    :func:`_relative_w2c_translations`), a rigid (no scale) fit of pred onto GT, then the
    per-frame L2 error summarised by ``stat``: "mean" (EMDB, evo) or "rmse" (SLOPER4D).
    """
    pred = _relative_w2c_translations(pred_c2w)
    gt = _relative_w2c_translations(gt_c2w)
    s, rot, t = umeyama(pred, gt, with_scale=False)
    err = np.linalg.norm(apply_similarity(s, rot, t, pred) - gt, axis=-1)
    if stat == "mean":
        return float(err.mean())
    if stat == "rmse":
        return float(np.sqrt((err**2).mean()))
    raise ValueError(f"stat must be 'mean' or 'rmse', got {stat!r}")


# ------------------------------------------------------------------------------------------------
# Smoothness
# ------------------------------------------------------------------------------------------------


def jitter(joints: np.ndarray, fps: float) -> np.ndarray:
    """Jitter per frame [10 m/s³] of predicted global joints (T,J,3) [m]: ‖third difference‖·fps³,
    mean over joints, /10 (the field reports jerk in units of 10 m/s³). Returns (T−3,)."""
    j = _f64(joints)
    jerk = j[3:] - 3.0 * j[2:-1] + 3.0 * j[1:-2] - j[:-3]
    return np.linalg.norm(jerk, axis=-1).mean(axis=-1) * fps**3 / 10.0


def accel_error(pred: np.ndarray, gt: np.ndarray, fps: float) -> np.ndarray:
    """Acceleration error per frame [m/s²] of joints (T,J,3) [m].

    ‖(p[t−1] − 2p[t] + p[t+1]) − (same for GT)‖ averaged over joints (T−2 values); the first and
    last values are dropped as in the official code, then ×fps². Returns (T−4,). No ×1000.
    """
    def second_diff(x):
        return x[:-2] - 2.0 * x[1:-1] + x[2:]

    diff = second_diff(_f64(pred)) - second_diff(_f64(gt))
    return np.linalg.norm(diff, axis=-1).mean(axis=-1)[1:-1] * fps**2


# ------------------------------------------------------------------------------------------------
# Human-scene contact
# ------------------------------------------------------------------------------------------------


def foot_sliding(pred_feet: np.ndarray, gt_feet: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """Foot sliding per contact entry [mm] of world foot vertices (T,V,3) [m].

    An entry (transition t→t+1, vertex v) is in contact when the GT vertex moves less than
    ``threshold`` (1 cm/frame); the predicted displacement of those entries is returned ×1000.
    No alignment is applied.
    """
    gt_disp = np.linalg.norm(np.diff(_f64(gt_feet), axis=0), axis=-1)
    pred_disp = np.linalg.norm(np.diff(_f64(pred_feet), axis=0), axis=-1)
    return pred_disp[gt_disp < threshold] * M2MM


def foot_sliding_mean(pred_feet: np.ndarray, gt_feet: np.ndarray, threshold: float = 0.01) -> float:
    """Mean of :func:`foot_sliding` [mm]; nan when no contact entries."""
    entries = foot_sliding(pred_feet, gt_feet, threshold)
    return float(entries.mean()) if entries.size else float("nan")


def floating(feet: np.ndarray, scene_points: np.ndarray, threshold: float = 0.2) -> np.ndarray:
    """Per frame (T,) bool: the closest of its foot vertices (T,V,3) [m] is farther than
    ``threshold`` from every scene point (N,3) [m]; all frames float when there is no point."""
    feet = _f64(feet)
    points = _f64(scene_points).reshape(-1, 3)
    if len(feet) == 0:
        return np.zeros(0, dtype=bool)
    # only points near the feet can be within the threshold: keep the feet's box, grown by it
    lo, hi = feet.reshape(-1, 3).min(axis=0) - threshold, feet.reshape(-1, 3).max(axis=0) + threshold
    points = points[np.all((points >= lo) & (points <= hi), axis=1)]
    if len(points) == 0:
        return np.ones(len(feet), dtype=bool)
    dist, _ = cKDTree(points).query(feet.reshape(-1, 3), distance_upper_bound=2 * threshold)
    return dist.reshape(feet.shape[:2]).min(axis=1) > threshold


def foot_floating_rate(
    feet: np.ndarray,
    scene_points: np.ndarray,
    threshold: float = 0.2,
    frames_mask: np.ndarray | None = None,
) -> float:
    """Foot floating rate, a fraction in [0, 1] (nan when no frame is evaluated): the share of
    :func:`floating` frames. ``frames_mask`` (T,) bool restricts the frames."""
    flags = floating(feet, scene_points, threshold)
    if frames_mask is not None:
        flags = flags[np.asarray(frames_mask, dtype=bool)]
    return float(flags.mean()) if flags.size else float("nan")


# ------------------------------------------------------------------------------------------------
# Scene reconstruction
# ------------------------------------------------------------------------------------------------


def voxel_downsample(points: np.ndarray, voxel: float, origin="open3d") -> np.ndarray:
    """Average of the points (N,3) [m] falling in each occupied voxel, keys floor((p−origin)/voxel).

    ``origin="open3d"`` (default) anchors the grid where open3d's ``voxel_down_sample`` does, at
    ``points.min(0) − voxel/2``, so the field's Chamfer distances are reproduced; pass a fixed
    (3,) origin for a grid that does not move with the cloud.
    """
    points = _f64(points).reshape(-1, 3)
    return voxel_downsample_chunks(lambda: iter([points]), voxel, origin)


def voxel_downsample_chunks(make_chunks, voxel: float, origin="open3d") -> np.ndarray:
    """:func:`voxel_downsample` of the union of point chunks, without holding the union in memory.

    ``make_chunks()`` returns a fresh iterator over (n_i,3) arrays; it is called twice (once for the
    bounds, once to accumulate per-voxel sums).
    """
    bounds = [(np.min(c, axis=0), np.max(c, axis=0)) for c in (_f64(c).reshape(-1, 3) for c in make_chunks()) if len(c)]
    if not bounds:
        return np.zeros((0, 3))
    lo, hi = np.min([b[0] for b in bounds], axis=0), np.max([b[1] for b in bounds], axis=0)
    origin = lo - voxel / 2.0 if isinstance(origin, str) else _f64(origin)
    first = np.floor((lo - origin) / voxel).astype(np.int64)
    extent = np.floor((hi - origin) / voxel).astype(np.int64) - first + 1
    flat = float(np.prod(extent.astype(np.float64))) < 2.0**62  # one int64 per voxel: fast 1-D unique

    def voxel_keys(points):
        k = np.floor((points - origin) / voxel).astype(np.int64) - first
        return (k[:, 0] * extent[1] + k[:, 1]) * extent[2] + k[:, 2] if flat else k

    keys, sums, counts = [], [], []
    for chunk in make_chunks():
        chunk = _f64(chunk).reshape(-1, 3)
        if not len(chunk):
            continue
        k, inverse, n = np.unique(voxel_keys(chunk), axis=None if flat else 0, return_inverse=True,
                                  return_counts=True)  # fmt: skip
        partial = np.zeros((len(k), 3))
        np.add.at(partial, inverse.reshape(-1), chunk)
        keys.append(k)
        sums.append(partial)
        counts.append(n)
    _, inverse = np.unique(np.concatenate(keys), axis=None if flat else 0, return_inverse=True)
    inverse = inverse.reshape(-1)
    total = np.zeros((inverse.max() + 1, 3))
    np.add.at(total, inverse, np.concatenate(sums))
    count = np.bincount(inverse, weights=np.concatenate(counts))
    return total / count[:, None]


def chamfer_distance(pred_points: np.ndarray, gt_points: np.ndarray, voxel: float | None = 0.3) -> dict:
    """Chamfer distance [m] between point clouds (N,3), (M,3) after ``voxel`` downsampling of both
    (open3d-anchored grid; ``voxel=None``: the clouds are used as given, e.g. already downsampled).

    accuracy = mean NN distance pred→GT, completeness = mean GT→pred,
    chamfer = (accuracy + completeness) / 2. No alignment, no clipping (the official max_dist of
    1000 m never clips).
    """
    pred = _f64(pred_points) if voxel is None else voxel_downsample(pred_points, voxel)
    gt = _f64(gt_points) if voxel is None else voxel_downsample(gt_points, voxel)
    if len(pred) == 0 or len(gt) == 0:
        raise ValueError("chamfer_distance needs two non-empty point clouds")
    accuracy = float(cKDTree(gt).query(pred)[0].mean())
    completeness = float(cKDTree(pred).query(gt)[0].mean())
    return {
        "accuracy": accuracy,
        "completeness": completeness,
        "chamfer": (accuracy + completeness) / 2.0,
    }


def depth_metrics(pred: np.ndarray, gt: np.ndarray) -> dict:
    """Depth-map metrics of pred vs gt depth maps of equal shape [m], no scale alignment.

    Valid pixels: gt finite, gt > 0, pred > 0. abs_rel, rmse [m], log_rmse, si_log_rmse
    (sqrt(mean d² − (mean d)²), d = log gt − log pred) and delta_k = share of
    max(gt/p, p/gt) < 1.25^k.
    """
    pred, gt = _f64(pred), _f64(gt)
    valid = np.isfinite(gt) & (gt > 0) & (pred > 0)
    p, g = pred[valid], gt[valid]
    d = np.log(g) - np.log(p)
    ratio = np.maximum(g / p, p / g)
    out = {
        "abs_rel": float(np.mean(np.abs(g - p) / g)),
        "rmse": float(np.sqrt(np.mean((g - p) ** 2))),
        "log_rmse": float(np.sqrt(np.mean(d**2))),
        "si_log_rmse": float(np.sqrt(max(np.mean(d**2) - np.mean(d) ** 2, 0.0))),
    }
    for k in (1, 2, 3):
        out[f"delta{k}"] = float(np.mean(ratio < 1.25**k))
    return out


# ------------------------------------------------------------------------------------------------
# Scalars and averaging
# ------------------------------------------------------------------------------------------------


def relative_error(estimate: float, truth: float) -> float:
    """|estimate / truth − 1|, unitless (focal-length and scale errors)."""
    return float(abs(estimate / truth - 1.0))


def frame_weighted_mean(arrays) -> float:
    """Concatenate per-frame vectors of all sequences, then average (the field's convention)."""
    return float(np.concatenate([np.ravel(a) for a in arrays]).mean())
