"""Measure the scene front-end (pycolmap SfM on background pixels) on a video.

    python benchmarks/scene.py [VIDEO] [--start 0] [--frames 100] [--sfm-long-side 960]
        [--keyframe-step 5] [--variant normal|static|short|reversed] [--runs 3] [--set max_features=2048 ...]
        [--people-cache FILE.npz] [--no-masks] [--depth-png OUT.png] [--json OUT.json]

VIDEO defaults to $JOSH_DEMO_VIDEO or /work/shared/data/demo2.mp4. People (masks and feet) come
from `detect_people` on the first start + frames frames decoded at 960 px (cached with
--people-cache, since they do not depend on the scene settings); the scene front-end gets frames
start, ..., start + frames - 1 resized to --sfm-long-side. Reported per run and as medians: SfM wall time (extract + match + map +
localise; wall, and the process's CPU time across its threads, which a busy shared machine
disturbs less), frames / keyframes registered, 3D points, focal, reprojection error, correspondences
between keyframes, and how good the depth is *on the ground at the walkers' feet*, which is where
the optimiser's contact term reads it: for each foot keypoint (heel, big toe; confidence > 0.5) of
each keyframe, the nearest background pixel of the depth map and its 3x3-median depth (the
optimiser's own lookup), back-projected and moved to the world; a plane is fitted to all of them
and the residuals are reported relative to the first camera's height above that plane (the SfM
scale is arbitrary; at a 1.6 m camera height, 0.02 is 3 cm).

Variants (made from the clip, to check the front-end does not crash and says why it falls back):
static = the first frame repeated 30 times with noise; short = the first 5 frames; reversed =
frames in reverse order.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time

import numpy as np

FOOT_KEYPOINTS = ("left_heel", "right_heel", "left_big_toe", "right_big_toe")


def load_clip(video: str, frames: int, long_side: int = 960) -> list[np.ndarray]:
    from josh.perception.video import iter_frames

    return [f for _, f in iter_frames(video, long_side=long_side, max_frames=frames)]


def people_inputs(frames: list[np.ndarray], cache: str | None) -> tuple[np.ndarray, int, list[np.ndarray]]:
    """Union person masks (N, h, w), their stride, and per frame the foot pixels (n, 2)."""
    if cache and os.path.exists(cache):
        z = np.load(cache, allow_pickle=True)
        if len(z["masks"]) >= len(frames):
            return z["masks"][: len(frames)], int(z["stride"]), list(z["feet"][: len(frames)])
    from josh.perception.people import KEYPOINT_NAMES, detect_people

    result = detect_people(enumerate(frames))
    idx = [KEYPOINT_NAMES.index(n) for n in FOOT_KEYPOINTS]
    feet: list[list] = [[] for _ in frames]
    for tr in result.tracks:
        for r, f in enumerate(tr.frames):
            kp, conf = tr.keypoints2d[r, idx], tr.keypoints_conf[r, idx]
            feet[int(f)].extend(kp[conf > 0.5].tolist())
    feet_arr = [np.asarray(p, dtype=float).reshape(-1, 2) for p in feet]
    if cache:
        obj = np.empty(len(feet_arr), dtype=object)
        obj[:] = feet_arr
        np.savez_compressed(cache, masks=result.union_masks, stride=result.mask_stride, feet=obj)
    return result.union_masks, result.mask_stride, feet_arr


def resize(frames: list[np.ndarray], feet: list[np.ndarray], long_side: int):
    """Frames resized so that their long side is `long_side`; foot pixels moved along."""
    import PIL.Image

    H, W = frames[0].shape[:2]
    s = long_side / max(H, W)
    if abs(s - 1) < 1e-9:
        return frames, feet
    w, h = round(W * s), round(H * s)
    out = [np.asarray(PIL.Image.fromarray(f).resize((w, h), PIL.Image.BOX)) for f in frames]
    sx, sy = w / W, h / H
    return out, [(p + 0.5) * [sx, sy] - 0.5 for p in feet]


def make_variant(name, frames, masks, feet, rng):
    if name == "normal":
        return frames, masks, feet
    if name == "static":
        base = frames[0].astype(np.int16)
        noisy = [np.clip(base + rng.normal(0, 2.0, base.shape), 0, 255).astype(np.uint8) for _ in range(30)]
        return noisy, np.repeat(masks[:1], 30, 0), [feet[0]] * 30
    if name == "short":
        return frames[:5], masks[:5], feet[:5]
    if name == "reversed":
        return frames[::-1], masks[::-1], feet[::-1]
    raise SystemExit(f"unknown variant {name}")


def ground_check(est, keyframe_ids, feet) -> dict:
    """Depth at the feet through the optimiser's own lookup; plane fit residuals (see module doc)."""
    from josh.optimize.contact import contact_depth_maps, nearest_background_maps
    from josh.perception.scene import fit_ground_plane, undistort_pixels

    obs = est.keyframes
    K, h, w = obs.depth.shape
    index, distance = nearest_background_maps(obs.background)
    depth = contact_depth_maps(obs.depth, obs.background)
    intr = est.intrinsics
    Kinv = np.linalg.inv(intr.matrix())
    world, dists, total = [], [], 0
    for k, f in enumerate(keyframe_ids):
        uv = feet[f]
        if len(uv) == 0:
            continue
        total += len(uv)
        if index[k].max() < 0:
            continue
        uv = undistort_pixels(uv, intr, est.camera_model, est.distortion)
        col = np.clip(np.round((uv[:, 0] + 0.5) / obs.stride - 0.5), 0, w - 1).astype(int)
        row = np.clip(np.round((uv[:, 1] + 0.5) / obs.stride - 0.5), 0, h - 1).astype(int)
        flat = index[k, row, col]
        dists.append(distance[k, row, col])
        pr, pc = flat // w, flat % w
        z = depth[k, pr, pc]
        ok = z > 0
        pix = np.stack([(pc + 0.5) * obs.stride - 0.5, (pr + 0.5) * obs.stride - 0.5, np.ones_like(pc, float)], 1)
        Xc = (pix[ok] @ Kinv.T) * z[ok, None]
        T = est.keyframe_T_wc[k]
        world.append(Xc @ T[:3, :3].T + T[:3, 3])
    out = {"foot_points": total}
    if not world or sum(len(x) for x in world) < 10:
        return out
    X = np.concatenate(world)
    d = np.concatenate(dists)
    scale = float(np.median(np.linalg.norm(X, axis=1)))
    plane = fit_ground_plane(X, inlier_threshold=0.02 * scale)
    height = abs(plane[3])
    res = np.abs(X @ plane[:3] - plane[3]) / height
    out.update(
        feet_with_depth=len(X),
        partner_within_2px=float(np.mean(d <= 2.0)),
        partner_distance_median_px=float(np.median(d)),
        plane_residual_median=float(np.median(res)),
        plane_residual_p90=float(np.percentile(res, 90)),
        plane_inliers_5pct=float(np.mean(res < 0.05)),
    )
    return out


