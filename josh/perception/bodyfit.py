"""Local bodies: fit the body model to each track's keypoints in the camera frame.

One batched optimisation over every frame of every person (rows, as in the joint optimiser):
- 2D reprojection of the 23 keypoints, confidence-weighted;
- agreement with the pose front-end's 3D landmarks (hip-centred, camera-aligned axes) up to one
  scale per person: their shape and pose count, their size does not (see `_fit_loss`);
- pose and shape priors; temporal smoothness of the camera-frame joints.
A person's size thus comes from the shape prior (the body model's average adult) and whatever the
landmarks' proportions say, never from the landmark front-end's skeleton scale.
The root is initialised by a Kabsch fit of the zero-pose torso to the 3D landmarks and a depth
from the focal: z = f * (torso size of the average body) / (pixel torso size). The root
translation is thus consistent with `focal`, which becomes the track's `focal_assumed` (DESIGN §4
coupling).

The landmarks' toes are left out: BlazePose's 3D foot is pitched toes-down. On demo2's planted
feet (heel and toes both planted in the video) its heel-to-toe line makes 108-116 degrees with the
shank, where a flat foot makes 80-90 and the fit from the 2D keypoints gives 89-91 for the walker
whose feet are seen from the side; followed, it sinks the toes below the ground (the left man's
lowest-foot sliding 31.9 mm with them, 23.0 without).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import roma
import torch
from scipy import ndimage

from josh.geometry.camera import project
from josh.optimize.losses import pseudo_huber
from josh.optimize.rest_cache import RestCache
from josh.types import HumanTrack

TORSO = [5, 6, 11, 12]  # shoulders and hips in the 23-keypoint order
HIPS = [11, 12]
TOES = [17, 18, 19, 20]  # big and small toes
# Segments whose lengths compare the landmarks' skeleton size with the body's: shoulder and hip
# widths, torso sides, thighs, shanks (pairs of keypoints in the 23-keypoint order).
SIZE_SEGMENTS = [(5, 6), (11, 12), (5, 11), (6, 12), (11, 13), (12, 14), (13, 15), (14, 16)]


@dataclass
class BodyFitConfig:
    iterations: int = 150
    lr: float = 0.03
    keypoint_scale: float = 8.0  # px
    landmark_scale: float = 0.05  # m
    pose_prior_scale: float = 0.6  # rad: a weak pull toward the zero pose
    w_shape: float = 0.05  # population prior on the shape, in units of the body model's `shape_spread`
    smooth_scale: float = 45.0  # m/s^2 of camera-frame joint acceleration (loose: it also carries camera shake)
    w_landmarks: float = 0.5
    w_smooth: float = 0.1
    landmark_toes: bool = False  # follow the landmarks' toes too (see the module doc)


def _kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotation R minimising |R src - dst| for centred point sets (n, 3)."""
    H = src.T @ dst
    U, _, Vt = np.linalg.svd(H)
    S = np.diag([1.0, 1.0, np.sign(np.linalg.det(Vt.T @ U.T))])
    return Vt.T @ S @ U.T


def _average_body_keypoints(body) -> np.ndarray:
    """(23, 3) keypoints of the body model's average adult in the zero pose."""
    rest = body.rest(torch.as_tensor(body.default_shape, dtype=torch.float32)[None])
    zero = body.forward(rest, torch.zeros(1, dtype=torch.long), torch.eye(3)[None], torch.zeros(1, 3),
                        torch.zeros(1, body.n_pose_bones, 3))  # fmt: skip
    return zero.keypoints[0].numpy().astype(np.float64)


def landmark_scale(canon: np.ndarray, landmarks3d: np.ndarray, conf: np.ndarray, min_conf: float = 0.5) -> float:
    """Factor that brings a track's landmark skeleton to the size of the average body `canon`.

    Ratio of summed segment lengths (`SIZE_SEGMENTS`; per segment the median over the frames where
    both ends are confident); 1 when no segment is seen."""
    ours, theirs = 0.0, 0.0
    for a, b in SIZE_SEGMENTS:
        seen = (conf[:, a] > min_conf) & (conf[:, b] > min_conf)
        if seen.any():
            theirs += float(np.median(np.linalg.norm(landmarks3d[seen, a] - landmarks3d[seen, b], axis=1)))
            ours += float(np.linalg.norm(canon[a] - canon[b]))
    return ours / theirs if theirs > 1e-6 else 1.0


