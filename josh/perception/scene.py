"""Scene front-end: structure from motion on the background, or a ground plane when that fails.

`estimate_scene` writes the frames (people masked out) for pycolmap, runs `josh.perception.sfm`
(a skeleton of frames - every keyframe, every `sfm_step`-th frame, the last - mapped with a
searched-then-refined focal; every other frame localised against it by PnP) and turns the result
into what the joint optimiser consumes (`FrontEndInputs`):

- the shared focal (`Intrinsics`, principal point at the image centre, which COLMAP keeps fixed);
- keyframe cameras `T_wc`, re-expressed in the first keyframe's camera frame (keyframe 0 = identity)
  with the SfM scale normalised so that the median depth of the keyframes' points is 1 (the scale is
  arbitrary anyway: the optimiser's per-keyframe scales and the bodies fix it);
- every frame's camera in that same frame and scale (`all_T_wc`, the optimiser's `frame_T_wc`);
- per keyframe a depth map at a reduced resolution, densified from the SfM points seen in that
  keyframe: points no image neighbour agrees with are dropped first (`supported`: features on a
  walker's moving shadow land far below the ground, right where the contact term reads it), then
  inverse depth is interpolated linearly over a Delaunay triangulation of the projected points
  (exact for planar patches), triangles with very long edges are dropped, and the confidence
  falls with the distance to the nearest real point;
- correspondences: pairs of keyframes observing the same 3D point (the reconstruction's tracks),
  with the observed (undistorted) pixel in each and the point's depth in each camera.

Pixel convention: ours (centre of the top-left pixel at (0, 0)); COLMAP's is shifted by 0.5.
With a distortion model (SIMPLE_RADIAL, the default), every pixel this module outputs is in the
*undistorted* pinhole image of `intrinsics`; `distortion` holds COLMAP's parameters and
`undistort_pixels` / `distort_pixels` convert other front-ends' pixels (keypoints) the same way.

When SfM fails (static camera, no texture, too few frames, any pycolmap error) the result is a
`"ground_plane"` estimate: an identity camera (`camera_static` when SfM failed because the frames
do not move), a focal guessed for a phone's main camera (`fallback_focal`) and depth maps of a
plane fitted to points where people's feet are (`ground_plane_scene`), or of a horizontal plane
`camera_height` below the camera when no such points are given. It has no correspondences.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.spatial import Delaunay, cKDTree
from threadpoolctl import threadpool_limits

from josh.perception.sfm import SfmResult, camera_jumps, image_name, run_sfm
from josh.types import Correspondences, Intrinsics, KeyframeObservations


@dataclass
class SceneConfig:
    stride: int = 8  # image pixels per depth-map pixel
    # --- which frames: the SfM skeleton is mapped, every other frame localised against it
    sfm_step: int = 5  # skeleton = every sfm_step-th frame + every keyframe + the last frame
    min_skeleton_frames: int = 20  # smaller step for short clips: 9 views of demo2 gave focals
    # from 0.72x to 1.3x the truth over three 40-frame windows, 21 views 0.99x-1.02x
    localise: bool = True  # pose every non-skeleton frame by PnP against the skeleton's points
    localise_neighbours: int = 1  # skeleton frames matched on each side of a localised frame
    min_pnp_inliers: int = 30
    pnp_max_error: float = 4.0  # px, RANSAC threshold of the localisation
    # --- features and matching (skeleton frames; localised frames need fewer, coarser features)
    max_features: int = 4096  # SIFT features per skeleton image
    first_octave: int = -1  # -1 upsamples first: finer features (ground texture), ~4x slower than 0
    peak_threshold: float = 0.02 / 3  # SIFT contrast threshold (COLMAP's; lower was worse on demo2)
    localise_max_features: int = 2048
    localise_first_octave: int | None = None  # None: 1 (half resolution) from 800 px on, else 0
    upright_features: bool = False  # no SIFT orientation (a camera that never rolls): faster
    overlap: int = 3  # skeleton frames matched with the next `overlap` skeleton frames
    quadratic_overlap: bool = True  # ... and with those 2^k further on
    # --- mapping
    camera_model: str = "SIMPLE_RADIAL"  # or SIMPLE_PINHOLE (no distortion, pixels as they are)
    focal_ratios: tuple = (0.5, 0.8, 1.3)  # focal guesses / image width (see sfm._search_focal)
    focal_known: float = 0.0
    """px at working resolution: the camera's focal when the user knows it (calibration, EXIF).
    It replaces the focal search and is held through every adjustment (the distortion is still
    refined): a narrow view from a camera walking forward does not determine its focal (a
    608-px-wide crop of demo2: guesses of 512-917 px fitted equally well)."""
    focal_search_frames: int = 12  # skeleton frames (spread) mapped for each focal guess
    max_final_mappings: int = 2  # skeleton mappings tried, at the best focals of the search
    init_min_tri_angle: float = 8.0  # deg, initial pair (COLMAP's default 16 is strict for video)
    init_max_forward_motion: float = 0.95  # COLMAP's default: initial pairs not purely forward
    max_mapping_seconds: float = 120.0  # stop one incremental mapping after this long
    mask_dilation: int = 4  # px grown around person masks before they hide features
    min_skeleton_fraction: float = 0.6  # of skeleton frames the model must register
    min_image_motion: float = 2.0  # px: skeleton matches moving less are a static camera (fallback)
    min_keyframe_fraction: float = 0.6  # of keyframes that must have a pose, else fallback
    min_points: int = 50  # 3D points the reconstruction must have, else fallback
    max_point_error: float = 4.0  # px: SfM points with a larger mean reprojection error are dropped
    # --- outputs
    max_correspondences: int = 20000
    max_keyframe_gap: int = 5  # correspondences only between keyframes at most this far apart
    max_edge_fraction: float = 0.25  # Delaunay edges longer than this x image diagonal: no depth
    conf_sigma: float = 16.0  # px: depth confidence exp(-(d / sigma)^2), d = distance to a real point
    min_conf: float = 0.05
    far_depth_ratio: float = 50.0  # drop points deeper than this x the keyframe's median depth
    jump_ratio: float = 6.0  # a camera step this x the local median step is a misregistration
    jump_window: int = 15  # frames on each side for that local median
    support_radius: float = 0.06  # x image diagonal: neighbourhood of the point support test
    support_neighbours: int = 8
    support_tolerance: float = 0.1  # relative depth difference of an agreeing neighbour
    jpeg_quality: int = 95
    seed: int = 0
    num_threads: int = -1
    camera_height: float = 1.6  # m: fallback plane when no foot points are given
    max_plane_depth: float = 100.0  # m: fallback plane depth beyond this is unknown
    keep_workdir: bool = False


@dataclass
class SceneEstimate:
    source: str  # "sfm" | "ground_plane"
    intrinsics: Intrinsics
    keyframe_T_wc: np.ndarray  # (K, 4, 4) camera-to-world, keyframe 0 = identity, OpenCV axes
    keyframes: KeyframeObservations
    correspondences: Correspondences
    all_T_wc: np.ndarray
    """(N, 4, 4) camera-to-world of every input frame, in the keyframes' frame and scale (the
    world is keyframe 0's camera, the same normalised scale as `keyframe_T_wc`, the depth maps
    and the points): exactly `FrontEndInputs.frame_T_wc`. The row of a keyframe with a pose is
    exactly its `keyframe_T_wc`; rows of frames without one (not registered, or not localised
    with `localise=False`) are NaN - a keyframe without a pose gets an interpolated
    `keyframe_T_wc` but keeps a NaN row here. The ground-plane fallback: identity everywhere."""
    registered: np.ndarray  # (N,) bool: finite rows of all_T_wc (all True for the fallback)
    points: np.ndarray  # (P, 3) SfM points in the world (keyframe 0) frame; empty for the fallback
    point_colors: np.ndarray  # (P, 3) uint8
    distortion: np.ndarray = field(default_factory=lambda: np.zeros(0))  # COLMAP extra params (k,...)
    camera_model: str = "SIMPLE_PINHOLE"
    ground_plane: np.ndarray | None = None  # (4,) n (unit, pointing to the camera side), d: n.X = d
    stats: dict = field(default_factory=dict)
    camera_static: bool = False  # the fallback for a camera whose frames do not move: it stays put


# ------------------------------------------------------------------------------------ public API
def estimate_scene(
    frames: Iterable[np.ndarray],
    keyframe_ids: Sequence[int],
    frame_ids: Sequence[int] | None = None,
    masks: Sequence | Mapping | None = None,
    config: SceneConfig | None = None,
    ground_points_cam: np.ndarray | None = None,
    workdir: str | os.PathLike | None = None,
) -> SceneEstimate:
    """SfM scene estimate for a video, or the ground-plane fallback. Never raises on bad content.

    frames: RGB uint8 (H, W, 3) at working resolution, in order (a list or a one-pass iterator).
    keyframe_ids: frame indices of the keyframes, increasing, all among `frame_ids`.
    frame_ids: the frame index of each frame (default 0, 1, 2, ...).
    masks: per frame a person mask, True / nonzero = person (no features, not background): a bool
        (H, W) array or a label map at any lower resolution (upsampled nearest), or None. Either a
        sequence aligned with `frames` or a mapping frame index -> mask.
    ground_points_cam: (M, 3) points on the ground (e.g. feet) in the camera frame, for the fallback.
    workdir: folder for images and the COLMAP database (default: a temporary folder, removed).
    """
    cfg = config or SceneConfig()
    t_start = time.perf_counter()
    stats: dict = {"timing": {}}
    keyframe_ids = np.asarray(keyframe_ids, dtype=int)
    own_dir = workdir is None
    root = tempfile.mkdtemp(prefix="josh_sfm_") if own_dir else os.fspath(workdir)
    try:
        prep = _prepare(frames, frame_ids, keyframe_ids, masks, cfg, root, stats)
        if prep is None:
            raise ValueError("no frames")
        try:
            est = _run_sfm(prep, keyframe_ids, cfg, root, stats)
        except Exception as exc:  # any pycolmap or geometry failure -> fallback, reason kept
            est = None
            stats["sfm_failure"] = f"{type(exc).__name__}: {exc}"
        if est is None:
            est = _fallback(prep, keyframe_ids, cfg, ground_points_cam, stats)
    except Exception as exc:  # e.g. unreadable frames: still a (degenerate) fallback, never a crash
        stats.setdefault("sfm_failure", f"{type(exc).__name__}: {exc}")
        est = _fallback(None, keyframe_ids, cfg, ground_points_cam, stats)
    finally:
        if own_dir and not cfg.keep_workdir:
            shutil.rmtree(root, ignore_errors=True)
    stats["timing"]["total"] = time.perf_counter() - t_start
    est.stats = stats
    return est


def fit_ground_plane(
    points: np.ndarray | None,
    camera_height: float = 1.6,
    prior_normal: Sequence[float] = (0.0, -1.0, 0.0),
    inlier_threshold: float = 0.05,
    seed: int = 0,
) -> np.ndarray:
    """Plane n.X = d (n unit, pointing from the plane toward the camera) through ground points.

    points: (M, 3) in the camera frame (metres). RANSAC over triplets, then a least-squares refit
    on the inliers. Degenerate sets use the prior "up" direction (OpenCV: -y): no points -> the
    horizontal plane `camera_height` below the camera; 1-2 points or a line of points (one person
    walking straight) -> the plane through them whose normal is closest to the prior.
    """
    up = np.asarray(prior_normal, dtype=float)
    up = up / np.linalg.norm(up)
    pts = np.zeros((0, 3)) if points is None else np.asarray(points, dtype=float).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(1)]
    if len(pts) == 0:
        return np.append(up, -camera_height)  # n.X = -h: the plane y = h for up = -y
    centre = pts.mean(0)
    if len(pts) >= 3:
        _, sv, vt = np.linalg.svd(pts - centre, full_matrices=False)
        spread = sv / math.sqrt(len(pts))
        if spread[1] > max(0.05, 0.1 * spread[0]):  # genuinely 2D: fit a plane
            n = _ransac_plane(pts, inlier_threshold, seed)
            return _orient(n, float(n @ _inlier_centre(pts, n, inlier_threshold)), up)
        direction = vt[0]
        n = up - (up @ direction) * direction
    elif len(pts) == 2 and np.linalg.norm(pts[1] - pts[0]) > 1e-6:
        direction = (pts[1] - pts[0]) / np.linalg.norm(pts[1] - pts[0])
        n = up - (up @ direction) * direction
    else:
        n = up
    if np.linalg.norm(n) < 1e-6:  # the line is along the prior normal: nothing better to do
        n = up
    n = n / np.linalg.norm(n)
    return _orient(n, float(n @ centre), up)


def ground_plane_scene(
    intrinsics: Intrinsics,
    keyframe_ids: Sequence[int],
    ground_points_cam: np.ndarray | None = None,
    *,
    stride: int = 8,
    camera_height: float = 1.6,
    person_masks: Sequence | None = None,
    colors: Sequence[np.ndarray] | None = None,
    max_depth: float = 100.0,
    plane: np.ndarray | None = None,
) -> tuple[KeyframeObservations, np.ndarray]:
    """Depth maps of a ground plane seen by a static camera at every keyframe.

    The plane is fitted to `ground_points_cam` (camera frame, metres; see `fit_ground_plane`) unless
    `plane` (n, d) is given. Pixels whose ray misses the plane, or meets it beyond `max_depth`, are
    unknown (0). Confidence: 0.5 for a plane given or fitted to points, 0.2 for the default plane.
    person_masks / colors: optional per keyframe (same forms as `estimate_scene`'s masks; RGB frames).
    Returns the observations and the plane (4,).
    """
    keyframe_ids = np.asarray(keyframe_ids, dtype=int)
    n_pts = 0 if ground_points_cam is None else len(np.asarray(ground_points_cam).reshape(-1, 3))
    evidence = plane is not None or n_pts >= 1  # not the default plane below the camera
    if plane is None:
        plane = fit_ground_plane(ground_points_cam, camera_height)
    plane = np.asarray(plane, dtype=float)
    K = len(keyframe_ids)
    W, H = intrinsics.width, intrinsics.height
    u, v = _grid_pixels(W, H, stride)
    rays = np.stack([(u - intrinsics.cx) / intrinsics.focal, (v - intrinsics.cy) / intrinsics.focal, np.ones_like(u)], -1)
    denom = rays @ plane[:3]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = plane[3] / denom
    z = np.where(np.isfinite(z) & (z > 0) & (z * np.linalg.norm(rays, axis=-1) <= max_depth), z, 0.0)
    depth = np.repeat(z[None].astype(np.float32), K, 0)
    conf = np.where(depth > 0, 0.5 if evidence else 0.2, 0.0).astype(np.float32)
    person = np.zeros(depth.shape, bool)
    if person_masks is not None:
        for k, m in enumerate(person_masks):
            if m is not None and k < K:
                person[k] = _sample_mask(_full_mask(m, H, W), u, v)
    colors_arr = None
    if colors is not None:
        colors_arr = np.stack([_sample_image(c, u, v) for c in colors]).astype(np.uint8)
    obs = KeyframeObservations(
        frame_ids=keyframe_ids,
        depth=depth,
        conf=conf,
        background=(depth > 0) & ~person,
        stride=float(stride),
        colors=colors_arr,
    )
    return obs, plane


def undistort_pixels(uv: np.ndarray, intrinsics: Intrinsics, camera_model: str, distortion: np.ndarray) -> np.ndarray:
    """Pixels of the original frames (our convention) -> the undistorted pinhole image of `intrinsics`."""
    uv = np.asarray(uv, dtype=float)
    if len(distortion) == 0:
        return uv.copy()
    cam = _colmap_camera(intrinsics, camera_model, distortion)
    flat = uv.reshape(-1, 2)
    n = cam.cam_from_img(flat + 0.5)
    return (n * intrinsics.focal + np.array([intrinsics.cx, intrinsics.cy])).reshape(uv.shape)


def distort_pixels(uv: np.ndarray, intrinsics: Intrinsics, camera_model: str, distortion: np.ndarray) -> np.ndarray:
    """Undistorted pinhole pixels -> pixels of the original frames (inverse of `undistort_pixels`)."""
    uv = np.asarray(uv, dtype=float)
    if len(distortion) == 0:
        return uv.copy()
    cam = _colmap_camera(intrinsics, camera_model, distortion)
    flat = uv.reshape(-1, 2)
    n = (flat - np.array([intrinsics.cx, intrinsics.cy])) / intrinsics.focal
    img = cam.img_from_cam(np.concatenate([n, np.ones((len(n), 1))], 1), check_cheirality=False)
    return (img - 0.5).reshape(uv.shape)


# ------------------------------------------------------------------------------------ preparation
@dataclass
class _Prepared:
    frame_ids: np.ndarray  # (N,) every input frame
    written_ids: np.ndarray  # frames written for SfM (skeleton, plus the rest when localising)
    skeleton_ids: np.ndarray  # frames mapped by SfM
    width: int
    height: int
    kf_masks: dict  # keyframe id -> the caller's person mask (any resolution) or None
    image_dir: str
    mask_dir: str

    # Keyframes are read back when needed rather than held: on a 1500-frame clip (300 keyframes)
    # their images and full-size masks held 620 MB through all of SfM.
    def keyframe_image(self, fid: int) -> np.ndarray:
        """RGB (H, W, 3) of a keyframe, as SfM saw it (the written image)."""
        import PIL.Image

        with PIL.Image.open(os.path.join(self.image_dir, image_name(fid))) as im:
            return np.asarray(im.convert("RGB"))

    def keyframe_person(self, fid: int) -> np.ndarray:
        """bool (H, W) person mask of a keyframe (undilated; all False without a mask)."""
        m = self.kf_masks.get(int(fid))
        return _full_mask(m, self.height, self.width) if m is not None else np.zeros((self.height, self.width), bool)


def skeleton_frames(frame_ids: Sequence[int], keyframe_ids: Sequence[int], sfm_step: int,
                    min_frames: int = 0) -> np.ndarray:  # fmt: skip
    """Frames mapped by SfM: every `sfm_step`-th frame (a smaller step when that gives fewer
    than `min_frames`), every keyframe and the last frame."""
    frame_ids = np.asarray(frame_ids, dtype=int)
    if len(frame_ids) == 0:
        return frame_ids
    step = max(1, int(sfm_step))
    if min_frames > 0:
        step = max(1, min(step, len(frame_ids) // min_frames))
    use = set(frame_ids[::step].tolist()) | {int(k) for k in keyframe_ids} | {int(frame_ids[-1])}
    return np.array(sorted(use), dtype=int)


def _prepare(frames, frame_ids, keyframe_ids, masks, cfg, root, stats) -> _Prepared | None:
    import PIL.Image

    t0 = time.perf_counter()
    image_dir = os.path.join(root, "images")
    mask_dir = os.path.join(root, "masks")
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(mask_dir, exist_ok=True)
    frames = frames if isinstance(frames, Sequence) or hasattr(frames, "__len__") else list(frames)
    n = len(frames)
    if n == 0:
        return None
    frame_ids = np.arange(n) if frame_ids is None else np.asarray(frame_ids, dtype=int)
    if len(frame_ids) != n:
        raise ValueError(f"{n} frames but {len(frame_ids)} frame ids")
    if np.any(np.diff(frame_ids) <= 0):
        raise ValueError("frame ids must increase")
    skeleton = skeleton_frames(frame_ids, keyframe_ids, cfg.sfm_step, cfg.min_skeleton_frames)
    write = set(frame_ids.tolist()) if cfg.localise else set(skeleton.tolist())
    kf_set = set(int(k) for k in keyframe_ids)
    kf_masks, person_fraction, written = {}, [], []
    H = W = None
    for i, (fid, img) in enumerate(zip(frame_ids.tolist(), frames)):
        if fid not in write:
            continue
        img = np.asarray(img)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, -1)
        img = img[..., :3].astype(np.uint8, copy=False)
        if H is None:
            H, W = img.shape[:2]
        elif img.shape[:2] != (H, W):
            raise ValueError("frames of different sizes")
        m = _lookup_mask(masks, i, fid)
        person = _full_mask(m, H, W) if m is not None else np.zeros((H, W), bool)
        name = image_name(fid)
        PIL.Image.fromarray(img).save(os.path.join(image_dir, name), quality=cfg.jpeg_quality)
        hide = ndimage.maximum_filter(person, size=2 * cfg.mask_dilation + 1) if cfg.mask_dilation > 0 and person.any() else person
        PIL.Image.fromarray(np.where(hide, 0, 255).astype(np.uint8)).save(os.path.join(mask_dir, name + ".png"))
        written.append(fid)
        if fid in kf_set:
            kf_masks[fid] = m
            person_fraction.append(person.mean())
    missing = kf_set - set(kf_masks)
    if missing:
        raise ValueError(f"keyframes not among the frames: {sorted(missing)[:5]}")
    stats["frames"] = n
    stats["skeleton_frames"] = len(skeleton)
    stats["person_pixel_fraction"] = float(np.mean(person_fraction)) if person_fraction else 0.0
    stats["timing"]["write_images"] = time.perf_counter() - t0
    return _Prepared(frame_ids, np.asarray(written), skeleton, W, H, kf_masks, image_dir, mask_dir)


def _lookup_mask(masks, i, fid):
    if masks is None:
        return None
    if isinstance(masks, Mapping):
        return masks.get(fid)
    return masks[i] if i < len(masks) else None


def _full_mask(mask, H, W) -> np.ndarray:
    """Person mask at (H, W): nearest upsampling of a bool mask or label map (nonzero = person)."""
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m[..., 0]
    m = m != 0
    if m.shape == (H, W):
        return m
    rows = np.minimum((np.arange(H) + 0.5) * m.shape[0] / H, m.shape[0] - 1).astype(int)
    cols = np.minimum((np.arange(W) + 0.5) * m.shape[1] / W, m.shape[1] - 1).astype(int)
    return m[rows[:, None], cols[None, :]]


# ------------------------------------------------------------------------------------------- SfM
def _run_sfm(prep: _Prepared, keyframe_ids, cfg: SceneConfig, root, stats) -> SceneEstimate | None:
    if len(prep.skeleton_ids) < 2:
        stats["sfm_failure"] = "fewer than 2 frames"
        return None
    t0 = time.perf_counter()
    sfm = run_sfm(prep.image_dir, prep.mask_dir, prep.written_ids, prep.skeleton_ids, keyframe_ids, cfg, root, stats)
    if sfm is None:
        return None
    t1 = time.perf_counter()
    est = _from_sfm(sfm, prep, keyframe_ids, cfg, stats)
    stats["timing"]["postprocess"] = time.perf_counter() - t1
    stats["timing"]["sfm"] = t1 - t0
    return est


def _from_sfm(sfm: SfmResult, prep: _Prepared, keyframe_ids, cfg: SceneConfig, stats) -> SceneEstimate | None:
    """SfM world -> keyframe-0 camera frame with the median keyframe depth 1; depth maps, matches."""
    W, H = prep.width, prep.height
    K = len(keyframe_ids)
    cam = sfm.camera()
    params = sfm.camera_params
    focal = float(params[list(cam.focal_length_idxs())].mean())
    extra = params[list(cam.extra_params_idxs())] if len(cam.extra_params_idxs()) else np.zeros(0)
    intr = Intrinsics(focal, float(cam.principal_point_x) - 0.5, float(cam.principal_point_y) - 0.5, W, H)
    model = sfm.camera_model

    posed = np.array(sorted(sfm.cam_from_world), dtype=int)
    T_wc_posed = np.stack([np.linalg.inv(sfm.cam_from_world[int(f)]) for f in posed])
    jumped = camera_jumps(posed, T_wc_posed[:, :3, 3], cfg.jump_ratio, cfg.jump_window)
    if jumped.any():  # misregistered frames: no pose, no observations
        stats["jump_frames"] = posed[jumped].tolist()
        posed, T_wc_posed = posed[~jumped], T_wc_posed[~jumped]
    has_pose = {int(f) for f in posed}
    kf_posed = np.array([int(k) in has_pose for k in keyframe_ids])
    stats.update(
        registered_frames=len(posed),
        mapped_frames=len(sfm.mapped),
        registered_keyframes=int(kf_posed.sum()),
        keyframes=K,
        points=len(sfm.points),
        reprojection_error=float(np.mean(sfm.errors)) if len(sfm.errors) else float("nan"),
        camera_model=model,
        focal=focal,
        distortion=extra.tolist(),
    )
    need = max(2, int(math.ceil(cfg.min_keyframe_fraction * K))) if K > 1 else 1
    if kf_posed.sum() < need:
        stats["sfm_failure"] = f"only {int(kf_posed.sum())}/{K} keyframes registered (need {need})"
        return None
    if len(sfm.points) < cfg.min_points:
        stats["sfm_failure"] = f"only {len(sfm.points)} 3D points (need {cfg.min_points})"
        return None

    # cameras: world := keyframe 0's camera (filled from its neighbours if it has no pose)
    kf_T_wc = _interpolate_poses(posed, T_wc_posed, np.asarray(keyframe_ids))
    ref = np.linalg.inv(kf_T_wc[0])  # SfM world -> keyframe-0 camera
    kf_T_wc = ref @ kf_T_wc
    xyz0 = sfm.points @ ref[:3, :3].T + ref[:3, 3]

    # observations of points in the keyframes with a pose: (keyframe index, point row, undistorted uv)
    obs_k, obs_p, obs_uv = [], [], []
    for k, fid in enumerate(keyframe_ids):
        got = sfm.observations.get(int(fid))
        if got is None or len(got[1]) == 0 or int(fid) not in has_pose:
            continue
        xy, rows = got
        n = cam.cam_from_img(xy)  # undistorted normalised coordinates (COLMAP pixel convention in)
        obs_uv.append(n * focal + np.array([intr.cx, intr.cy]))
        obs_p.append(rows)
        obs_k.append(np.full(len(rows), k))
    if not obs_k:
        stats["sfm_failure"] = "no 3D points observed in the keyframes"
        return None
    obs_k, obs_p, obs_uv = np.concatenate(obs_k), np.concatenate(obs_p), np.concatenate(obs_uv)

    # depth of each observation in its keyframe's camera; the scale: median keyframe depth = 1
    kf_T_cw = np.linalg.inv(kf_T_wc)
    Xc = np.einsum("nij,nj->ni", kf_T_cw[obs_k, :3, :3], xyz0[obs_p]) + kf_T_cw[obs_k, :3, 3]
    z = Xc[:, 2]
    good = z > 1e-9
    scale = float(np.median(z[good])) if good.any() else 1.0
    scale = scale if scale > 0 else 1.0
    z = z / scale
    xyz0 = xyz0 / scale
    kf_T_wc[:, :3, 3] /= scale

    # every frame's camera in the same frame and scale; keyframes keep exactly their own pose
    all_T = np.full((len(prep.frame_ids), 4, 4), np.nan)
    registered = np.zeros(len(prep.frame_ids), bool)
    pos = {int(f): i for i, f in enumerate(prep.frame_ids)}
    for f, T in zip(posed, T_wc_posed):
        T0 = ref @ T
        T0[:3, 3] /= scale
        all_T[pos[int(f)]] = T0
        registered[pos[int(f)]] = True
    for k, fid in enumerate(keyframe_ids):
        if registered[pos[int(fid)]]:
            all_T[pos[int(fid)]] = kf_T_wc[k]

    # drop observations behind the camera, far behind the rest (tiny triangulation angles), and
    # those no image neighbour agrees with (e.g. features on a walker's moving shadow)
    keep = good.copy()
    radius = cfg.support_radius * math.hypot(W, H)
    with threadpool_limits(1):  # many tiny solves, here and in _densify (see there)
        for k in np.unique(obs_k):
            on = (obs_k == k) & good
            if on.any():
                keep &= ~((obs_k == k) & (z > cfg.far_depth_ratio * np.median(z[on])))
            rows = np.flatnonzero((obs_k == k) & keep)
            keep[rows] &= supported(obs_uv[rows], z[rows], radius, cfg.support_neighbours, cfg.support_tolerance)
        stats["unsupported_observations"] = int((good & ~keep).sum())
        obs_k, obs_p, obs_uv, z = obs_k[keep], obs_p[keep], obs_uv[keep], z[keep]
        quality = np.exp(-sfm.errors[obs_p] / 2.0) * (1.0 - np.exp(-(sfm.track_lengths[obs_p] - 1.0) / 2.0))
        t0 = time.perf_counter()
        keyframes = _densify(prep, keyframe_ids, intr, model, extra, obs_k, obs_uv, z, quality, cfg)
        stats["timing"]["densify"] = time.perf_counter() - t0
    corr = _correspondences(obs_k, obs_p, obs_uv, z, quality, cfg)
    valid = keyframes.depth > 0
    stats.update(
        scale_normalisation=scale,
        correspondences=len(corr),
        keyframe_points_mean=float(len(obs_k) / K),
        depth_coverage=float(valid.mean()),
        background_coverage=float(keyframes.background.mean()),
        filled_keyframes=int((~kf_posed).sum()),
    )
    return SceneEstimate(
        source="sfm",
        intrinsics=intr,
        keyframe_T_wc=kf_T_wc,
        keyframes=keyframes,
        correspondences=corr,
        all_T_wc=all_T,
        registered=registered,
        points=xyz0,
        point_colors=sfm.colors,
        distortion=extra,
        camera_model=model,
    )


def supported(uv: np.ndarray, z: np.ndarray, radius: float, neighbours: int = 8, tolerance: float = 0.1) -> np.ndarray:
    """Which points of one keyframe agree with their image neighbours (the `neighbours` nearest
    within `radius` px): either the plane through the neighbours predicts the point's depth (the
    inverse depth of a plane is affine in the pixel coordinates, so a least-squares affine fit of
    the neighbours' inverse depths, evaluated at the point, is exact on the ground however steep
    its depth gradient), or at least 2 neighbours (1 when there are only 1-2) lie at the same
    depth (a point on a depth edge keeps the support of its own side). Both within a factor
    1 + `tolerance`. What fails both is a lone point far behind or in front of everything around
    it, typically a feature on a walker's moving shadow. Observations at the same pixel (SIFT's
    second orientation of a keypoint) count once; points with no neighbour are kept."""
    n = len(uv)
    if n < 2:
        return np.ones(n, bool)
    _, first, inverse = np.unique(np.round(uv), axis=0, return_index=True, return_inverse=True)
    u_uv, inv_z = uv[first], 1.0 / z[first]
    m = len(u_uv)
    dist, idx = cKDTree(u_uv).query(u_uv, k=min(neighbours + 1, m), distance_upper_bound=radius)
    near = np.isfinite(dist) & (idx != np.arange(m)[:, None])
    idx = np.minimum(idx, m - 1)
    count = near.sum(1)
    band = math.log1p(tolerance)
    with np.errstate(invalid="ignore", divide="ignore"):
        same_depth = (np.abs(np.log(inv_z[idx] / inv_z[:, None])) <= band) & near
    by_depth = same_depth.sum(1) >= np.minimum(2, np.maximum(1, count - 1))
    # affine inverse depth through the neighbours, in coordinates centred on the point
    w = near.astype(float)
    A = np.concatenate([(u_uv[idx] - u_uv[:, None]) / radius, np.ones(idx.shape + (1,))], -1)  # (m, k, 3)
    AtA = np.einsum("mki,mkj->mij", A * w[..., None], A) + np.diag([1e-6, 1e-6, 0.0])
    Atb = np.einsum("mki,mk->mi", A * w[..., None], inv_z[idx])
    fit = count >= 3
    pred = np.zeros(m)
    if fit.any():
        well = fit & (np.linalg.cond(AtA) < 1e6)
        pred[well] = np.linalg.solve(AtA[well], Atb[well][..., None])[:, 2, 0]
        fit = well
    with np.errstate(invalid="ignore", divide="ignore"):
        by_plane = fit & (np.abs(np.log(np.maximum(pred, 1e-12) / inv_z)) <= band)
    ok = (count == 0) | by_depth | by_plane
    return ok[inverse.ravel()]


def _interpolate_poses(reg_ids: np.ndarray, T_wc: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Camera-to-world at `query` frames from registered ones: exact, interpolated, or nearest."""
    from scipy.spatial.transform import Rotation, Slerp

    out = np.zeros((len(query), 4, 4))
    for i, q in enumerate(np.asarray(query)):
        j = int(np.searchsorted(reg_ids, q))
        if j < len(reg_ids) and reg_ids[j] == q:
            out[i] = T_wc[j]
        elif j == 0 or j == len(reg_ids):
            out[i] = T_wc[min(j, len(reg_ids) - 1)]
        else:
            a, b = j - 1, j
            w = (q - reg_ids[a]) / (reg_ids[b] - reg_ids[a])
            slerp = Slerp([0.0, 1.0], Rotation.from_matrix(T_wc[[a, b], :3, :3]))
            out[i] = np.eye(4)
            out[i, :3, :3] = slerp([w]).as_matrix()[0]
            out[i, :3, 3] = (1 - w) * T_wc[a, :3, 3] + w * T_wc[b, :3, 3]
    return out


