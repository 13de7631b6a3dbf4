"""Structure from motion for a video with pycolmap: a skeleton of frames mapped, the rest localised.

Why not COLMAP's incremental mapper on every frame with free intrinsics (its default)? On a handheld
video walking forward over flat ground, the first global bundle adjustments see two or three views
whose focal length is nearly unobservable: the focal and the radial distortion drift (demo2 at
480x270: f = 4 x the truth, k1 = -2.5) and COLMAP then drops the images whose camera looks bogus,
leaving models of three images. And mapping every frame costs a bundle adjustment per frame.

So, in three steps:

1. **Skeleton**: a subset of the frames (every `sfm_step`-th, every keyframe, the last) is mapped.
   First a spread subset of it, by the incremental mapper with the intrinsics *held fixed* at each
   guessed focal (no distortion), then one bundle adjustment frees focal and distortion. Once
   several views are tied together the focal is well determined: on demo2 every start between 0.35
   and 0.9 x the width converges to the same focal within 2%. The rest of the skeleton is then
   registered into the best-fitting subset model, its refined camera held (`_grow`), and the whole
   is refined once more.
2. **Localisation**: every other frame is matched against its nearest skeleton frames and its pose
   estimated from the 2D-3D matches (LO-RANSAC PnP + refinement, camera fixed): fast, and it keeps
   the per-frame handheld motion that keyframe interpolation loses.
3. Everything comes back in COLMAP's world frame, with COLMAP's pixel convention (pixel centres at
   +0.5); `josh.perception.scene` turns it into the optimiser's inputs.

Memory: pycolmap's extraction, matching and mapping free what they allocated on worker threads'
heaps, which glibc keeps for reuse; each step hands it back to the OS (`release_free_memory`).
Without that, on a 400-frame clip the steps kept 70-160 MB each and the scene stage peaked at
1033 MB instead of 796.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from josh.profiling import release_free_memory

if TYPE_CHECKING:  # pragma: no cover
    from josh.perception.scene import SceneConfig


@dataclass
class SfmResult:
    """A skeleton reconstruction plus localised frames, in the SfM's own world frame and scale."""

    camera_model: str
    camera_params: np.ndarray  # COLMAP parameters (f, cx, cy, extra...), COLMAP pixel convention
    width: int
    height: int
    cam_from_world: dict[int, np.ndarray]  # frame id -> 4x4 world-to-camera, mapped or localised
    mapped: set[int]  # frame ids registered (and bundle adjusted) in the skeleton model
    points: np.ndarray  # (P, 3) world
    colors: np.ndarray  # (P, 3) uint8
    errors: np.ndarray  # (P,) mean reprojection error, px
    track_lengths: np.ndarray  # (P,)
    observations: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    """frame id -> (COLMAP pixels (n, 2), point indices (n,)) for the frames asked to observe"""
    point_rows: dict[int, int] = field(default_factory=dict)  # COLMAP point3D id -> row of `points`

    def camera(self):
        import pycolmap

        cam = pycolmap.Camera.create_from_model_name(0, self.camera_model, 1.0, self.width, self.height)
        cam.params = np.asarray(self.camera_params, dtype=float)
        return cam


def image_name(fid: int) -> str:
    return f"{fid:06d}.jpg"


def frame_of(name: str) -> int:
    return int(os.path.splitext(name)[0])