def initial_roots(canon, keypoints2d, landmarks3d, focal, cx, cy):
    """Root rotation (T,3,3) and translation (T,3) in the camera frame for one track whose
    landmarks have the size of the average body `canon` (see `landmark_scale`)."""
    canon_hip = canon[HIPS].mean(0)
    T = len(keypoints2d)
    R = np.zeros((T, 3, 3))
    t = np.zeros((T, 3))
    src = canon[TORSO] - canon_hip
    for i in range(T):  # set-up: one 3x3 SVD per frame
        dst = landmarks3d[i, TORSO] - landmarks3d[i, HIPS].mean(0)
        R[i] = _kabsch(src, dst)
        metric = np.linalg.norm(dst[:2] - dst[2:], axis=1).mean()  # shoulder-hip lengths (m)
        pix = np.linalg.norm(keypoints2d[i, [5, 6]] - keypoints2d[i, [11, 12]], axis=1).mean()
        z = focal * metric / max(pix, 1.0)
        hip_uv = keypoints2d[i, HIPS].mean(0)
        hip_cam = np.array([(hip_uv[0] - cx) / focal * z, (hip_uv[1] - cy) / focal * z, z])
        t[i] = hip_cam - R[i] @ canon_hip  # root joint sits canon_hip away from the hip midpoint
    # per-frame torso-size depths are noisy: take a running median along the ray
    depth = ndimage.median_filter(t[:, 2], size=min(9, T), mode="nearest")
    t *= (depth / np.maximum(t[:, 2], 1e-3))[:, None]
    return R, t