# ------------------------------------------------------------------------------ depth densifying
def _grid_pixels(W: int, H: int, stride: int):
    h, w = int(math.ceil(H / stride)), int(math.ceil(W / stride))
    u = (np.arange(w) + 0.5) * stride - 0.5
    v = (np.arange(h) + 0.5) * stride - 0.5
    return np.meshgrid(u, v)  # (h, w) each


def _sample_mask(mask: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    H, W = mask.shape
    r = np.clip(np.rint(v), 0, H - 1).astype(int)
    c = np.clip(np.rint(u), 0, W - 1).astype(int)
    return mask[r, c]


def _sample_image(img: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    H, W = img.shape[:2]
    r = np.clip(np.rint(v), 0, H - 1).astype(int)
    c = np.clip(np.rint(u), 0, W - 1).astype(int)
    return img[r, c, :3]


def _densify(prep, keyframe_ids, intr, model, extra, obs_k, obs_uv, z, quality, cfg) -> KeyframeObservations:
    """Depth, confidence, background and colours per keyframe (see the module doc). Run it with
    BLAS limited to one thread: scipy's Delaunay point location makes thousands of tiny LAPACK
    calls, which a multi-threaded OpenBLAS turns from 0.15 s into 1-28 s on a busy 2-core machine."""
    W, H, s = prep.width, prep.height, cfg.stride
    u, v = _grid_pixels(W, H, s)
    h, w = u.shape
    grid = np.stack([u.ravel(), v.ravel()], 1)
    # where each (undistorted) grid pixel lies in the original frame: masks and colours live there
    src = distort_pixels(grid, intr, model, extra).reshape(h, w, 2)
    max_edge = cfg.max_edge_fraction * math.hypot(W, H)
    K = len(keyframe_ids)
    depth = np.zeros((K, h, w), np.float32)
    conf = np.zeros((K, h, w), np.float32)
    person = np.zeros((K, h, w), bool)
    colors = np.zeros((K, h, w, 3), np.uint8)
    inside = (src[..., 0] >= -0.5) & (src[..., 0] <= W - 0.5) & (src[..., 1] >= -0.5) & (src[..., 1] <= H - 0.5)
    for k, fid in enumerate(keyframe_ids):
        fid = int(fid)
        person[k] = _sample_mask(prep.keyframe_person(fid), src[..., 0], src[..., 1])
        colors[k] = _sample_image(prep.keyframe_image(fid), src[..., 0], src[..., 1])
        sel = obs_k == k
        if sel.sum() < 3:
            continue
        d, c = _interpolate_depth(obs_uv[sel], z[sel], quality[sel], grid, max_edge, cfg)
        depth[k] = d.reshape(h, w) * inside
        conf[k] = c.reshape(h, w) * inside
    return KeyframeObservations(
        frame_ids=np.asarray(keyframe_ids, dtype=int),
        depth=depth,
        conf=conf,
        background=(depth > 0) & ~person,
        stride=float(s),
        colors=colors,
    )


def _interpolate_depth(uv, z, quality, grid, max_edge, cfg):
    """Inverse depth linear over a Delaunay triangulation of the points; long triangles dropped."""
    uv, keep = np.unique(np.round(uv, 3), axis=0, return_index=True)
    z, quality = z[keep], quality[keep]
    out_d = np.zeros(len(grid))
    out_c = np.zeros(len(grid))
    try:
        tri = Delaunay(uv)
    except Exception:  # collinear or too few points
        return out_d, out_c
    simplex = tri.find_simplex(grid)
    ok = simplex >= 0
    corners = uv[tri.simplices]  # (T, 3, 2)
    edges = np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=-1).max(1)
    ok[ok] = edges[simplex[ok]] <= max_edge
    if not ok.any():
        return out_d, out_c
    sx = simplex[ok]
    Tm = tri.transform[sx]  # (n, 3, 2): barycentric transform
    b = np.einsum("nij,nj->ni", Tm[:, :2], grid[ok] - Tm[:, 2])
    bary = np.concatenate([b, 1 - b.sum(1, keepdims=True)], 1)
    idx = tri.simplices[sx]
    inv = (bary * (1.0 / z[idx])).sum(1)
    dep = np.where(inv > 0, 1.0 / np.maximum(inv, 1e-12), 0.0)
    dist, near = cKDTree(uv).query(grid[ok])
    c = np.exp(-((dist / cfg.conf_sigma) ** 2)) * quality[near]
    out_d[ok] = dep
    out_c[ok] = np.clip(c, cfg.min_conf, 1.0) * (dep > 0)
    return out_d, out_c


# ------------------------------------------------------------------------------- correspondences
def _correspondences(obs_k, obs_p, obs_uv, z, quality, cfg) -> Correspondences:
    order = np.lexsort((obs_k, obs_p))
    k, p, uv, d, q = obs_k[order], obs_p[order], obs_uv[order], z[order], quality[order]
    ia, ib = [], []
    n = len(k)
    for off in range(1, 64):
        if off >= n:
            break
        a = np.arange(n - off)
        b = a + off
        same = p[a] == p[b]
        if not same.any():
            break
        a, b = a[same], b[same]
        near = (k[b] - k[a] <= cfg.max_keyframe_gap) & (k[b] != k[a])
        ia.append(a[near])
        ib.append(b[near])
    ia = np.concatenate(ia) if ia else np.zeros(0, int)
    ib = np.concatenate(ib) if ib else np.zeros(0, int)
    if len(ia) > cfg.max_correspondences:
        rng = np.random.default_rng(cfg.seed)
        pick = np.sort(rng.choice(len(ia), cfg.max_correspondences, replace=False))
        ia, ib = ia[pick], ib[pick]
    return Correspondences(
        kf_a=k[ia].astype(int),
        kf_b=k[ib].astype(int),
        uv_a=uv[ia],
        uv_b=uv[ib],
        depth_a=d[ia],
        depth_b=d[ib],
        conf=np.sqrt(q[ia] * q[ib]),
    )


def empty_correspondences() -> Correspondences:
    z = np.zeros(0)
    return Correspondences(np.zeros(0, int), np.zeros(0, int), np.zeros((0, 2)), np.zeros((0, 2)), z, z.copy(), z.copy())


# -------------------------------------------------------------------------------------- fallback
PHONE_FOCAL_PER_LONG_SIDE = 0.8
"""A phone's main camera (~26 mm equivalent: 64 degrees across the long side) in pixels per pixel
of the long side; action cameras are wider (demo2: 0.53)."""


def fallback_focal(width: int, height: int) -> float:
    """Focal guess without SfM, which the optimiser then refines: a phone's main camera. Not the
    image diagonal that body front-ends assume (~37 mm equivalent): few phone or action-camera
    clips are that narrow, and a focal twice too long puts people off-centre at the wrong depth
    (a frozen frame of demo2: the man at the side 1.5 m nearer than the others instead of 0.3)."""
    return PHONE_FOCAL_PER_LONG_SIDE * float(max(width, height))


def _fallback(prep: _Prepared | None, keyframe_ids, cfg: SceneConfig, ground_points_cam, stats) -> SceneEstimate:
    t0 = time.perf_counter()
    K = len(keyframe_ids)
    if prep is not None:
        W, H = prep.width, prep.height
        n = len(prep.frame_ids)
        person = (prep.kf_masks.get(int(f)) for f in keyframe_ids)  # generators: one keyframe at a time
        colors = (prep.keyframe_image(int(f)) for f in keyframe_ids)  # `_prepare` wrote every keyframe
    else:
        W, H, n, person, colors = 16, 16, 0, None, None
    intr = Intrinsics.centred(cfg.focal_known or fallback_focal(W, H), W, H)
    obs, plane = ground_plane_scene(
        intr, keyframe_ids, ground_points_cam, stride=cfg.stride, camera_height=cfg.camera_height,
        person_masks=person, colors=colors, max_depth=cfg.max_plane_depth,
    )  # fmt: skip
    stats["model"] = "ground_plane"
    stats.setdefault("sfm_failure", "unknown")
    stats["ground_points"] = 0 if ground_points_cam is None else int(len(np.asarray(ground_points_cam).reshape(-1, 3)))
    stats["timing"]["fallback"] = time.perf_counter() - t0
    stats["depth_coverage"] = float((obs.depth > 0).mean()) if obs.depth.size else 0.0
    return SceneEstimate(
        source="ground_plane",
        intrinsics=intr,
        keyframe_T_wc=np.repeat(np.eye(4)[None], K, 0),
        keyframes=obs,
        correspondences=empty_correspondences(),
        all_T_wc=np.repeat(np.eye(4)[None], n, 0),
        registered=np.ones(n, bool),
        points=np.zeros((0, 3)),
        point_colors=np.zeros((0, 3), np.uint8),
        ground_plane=plane,
        camera_static=stats.get("image_motion_px", math.inf) < cfg.min_image_motion,
    )


# ----------------------------------------------------------------------------------------- utils
def _orient(n: np.ndarray, d: float, up: np.ndarray) -> np.ndarray:
    """Sign so that the camera (origin) is on the positive side: n.0 - d > 0, i.e. d < 0."""
    if d > 0 or (abs(d) < 1e-12 and n @ up < 0):
        n, d = -n, -d
    return np.append(n, d)


def _ransac_plane(pts: np.ndarray, thr: float, seed: int, iters: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    best_n, best_count = None, -1
    for _ in range(iters):
        a, b, c = pts[rng.choice(len(pts), 3, replace=False)]
        n = np.cross(b - a, c - a)
        norm = np.linalg.norm(n)
        if norm < 1e-9:
            continue
        n = n / norm
        count = int((np.abs((pts - a) @ n) < thr).sum())
        if count > best_count:
            best_n, best_count = n, count
    if best_n is None:
        best_n = np.linalg.svd(pts - pts.mean(0))[2][-1]
    inl = pts[np.abs((pts - _inlier_centre(pts, best_n, thr)) @ best_n) < 3 * thr]
    if len(inl) >= 3:  # least-squares refit on the inliers
        best_n = np.linalg.svd(inl - inl.mean(0))[2][-1]
    return best_n


def _inlier_centre(pts: np.ndarray, n: np.ndarray, thr: float) -> np.ndarray:
    d = np.median(pts @ n)
    inl = pts[np.abs(pts @ n - d) < 3 * thr]
    return inl.mean(0) if len(inl) else pts.mean(0)


def _colmap_camera(intrinsics: Intrinsics, camera_model: str, distortion: np.ndarray):
    import pycolmap

    cam = pycolmap.Camera.create_from_model_name(0, camera_model, intrinsics.focal, intrinsics.width, intrinsics.height)
    params = np.asarray(cam.params, dtype=float)
    params[list(cam.focal_length_idxs())] = intrinsics.focal
    params[list(cam.principal_point_idxs())] = [intrinsics.cx + 0.5, intrinsics.cy + 0.5]
    params[list(cam.extra_params_idxs())] = distortion
    cam.params = params
    return cam
