"""Simulated front-ends: turn a `GroundTruth` into the optimiser's `FrontEndInputs`, with the error
modes of real models (each a `NoiseConfig` field, documented there).

- scene (point-map networks + matching): per-keyframe depth with an unknown scale, a smooth
  distortion and pixel noise; correspondences between nearby keyframes with pixel noise and
  outliers; initial keyframe poses with rotation/translation noise; an initial focal that is off;
- people (HMR regressors + 2D detectors + contact classifiers): camera-frame bodies with pose bias
  and jitter, root orientation error, root depth proportional to the focal the regressor assumed
  times its own error, shape error; noisy 2D keypoints; contact labels with per-part flips.

The optimiser never sees the ground truth: only what this module returns.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from josh.geometry.camera import image_to_map, map_pixel_centres
from josh.synth.config import NoiseConfig
from josh.synth.motion import smooth_signal
from josh.synth.truth import GroundTruth, PersonTruth
from josh.synth.world import SKY
from josh.types import Correspondences, FrontEndInputs, HumanTrack, Intrinsics, KeyframeObservations

CONTACT_PARTS = ("left_heel", "left_toes", "left_sole", "right_heel", "right_toes", "right_sole",
                 "left_hand", "right_hand", "buttocks")  # fmt: skip


def simulate_frontends(gt: GroundTruth, noise: NoiseConfig, body, seed: int = 0) -> FrontEndInputs:
    rng = np.random.default_rng([seed, 7919])
    intr = gt.intrinsics
    K = len(gt.keyframe_ids)
    global_scale = np.exp(rng.uniform(-1, 1) * np.log(max(noise.global_scale_range, 1.0)))
    scales = global_scale * np.exp(rng.uniform(-1, 1, K) * np.log(max(noise.depth_scale_range, 1.0)))
    warps = [_smooth_warp(rng, noise.depth_distortion) for _ in range(K)]
    focal_init = intr.focal * (1.0 + rng.uniform(-1, 1) * noise.focal_error)
    init_intr = Intrinsics(focal_init, intr.cx, intr.cy, intr.width, intr.height)
    frame_T_wc = _initial_cameras(gt, global_scale, noise, rng)
    return FrontEndInputs(
        n_frames=gt.n_frames,
        fps=gt.fps,
        intrinsics=init_intr,
        keyframes=_keyframe_observations(gt, scales, warps, noise, rng),
        keyframe_T_wc=frame_T_wc[gt.keyframe_ids],
        correspondences=_correspondences(gt, scales, warps, noise, rng),
        humans=toward_average_adults([_human_track(gt, p, focal_init, body, noise, rng) for p in gt.people], body,
                                     noise.size_to_average),  # fmt: skip
        body_model=getattr(body, "name", "anny"),
        frame_T_wc=frame_T_wc,
    )


# ------------------------------------------------------------------------------------------- scene
def toward_average_adults(humans: list[HumanTrack], body, share: float = 1.0) -> list[HumanTrack]:
    """`humans` with `share` of each one's difference in stature from the body model's average
    adult taken away, at the distance that keeps their pixels (`NoiseConfig.size_to_average`).
    At 1, what a monocular body fit gives (`josh.perception.bodyfit`): one view cannot tell size
    from distance, so a tall person comes out too near and a short one too far."""
    from josh.body.protocol import standing_height
    from josh.perception.one_ground import scaled_track

    if share == 0:
        return list(humans)
    average = standing_height(body, body.default_shape)
    return [scaled_track(h, (average / standing_height(body, h.shape)) ** share, body) for h in humans]


def _smooth_warp(rng: np.random.Generator, amplitude: float):
    """A smooth multiplicative depth distortion 1 + a g(x, y), |g| <= 1 over the image, where
    (x, y) in [-1, 1] are normalised image coordinates (low-order polynomial, random coefficients)."""
    c = rng.normal(size=6)
    c /= np.abs(c).sum()  # |g| <= sum |c_i| = 1 on [-1, 1]^2

    def warp(x, y):
        g = c[0] * x + c[1] * y + c[2] * x * y + c[3] * (x * x - 0.5) + c[4] * (y * y - 0.5) + c[5] * x * y * y
        return 1.0 + amplitude * g

    return warp


def _normalised(intr: Intrinsics, u, v):
    return 2.0 * u / max(intr.width - 1, 1) - 1.0, 2.0 * v / max(intr.height - 1, 1) - 1.0


def _observed_depth(z, u, v, k, intr, scales, warps, noise: NoiseConfig, rng):
    """What the scene front-end reports for true depth z seen at pixels (u, v) of keyframes k
    (arrays of one shape; k may be a scalar)."""
    x, y = _normalised(intr, np.asarray(u, float), np.asarray(v, float))
    k = np.broadcast_to(k, np.shape(z))
    warp = np.empty(np.shape(z))
    for kk in np.unique(k):
        sel = k == kk
        warp[sel] = warps[kk](x[sel], y[sel])
    pixel_noise = 1.0 + noise.depth_noise * rng.standard_normal(np.shape(z))
    return z * scales[k] * warp * np.maximum(pixel_noise, 0.2)


def _keyframe_observations(gt: GroundTruth, scales, warps, noise, rng) -> KeyframeObservations:
    K, h, w = gt.keyframe_depth.shape
    s = gt.depth_stride
    uu, vv = map_pixel_centres(h, w, s)
    depth = np.zeros_like(gt.keyframe_depth)
    for k in range(K):
        valid = gt.keyframe_depth[k] > 0
        obs = _observed_depth(gt.keyframe_depth[k], uu, vv, k, gt.intrinsics, scales, warps, noise, rng)
        depth[k] = np.where(valid, obs, 0.0)
    return KeyframeObservations(
        frame_ids=gt.keyframe_ids.copy(),
        depth=depth.astype(np.float32),
        conf=(depth > 0).astype(np.float32),
        background=gt.keyframe_background & (depth > 0),
        stride=float(s),
        colors=gt.keyframe_colors,
    )


def _random_rotations(rng: np.random.Generator, n: int, rms_deg: float) -> np.ndarray:
    """n rotations whose angle has root-mean-square `rms_deg` (isotropic axis-angle noise)."""
    rv = rng.normal(scale=np.deg2rad(rms_deg) / np.sqrt(3.0), size=(n, 3))
    return Rotation.from_rotvec(rv).as_matrix()


def _initial_cameras(gt: GroundTruth, scale: float, noise: NoiseConfig, rng) -> np.ndarray:
    """The front-end's camera of every frame relative to frame 0 (the identity), in its global
    scale: truth composed with a smooth drift (zero at frame 0) and a little per-frame noise."""
    T = gt.T_wc
    rel = np.linalg.inv(T[0])[None] @ T
    times = np.arange(len(T)) / gt.fps
    drift_rot = smooth_signal(rng, times, 3, np.deg2rad(noise.camera_rot_noise_deg) / np.sqrt(3.0), 0.1, 0.6)
    drift_pos = smooth_signal(rng, times, 3, noise.camera_trans_noise, 0.1, 0.6)
    drift_rot -= drift_rot[0]
    drift_pos -= drift_pos[0]
    frame_noise = _random_rotations(rng, len(T), noise.camera_frame_noise_deg)
    frame_noise[0] = np.eye(3)
    rel[:, :3, :3] = frame_noise @ Rotation.from_rotvec(drift_rot).as_matrix() @ rel[:, :3, :3]
    rel[:, :3, 3] = scale * (rel[:, :3, 3] + drift_pos)
    return rel


def _correspondences(gt: GroundTruth, scales, warps, noise: NoiseConfig, rng) -> Correspondences:
    """Matches between keyframes at most `match_max_gap` apart: a pixel of keyframe a whose scene
    point is visible (not occluded, not a person) in keyframe b; then pixel noise and outliers."""
    intr = gt.intrinsics
    kf_pairs = [(a, b) for a in range(len(gt.keyframe_ids)) for b in range(a + 1, min(a + 1 + noise.match_max_gap, len(gt.keyframe_ids)))]
    parts = [_pair_matches(gt, a, b, int(noise.matches_per_pair), rng) for a, b in kf_pairs]
    parts = [p for p in parts if p is not None]
    if not parts:
        return _empty_correspondences()
    ka, kb, uva, uvb, za, zb = (np.concatenate(x) for x in zip(*parts))
    n = len(ka)
    uva = uva + rng.normal(scale=noise.match_pixel_noise, size=uva.shape) if noise.match_pixel_noise > 0 else uva
    uvb = uvb + rng.normal(scale=noise.match_pixel_noise, size=uvb.shape) if noise.match_pixel_noise > 0 else uvb
    da = _observed_depth(za, uva[:, 0], uva[:, 1], ka, intr, scales, warps, noise, rng)
    db = _observed_depth(zb, uvb[:, 0], uvb[:, 1], kb, intr, scales, warps, noise, rng)
    out = rng.random(n) < noise.match_outliers
    if out.any():  # a wrong pixel in b, with whatever depth the front-end has there
        m = int(out.sum())
        uvb[out] = rng.uniform([0, 0], [intr.width - 1, intr.height - 1], size=(m, 2))
        db[out] = db[out] * np.exp(rng.normal(scale=0.3, size=m))
    return Correspondences(kf_a=ka, kf_b=kb, uv_a=uva, uv_b=uvb, depth_a=da, depth_b=db, conf=np.ones(n))


def _pair_matches(gt: GroundTruth, a: int, b: int, n: int, rng):
    intr, world = gt.intrinsics, gt.world
    Ta, Tb = gt.T_wc[gt.keyframe_ids[a]], gt.T_wc[gt.keyframe_ids[b]]
    uv = rng.uniform([0, 0], [intr.width - 1, intr.height - 1], size=(2 * n, 2))
    t, sid = world.raycast(np.broadcast_to(Ta[:3, 3], (len(uv), 3)), _rays(Ta, intr, uv))
    keep = (sid != SKY) & _is_background(gt, a, uv)
    uv, t = uv[keep], t[keep]
    X = Ta[:3, 3] + t[:, None] * _rays(Ta, intr, uv)
    cam_b = (X - Tb[:3, 3]) @ Tb[:3, :3]
    zb = cam_b[:, 2]
    uvb = intr.focal * cam_b[:, :2] / np.maximum(zb, 1e-6)[:, None] + [intr.cx, intr.cy]
    inside = (zb > 0.1) & (uvb[:, 0] >= 0) & (uvb[:, 0] <= intr.width - 1) & (uvb[:, 1] >= 0) & (uvb[:, 1] <= intr.height - 1)
    uv, t, uvb, zb = uv[inside], t[inside], uvb[inside], zb[inside]
    if len(uv) == 0:
        return None
    tb, _ = world.raycast(np.broadcast_to(Tb[:3, 3], (len(uvb), 3)), _rays(Tb, intr, uvb))
    visible = (np.abs(tb - zb) < 0.01 * zb) & _is_background(gt, b, uvb)
    sel = np.flatnonzero(visible)[:n]
    if len(sel) == 0:
        return None
    return (np.full(len(sel), a), np.full(len(sel), b), uv[sel], uvb[sel], t[sel], zb[sel])


def _rays(T_wc: np.ndarray, intr: Intrinsics, uv: np.ndarray) -> np.ndarray:
    """World directions (n, 3) with unit camera z, so a ray's parameter is the z-depth."""
    d = np.stack([(uv[:, 0] - intr.cx) / intr.focal, (uv[:, 1] - intr.cy) / intr.focal, np.ones(len(uv))], 1)
    return d @ T_wc[:3, :3].T