def depth_png(est, keyframe_ids, frames, feet, k, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from josh.perception.scene import undistort_pixels

    obs = est.keyframes
    f = keyframe_ids[k]
    fig, ax = plt.subplots(1, 3, figsize=(18, 4.2))
    ax[0].imshow(frames[f])
    ax[0].set_title(f"keyframe {k} (frame {f})")
    d = np.where(obs.depth[k] > 0, obs.depth[k], np.nan)
    im = ax[1].imshow(1.0 / d, cmap="turbo")
    ax[1].set_title("inverse depth (all valid)")
    fig.colorbar(im, ax=ax[1], fraction=0.03)
    bg = np.where(obs.background[k], d, np.nan)
    im = ax[2].imshow(1.0 / bg, cmap="turbo")
    if len(feet[f]):
        uv = undistort_pixels(feet[f], est.intrinsics, est.camera_model, est.distortion)
        ax[2].scatter((uv[:, 0] + 0.5) / obs.stride - 0.5, (uv[:, 1] + 0.5) / obs.stride - 0.5, s=8, c="w", edgecolors="k")
    ax[2].set_title("background only, feet (white)")
    fig.colorbar(im, ax=ax[2], fraction=0.03)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def parse_sets(items):
    from josh.perception.scene import SceneConfig

    fields = {f.name: f for f in dataclasses.fields(SceneConfig)}
    out = {}
    for item in items:
        key, value = item.split("=", 1)
        default = fields[key].default
        if isinstance(default, bool):
            out[key] = value.lower() in ("1", "true", "yes")
        elif isinstance(default, tuple):
            out[key] = tuple(float(v) for v in value.split(","))
        elif default is None:  # optional ints (e.g. localise_first_octave)
            out[key] = None if value.lower() == "none" else int(value)
        else:
            out[key] = type(default)(value)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", nargs="?", default=os.environ.get("JOSH_DEMO_VIDEO", "/work/shared/data/demo2.mp4"))
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--sfm-long-side", type=int, default=960)
    ap.add_argument("--keyframe-step", type=int, default=5)
    ap.add_argument("--variant", default="normal", choices=["normal", "static", "short", "reversed"])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--set", nargs="*", default=[], help="SceneConfig overrides, key=value")
    ap.add_argument("--people-cache", default=None)
    ap.add_argument("--no-masks", action="store_true")
    ap.add_argument("--depth-png", default=None)
    ap.add_argument("--depth-keyframe", type=int, default=4)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from josh.perception.scene import SceneConfig, estimate_scene

    frames = load_clip(args.video, args.start + args.frames)
    masks, stride, feet = people_inputs(frames, args.people_cache)
    frames, masks, feet = frames[args.start :], masks[args.start :], feet[args.start :]
    frames, feet = resize(frames, feet, args.sfm_long_side)
    frames, masks, feet = make_variant(args.variant, frames, masks, feet, np.random.default_rng(0))
    n = len(frames)
    keyframe_ids = sorted(set(range(0, n, args.keyframe_step)) | {n - 1})
    cfg = SceneConfig(**parse_sets(args.set))
    rows = []
    for run in range(args.runs):
        cpu0 = time.process_time()
        est = estimate_scene(frames, keyframe_ids, masks=None if args.no_masks else list(masks), config=cfg)
        cpu = time.process_time() - cpu0
        s = est.stats
        t = s["timing"]
        row = {
            "source": est.source,
            "sfm_failure": s.get("sfm_failure"),
            "sfm_s": sum(t.get(k, 0.0) for k in ("extract", "match", "map", "localise")),
            "cpu_s": cpu,
            "extract_s": t.get("extract"),
            "match_s": t.get("match"),
            "map_s": t.get("map"),
            "localise_s": t.get("localise"),
            "total_s": t.get("total"),
            "frames": n,
            "registered": int(np.isfinite(est.all_T_wc[:, 0, 0]).sum()) if est.source == "sfm" else 0,
            "keyframes": len(keyframe_ids),
            "registered_keyframes": s.get("registered_keyframes"),
            "points": s.get("points"),
            "focal": est.intrinsics.focal,
            "reprojection_error": s.get("reprojection_error"),
            "correspondences": len(est.correspondences),
            "depth_coverage": s.get("depth_coverage"),
            "focal_attempts": s.get("focal_attempts"),
            "timing": {k: round(v, 2) for k, v in t.items()},
        }
        if est.source == "sfm":
            row.update(ground_check(est, keyframe_ids, feet))
        rows.append(row)
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}))
        if run == 0 and args.depth_png and est.source == "sfm":
            depth_png(est, keyframe_ids, frames, feet, min(args.depth_keyframe, len(keyframe_ids) - 1), args.depth_png)
    numeric = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    med = {k: statistics.median(r[k] for r in rows if isinstance(r.get(k), (int, float))) for k in numeric
           if all(isinstance(r.get(k), (int, float)) for r in rows)}  # fmt: skip
    print("median", json.dumps({k: round(v, 3) for k, v in med.items()}))
    if args.json:
        from josh.io.atomic import write_json

        write_json(args.json, {"settings": dataclasses.asdict(cfg), "args": vars(args), "runs": rows, "median": med})


if __name__ == "__main__":
    main()