def run_sfm(image_dir: str, mask_dir: str, frame_ids: Sequence[int], skeleton_ids: Sequence[int],
            observe_ids: Sequence[int], cfg: SceneConfig, root: str, stats: dict) -> SfmResult | None:  # fmt: skip
    """SfM over the images `image_name(f)` in `image_dir` (masks `<name>.png` in `mask_dir`, black =
    no features). `skeleton_ids` are mapped, the rest of `frame_ids` localised (if `cfg.localise`).
    Returns None with `stats["sfm_failure"]` set when the skeleton cannot be mapped."""
    import pycolmap

    pycolmap.set_random_seed(cfg.seed)
    frame_ids = [int(f) for f in frame_ids]
    skeleton = sorted(int(f) for f in skeleton_ids)
    db_path = os.path.join(root, "database.db")
    if os.path.exists(db_path):
        os.remove(db_path)
    timing = stats.setdefault("timing", {})

    # skeleton: features, matches (the focal search maps a spread subset: its frames are matched too)
    t0 = time.perf_counter()
    _extract(db_path, image_dir, mask_dir, skeleton, cfg)
    t1 = time.perf_counter()
    pairs = sorted(
        set(skeleton_pairs(skeleton, cfg.overlap, cfg.quadratic_overlap))
        | set(skeleton_pairs(spread(skeleton, cfg.focal_search_frames), cfg.overlap, cfg.quadratic_overlap))
    )
    _match(db_path, pairs, cfg, root)
    t2 = time.perf_counter()
    timing["extract"], timing["match"] = t1 - t0, t2 - t1
    stats["matched_pairs"] = len(pairs)
    motion = image_motion(db_path, pairs)
    stats["image_motion_px"] = motion
    if motion < cfg.min_image_motion:
        stats["sfm_failure"] = f"static camera: matched frames move {motion:.1f} px at most (need {cfg.min_image_motion:g})"
        return None

    width, height = _image_size(db_path)
    rec = _map_skeleton(db_path, image_dir, skeleton, width, cfg, root, stats)
    t3 = time.perf_counter()
    timing["map"] = t3 - t2
    if rec is None:
        return None

    # every other frame: coarser features, matches to its nearest skeleton frames, PnP
    result = _collect(rec, width, height, observe_ids, cfg.max_point_error)
    todo = [f for f in frame_ids if f not in result.mapped] if cfg.localise else []
    in_skeleton = set(skeleton)
    new = [f for f in todo if f not in in_skeleton]
    if new:
        _extract(db_path, image_dir, mask_dir, new, cfg, localised=True)
        t4 = time.perf_counter()
        timing["extract"] += t4 - t3
        loc_pairs = localisation_pairs(new, skeleton, cfg.localise_neighbours)
        _match(db_path, loc_pairs, cfg, root)
        timing["match"] += time.perf_counter() - t4
        stats["matched_pairs"] += len(loc_pairs)
    t5 = time.perf_counter()
    n_loc = _localise(result, rec, db_path, todo, skeleton, cfg, set(int(f) for f in observe_ids))
    timing["localise"] = time.perf_counter() - t5
    stats["localised_frames"] = n_loc
    return result


# ------------------------------------------------------------------------------- camera path
def camera_jumps(frame_ids: np.ndarray, centres: np.ndarray, ratio: float, window: int) -> np.ndarray:
    """(n,) bool: frames whose camera is misregistered, judged by its path: a handheld camera does
    not jump. A step (per frame of gap) longer than `ratio` x the median step of the `window`
    frames on each side is a jump; jumps cut the path into pieces, and only the longest piece is
    trusted (a piece after a jump is placed in its own, inconsistent way, even where its own
    steps look smooth).

    Why: on a narrow view (a 608-pixel-wide portrait crop of demo2) SfM placed skeleton frames
    75-85, whose background was mostly hidden by people, 10-110 steps away from their neighbours,
    and frames 87-99 twenty steps off, with a reprojection error as good as the rest; the camera
    path came out 2.5x too long and no contact met the scene. A local median keeps a camera that
    stands and then walks in one piece.

    The local median is taken over the steps that move: those under a tenth of the window's 75th
    percentile are left out. A clip whose frames repeat (slow motion made by showing each frame
    twice, frame-rate conversions) has a zero step after every repeated frame; with them in, the
    median fell to zero and every real step counted as a jump (measured: 2 of 41 keyframes kept)."""
    n = len(frame_ids)
    if n < 4:
        return np.zeros(n, bool)
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=1) / np.maximum(np.diff(frame_ids), 1)
    local = np.array([_moving_median(steps[max(0, i - window): i + window + 1]) for i in range(len(steps))])
    jump = (local > 0) & (steps > ratio * local)
    piece = np.concatenate([[0], np.cumsum(jump)])  # piece index of every frame
    longest = np.argmax(np.bincount(piece))
    return piece != longest


def _moving_median(steps: np.ndarray, still_fraction: float = 0.1) -> float:
    """Median of the steps that move (see `camera_jumps`)."""
    moving = steps[steps >= still_fraction * np.percentile(steps, 75)]
    return float(np.median(moving)) if len(moving) else 0.0