def _is_background(gt: GroundTruth, k: int, uv: np.ndarray) -> np.ndarray:
    s = gt.depth_stride
    h, w = gt.keyframe_background.shape[1:]
    col, row = np.clip(np.round(image_to_map(uv, s)).astype(int), 0, [w - 1, h - 1]).T
    return gt.keyframe_background[k, row, col]


def _empty_correspondences() -> Correspondences:
    z = np.zeros(0)
    return Correspondences(np.zeros(0, int), np.zeros(0, int), np.zeros((0, 2)), np.zeros((0, 2)), z, z, z)


# ------------------------------------------------------------------------------------------ people
@torch.no_grad()
def _human_track(gt: GroundTruth, person: PersonTruth, focal_assumed: float, body, noise: NoiseConfig, rng) -> HumanTrack:
    intr = gt.intrinsics
    T_wc = gt.T_wc[person.frames]
    R_wc, c_wc = T_wc[:, :3, :3], T_wc[:, :3, 3]
    # true camera-frame root and 2D keypoints
    R_cam = np.einsum("tji,tjk->tik", R_wc, person.root_rotmat)
    t_cam = np.einsum("tji,tj->ti", R_wc, person.root_transl - c_wc)
    kp_world = _keypoints_world(body, person)
    kp_cam = np.einsum("tji,tkj->tki", R_wc, kp_world - c_wc[:, None])
    kp2d = intr.focal * kp_cam[..., :2] / np.maximum(kp_cam[..., 2:], 1e-6) + [intr.cx, intr.cy]
    visible = (kp_cam[..., 2] > 0.1) & (kp2d[..., 0] >= 0) & (kp2d[..., 0] <= intr.width - 1) & \
        (kp2d[..., 1] >= 0) & (kp2d[..., 1] <= intr.height - 1)  # fmt: skip
    # a person is tracked in the frames where most of them is in view
    seen = visible.mean(1) >= 0.5
    T = int(seen.sum())
    sel = np.flatnonzero(seen)
    half = 1.0 / np.sqrt(2.0)  # bias and jitter share the error variance equally
    times = person.frames[sel] / gt.fps
    rot_drift = Rotation.from_rotvec(smooth_signal(rng, times, 3, np.deg2rad(noise.root_rot_noise_deg) * half / np.sqrt(3), 0.2, 1.0))
    R_noisy = _random_rotations(rng, 1, noise.root_rot_noise_deg * half) @ rot_drift.as_matrix() @ R_cam[sel]
    depth_drift = smooth_signal(rng, times, 1, noise.root_depth_noise * half, 0.2, 1.0)[:, 0]
    depth_err = (1 + noise.root_depth_noise * half * rng.standard_normal()) * (1 + depth_drift)
    t_noisy = t_cam[sel] * depth_err[:, None]  # an error of the regressor's scale moves the root along its ray
    t_noisy[:, 2] *= focal_assumed / intr.focal  # its depth is proportional to the focal it assumed
    bias = np.deg2rad(noise.pose_noise_deg) * rng.standard_normal(person.body_pose.shape[1:])
    jitter = np.deg2rad(noise.pose_jitter_deg) * rng.standard_normal((T,) + person.body_pose.shape[1:])
    pose = _perturb_rotvecs(person.body_pose[sel], bias[None] + jitter)
    shape = np.clip(person.shape + noise.shape_noise * rng.standard_normal(person.shape.shape), 0.0, 1.0)
    kp_obs = kp2d[sel] + noise.keypoint_noise_px * rng.standard_normal(kp2d[sel].shape)
    return HumanTrack(
        person_id=person.person_id,
        frames=person.frames[sel].copy(),
        root_rotmat=R_noisy,
        root_transl=t_noisy,
        body_pose=pose,
        shape=shape,
        keypoints2d=kp_obs,
        keypoints_conf=visible[sel].astype(np.float64),
        contact_prob=_contact_labels(person.contacts[sel], body, noise.contact_flip, rng),
        focal_assumed=float(focal_assumed),
    )


