"""The loss terms of the joint optimisation (DESIGN §4), each vectorised over all its residuals.

Every term returns a scalar: a weighted mean of a robust penalty of residual / scale, so a term's
weight means the same thing whatever the number of residuals. Robust penalties:
- `cauchy` log(1 + x^2) for scene matches, which contain outright outliers;
- `pseudo_huber` sqrt(1 + x^2) - 1 (quadratic near 0, linear far) for human and contact terms.
Temporal terms work on neighbouring rows (people's frames are consecutive rows), as slices.
"""

from __future__ import annotations

import torch

from josh.geometry.camera import image_to_map, project
from josh.optimize.config import OptimConfig
from josh.optimize.contact import bilinear, lookup_partners, nearest
from josh.optimize.problem import Problem
from josh.optimize.variables import Derived, Variables, gather, rotate


def cauchy(x: torch.Tensor) -> torch.Tensor:
    return torch.log1p(x.square())


def pseudo_huber(x: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(1 + x.square()) - 1


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return (values * weights).sum() / weights.sum().clamp(min=1e-9)


# ------------------------------------------------------------------------------------------- scene
def scene_3d(p: Problem, d: Derived, cfg: OptimConfig) -> torch.Tensor:
    """3D agreement of matched points, divided by their depth: scale-free, so the scene terms alone
    cannot shrink the world to nothing (the scale gauge pitfall of DESIGN §4).

    It does not inform the focal: a point's lateral offsets are (u - c) z / f, so every 3D
    disagreement shrinks as the focal grows and this term alone would drive the focal up without
    bound (measured: monotone in f). The focal is estimated from pixel residuals only."""
    r = (d.W_a_fixed - d.W_b_fixed).norm(dim=-1) / (0.5 * (d.z_a + d.z_b)).clamp(min=1e-6)
    return _weighted_mean(pseudo_huber(r / cfg.scene3d_scale), p.match_conf)


def scene_2d(p: Problem, d: Derived, cfg: OptimConfig) -> torch.Tensor:
    """Reprojection of each end's 3D point into the other keyframe, in pixels (both directions)."""
    in_a = _to_camera(d, p.corr_a, d.W_b)
    in_b = _to_camera(d, p.corr_b, d.W_a)
    ra = (project(in_a, d.focal, p.cx, p.cy) - p.uv_a).norm(dim=-1)
    rb = (project(in_b, d.focal, p.cx, p.cy) - p.uv_b).norm(dim=-1)
    r = torch.cat([ra, rb]) / cfg.scene2d_scale
    return _weighted_mean(cauchy(r), torch.cat([p.match_conf, p.match_conf]))


def match_depth_prior(p: Problem, v: Variables, cfg: OptimConfig) -> torch.Tensor:
    """The matched pixels' depths may move within the front-end's depth noise (bundle adjustment
    with depth priors): with depths held exactly, their errors would have to be explained by the
    cameras and the focal, which biases the focal on short, forward-moving clips."""
    return pseudo_huber(v.match_depth / cfg.match_depth_scale).mean()


def _to_camera(d: Derived, onehot: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """World points X (n, 3) into the keyframe camera chosen per point by `onehot` (n, K)."""
    R = gather(onehot, d.R_key)
    return rotate(R.transpose(-1, -2), X - onehot @ d.c_key)


# ------------------------------------------------------------------------------------------ people
def prior(p: Problem, v: Variables, cfg: OptimConfig, shape_unit: float = 0.2) -> torch.Tensor:
    """Closeness to the front-end's local bodies (pose, orientation, translation, shape; the shape
    in units of the body model's typical spread of a shape parameter)."""
    pose = (v.body_pose - p.pose_init).square().sum(-1).mean() / cfg.pose_prior_scale**2
    orient = v.root_rot.square().sum(-1).mean() / cfg.orient_prior_scale**2
    depth = p.t_init[:, 2].abs().clamp(min=0.5)
    transl = ((v.root_transl - p.t_init).norm(dim=-1) / depth).square().mean() / cfg.transl_prior_scale**2
    shape = (v.shape - p.shape_init).square().sum(-1).mean() / (cfg.shape_prior_scale * shape_unit) ** 2
    return pose + orient + transl + shape


def smoothness(p: Problem, d: Derived, cfg: OptimConfig) -> torch.Tensor:
    """World-joint acceleration and the root's world angular acceleration, with real time steps
    (non-uniform second differences)."""
    ok = p.row_next_ok[:-1] & p.row_next_ok[1:]
    if not bool(ok.any()):
        return d.focal.new_zeros(())
    dt = p.row_dt[:, None]
    h = 0.5 * (p.row_dt[:-1] + p.row_dt[1:])[:, None]
    J = d.joints_world
    v = (J[1:] - J[:-1]) / dt[..., None]  # (N-1, 24, 3)
    acc = (v[1:] - v[:-1]) / h[..., None]
    joints = (acc.norm(dim=-1) / cfg.smooth_scale).square().mean(-1)
    R = d.root_R_world
    omega = _small_rotvec(R[1:] @ R[:-1].transpose(-1, -2)) / dt  # world angular velocity (N-1, 3)
    turn = (((omega[1:] - omega[:-1]) / h).norm(dim=-1) / cfg.turn_smooth_scale).square()
    return _weighted_mean(joints + turn, ok.to(acc.dtype))


def _small_rotvec(R: torch.Tensor) -> torch.Tensor:
    """Rotation vector of rotations of a few degrees (frame-to-frame turns) from their skew part:
    exact to first order, and smooth at the identity where the exact logarithm's gradient is not."""
    return 0.5 * torch.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)


def keypoints_2d(p: Problem, d: Derived, cfg: OptimConfig) -> torch.Tensor:
    """Reprojection of body keypoints onto the detected 2D keypoints, confidence-weighted."""
    uv = project(d.body.keypoints, d.focal, p.cx, p.cy)
    r = (uv - p.keypoints2d).norm(dim=-1) / cfg.keypoint_scale
    return _weighted_mean(pseudo_huber(r), p.keypoints_conf)


# ---------------------------------------------------------------------------------------- contacts
def contact_partners(p: Problem, d: Derived, cfg: OptimConfig, check_depth: bool = True):
    """For every contact entry: its point in the entry's keyframe camera, the scene depth found
    behind it, and whether that partner passes the distance and depth checks.

    The partner is the scene surface the vertex projects onto (redone every call because the body
    moves): the keyframe's depth with people filled by the surface behind them, sampled
    bilinearly at the vertex's pixel and scaled by sigma_k; partners more than
    `contact_max_pixels` from any visible background are rejected, and the depth check drops
    partners on another surface. Its confidence is that of the nearest visible pixel.
    """
    X = d.contacts_world_rigid.reshape(-1, 3).index_select(0, p.contact_entry)  # (E, 3)
    R = gather(p.contact_entry_key, d.R_key)
    x_k = rotate(R.transpose(-1, -2), X - p.contact_entry_key @ d.c_key)
    k = p.contact_entry_key_index
    with torch.no_grad():
        uv_map = image_to_map(project(x_k, d.focal, p.cx, p.cy), p.stride)
        partner, dist, ok = lookup_partners(uv_map, k, p.nb_index, p.nb_distance)
        raw_depth = bilinear(p.contact_depth, k, uv_map)
        normal = nearest(p.contact_normal, k, uv_map)
        conf = p.conf.reshape(-1)[k * p.conf[0].numel() + partner.clamp(min=0)]
        ok = ok & (dist <= cfg.contact_max_pixels) & (raw_depth > 0) & (x_k[:, 2] > 0.05)
    z_scene = (p.contact_entry_key @ d.scale) * raw_depth
    if check_depth:
        with torch.no_grad():
            ok = ok & ((x_k[:, 2] - z_scene).abs() < cfg.contact_depth_ratio * z_scene)
    return x_k, z_scene, ok, conf, normal


def contact_alignment(p: Problem, d: Derived, cfg: OptimConfig) -> torch.Tensor:
    """L_c1: a contact vertex lies on the scene surface behind it (metres along its ray)."""
    if p.contact_entry.shape[0] == 0:
        return d.focal.new_zeros(())
    x_k, z_scene, ok, conf, normal = contact_partners(p, d, cfg)
    # distance of the vertex to the surface's tangent plane at the partner (both on one ray):
    # n . (x - x z_s / z) = (z - z_s) (n . x) / z. Along the ray instead, a 1 cm height error
    # of a vertex seen at a grazing angle would count as several cm of depth error.
    r = ((x_k[:, 2] - z_scene) * (normal * x_k).sum(-1) / x_k[:, 2].clamp(min=1e-3)).abs() / cfg.c1_scale
    penalty = cauchy(r) if cfg.c1_redescending else pseudo_huber(r)
    return _weighted_mean(penalty, p.contact_entry_weight * conf * ok)


def contact_stillness(p: Problem, d: Derived, cfg: OptimConfig) -> torch.Tensor:
    """L_c2: a vertex in contact in consecutive frames does not move in the world."""
    if p.still_entry.shape[0] == 0:
        return d.focal.new_zeros(())
    X = d.contacts_world.reshape(-1, 3)
    C = d.contacts_world.shape[1]
    step = (X.index_select(0, p.still_entry + C) - X.index_select(0, p.still_entry)).norm(dim=-1)
    return _weighted_mean(pseudo_huber(step / cfg.c2_scale), p.still_weight)


def lowest_foot_stillness(p: Problem, d: Derived, cfg: OptimConfig) -> torch.Tensor:
    """L_skate: the foot that carries the weight, the lowest, does not slide, whatever the contact
    labels say (a walker always has one foot planted; labels miss stances where the feet hide
    each other). Every foot point's step between consecutive frames is weighted by how near it
    is to the frame's lowest foot point along `p.up`: exp(-height above a soft minimum /
    `skate_height_scale`), in both frames. The weights are not detached: a foot that moves can
    also lower the term by rising, which is what a swing foot does."""
    rows = p.row_adjacent
    if p.up is None or p.feet.numel() == 0 or not bool(rows.any()):
        return d.focal.new_zeros(())
    X = d.contacts_world.index_select(1, p.feet)  # (N, F, 3)
    tau = cfg.skate_height_scale
    h = X @ p.up.to(X.dtype)
    above = h + tau * torch.logsumexp(-h / tau, dim=1, keepdim=True)  # >= 0: over the soft minimum
    w = torch.exp(-above / tau)
    pair = w[1:] * w[:-1] * rows[:, None].to(w.dtype)
    step = (X[1:] - X[:-1]).norm(dim=-1)
    return _weighted_mean(pseudo_huber(step / cfg.c2_scale), pair)
