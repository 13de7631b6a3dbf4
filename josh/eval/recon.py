"""Reconstruction metrics of the field's protocol: CD, depth, FFR and CR (reference §1.5-1.6).

The predicted scene is the official `scene.pkl` dense output: per keyframe a metric z-depth map and
a confidence; pixels with conf > 0.1 and depth > 0 are back-projected with the depth-map
intrinsics and the keyframe's predicted camera. Predicted points are expressed relative to the
predicted camera of video frame 0 (the JOSH world is that camera, `pred_cam[0] = I`, so this is
the official frame; for other results it keeps points and bodies in one frame).

- SLOPER4D CD: predicted points mapped into the GT world with inv(E_0), **no alignment, no scale**;
  both clouds downsampled with 0.3 m voxels; the GT lidar map is then restricted to points that
  project inside the image of any GT frame (distorted intrinsics scaled to a 512x288 image).
- SLOPER4D depth: per keyframe, the frame's lidar scan rasterised into the depth-map grid (GT w2c,
  distorted intrinsics scaled by H/1080, rounded pixels, last write wins, empty = +inf), compared
  with no scale alignment; averaged over all keyframes of all sequences.
- RICH CD: registration through the human: pred_to_gt = O G0 P0^-1 O^-1 from the first matched
  frame's GT and predicted root [R | transl], O = translate(J0 of the predicted mean betas); no FOV
  filter. (The official per-pixel conf mask has a shape bug; we use the intended per-pixel AND.)
- FFR: 100-frame windows over frame index; a frame floats when its closest foot vertex is > 0.2 m
  from every predicted scene point of the keyframes in its window. As in the official loop
  (`range(0, last, 100)` with the window end clipped to `last`), the last predicted frame is never
  in a window.
- CR@x: every 20th frame of each window's frames; predicted points of the window subsampled
  [::8, ::8]; share of sampled frames with more than x points inside the SMPL mesh (x = 4..10).
  Containment uses the generalised winding number (exact for SMPL's closed mesh; the official code
  uses trimesh's ray test).
"""

from __future__ import annotations

import numpy as np

from josh.eval import metrics as M
from josh.eval.sequence import (CameraModel, GroundTruthSequence, PredictedScene, PredictedSequence, rigid_inverse,
                                transform_points)  # fmt: skip
from josh.eval.smpl_eval import SmplEvaluator, SmplParams

CONF_THRESHOLD = 0.1
VOXEL = 0.3
FOV_IMAGE_SIZE = (512, 288)  # (W, H) the official FOV filter projects into
FFR_THRESHOLD = 0.2
WINDOW = 100
CR_FRAME_STEP = 20
CR_PIXEL_STRIDE = 8
CR_THRESHOLDS = (4, 5, 6, 7, 8, 9, 10)


# ------------------------------------------------------------------------------------------------
# Predicted scene
# ------------------------------------------------------------------------------------------------


def relative_cameras(cam_c2w: np.ndarray, frames, reference_frame: int = 0) -> np.ndarray:
    """inv(C_ref) C_f for the given frames: cameras relative to the reference frame's camera."""
    return rigid_inverse(cam_c2w[reference_frame]) @ cam_c2w[np.asarray(frames)]