# ---------------------------------------------------------------------------------------- pairs
def skeleton_pairs(skeleton: Sequence[int], overlap: int, quadratic: bool) -> list[tuple[int, int]]:
    """Each skeleton frame with the next `overlap` ones and, if `quadratic`, with those 2^k further
    on (loop-closure-like links that tie far frames of a slow camera together)."""
    n = len(skeleton)
    steps = set(range(1, overlap + 1))
    k = 1
    while quadratic and (1 << k) < n:
        steps.add(1 << k)
        k += 1
    out = {(skeleton[i], skeleton[i + j]) for i in range(n) for j in steps if i + j < n}
    return sorted(out)


def localisation_pairs(frames: Sequence[int], skeleton: Sequence[int], per_side: int) -> list[tuple[int, int]]:
    """Each frame to localise with its `per_side` nearest skeleton frames before and after it."""
    sk = np.asarray(sorted(skeleton), dtype=int)
    out = {(min(f, s), max(f, s)) for f in frames for s in _neighbours(sk, f, per_side)}
    return sorted(out)


def _neighbours(sorted_ids: np.ndarray, f: int, per_side: int) -> list[int]:
    """The `per_side` ids of `sorted_ids` before `f` and after it (`f` itself excluded)."""
    j = int(np.searchsorted(sorted_ids, f))
    return [int(s) for s in sorted_ids[max(0, j - per_side) : j + per_side] if s != f]


# ---------------------------------------------------------------------------- features, matches
def _extract(db_path, image_dir, mask_dir, frames, cfg, localised: bool = False) -> None:
    """SIFT on `frames`, one camera shared by all images. Skeleton frames get the rich settings
    (their features become the 3D points and the depth maps); localised frames only need enough
    features for a pose, so they are extracted coarser (`localise_first_octave`: by default half
    resolution from 800 px on, ~4x faster)."""
    import pycolmap

    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = cfg.camera_model
    reader.mask_path = mask_dir
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.sift.max_num_features = cfg.max_features
    extraction.sift.first_octave = cfg.first_octave
    if localised:
        reader.existing_camera_id = 1  # the camera the skeleton's extraction created
        octave = cfg.localise_first_octave
        if octave is None:  # about 500 px of image to localise with
            octave = 1 if _long_side(image_dir, frames[0]) >= 800 else 0
        extraction.sift.max_num_features = cfg.localise_max_features
        extraction.sift.first_octave = octave
    extraction.sift.peak_threshold = cfg.peak_threshold
    extraction.sift.upright = cfg.upright_features
    extraction.num_threads = cfg.num_threads
    extraction.use_gpu = False
    _quiet()
    pycolmap.extract_features(
        db_path, image_dir, image_names=[image_name(f) for f in frames], camera_mode=pycolmap.CameraMode.SINGLE,
        reader_options=reader, extraction_options=extraction, device=pycolmap.Device.cpu,
    )  # fmt: skip
    release_free_memory()


def image_motion(db_path, pairs) -> float:
    """The largest, over `pairs` (of frame ids), of the median image displacement (px) of a pair's
    verified matches: near 0 for a camera that does not move, whatever the noise."""
    import pycolmap

    db = pycolmap.Database.open(db_path)
    try:
        ids = {frame_of(im.name): im.image_id for im in db.read_all_images()}
        best = 0.0
        for a, b in pairs:
            if a not in ids or b not in ids or not db.exists_two_view_geometry(ids[a], ids[b]):
                continue
            m = db.read_two_view_geometry(ids[a], ids[b]).inlier_matches
            if len(m) == 0:
                continue
            ka, kb = db.read_keypoints(ids[a])[:, :2], db.read_keypoints(ids[b])[:, :2]
            best = max(best, float(np.median(np.linalg.norm(ka[m[:, 0]] - kb[m[:, 1]], axis=1))))
        return best
    finally:
        db.close()


def _long_side(image_dir, frame: int) -> int:
    import PIL.Image

    with PIL.Image.open(os.path.join(image_dir, image_name(frame))) as im:
        return max(im.size)


def _quiet() -> None:
    """COLMAP logs warnings and errors only (some pycolmap calls reset this, so it is set before each)."""
    import pycolmap

    pycolmap.logging.minloglevel = 2