def fit_bodies(tracks, focal: float, cx: float, cy: float, body, fps: float,
               config: BodyFitConfig | None = None) -> list[HumanTrack]:  # fmt: skip
    """Camera-frame body parameters for every track (see module doc); `fps` makes the smoothness
    physical (accelerations in m/s^2 whatever the frame rate)."""
    cfg = config or BodyFitConfig()
    if not tracks:
        return []
    P = len(tracks)
    canon = _average_body_keypoints(body)
    landmarks = [tr.landmarks3d * landmark_scale(canon, tr.landmarks3d, tr.keypoints_conf) for tr in tracks]
    kp = np.concatenate([tr.keypoints2d for tr in tracks])
    kc = np.concatenate([tr.keypoints_conf for tr in tracks])
    lm = np.concatenate(landmarks)
    person = np.concatenate([np.full(len(tr.frames), p) for p, tr in enumerate(tracks)])
    frames = np.concatenate([tr.frames for tr in tracks])
    inits = [initial_roots(canon, tr.keypoints2d, lm_p, focal, cx, cy) for tr, lm_p in zip(tracks, landmarks)]
    R0 = torch.as_tensor(np.concatenate([r for r, _ in inits]), dtype=torch.float32)
    t0 = torch.as_tensor(np.concatenate([t for _, t in inits]), dtype=torch.float32)

    kp_t = torch.as_tensor(kp, dtype=torch.float32)
    kc_t = torch.as_tensor(kc, dtype=torch.float32)
    lc_t = kc_t.clone()  # the landmark term's weights
    if not cfg.landmark_toes:
        lc_t[:, TOES] = 0.0
    lm_t = torch.as_tensor(lm, dtype=torch.float32)
    person_t = torch.as_tensor(person)
    N = len(person)
    rot = torch.zeros(N, 3, requires_grad=True)
    transl = t0.clone().requires_grad_(True)
    pose = torch.zeros(N, body.n_pose_bones, 3, requires_grad=True)
    shape0 = torch.as_tensor(body.default_shape, dtype=torch.float32)
    spread = torch.as_tensor(body.shape_spread, dtype=torch.float32)
    shape = shape0.repeat(P, 1).requires_grad_(True)
    body_log_scale = torch.zeros(P, requires_grad=True)  # compares each body with the landmarks at their size
    z0_sum = torch.zeros(P).index_add(0, person_t, t0[:, 2])
    # consecutive rows of one person for smoothness
    i = np.arange(1, N - 1)
    ok = (person[i - 1] == person[i]) & (person[i + 1] == person[i]) & (frames[i + 1] - frames[i - 1] == 2)
    trip = torch.as_tensor(np.stack([i[ok] - 1, i[ok], i[ok] + 1], 1)) if N > 2 else torch.zeros(0, 3, dtype=torch.long)

    opt = torch.optim.Adam([rot, transl, pose, shape, body_log_scale], lr=cfg.lr)
    rest = RestCache(body, radius=0.1 * body.shape_unit, step=0.05 * body.shape_unit)  # exact `rest` costs more than the rest of an iteration
    for it in range(cfg.iterations):
        for g in opt.param_groups:
            g["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * it / cfg.iterations))
        opt.zero_grad(set_to_none=True)
        R = roma.rotvec_to_rotmat(rot) @ R0
        out = body.forward(rest(shape), person_t, R, transl, pose)
        shape_dev = (shape - shape0) / spread
        to_landmark_size = body_log_scale.exp()[person_t]
        # a body's size follows its depth (the 2D fix their ratio): one factor per person, so that
        # depth changes along a track still count as motion
        depth_sum = torch.zeros(P).index_add(0, person_t, transl[:, 2])
        to_initial_size = (z0_sum / depth_sum)[person_t]
        loss = _fit_loss(out, kp_t, kc_t, lc_t, lm_t, to_landmark_size, to_initial_size, rot, pose, shape_dev, trip,
                         focal, cx, cy, fps, cfg)  # fmt: skip
        loss.backward()
        opt.step()
        with torch.no_grad():
            shape.clamp_(*body.shape_bounds)
            transl[:, 2].clamp_(min=0.3)

    with torch.no_grad():
        R = (roma.rotvec_to_rotmat(rot) @ R0).numpy()
    result = []
    for p, tr in enumerate(tracks):
        rows = person == p
        result.append(HumanTrack(
            person_id=int(tr.track_id),
            frames=np.asarray(tr.frames),
            root_rotmat=R[rows].astype(np.float64),
            root_transl=transl.detach().numpy()[rows].astype(np.float64),
            body_pose=pose.detach().numpy()[rows].astype(np.float64),
            shape=shape.detach().numpy()[p].astype(np.float64),
            keypoints2d=kp[rows],
            keypoints_conf=kc[rows],
            contact_prob=np.zeros((int(rows.sum()), len(body.contact_vertex_ids))),
            focal_assumed=float(focal),
        ))  # fmt: skip
    return result


def _fit_loss(out, kp, kc, lc, lm, to_landmark_size, to_initial_size, rot, pose, shape_dev, trip, focal, cx, cy, fps,
              cfg: BodyFitConfig):  # fmt: skip
    """kc, lc: the weights of the 2D keypoints and of the landmarks; shape_dev: the shape's
    deviation from the body model's average adult, in its `shape_spread`s.

    The shape prior is the population's, and it alone sets a person's size: 2D keypoints cannot
    tell a body's size from its distance, and no other term may prefer one size to another:
    - the landmarks `lm` (brought to the average body's size) are compared with the body scaled by a
      free factor per person (`to_landmark_size`, per row): a monocular front-end's "metric"
      skeleton is its own average one (MediaPipe gives thighs and shanks of 0.36-0.39 m to men and
      women alike on demo2, a 1.55 m skeleton), so trusting its size would shrink everybody to it,
      and metre residuals of the body at its own size would favour small bodies;
    - joint accelerations are measured at the person's initial size (`to_initial_size`, per row:
      the person's initial over current mean depth), or smoothness too would favour small, near
      bodies.
    The landmarks' proportions still shape the fit."""
    uv = project(out.keypoints, focal, cx, cy)
    r2d = (uv - kp).norm(dim=-1) / cfg.keypoint_scale
    l2d = (pseudo_huber(r2d) * kc).sum() / kc.sum().clamp(min=1e-6)
    rel = out.keypoints - out.keypoints[:, HIPS].mean(1, keepdim=True)
    r3d = (rel * to_landmark_size[:, None, None] - lm).norm(dim=-1) / cfg.landmark_scale
    l3d = (pseudo_huber(r3d) * lc).sum() / lc.sum().clamp(min=1e-6)
    prior = pose.square().sum(-1).mean() / cfg.pose_prior_scale**2
    shape_prior = shape_dev.square().sum(-1).mean()
    smooth = out.joints.new_zeros(())
    if len(trip):
        J = out.joints * to_initial_size[:, None, None]
        acc = (J[trip[:, 0]] - 2 * J[trip[:, 1]] + J[trip[:, 2]]) * fps**2
        smooth = (acc.norm(dim=-1) / cfg.smooth_scale).square().mean()
    return l2d + cfg.w_landmarks * l3d + 0.01 * prior + cfg.w_shape * shape_prior + cfg.w_smooth * smooth + 0.01 * rot.square().sum(-1).mean()
