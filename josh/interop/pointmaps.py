"""Dense point-map front-ends (Pi3, MASt3R, VGGT style): a file format and its scene adapter.

File format (`.npz`, version 1; docs/interop.md has the full description and recipes):

    points       (N, H, W, 3) float16/32   camera-frame point map of each frame, OpenCV axes
                                           (x right, y down, z forward), any unit; z > 0 in front
    conf         (N, H, W) float in [0, 1] per-pixel confidence (0 = unusable)
  optional:
    frame_ids    (N,) int, increasing      video frame of each map (default 0 .. N-1)
    image_size   (2,) int [W, H]           video frame size the maps cover, resized, not cropped
                                           (default: the maps' own W, H)
    intrinsics   (3, 3) or (N, 3, 3)       pinhole K in point-map pixels
    T_wc         (N, 4, 4)                 camera-to-world poses, in the points' unit
    match_a, match_b  (M,) int             indices of the two maps of each match (not frame ids)
    match_uv_a, match_uv_b (M, 2) float    point-map pixels (u, v) of each match
    match_conf   (M,) float in [0, 1]      (default 1)
    rgb          (N, H, W, 3) uint8        colours (image matching when there are no poses/matches)
    person_mask  (N, H, W) bool            True = person: never scene, never matched
    format_version () int                  1

Adapter (`scene_from_pointmaps`), producing the same `SceneEstimate` the SfM front-end does:
- depth per keyframe = the z of the point map at the depth-grid pixels, confidence from `conf`,
  background = confident, in front, not a person;
- focal: from `intrinsics` when given, else per keyframe the Weiszfeld (L1) fit of
  f * (x/z, y/z) to the centred pixel grid (the DUSt3R / official estimator, official-josh.md §3.3),
  combined weighted by each map's mean confidence;
- keyframe poses and per-keyframe scales, from the first source available:
  1. `T_wc` in the file (Pi3 `camera_poses`, VGGT extrinsics): the maps share the poses' unit;
  2. `matches` in the file (MASt3R): a RANSAC similarity between the matched 3D points of
     neighbouring keyframes, chained along the keyframes (the similarity absorbs MASt3R's
     per-pair scale);
  3. images (`rgb` in the file or `frames` given): SIFT matches between neighbouring keyframes,
     then PnP (RANSAC) of keyframe a's 3D points against keyframe b's pixels gives b's pose in
     a's unit, and the median depth ratio at the inliers gives b's scale. Why PnP rather than
     flow: keyframes are 5+ frames apart, where dense flow is unreliable, while PnP needs only a
     few dozen good matches and uses the point map's own geometry (no essential-matrix scale
     ambiguity, no degenerate pure rotation);
- correspondences: the file's matches between keyframes when present; otherwise by reprojection:
  each confident background grid pixel of keyframe a is placed in the world with a's point map and
  pose, projected into keyframe b (within `window` keyframes), and kept when b's own point map
  there agrees in depth (relative `depth_tolerance`) and is confident background. The depth test
  rejects occlusions and anything that moved (people) without any descriptor matching.
Every keyframe's depth is multiplied by its scale, so the initial per-keyframe scales are 1.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from josh.errors import InputError
from josh.geometry.align import _fit_batched
from josh.geometry.camera import interpolate_poses, interpolation_weights
from josh.io.atomic import atomic_path
from josh.perception.scene import SceneEstimate
from josh.types import Correspondences, FrontEndInputs, HumanTrack, Intrinsics, KeyframeObservations

FORMAT_VERSION = 1
_MATCH_KEYS = ("match_a", "match_b", "match_uv_a", "match_uv_b")


@dataclass
class Matches:
    a: np.ndarray  # (M,) map index
    b: np.ndarray
    uv_a: np.ndarray  # (M, 2) map pixels
    uv_b: np.ndarray
    conf: np.ndarray  # (M,)


@dataclass
class PointMaps:
    """A validated point-map file (see module doc)."""

    points: np.ndarray  # (N, H, W, 3) float32
    conf: np.ndarray  # (N, H, W) float32; 0 where the point is not finite or behind the camera
    frame_ids: np.ndarray  # (N,) int
    image_size: tuple[int, int]  # (W, H)
    intrinsics: np.ndarray | None = None  # (N, 3, 3) map pixels
    T_wc: np.ndarray | None = None  # (N, 4, 4)
    matches: Matches | None = None
    rgb: np.ndarray | None = None  # (N, H, W, 3) uint8
    person_mask: np.ndarray | None = None  # (N, H, W) bool

    @property
    def map_size(self) -> tuple[int, int]:
        return int(self.points.shape[2]), int(self.points.shape[1])

    def __len__(self) -> int:
        return int(self.points.shape[0])


# ------------------------------------------------------------------------------ file format
def read_pointmaps(path) -> PointMaps:
    """Load and validate a point-map `.npz` (clear `InputError` on anything malformed)."""
    path = Path(path).expanduser()
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise InputError(f"point-map file not found: {path}") from None
    except Exception as exc:
        raise InputError(f"cannot read point-map file {path}: {exc}") from exc
    return validate_pointmaps(arrays, str(path))


def write_pointmaps(path, points, conf, **optional) -> Path:
    """Validate and write a point-map file (keys as in the module doc), atomically, compressed."""
    arrays = {"points": points, "conf": conf, **{k: v for k, v in optional.items() if v is not None}}
    pm = validate_pointmaps(arrays, str(path))
    out = {"points": np.asarray(points, np.float16 if np.asarray(points).dtype == np.float16 else np.float32),
           "conf": pm.conf.astype(np.float32), "frame_ids": pm.frame_ids, "image_size": np.array(pm.image_size),
           "format_version": np.array(FORMAT_VERSION)}  # fmt: skip
    for key in ("intrinsics", "T_wc", "rgb", "person_mask"):
        if getattr(pm, key) is not None:
            out[key] = getattr(pm, key)
    if pm.matches is not None:
        m = pm.matches
        out.update(match_a=m.a, match_b=m.b, match_uv_a=m.uv_a, match_uv_b=m.uv_b, match_conf=m.conf)
    path = Path(path)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **out)
    return path


def validate_pointmaps(arrays: dict, source: str = "point maps") -> PointMaps:
    """Check shapes, dtypes and ranges; returns the arrays in their working types."""

    def fail(msg):
        raise InputError(f"{source}: {msg}")

    version = int(np.asarray(arrays.get("format_version", FORMAT_VERSION)))
    if version != FORMAT_VERSION:
        fail(f"format_version {version} is not supported (this JOSH reads version {FORMAT_VERSION})")
    if "points" not in arrays or "conf" not in arrays:
        fail("needs 'points' (N, H, W, 3) and 'conf' (N, H, W)")
    points = np.asarray(arrays["points"])
    if points.ndim != 4 or points.shape[-1] != 3 or points.shape[0] == 0 or not np.issubdtype(points.dtype, np.floating):
        fail(f"'points' must be a float (N, H, W, 3) array, got {points.dtype} {points.shape}")
    N, H, W, _ = points.shape
    conf = np.asarray(arrays["conf"], np.float32)
    if conf.shape == (N, H, W, 1):
        conf = conf[..., 0]
    if conf.shape != (N, H, W):
        fail(f"'conf' must have shape {(N, H, W)}, got {conf.shape}")
    if not np.isfinite(conf).all() or conf.min() < 0 or conf.max() > 1 + 1e-3:
        fail("'conf' must be finite and in [0, 1] (Pi3 logits: apply a sigmoid; MASt3R / VGGT conf c >= 1: use 1 - 1/c)")
    points = points.astype(np.float32)
    usable = np.isfinite(points).all(-1) & (points[..., 2] > 0)
    conf = np.where(usable, np.clip(conf, 0, 1), 0).astype(np.float32)
    points = np.where(usable[..., None], points, 0).astype(np.float32)

    frame_ids = np.asarray(arrays.get("frame_ids", np.arange(N)))
    if frame_ids.shape != (N,) or not np.issubdtype(frame_ids.dtype, np.integer) or (frame_ids < 0).any() \
            or (np.diff(frame_ids) <= 0).any():  # fmt: skip
        fail(f"'frame_ids' must be {N} increasing non-negative integers")
    size = np.asarray(arrays.get("image_size", (W, H))).reshape(-1)
    if size.shape != (2,) or (size <= 0).any():
        fail("'image_size' must be [W, H] of the video frames")
    pm = PointMaps(points, conf, frame_ids.astype(np.int64), (int(size[0]), int(size[1])))
    pm.intrinsics = _optional_intrinsics(arrays.get("intrinsics"), N, fail)
    pm.T_wc = _optional_poses(arrays.get("T_wc"), N, fail)
    pm.matches = _optional_matches(arrays, N, fail)
    if arrays.get("rgb") is not None:
        pm.rgb = np.asarray(arrays["rgb"])
        if pm.rgb.shape != (N, H, W, 3) or pm.rgb.dtype != np.uint8:
            fail(f"'rgb' must be uint8 {(N, H, W, 3)}, got {pm.rgb.dtype} {pm.rgb.shape}")
    if arrays.get("person_mask") is not None:
        pm.person_mask = np.asarray(arrays["person_mask"]).astype(bool)
        if pm.person_mask.shape != (N, H, W):
            fail(f"'person_mask' must have shape {(N, H, W)}")
    return pm


def _optional_intrinsics(K, N, fail):
    if K is None:
        return None
    K = np.asarray(K, np.float64)
    K = np.broadcast_to(K, (N, 3, 3)).copy() if K.shape == (3, 3) else K
    if K.shape != (N, 3, 3) or not np.isfinite(K).all() or (K[:, 0, 0] <= 0).any():
        fail(f"'intrinsics' must be (3, 3) or ({N}, 3, 3) with positive focal lengths")
    return K


def _optional_poses(T, N, fail):
    if T is None:
        return None
    T = np.asarray(T, np.float64)
    if T.shape != (N, 4, 4) or not np.isfinite(T).all():
        fail(f"'T_wc' must be ({N}, 4, 4) camera-to-world matrices")
    R = T[:, :3, :3]
    if np.abs(np.swapaxes(R, 1, 2) @ R - np.eye(3)).max() > 1e-3 or (np.linalg.det(R) < 0).any():
        fail("'T_wc' rotations must be proper rotations (no scale in the rotation part)")
    return T


def _optional_matches(arrays, N, fail):
    present = [k for k in _MATCH_KEYS if arrays.get(k) is not None]
    if not present:
        return None
    if len(present) != len(_MATCH_KEYS):
        fail(f"matches need all of {', '.join(_MATCH_KEYS)}")
    a, b = (np.asarray(arrays[k]).reshape(-1) for k in ("match_a", "match_b"))
    uv_a, uv_b = (np.asarray(arrays[k], np.float64) for k in ("match_uv_a", "match_uv_b"))
    M = len(a)
    conf = np.asarray(arrays.get("match_conf", np.ones(M)), np.float64).reshape(-1)
    if len(b) != M or uv_a.shape != (M, 2) or uv_b.shape != (M, 2) or conf.shape != (M,):
        fail("match_a, match_b (M,), match_uv_a, match_uv_b (M, 2) and match_conf (M,) must agree")
    if M and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= N or (a == b).any()):
        fail(f"match_a / match_b must index two different maps among the {N}")
    if M and (conf.min() < 0 or conf.max() > 1):
        fail("'match_conf' must be in [0, 1]")
    return Matches(a.astype(int), b.astype(int), uv_a, uv_b, conf)


# ------------------------------------------------------------------------------ pixel frames
def rescale_px(uv, src_size, dst_size):
    """Pixels (M, 2) of an image of `src_size` (W, H) -> pixels of the same view at `dst_size`
    (point maps cover the whole frame, resized; pixel centres at integers)."""
    s = np.array(dst_size, float) / np.array(src_size, float)
    return (np.asarray(uv, float) + 0.5) * s - 0.5


def _nearest(maps: np.ndarray, k, uv: np.ndarray):
    """Values of maps[k] (k a scalar or one per point) at pixels (M, 2), nearest pixel, and
    whether each pixel was inside."""
    H, W = maps.shape[1:3]
    c = np.rint(uv[:, 0]).astype(int)
    r = np.rint(uv[:, 1]).astype(int)
    inside = (c >= 0) & (c < W) & (r >= 0) & (r < H)
    return maps[k, np.clip(r, 0, H - 1), np.clip(c, 0, W - 1)], inside


# ------------------------------------------------------------------------------------- focal
def focal_from_pointmap(points: np.ndarray, valid: np.ndarray, iterations: int = 10,
                        max_points: int = 20000, seed: int = 0) -> float:  # fmt: skip
    """Focal (point-map pixels) with the principal point at the centre: Weiszfeld (IRLS) fit of
    f * (x/z, y/z) to the centred pixel grid, minimising the sum of pixel distances."""
    H, W = valid.shape
    v, u = np.nonzero(valid)
    if len(u) < 10:
        return float("nan")
    if len(u) > max_points:
        pick = np.random.default_rng(seed).choice(len(u), max_points, replace=False)
        v, u = v[pick], u[pick]
    p = np.stack([u - (W - 1) / 2, v - (H - 1) / 2], 1)
    q = points[v, u, :2] / points[v, u, 2:3]
    f = (p * q).sum() / max((q * q).sum(), 1e-12)
    for _ in range(iterations):
        w = 1.0 / np.maximum(np.linalg.norm(p - f * q, axis=1), 1e-6)
        f = (w * (p * q).sum(1)).sum() / max((w * (q * q).sum(1)).sum(), 1e-12)
    return float(f)


def _focal_map_px(pm: PointMaps, kf: np.ndarray, valid: np.ndarray) -> tuple[float, str]:
    if pm.intrinsics is not None:
        K = pm.intrinsics[kf]
        return float(np.median((K[:, 0, 0] + K[:, 1, 1]) / 2)), "file intrinsics"
    focals = np.array([focal_from_pointmap(pm.points[k], valid[i]) for i, k in enumerate(kf)])
    weights = np.array([pm.conf[k][valid[i]].mean() if valid[i].any() else 0.0 for i, k in enumerate(kf)])
    ok = np.isfinite(focals) & (weights > 0)
    if not ok.any():
        raise InputError("no confident points to estimate the focal from (all conf below the threshold?)")
    return float((focals[ok] * weights[ok]).sum() / weights[ok].sum()), "weiszfeld"


# ---------------------------------------------------------------------------------- adapter
@dataclass
class PointMapConfig:
    stride: int = 8  # image pixels per depth-map pixel
    conf_threshold: float = 0.1  # point-map confidence below this is not scene
    window: int = 3  # correspondences between keyframes at most this many keyframes apart
    depth_tolerance: float = 0.03  # reprojection matches: relative depth agreement
    edge_ratio: float = 1.25  # neighbouring depths differing more than this are an edge: no interpolation
    max_correspondences: int = 20000
    min_pose_matches: int = 20  # inliers a relative pose needs (matches or PnP)
    pnp_error: float = 0.006  # PnP RANSAC threshold, fraction of the image diagonal
    sift_features: int = 4000
    scene_voxel_fraction: float = 0.01  # thinning of the exported points, x median depth
    seed: int = 0


@dataclass
class _Poses:
    R: np.ndarray  # (K, 3, 3) camera-to-world of each keyframe
    c: np.ndarray  # (K, 3)
    scale: np.ndarray  # (K,) world units per point-map unit
    source: str
    unposed: list = field(default_factory=list)


def scene_from_pointmaps(pointmaps, keyframe_ids=None, *, image_size: tuple[int, int] | None = None,
                         person_masks=None, frames=None, n_frames: int | None = None,
                         config: PointMapConfig | None = None) -> SceneEstimate:  # fmt: skip
    """Keyframe depth, correspondences, initial poses and focal from a point-map file (module doc).

    pointmaps: a `PointMaps` or a path. keyframe_ids: video frames to use (all maps by default).
    image_size: (W, H) of the frames the optimiser works on (default: the file's image_size).
    person_masks: frame id -> mask (any resolution, nonzero = person), e.g. SAM3's.
    frames: frame id -> RGB image (any resolution), for pose estimation when the file has neither
    poses nor matches. n_frames: video length for `all_T_wc` (default: last map frame + 1).
    """
    cfg = config or PointMapConfig()
    t0 = time.perf_counter()
    pm = pointmaps if isinstance(pointmaps, PointMaps) else read_pointmaps(pointmaps)
    size = tuple(int(x) for x in (image_size or pm.image_size))
    kf = _keyframe_maps(pm, keyframe_ids)
    kf_frames = pm.frame_ids[kf]
    person = _person_maps(pm, kf, person_masks)
    valid = (pm.conf[kf] >= cfg.conf_threshold) & (pm.points[kf][..., 2] > 0) & ~person
    f_map, focal_source = _focal_map_px(pm, kf, valid)
    f_img = f_map * math.sqrt(size[0] * size[1] / (pm.map_size[0] * pm.map_size[1]))
    intr = Intrinsics.centred(f_img, *size)
    poses = _keyframe_poses(pm, kf, valid, intr, frames, cfg)
    obs = _observations(pm, kf, valid, poses.scale, size, cfg)
    if pm.matches is not None:
        corr = _file_correspondences(pm, kf, valid, poses.scale, size, cfg)
    else:
        corr = _reprojection_correspondences(pm, kf, valid, poses, intr, size, cfg)
    T_key = _homogeneous(poses.R, poses.c)
    n = int(n_frames if n_frames is not None else pm.frame_ids[-1] + 1)
    all_T = _interpolate(kf_frames, poses, n)
    points, colors = _scene_points(obs, T_key, intr, cfg)
    stats = {
        "model": "pointmaps", "pose_source": poses.source, "focal_source": focal_source,
        "unposed_keyframes": poses.unposed, "correspondences": len(corr),
        "keyframe_scales": poses.scale.tolist(), "timing": {"total": time.perf_counter() - t0},
    }  # fmt: skip
    return SceneEstimate(
        source="pointmaps", intrinsics=intr, keyframe_T_wc=T_key, keyframes=obs, correspondences=corr,
        all_T_wc=all_T, registered=np.ones(n, bool), points=points, point_colors=colors,
        camera_model="SIMPLE_PINHOLE", stats=stats,
    )  # fmt: skip


def _keyframe_maps(pm: PointMaps, keyframe_ids) -> np.ndarray:
    if keyframe_ids is None:
        return np.arange(len(pm))
    wanted = np.asarray(keyframe_ids, int)
    where = np.searchsorted(pm.frame_ids, wanted)
    ok = (where < len(pm)) & (pm.frame_ids[np.minimum(where, len(pm) - 1)] == wanted)
    if not ok.all():
        raise InputError(f"keyframes {wanted[~ok][:5].tolist()} have no point map (the file covers frames {pm.frame_ids[:5].tolist()}...)")
    if (np.diff(wanted) <= 0).any():
        raise InputError("keyframe ids must be increasing")
    return where


def _person_maps(pm: PointMaps, kf: np.ndarray, person_masks) -> np.ndarray:
    H, W = pm.points.shape[1:3]
    person = pm.person_mask[kf].copy() if pm.person_mask is not None else np.zeros((len(kf), H, W), bool)
    if person_masks is not None:
        for i, k in enumerate(kf):
            m = person_masks.get(int(pm.frame_ids[k])) if hasattr(person_masks, "get") else person_masks[i]
            if m is not None:
                person[i] |= _resize_mask(np.asarray(m), H, W)
    return person


def _resize_mask(m: np.ndarray, H: int, W: int) -> np.ndarray:
    m = (m[..., 0] if m.ndim == 3 else m) != 0
    rows = np.minimum(((np.arange(H) + 0.5) * m.shape[0] / H).astype(int), m.shape[0] - 1)
    cols = np.minimum(((np.arange(W) + 0.5) * m.shape[1] / W).astype(int), m.shape[1] - 1)
    return m[rows[:, None], cols[None, :]]


# ------------------------------------------------------------------------------------ poses
def _keyframe_poses(pm, kf, valid, intr, frames, cfg) -> _Poses:
    K = len(kf)
    if pm.T_wc is not None:
        T = np.linalg.inv(pm.T_wc[kf[0]]) @ pm.T_wc[kf]
        return _Poses(T[:, :3, :3], T[:, :3, 3], np.ones(K), "file poses")
    if K == 1:
        return _Poses(np.eye(3)[None], np.zeros((1, 3)), np.ones(1), "single keyframe")
    if pm.matches is not None:
        edge, source = (lambda a, b: _similarity_from_matches(pm, kf, a, b, valid, cfg)), "file matches"
    elif frames is not None or pm.rgb is not None:
        images = _keyframe_images(pm, kf, frames)
        edge, source = (lambda a, b: _pose_from_pnp(pm, kf, a, b, images, valid, intr, cfg)), "sift + pnp"
    else:
        raise InputError("the point-map file has no poses (T_wc), no matches and no rgb, and no frames were "
                         "given: nothing relates the keyframes to each other")  # fmt: skip
    return _chain(K, edge, source, cfg.window)


def _chain(K: int, edge, source: str, window: int) -> _Poses:
    """Pose every keyframe from the nearest earlier posed keyframe that yields a relative pose.

    `edge(a, b)` returns (s, R, t) with X_a = s R X_b + t in point-map units, or None.
    World point = R_k (scale_k X_k) + c_k, so b gets R_a R, c_a + scale_a R_a t, scale_a s.
    """
    R, c, scale = np.zeros((K, 3, 3)), np.zeros((K, 3)), np.ones(K)
    R[0] = np.eye(3)
    unposed = []
    for b in range(1, K):
        rel = None
        for a in range(b - 1, max(-1, b - 1 - window), -1):
            if a in unposed:
                continue
            rel = edge(a, b)
            if rel is not None:
                break
        if rel is None:  # keep the previous pose: the optimiser starts from a static camera here
            R[b], c[b], scale[b] = R[b - 1], c[b - 1], scale[b - 1]
            unposed.append(b)
            continue
        s, Rr, t = rel
        R[b] = R[a] @ Rr
        c[b] = c[a] + scale[a] * R[a] @ t
        scale[b] = scale[a] * s
    return _Poses(R, c, scale, source, unposed)


def _ransac_similarity(X_b: np.ndarray, X_a: np.ndarray, threshold: np.ndarray, cfg, iterations: int = 256):
    """(s, R, t) with X_a ~ s R X_b + t, robust to outliers: minimal 3-point fits in one batch,
    the best inlier set refitted. `threshold` (M,) is a per-match distance in X_a units."""
    M = len(X_a)
    if M < max(3, cfg.min_pose_matches):
        return None
    rng = np.random.default_rng(cfg.seed)
    pick = np.stack([rng.choice(M, 3, replace=False) for _ in range(iterations)])
    s, R, t = _fit_batched(X_b[pick], X_a[pick], with_scale=True)
    pred = s[:, None, None] * np.einsum("bij,mj->bmi", R, X_b) + t[:, None]
    inliers = np.linalg.norm(pred - X_a[None], axis=-1) < threshold[None]
    best = inliers[np.argmax(inliers.sum(1))]
    if best.sum() < cfg.min_pose_matches:
        return None
    s, R, t = _fit_batched(X_b[best][None], X_a[best][None], with_scale=True)
    return float(s[0]), R[0], t[0]


def _similarity_from_matches(pm, kf, a, b, valid, cfg):
    """Keyframe b relative to a from the file's matches between their maps (either order)."""
    m = pm.matches
    ka, kb = kf[a], kf[b]
    sel = ((m.a == ka) & (m.b == kb)) | ((m.a == kb) & (m.b == ka))
    if not sel.any():
        return None
    flip = (m.a[sel] == kb)[:, None]
    uv_a = np.where(flip, m.uv_b[sel], m.uv_a[sel])
    uv_b = np.where(flip, m.uv_a[sel], m.uv_b[sel])
    X_a, in_a = _nearest(pm.points, ka, uv_a)
    X_b, in_b = _nearest(pm.points, kb, uv_b)
    ok = in_a & in_b & _nearest(valid, a, uv_a)[0] & _nearest(valid, b, uv_b)[0]
    return _ransac_similarity(X_b[ok], X_a[ok], 0.02 * X_a[ok, 2], cfg)


def _keyframe_images(pm, kf, frames) -> list[np.ndarray]:
    images = []
    for i, k in enumerate(kf):
        img = None
        if frames is not None:
            img = frames.get(int(pm.frame_ids[k])) if hasattr(frames, "get") else frames[i]
        if img is None and pm.rgb is not None:
            img = pm.rgb[k]
        if img is None:
            raise InputError(f"no image for keyframe {int(pm.frame_ids[k])} (needed for matching)")
        images.append(np.asarray(img))
    return images


def _sift(image: np.ndarray, n: int):
    import cv2

    gray = image if image.ndim == 2 else cv2.cvtColor(image[..., :3].astype(np.uint8), cv2.COLOR_RGB2GRAY)
    kp, desc = cv2.SIFT_create(nfeatures=n).detectAndCompute(gray, None)
    uv = np.array([p.pt for p in kp], np.float64).reshape(-1, 2)
    return uv, desc


def _pose_from_pnp(pm, kf, a, b, images, valid, intr: Intrinsics, cfg):
    """Keyframe b relative to a from a's point map and SIFT matches (PnP, RANSAC); see module doc."""
    import cv2

    uv_a, d_a = _sift(images[a], cfg.sift_features)
    uv_b, d_b = _sift(images[b], cfg.sift_features)
    if d_a is None or d_b is None or len(uv_a) < 3 or len(uv_b) < 3:
        return None
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(d_a, d_b, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    if len(good) < cfg.min_pose_matches:
        return None
    ia = np.array([g.queryIdx for g in good])
    ib = np.array([g.trainIdx for g in good])
    img_a, img_b = images[a].shape[1::-1], images[b].shape[1::-1]
    ma = rescale_px(uv_a[ia], img_a, pm.map_size)
    X_a, inside = _nearest(pm.points, kf[a], ma)
    ok_a, _ = _nearest(valid, a, ma)
    keep = inside & ok_a
    q = rescale_px(uv_b[ib[keep]], img_b, (intr.width, intr.height))  # pixels of the working image
    X = X_a[keep].astype(np.float64)
    if len(X) < cfg.min_pose_matches:
        return None
    Kmat = intr.matrix()
    ok, rvec, tvec, inl = cv2.solvePnPRansac(
        X, q, Kmat, None, iterationsCount=1000, reprojectionError=cfg.pnp_error * math.hypot(intr.width, intr.height),
        confidence=0.999, flags=cv2.SOLVEPNP_EPNP,
    )  # fmt: skip
    if not ok or inl is None or len(inl) < cfg.min_pose_matches:
        return None
    inl = inl[:, 0]
    rvec, tvec = cv2.solvePnPRefineLM(X[inl], q[inl], Kmat, None, rvec, tvec)
    Rm = cv2.Rodrigues(rvec)[0]
    t = tvec.reshape(3)
    Y = X[inl] @ Rm.T + t  # a's points in b's camera, a's unit
    qb = rescale_px(q[inl], (intr.width, intr.height), pm.map_size)
    z_b, in_b = _nearest(pm.points[..., 2], kf[b], qb)
    ok_b, _ = _nearest(valid, b, qb)
    use = in_b & ok_b & (z_b > 0) & (Y[:, 2] > 0)
    if use.sum() < cfg.min_pose_matches:
        return None
    s = float(np.median(Y[use, 2] / z_b[use]))  # a-units per b-unit
    # X_b (a-units) = R X_a + t  =>  X_a = R^T (s X_b_map) - R^T t
    return s, Rm.T, -Rm.T @ t


# ---------------------------------------------------------------------------- observations
def _grid(size, stride):
    W, H = size
    h, w = math.ceil(H / stride), math.ceil(W / stride)
    u = (np.arange(w) + 0.5) * stride - 0.5
    v = (np.arange(h) + 0.5) * stride - 0.5
    return np.meshgrid(u, v)


def _observations(pm, kf, valid, scale, size, cfg) -> KeyframeObservations:
    gu, gv = _grid(size, cfg.stride)
    h, w = gu.shape
    uv = rescale_px(np.stack([gu.ravel(), gv.ravel()], 1), size, pm.map_size)
    K = len(kf)
    depth = np.zeros((K, h, w), np.float32)
    conf = np.zeros((K, h, w), np.float32)
    background = np.zeros((K, h, w), bool)
    colors = np.zeros((K, h, w, 3), np.uint8) if pm.rgb is not None else None
    for i, k in enumerate(kf):
        z, ok = sample_depth(pm.points[k, ..., 2], valid[i], uv, cfg.edge_ratio)
        c, inside = _nearest(pm.conf, k, uv)
        depth[i] = (np.where(ok, z, 0) * scale[i]).reshape(h, w)
        conf[i] = np.where(inside, c, 0).reshape(h, w)
        background[i] = ok.reshape(h, w)
        if colors is not None:
            colors[i] = _nearest(pm.rgb, k, uv)[0].reshape(h, w, 3)
    return KeyframeObservations(pm.frame_ids[kf].copy(), depth, conf, background, float(cfg.stride), colors)


# -------------------------------------------------------------------------- correspondences
def _file_correspondences(pm, kf, valid, scale, size, cfg) -> Correspondences:
    m = pm.matches
    slot = np.full(len(pm), -1)
    slot[kf] = np.arange(len(kf))
    a, b = slot[m.a], slot[m.b]
    sel = (a >= 0) & (b >= 0) & (np.abs(a - b) <= cfg.window)
    idx = np.flatnonzero(sel)
    za, ok_a = _depth_at(pm, kf, valid, a[idx], m.uv_a[idx], cfg)
    zb, ok_b = _depth_at(pm, kf, valid, b[idx], m.uv_b[idx], cfg)
    ok = ok_a & ok_b
    za, zb, idx = za[ok], zb[ok], idx[ok]
    return _subsample(Correspondences(
        kf_a=a[idx], kf_b=b[idx],
        uv_a=rescale_px(m.uv_a[idx], pm.map_size, size), uv_b=rescale_px(m.uv_b[idx], pm.map_size, size),
        depth_a=za * scale[a[idx]], depth_b=zb * scale[b[idx]], conf=m.conf[idx],
    ), cfg)  # fmt: skip


def _depth_at(pm, kf, valid, slots, uv, cfg):
    """Depth and usability of match ends in keyframe `slots` (M,) at map pixels uv (M, 2)."""
    z, ok = np.zeros(len(uv)), np.zeros(len(uv), bool)
    for i, k in enumerate(kf):
        rows = np.flatnonzero(slots == i)
        if len(rows):
            z[rows], ok[rows] = sample_depth(pm.points[k, ..., 2], valid[i], uv[rows], cfg.edge_ratio)
    return z, ok


def _reprojection_correspondences(pm, kf, valid, poses: _Poses, intr: Intrinsics, size, cfg) -> Correspondences:
    gu, gv = _grid(size, cfg.stride)
    grid = np.stack([gu.ravel(), gv.ravel()], 1)
    grid_map = rescale_px(grid, size, pm.map_size)
    parts = []
    for a in range(len(kf)):
        za, ok = sample_depth(pm.points[kf[a], ..., 2], valid[a], grid_map, cfg.edge_ratio)
        ca, _ = _nearest(pm.conf, kf[a], grid_map)
        sel = np.flatnonzero(ok)
        z = za[sel] * poses.scale[a]
        Xa = np.stack([(grid[sel, 0] - intr.cx) / intr.focal * z, (grid[sel, 1] - intr.cy) / intr.focal * z, z], 1)
        world = Xa @ poses.R[a].T + poses.c[a]
        for b in range(a + 1, min(len(kf), a + 1 + cfg.window)):
            parts.append(_match_into(pm, kf, valid, poses, intr, size, a, b, grid[sel], z, ca[sel], world, cfg))
    cat = lambda i: np.concatenate([p[i] for p in parts]) if parts else np.zeros(0)  # noqa: E731
    if not parts:
        return Correspondences(np.zeros(0, int), np.zeros(0, int), np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0), np.zeros(0), np.zeros(0))
    corr = Correspondences(cat(0).astype(int), cat(1).astype(int), cat(2).reshape(-1, 2), cat(3).reshape(-1, 2), cat(4), cat(5), cat(6))
    return _subsample(corr, cfg)


def _match_into(pm, kf, valid, poses, intr, size, a, b, uv_a, z_a, ca, world, cfg):
    """Grid pixels of keyframe a whose 3D point keyframe b sees at the same depth."""
    Y = (world - poses.c[b]) @ poses.R[b]  # b's camera frame, world units
    z = Y[:, 2]
    front = z > 1e-6
    uv_b = np.stack([intr.focal * Y[:, 0] / np.where(front, z, 1) + intr.cx,
                     intr.focal * Y[:, 1] / np.where(front, z, 1) + intr.cy], 1)  # fmt: skip
    mb = rescale_px(uv_b, size, pm.map_size)
    zb, ok_b = sample_depth(pm.points[kf[b], ..., 2], valid[b], mb, cfg.edge_ratio)
    cb, _ = _nearest(pm.conf, kf[b], mb)
    zb_world = zb * poses.scale[b]
    keep = front & ok_b & (np.abs(z - zb_world) <= cfg.depth_tolerance * np.maximum(zb_world, 1e-9))
    n = int(keep.sum())
    return (np.full(n, a), np.full(n, b), uv_a[keep], uv_b[keep], z_a[keep], zb_world[keep],
            np.sqrt(ca[keep] * cb[keep]))  # fmt: skip


def sample_depth(z: np.ndarray, valid: np.ndarray, uv: np.ndarray, max_ratio: float = 1.25):
    """Depth of one map z (H, W) at pixels (M, 2), and whether it is usable.

    Inverse depth is interpolated bilinearly between the four neighbouring pixels (exact on planar
    surfaces: 1/z is affine in the pixel there) when all four are valid and within `max_ratio` of
    each other; otherwise (occlusion edges, borders, the far ground near the horizon where depth
    grows fast from row to row) the nearest valid pixel is used. Depth at
    the exact pixel keeps (uv, depth) consistent: half a pixel of offset on a receding ground plane
    is already a depth error of several per mille.
    """
    H, W = valid.shape
    c0 = np.clip(np.floor(uv[:, 0]).astype(int), 0, W - 2)
    r0 = np.clip(np.floor(uv[:, 1]).astype(int), 0, H - 2)
    fc, fr = uv[:, 0] - c0, uv[:, 1] - r0
    corners = [(r0 + dr, c0 + dc, w) for dr, dc, w in
               ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)), (1, 1, fr * fc))]  # fmt: skip
    zs = np.stack([z[r, c] for r, c, _ in corners])
    ok4 = np.stack([valid[r, c] for r, c, _ in corners]).all(0) & (zs.min(0) > 0)
    ok4 &= (fc >= 0) & (fc <= 1) & (fr >= 0) & (fr <= 1) & (zs.max(0) <= max_ratio * zs.min(0))
    inv = sum(w * (1.0 / np.where(ok4, zk, 1.0)) for (_, _, w), zk in zip(corners, zs))
    zn, inside = _nearest(z[None], 0, uv)
    vn, _ = _nearest(valid[None], 0, uv)
    near_ok = inside & vn & (zn > 0)
    return np.where(ok4, 1.0 / inv, np.where(near_ok, zn, 0.0)), ok4 | near_ok