def _match(db_path, pairs, cfg, root) -> None:
    import pycolmap

    pair_file = os.path.join(root, "pairs.txt")
    with open(pair_file, "w") as fh:
        fh.writelines(f"{image_name(a)} {image_name(b)}\n" for a, b in pairs)
    matching = pycolmap.FeatureMatchingOptions()
    matching.num_threads = cfg.num_threads
    matching.use_gpu = False
    pairing = pycolmap.ImportedPairingOptions()
    pairing.match_list_path = pair_file
    verification = pycolmap.TwoViewGeometryOptions()
    verification.ransac.random_seed = cfg.seed
    _quiet()
    pycolmap.match_image_pairs(db_path, matching_options=matching, pairing_options=pairing,
                               verification_options=verification, device=pycolmap.Device.cpu)  # fmt: skip
    release_free_memory()


def _image_size(db_path) -> tuple[int, int]:
    import pycolmap

    db = pycolmap.Database.open(db_path)
    try:
        cam = db.read_all_cameras()[0]
        return int(cam.width), int(cam.height)
    finally:
        db.close()


def _set_camera(db_path, params: np.ndarray) -> None:
    import pycolmap

    db = pycolmap.Database.open(db_path)
    try:
        for cam in db.read_all_cameras():
            cam.params = np.asarray(params, dtype=float)
            cam.has_prior_focal_length = True
            db.update_camera(cam)
    finally:
        db.close()


# ------------------------------------------------------------------------------------- skeleton
def _map_skeleton(db_path, image_dir, skeleton, width, cfg, root, stats):
    """Focal search on a spread subset of the skeleton, then the whole skeleton grown from the
    best-fitting subset model and its intrinsics refined (from the next best when that fails).
    A model whose camera path jumps (`camera_jumps`) counts as failed while another focal is
    left to try; when every one jumps, the model that loses the fewest frames is kept.
    Returns a pycolmap Reconstruction, or None (reason in stats).

    Why the path check: on a narrow view (a 608-pixel-wide portrait crop of demo2) the skeleton
    mapped at the best-fitting focal (718 px) placed frames 80-99, whose near ground people hide,
    5 units off the path, with a reprojection error as good as the rest; mapped at the next
    focal (648 px) the same frames lie on the path."""
    import pycolmap

    db = pycolmap.Database.open(db_path)
    try:
        base = np.asarray(db.read_all_cameras()[0].params, dtype=float)
    finally:
        db.close()
    t0 = time.perf_counter()
    subset = spread(skeleton, cfg.focal_search_frames)
    candidates = _search_focal(db_path, image_dir, subset, base, width, cfg, root, stats)
    stats["timing"]["focal_search"] = time.perf_counter() - t0
    if not candidates:
        return None
    return _map_at_focals(candidates, base, db_path, image_dir, skeleton, len(subset), cfg, root, stats)


def _map_at_focals(candidates, base, db_path, image_dir, skeleton, subset_size, cfg, root, stats):
    """The skeleton mapped at the focal search's `candidates` ((error, focal, model), best first)
    until one registers enough frames on a whole camera path (see `_map_skeleton`)."""
    need = _needed(len(skeleton), cfg)
    tried, jumping = [], []  # jumping: (frames the path check drops, order, model, its summary)
    for i, (_, focal, model) in enumerate(candidates):
        if i >= cfg.max_final_mappings and not jumping:
            break
        t0 = time.perf_counter()
        rec = _grow(model, db_path, image_dir, skeleton, cfg, os.path.join(root, f"sparse{i}"))
        if rec is None or rec.num_reg_images() < need:  # as before growing: from scratch at this focal
            rec = _map_fixed(db_path, image_dir, skeleton, _params(base, focal), cfg, os.path.join(root, f"scratch{i}"))
        stats["timing"][f"map_skeleton{i}"] = time.perf_counter() - t0
        if rec is not None and rec.num_reg_images() >= need:
            rec = _refine_final(rec, cfg, stats)
            stats["timing"][f"refine_skeleton{i}"] = time.perf_counter() - t0 - stats["timing"][f"map_skeleton{i}"]
            if rec is not None:
                dropped = path_jumps(rec, cfg)
                if dropped:
                    stats.setdefault("skeleton_jumps", []).append({"focal": float(focal), "frames": dropped})
                    jumping.append((len(dropped), i, rec, stats["skeleton_model"]))
                    continue
                if subset_size == len(skeleton) and candidates[0][0] < stats["skeleton_model"]["median_error"]:
                    # same frames, mapped twice: incremental mapping of a few views is erratic,
                    # keep the search's model when it fits better
                    stats["skeleton_model"] = _summary(candidates[0][2])
                    return candidates[0][2]
                return rec
        tried.append(f"{focal:.0f} px: {0 if rec is None else rec.num_reg_images()}/{len(skeleton)} frames")
    if jumping:
        _, _, rec, stats["skeleton_model"] = min(jumping, key=lambda j: j[:2])
        return rec
    if subset_size == len(skeleton):  # the search already mapped all of it: its best model
        stats["skeleton_model"] = _summary(candidates[0][2])
        return candidates[0][2]
    stats["sfm_failure"] = f"the skeleton mapped at the focals found ({'; '.join(tried)}) did not register {need} frames"
    return None