def _keypoints_world(body, person: PersonTruth) -> np.ndarray:
    f32 = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
    T = len(person.frames)
    out = body.forward(body.rest(f32(person.shape)[None]), torch.zeros(T, dtype=torch.long),
                       f32(person.root_rotmat), f32(person.root_transl), f32(person.body_pose))  # fmt: skip
    return out.keypoints.double().numpy()


def _perturb_rotvecs(rotvecs: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Compose each axis-angle rotation with a small error rotation (left-multiplied)."""
    shape = rotvecs.shape
    R = Rotation.from_rotvec(delta.reshape(-1, 3)) * Rotation.from_rotvec(rotvecs.reshape(-1, 3))
    return R.as_rotvec().reshape(shape)


def _contact_labels(truth: np.ndarray, body, flip: float, rng) -> np.ndarray:
    """Contact probabilities as a classifier reports them: 0.9 / 0.1, with the label of a whole body
    part (heel, toes, sole, hand, buttocks) flipped in a frame with probability `flip`."""
    labels = truth.astype(bool).copy()
    for part in CONTACT_PARTS:
        idx = body.contact_sets[part]
        flipped = rng.random(len(labels)) < flip
        labels[np.ix_(flipped, idx)] = ~labels[np.ix_(flipped, idx)]
    return np.where(labels, 0.9, 0.1)