def _subsample(corr: Correspondences, cfg) -> Correspondences:
    if len(corr) <= cfg.max_correspondences:
        return corr
    pick = np.sort(np.random.default_rng(cfg.seed).choice(len(corr), cfg.max_correspondences, replace=False))
    return Correspondences(*(getattr(corr, k)[pick] for k in ("kf_a", "kf_b", "uv_a", "uv_b", "depth_a", "depth_b", "conf")))


# ------------------------------------------------------------------------------- outputs
def _homogeneous(R, c) -> np.ndarray:
    T = np.repeat(np.eye(4)[None], len(R), 0)
    T[:, :3, :3] = R
    T[:, :3, 3] = c
    return T


def _interpolate(kf_frames: np.ndarray, poses: _Poses, n: int) -> np.ndarray:
    left, alpha = interpolation_weights(kf_frames, np.arange(n))
    R, c = interpolate_poses(torch.as_tensor(poses.R), torch.as_tensor(poses.c), torch.as_tensor(left), torch.as_tensor(alpha))
    return _homogeneous(R.numpy(), c.numpy())


def _scene_points(obs: KeyframeObservations, T_key, intr: Intrinsics, cfg):
    K, h, w = obs.depth.shape
    gu, gv = _grid((intr.width, intr.height), obs.stride)
    pts, cols = [], []
    for k in range(K):
        m = obs.background[k]
        z = obs.depth[k][m]
        X = np.stack([(gu[m] - intr.cx) / intr.focal * z, (gv[m] - intr.cy) / intr.focal * z, z], 1)
        pts.append(X @ T_key[k, :3, :3].T + T_key[k, :3, 3])
        cols.append(obs.colors[k][m] if obs.colors is not None else np.full((len(z), 3), 160, np.uint8))
    pts, cols = np.concatenate(pts), np.concatenate(cols)
    if not len(pts):
        return pts.reshape(0, 3), cols.reshape(0, 3)
    voxel = cfg.scene_voxel_fraction * float(np.median(obs.depth[obs.background]))
    cells = np.floor(pts / voxel).astype(np.int64)
    _, first = np.unique(cells, axis=0, return_index=True)
    return pts[np.sort(first)], cols[np.sort(first)]


def front_end_inputs(scene: SceneEstimate, humans: list[HumanTrack], fps: float, body_model: str,
                     n_frames: int | None = None) -> FrontEndInputs:  # fmt: skip
    """`FrontEndInputs` from a scene estimate (e.g. `scene_from_pointmaps`) and people (e.g.
    `read_tram`); their `focal_assumed` must be in pixels of the scene's image size."""
    return FrontEndInputs(
        n_frames=int(n_frames if n_frames is not None else len(scene.all_T_wc)), fps=float(fps),
        intrinsics=scene.intrinsics, keyframes=scene.keyframes, keyframe_T_wc=scene.keyframe_T_wc,
        correspondences=scene.correspondences, humans=list(humans), body_model=body_model,
    )  # fmt: skip