def path_jumps(rec, cfg) -> list[int]:
    """Frame ids of `rec`'s registered images that `camera_jumps` takes off the camera's path."""
    images = sorted(((frame_of(im.name), im) for im in rec.images.values() if im.has_pose), key=lambda fi: fi[0])
    if not images:
        return []
    ids = np.array([f for f, _ in images], dtype=int)
    centres = np.array([im.projection_center() for _, im in images], dtype=float)
    return ids[camera_jumps(ids, centres, cfg.jump_ratio, cfg.jump_window)].tolist()


def _search_focal(db_path, image_dir, subset, base, width, cfg, root, stats) -> list:
    """Focals to map the skeleton with, best first: each guess in `focal_ratios` (x width) maps
    `subset` with the camera held fixed, the intrinsics are then freed in one bundle adjustment;
    the plausible refined cameras are ranked by median reprojection error. Returns a list of
    (median error, refined focal, model).

    Why hold the camera while mapping: the first bundle adjustments of an incremental mapper see
    two or three views of a forward-walking camera over flat ground, whose focal they cannot
    determine; free, it drifts (demo2 at 480x270: 4x the truth with k1 = -2.5) and COLMAP drops
    the images whose camera looks bogus. Why distortion 0 while mapping: holding even the right
    k1 gave worse models on demo2. Why several guesses: a model built at a focal far from the
    truth can settle in a distorted basin that refinement does not leave, and what is "far"
    depends on the clip; the subset keeps the search cheap."""
    need = _needed(len(subset), cfg)
    guesses = [cfg.focal_known] if cfg.focal_known else [r * width for r in cfg.focal_ratios]
    attempts = stats.setdefault("focal_attempts", [])
    found = []
    for i, f0 in enumerate(guesses):
        t0 = time.perf_counter()
        rec = _map_fixed(db_path, image_dir, subset, _params(base, f0), cfg, os.path.join(root, f"search{i}"))
        entry = {"focal_guess": float(f0), "frames": len(subset), "registered": 0 if rec is None else rec.num_reg_images()}
        entry["map_s"] = time.perf_counter() - t0
        if rec is not None and rec.num_reg_images() >= need:
            _refine_intrinsics(rec, cfg, refine_focal=not cfg.focal_known)
            entry.update(_summary(rec))
            entry["refine_s"] = time.perf_counter() - t0 - entry["map_s"]
            if entry["plausible"]:
                found.append((entry["median_error"], entry["focal"], rec))
        attempts.append(entry)
    if not found:
        mapped = [a for a in attempts if "focal" in a]
        if mapped:  # mapped, but the refined camera is not believable (focal, distortion or error)
            a = min(mapped, key=lambda e: e["median_error"])
            stats["sfm_failure"] = (
                f"no plausible camera from any focal guess (best: focal {a['focal']:.0f} px, distortion "
                f"{np.round(a['distortion'], 2).tolist()}, median error {a['median_error']:.2f} px); too little parallax"
            )
        else:
            got = max((a["registered"] for a in attempts), default=0)
            stats["sfm_failure"] = (
                f"no focal guess mapped the skeleton: best {got}/{len(subset)} frames (need {need}); too little parallax or texture"
            )
    return sorted(found, key=lambda c: c[0])