def _stack(points: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(points) if points else np.zeros((0, 3))


class ScenePoints:
    """Confident predicted points of each keyframe relative to the predicted camera of frame 0,
    back-projected on demand (a long video's full-resolution points do not fit in memory at once)."""

    def __init__(self, scene: PredictedScene, cam_c2w: np.ndarray, stride: int = 1):
        self.scene = scene
        self.stride = stride
        self.rel = relative_cameras(cam_c2w, scene.keyframes)

    def keyframe(self, index: int, T: np.ndarray | None = None) -> np.ndarray:
        """Points of keyframe `index`, optionally mapped further by a 4x4 transform T."""
        to_frame = self.rel[index] if T is None else T @ self.rel[index]
        return transform_points(to_frame, self.scene.points_camera(index, self.stride, CONF_THRESHOLD))

    def chunks(self, T: np.ndarray | None = None):
        """Iterator over the keyframes' points, optionally mapped by a 4x4 transform."""
        return (self.keyframe(index, T) for index in range(len(self.scene.keyframes)))

    def in_window(self, start: int, end: int) -> np.ndarray:
        """Points of the keyframes with start <= frame < end."""
        return _stack([self.keyframe(i) for i, k in enumerate(self.scene.keyframes) if start <= k < end])


# ------------------------------------------------------------------------------------------------
# Projection helpers (SLOPER4D)
# ------------------------------------------------------------------------------------------------


def _pixels(points_world: np.ndarray, w2c: np.ndarray, camera: CameraModel, scale: float):
    """Rounded pixel (u, v) and depth of points with z > 0 at an image scaled by `scale`, plus the
    indices of those points."""
    X = transform_points(w2c, points_world)
    front = np.flatnonzero(X[:, 2] > 0)
    with np.errstate(over="ignore", invalid="ignore"):
        uv = camera.project(X[front]) * scale
    finite = np.all(np.isfinite(uv) & (np.abs(uv) < 1e9), axis=1)  # extreme rays: outside any image
    front, uv = front[finite], uv[finite]
    return np.round(uv).astype(np.int64), X[front, 2], front


def fov_mask(points_world: np.ndarray, w2c_all: np.ndarray, camera: CameraModel,
             image_size=FOV_IMAGE_SIZE) -> np.ndarray:  # fmt: skip
    """Which points project inside the (W, H) image of at least one camera (z > 0)."""
    width, height = image_size
    scale = height / camera.height
    inside = np.zeros(len(points_world), dtype=bool)
    for w2c in w2c_all:
        todo = np.flatnonzero(~inside)
        if not len(todo):
            break
        uv, _, front = _pixels(points_world[todo], w2c, camera, scale)
        ok = (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
        inside[todo[front[ok]]] = True
    return inside


def rasterise_depth(points_world: np.ndarray, w2c: np.ndarray, camera: CameraModel, height: int,
                    width: int) -> np.ndarray:  # fmt: skip
    """GT depth map (H, W) of a scan: rounded pixels at scale H / camera height; where several
    points hit a pixel the last one in point order wins (the official rasterisation); empty = +inf."""
    depth = np.full((height, width), np.inf)
    uv, z, _ = _pixels(points_world, w2c, camera, height / camera.height)
    ok = (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
    uv, z = uv[ok], z[ok]
    flat = uv[:, 1] * width + uv[:, 0]
    _, last_from_end = np.unique(flat[::-1], return_index=True)
    last = len(flat) - 1 - last_from_end
    depth.reshape(-1)[flat[last]] = z[last]
    return depth


# ------------------------------------------------------------------------------------------------
# Foot floating and collisions
# ------------------------------------------------------------------------------------------------


def _windows(frames: np.ndarray):
    """(start, end) of the official 100-frame windows over frame index (last frame excluded)."""
    last = int(frames[-1])
    return [(start, min(last, start + WINDOW)) for start in range(0, last, WINDOW)]


def floating_frames(frames: np.ndarray, feet_world: np.ndarray, points_in_window) -> np.ndarray:
    """Per evaluated frame (window order), whether its closest foot vertex is > 0.2 m from the
    predicted scene points of its window (`points_in_window(start, end)`); a window without scene
    points floats entirely."""
    out = []
    for start, end in _windows(frames):
        rows = np.flatnonzero((frames >= start) & (frames < end))
        if len(rows):
            out.append(M.floating(feet_world[rows], points_in_window(start, end), FFR_THRESHOLD))
    return np.concatenate(out) if out else np.zeros(0, dtype=bool)


def points_inside_mesh(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, chunk: int = 16) -> np.ndarray:
    """Whether each point is inside a closed triangle mesh (|generalised winding number| > 1/2).

    Points outside the mesh's bounding box are outside; the rest sum the signed solid angles of all
    triangles (Van Oosterom & Strackee) in chunks.
    """
    points = np.asarray(points, np.float64)
    inside = np.zeros(len(points), dtype=bool)
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    candidates = np.flatnonzero(np.all((points >= lo) & (points <= hi), axis=1))
    tri = np.asarray(vertices, np.float64)[np.asarray(faces)]  # (F, 3, 3)
    for start in range(0, len(candidates), chunk):
        idx = candidates[start:start + chunk]
        rel = tri[None] - points[idx, None, None, :]  # (P, F, 3, 3)
        a, b, c = rel[..., 0, :], rel[..., 1, :], rel[..., 2, :]
        la, lb, lc = (np.linalg.norm(v, axis=-1) for v in (a, b, c))
        det = np.einsum("pfi,pfi->pf", a, np.cross(b, c))
        denom = la * lb * lc + np.einsum("pfi,pfi->pf", a, b) * lc + np.einsum("pfi,pfi->pf", b, c) * la \
            + np.einsum("pfi,pfi->pf", c, a) * lb  # fmt: skip
        winding = (2.0 * np.arctan2(det, denom)).sum(axis=1) / (4.0 * np.pi)
        inside[idx] = np.abs(winding) > 0.5
    return inside


def collision_rates(frames: np.ndarray, mesh_for_row, points_in_window) -> dict[str, float]:
    """CR@x over the official frame sample; `mesh_for_row(i) -> (vertices, faces)` in the same
    frame as `points_in_window(start, end)` (the window's keyframe points, pixels [::8, ::8])."""
    hits = {x: [] for x in CR_THRESHOLDS}
    for start, end in _windows(frames):
        rows = np.flatnonzero((frames >= start) & (frames < end))
        if not len(rows):
            continue
        points = points_in_window(start, end)
        for row in rows[::CR_FRAME_STEP]:
            vertices, faces = mesh_for_row(row)
            count = int(points_inside_mesh(vertices, faces, points).sum()) if len(points) else 0
            for x in CR_THRESHOLDS:
                hits[x].append(count > x)
    return {f"cr@{x}": float(np.mean(v)) for x, v in hits.items() if v}


# ------------------------------------------------------------------------------------------------
# Per-dataset reconstruction evaluation
# ------------------------------------------------------------------------------------------------


class ReconResult:
    def __init__(self):
        self.per_sequence: dict[str, float] = {}
        self.per_keyframe: dict[str, list[float]] = {}
        self.skipped: dict[str, str] = {}
        self.notes: list[str] = []


def _feet_world(pred: PredictedSequence) -> np.ndarray | None:
    if pred.feet_cam is None:
        return None
    return transform_points(relative_cameras(pred.cam_c2w, pred.frames), pred.feet_cam)


def _contact_metrics(result: ReconResult, pred: PredictedSequence, smpl: SmplEvaluator) -> None:
    """FFR and CR, both against the predicted scene (no GT involved)."""
    feet = _feet_world(pred)
    if feet is None:
        result.skipped["ffr"] = "the prediction has no foot vertices"
    else:
        flags = floating_frames(pred.frames, feet, ScenePoints(pred.scene, pred.cam_c2w).in_window)
        if flags.size:
            result.per_sequence["ffr"] = float(flags.mean())
        else:
            result.skipped["ffr"] = "fewer than two predicted frames"
        if pred.body_model != "smpl":
            result.notes.append(f"FFR uses the {pred.body_model} foot vertices (L/R heel and toe)")
    if pred.smpl is None:
        result.skipped["cr"] = f"needs the SMPL mesh; the prediction is {pred.body_model}"
        return
    rel = relative_cameras(pred.cam_c2w, pred.frames)
    faces = smpl.faces

    def mesh_for_row(row: int):
        vertices = smpl.run(pred.smpl.take([row]), with_vertices=True).vertices[0]
        return transform_points(rel[row], vertices), faces

    sparse = ScenePoints(pred.scene, pred.cam_c2w, stride=CR_PIXEL_STRIDE)
    result.per_sequence.update(collision_rates(pred.frames, mesh_for_row, sparse.in_window))


def _chamfer(result: ReconResult, make_pred_chunks, gt_points_down: np.ndarray) -> None:
    pred_down = M.voxel_downsample_chunks(make_pred_chunks, VOXEL)
    if not len(pred_down) or not len(gt_points_down):
        result.skipped["cd"] = "no confident predicted scene points" if not len(pred_down) else "empty GT scene"
        return
    cd = M.chamfer_distance(pred_down, gt_points_down, voxel=None)
    result.per_sequence.update({"cd": cd["chamfer"], "cd_accuracy": cd["accuracy"],
                                "cd_completeness": cd["completeness"]})  # fmt: skip


def evaluate_sloper4d(gt: GroundTruthSequence, pred: PredictedSequence, smpl: SmplEvaluator) -> ReconResult:
    result = ReconResult()
    scene = pred.scene
    if gt.scene_points is None:
        result.skipped["cd"] = "no lidar_data/*frames.ply"
    else:
        points = ScenePoints(scene, pred.cam_c2w)
        to_gt_world = rigid_inverse(gt.w2c[0])  # metric, no alignment: prediction camera 0 = GT camera 0
        gt_down = M.voxel_downsample(gt.scene_points(), VOXEL)
        gt_down = gt_down[fov_mask(gt_down, gt.w2c, gt.camera)]
        _chamfer(result, lambda: points.chunks(to_gt_world), gt_down)
    if gt.depth_scan is not None:
        height, width = scene.depth.shape[1:]
        for index, frame in enumerate(scene.keyframes):
            scan = gt.depth_scan(int(frame)) if 0 <= frame < len(gt.w2c) else None
            if scan is None:
                continue
            depth = np.asarray(scene.depth[index], np.float64)
            gt_depth = rasterise_depth(scan, gt.w2c[frame], gt.camera, height, width)
            if (np.isfinite(gt_depth) & (gt_depth > 0) & (depth > 0)).any():
                for k, v in M.depth_metrics(depth, gt_depth).items():
                    result.per_keyframe.setdefault(f"depth_{k}", []).append(v)
    if not result.per_keyframe:
        result.skipped["depth"] = "no lidar_data/lidar_frames_rot/*.pcd scan at the keyframes"
    _contact_metrics(result, pred, smpl)
    return result


def rich_registration(gt: GroundTruthSequence, gt_row: int, pred_smpl: SmplParams, pred_row: int,
                      smpl: SmplEvaluator) -> np.ndarray:  # fmt: skip
    """pred_to_gt (4x4): maps the predicted camera frame of the first matched frame onto the GT
    frame, from the two bodies' root [R | transl] there, pivoting at J0 of the predicted betas."""
    def pose(rot, transl):
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = rot, transl
        return T

    G0 = pose(gt.body.global_orient[gt_row], gt.body.transl[gt_row])
    P0 = pose(pred_smpl.global_orient[pred_row], pred_smpl.transl[pred_row])
    O = np.eye(4)
    O[:3, 3] = smpl.rest_pelvis(pred_smpl.betas[pred_row], "neutral")
    return O @ G0 @ np.linalg.inv(P0) @ np.linalg.inv(O)


def evaluate_rich(gt: GroundTruthSequence, pred: PredictedSequence, smpl: SmplEvaluator,
                  gt_rows: np.ndarray, pred_rows: np.ndarray) -> ReconResult:  # fmt: skip
    result = ReconResult()
    if gt.scene_points is None:
        result.skipped["cd"] = "no scan_calibration/<scene>/scan_camcoord.ply"
    elif pred.smpl is None:
        result.skipped["cd"] = f"RICH registers through the SMPL root; the prediction is {pred.body_model}"
    else:
        pred_to_gt = rich_registration(gt, gt_rows[0], pred.smpl, pred_rows[0], smpl)
        # points are relative to frame 0's camera; re-express them in the first matched frame's camera
        first = int(pred.frames[pred_rows[0]])
        to_first = relative_cameras(pred.cam_c2w, [0], reference_frame=first)[0]
        points = ScenePoints(pred.scene, pred.cam_c2w)
        _chamfer(result, lambda: points.chunks(pred_to_gt @ to_first), M.voxel_downsample(gt.scene_points(), VOXEL))
    _contact_metrics(result, pred, smpl)
    result.notes.append("FFR on RICH is an addition: the official RICH scripts report CD only")
    return result