def focal_ambiguity(attempts: list[dict], error_ratio: float = 1.5, spread: float = 1.15) -> dict | None:
    """The focals of the search that fit about as well as the best one (median error within
    `error_ratio` of it), when they disagree by more than `spread` (max / min); None otherwise.

    Different focal guesses converging to different focals with near-equal errors means the video
    does not determine its focal (a narrow field of view, a camera that moves forward and hardly
    turns): the metric scale, which follows the focal, is then uncertain. On demo2 the good guesses
    agree within 3%; on a 608-pixel-wide portrait crop of it they spread from 512 to 917 px."""
    fits = [a for a in attempts if a.get("plausible")]
    if len(fits) < 2:
        return None
    best = min(a["median_error"] for a in fits)
    close = sorted(a["focal"] for a in fits if a["median_error"] <= error_ratio * best)
    if len(close) < 2 or close[-1] / close[0] <= spread:
        return None
    return {"focal_min": float(close[0]), "focal_max": float(close[-1]), "error_ratio": error_ratio}


def _refine_intrinsics(rec, cfg, refine_focal: bool = True) -> None:
    """One bundle adjustment with the distortion (and the focal, if `refine_focal`) free and a
    robust (Cauchy) loss: moving people's shadows and the odd bad match must not pull them."""
    import pycolmap

    opts = pycolmap.BundleAdjustmentOptions()
    opts.print_summary = False
    opts.refine_focal_length = refine_focal
    opts.refine_extra_params = True
    opts.refine_principal_point = False
    opts.ceres.loss_function_type = pycolmap.LossFunctionType.CAUCHY
    opts.ceres.loss_function_scale = 1.0
    solver = opts.ceres.solver_options
    solver.num_threads = cfg.num_threads
    solver.function_tolerance = 1e-5  # pycolmap's 0 runs ~4x longer for the same focal (demo2)
    solver.gradient_tolerance = 1e-3
    solver.max_num_iterations = 50
    _bundle_adjust(rec, opts)
    rec.update_point_3d_errors()


def _bundle_adjust(rec, opts) -> None:
    """What `pycolmap.bundle_adjustment` does (every registered image, gauge fixed by two
    cameras; same result, checked on pycolmap's synthetic scene), without its INFO banner:
    that call resets COLMAP's log level, so `_quiet` cannot silence it."""
    import pycolmap

    config = pycolmap.BundleAdjustmentConfig()
    for image_id in rec.reg_image_ids():
        config.add_image(image_id)
    config.fix_gauge(pycolmap.BundleAdjustmentGauge.TWO_CAMS_FROM_WORLD)
    pycolmap.create_default_bundle_adjuster(opts, config, rec).solve()


def _refine_final(rec, cfg, stats):
    """The skeleton model refined twice, focal held at the mapping's and focal free; the better
    fitting plausible one (median reprojection error) is kept. A free focal can run off along the
    weakly determined direction of a short forward-walking clip (demo2 frames 60-99 at 480 px:
    from 262 px to 86 px, median error 0.57 px against 0.2 px held), but it is also how a focal
    found on the search subset gets corrected on the whole skeleton (frames 30-69 at 960 px: from
    399 px to 523 px, 0.85 px -> 0.33 px). A focal the user gave (`focal_known`) is only held.
    Returns the model, or None when neither is plausible."""
    import pycolmap

    models = [rec] if cfg.focal_known else [rec, pycolmap.Reconstruction(rec)]  # held (, free)
    for model, free_focal in zip(models, (False, True)):
        _refine_intrinsics(model, cfg, refine_focal=free_focal)
    summaries = [_summary(m) for m in models]
    stats["skeleton_refinement"] = dict(zip(("focal_held", "focal_free"), summaries))
    pick = [(m["median_error"], i) for i, m in enumerate(summaries) if m["plausible"]]
    if not pick:
        last = summaries[-1]
        stats["sfm_failure"] = f"implausible camera after refinement: {last['focal']:.1f} px, distortion {last['distortion']}"
        return None
    best = min(pick)[1]
    stats["skeleton_model"] = summaries[best]
    return models[best]


def _params(base: np.ndarray, focal: float) -> np.ndarray:
    """COLMAP camera parameters with this focal and no distortion (principal point kept)."""
    params = np.asarray(base, dtype=float).copy()
    params[0] = focal
    params[3:] = 0.0
    return params


def spread(frames: Sequence[int], n: int) -> list[int]:
    """At most `n` of `frames` (sorted), evenly spread, first and last included."""
    frames = sorted(int(f) for f in frames)
    if n <= 0 or len(frames) <= n:
        return frames
    pick = np.unique(np.round(np.linspace(0, len(frames) - 1, n)).astype(int))
    return [frames[i] for i in pick]


def _needed(n: int, cfg) -> int:
    return min(n, max(2, int(math.ceil(cfg.min_skeleton_fraction * n))))


def _grow(model, db_path, image_dir, frames, cfg, out_dir):
    """`frames` registered into `model` (a focal search's refined model of some of them) by the
    incremental mapper, its camera held; the largest model, or None.

    Why not map the skeleton from scratch at the focal found: on a short forward walk the
    incremental mapper, started from one pair, can tie the two halves of the clip together at
    different scales. Measured on re-encodes of the test suite's 2-s demo2 cut (30 frames at 480
    px): on one the camera's steps were 3-5x longer after frame 16 than before, the freed focal
    ran from 269 to 325 px (0.49 px median error) and the people's contacts disagreed with the
    scene. The search's model already spans the clip (first and last frame included) at one
    scale; grown from it, the same frames give even steps (0.84-1.20 x the median), focal 271 px,
    0.34 px."""
    base_dir = os.path.join(out_dir, "base")
    os.makedirs(base_dir, exist_ok=True)
    model.write(base_dir)
    camera = next(iter(model.cameras.values()))
    return _map_fixed(db_path, image_dir, frames, np.asarray(camera.params, dtype=float), cfg, out_dir, input_path=base_dir)


def _map_fixed(db_path, image_dir, frames, params, cfg, out_dir, input_path: str = ""):
    """Incremental mapping of `frames` with the camera held at `params` (continuing the model
    stored at `input_path`, if given); the largest model."""
    import pycolmap

    _set_camera(db_path, params)
    os.makedirs(out_dir, exist_ok=True)
    opts = pycolmap.IncrementalPipelineOptions()
    opts.image_names = [image_name(f) for f in frames]
    opts.random_seed = cfg.seed
    opts.num_threads = cfg.num_threads
    opts.min_model_size = 3
    opts.ba_refine_focal_length = False
    opts.ba_refine_extra_params = False
    opts.ba_refine_principal_point = False
    opts.mapper.init_min_tri_angle = cfg.init_min_tri_angle
    opts.mapper.init_max_forward_motion = cfg.init_max_forward_motion
    opts.mapper.random_seed = cfg.seed
    opts.triangulation.random_seed = cfg.seed
    if cfg.max_mapping_seconds and cfg.max_mapping_seconds > 0:
        opts.max_runtime_seconds = int(math.ceil(cfg.max_mapping_seconds))
    _quiet()
    models = pycolmap.incremental_mapping(db_path, image_dir, out_dir, options=opts, input_path=input_path)
    best = max(models.values(), key=lambda m: (m.num_reg_images(), m.num_points3D())) if models else None
    del models
    release_free_memory()
    return best


def _summary(rec) -> dict:
    cam = next(iter(rec.cameras.values()))
    params = np.asarray(cam.params, dtype=float)
    f = float(params[list(cam.focal_length_idxs())].mean())
    extra = params[list(cam.extra_params_idxs())]
    errors = np.array([p.error for p in rec.points3D.values()], dtype=float)
    median = float(np.median(errors)) if len(errors) else float("inf")
    ratio = f / max(cam.width, cam.height)
    plausible = bool(0.15 <= ratio <= 5.0 and np.all(np.abs(extra) < 1.0) and median < 2.0 and len(errors) >= 20)
    return {
        "registered": int(rec.num_reg_images()),
        "points": int(len(errors)),
        "median_error": median,
        "focal": f,
        "distortion": extra.tolist(),
        "plausible": plausible,
    }


# ---------------------------------------------------------------------------------- collecting
def _collect(rec, width, height, observe_ids, max_error: float) -> SfmResult:
    """The model's cameras, points (those with a mean reprojection error <= max_error px) and
    the observations of the frames in `observe_ids`."""
    cam = next(iter(rec.cameras.values()))
    pts = rec.points3D
    pids = np.array(sorted(p for p, pt in pts.items() if pt.error <= max_error), dtype=np.int64)
    index = {int(p): i for i, p in enumerate(pids)}
    result = SfmResult(
        camera_model=cam.model_name,
        camera_params=np.asarray(cam.params, dtype=float),
        width=width,
        height=height,
        cam_from_world={},
        mapped=set(),
        points=np.array([pts[p].xyz for p in pids], dtype=float).reshape(-1, 3),
        colors=np.array([pts[p].color for p in pids], dtype=np.uint8).reshape(-1, 3),
        errors=np.array([pts[p].error for p in pids], dtype=float),
        track_lengths=np.array([pts[p].track.length() for p in pids], dtype=float),
    )
    result.point_rows = index
    observe = set(int(f) for f in observe_ids)
    for img in rec.images.values():
        if not img.has_pose:
            continue
        fid = frame_of(img.name)
        result.cam_from_world[fid] = _matrix(img.cam_from_world())
        result.mapped.add(fid)
        if fid in observe:
            p2d = [p for p in img.points2D if p.has_point3D() and int(p.point3D_id) in index]
            uv = np.array([p.xy for p in p2d], dtype=float).reshape(-1, 2)
            rows = np.array([index[int(p.point3D_id)] for p in p2d], dtype=int)
            result.observations[fid] = (uv, rows)
    return result


def _matrix(rigid) -> np.ndarray:
    T = np.eye(4)
    T[:3] = rigid.matrix()
    return T


# ---------------------------------------------------------------------------------- localising
def _localise(result: SfmResult, rec, db_path, frames, skeleton, cfg, observe: set) -> int:
    """PnP for each frame in `frames` from its matches to mapped skeleton frames. Returns how many."""
    import pycolmap

    if not frames:
        return 0
    db = pycolmap.Database.open(db_path)
    try:
        ids = {frame_of(im.name): im.image_id for im in db.read_all_images()}
        by_frame = {frame_of(im.name): im for im in rec.images.values() if im.has_pose}
        point_of = {}  # mapped frame -> (n_keypoints,) point row or -1
        for f, im in by_frame.items():
            rows = np.full(len(im.points2D), -1, dtype=int)
            for j, p in enumerate(im.points2D):
                if p.has_point3D():
                    rows[j] = result.point_rows.get(int(p.point3D_id), -1)
            point_of[f] = rows
        camera = result.camera()
        est = pycolmap.AbsolutePoseEstimationOptions()
        est.ransac.max_error = cfg.pnp_max_error
        est.ransac.random_seed = cfg.seed
        ref = pycolmap.AbsolutePoseRefinementOptions()
        ref.refine_focal_length = False
        ref.refine_extra_params = False
        sk = np.asarray(sorted(by_frame), dtype=int)
        count = 0
        for f in frames:
            if f not in ids or len(sk) == 0:
                continue
            kps = db.read_keypoints(ids[f])
            kp_rows, pt_rows = [], []
            for s in _neighbours(sk, f, cfg.localise_neighbours):
                if s not in ids or not db.exists_two_view_geometry(ids[f], ids[s]):
                    continue
                m = db.read_two_view_geometry(ids[f], ids[s]).inlier_matches
                if len(m) == 0:
                    continue
                pr = point_of[s][m[:, 1]]
                ok = pr >= 0
                kp_rows.append(m[ok, 0])
                pt_rows.append(pr[ok])
            if not kp_rows:
                continue
            kp_rows = np.concatenate(kp_rows)
            pt_rows = np.concatenate(pt_rows)
            kp_rows, first = np.unique(kp_rows, return_index=True)  # one 3D point per keypoint
            pt_rows = pt_rows[first]
            if len(kp_rows) < cfg.min_pnp_inliers:
                continue
            uv = kps[kp_rows, :2].astype(float)
            ans = pycolmap.estimate_and_refine_absolute_pose(uv, result.points[pt_rows], camera, est, ref)
            if ans is None or int(ans["num_inliers"]) < cfg.min_pnp_inliers:
                continue
            result.cam_from_world[f] = _matrix(ans["cam_from_world"])
            count += 1
            if f in observe:
                inl = np.asarray(ans["inlier_mask"], dtype=bool)
                result.observations[f] = (uv[inl], pt_rows[inl])
        return count
    finally:
        db.close()
