"""The loss terms of the joint optimisation (DESIGN §4), each vectorised over all its residuals.

Every term returns a scalar: a weighted mean of a robust penalty of residual / scale, so a term's
weight means the same thing whatever the number of residuals. Robust penalties:
- `cauchy` log(1 + x^2) for scene matches, which contain outright outliers;
- `pseudo_huber` sqrt(1 + x^2) - 1 (quadratic near 0, linear far) for human and contact terms.
"""

from __future__ import annotations

import torch

from josh.geometry.camera import backproject, project, to_camera
from josh.optimize.config import OptimConfig
from josh.optimize.contact import lookup_partners
from josh.optimize.problem import Problem
from josh.optimize.variables import Derived, Variables, world_points


def cauchy(x: torch.Tensor) -> torch.Tensor:
    return torch.log1p(x.square())


def pseudo_huber(x: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(1 + x.square()) - 1


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return (values * weights).sum() / weights.sum().clamp(min=1e-9)


# ------------------------------------------------------------------------------------------- scene
def _match_points(p: Problem, d: Derived):
    """World points of both ends of every correspondence, and their mean metric depth."""
    za = d.scale[p.kf_a] * p.depth_a
    zb = d.scale[p.kf_b] * p.depth_b
    Xa = backproject(p.uv_a, za, d.focal, p.cx, p.cy)
    Xb = backproject(p.uv_b, zb, d.focal, p.cx, p.cy)
    Wa = (d.R_key[p.kf_a] @ Xa[..., None])[..., 0] + d.c_key[p.kf_a]
    Wb = (d.R_key[p.kf_b] @ Xb[..., None])[..., 0] + d.c_key[p.kf_b]
    return Wa, Wb, 0.5 * (za + zb)


def scene_3d(p: Problem, d: Derived, cfg: OptimConfig) -> torch.Tensor:
    """3D agreement of matched points, divided by their depth: scale-free, so the scene terms alone
    cannot shrink the world to nothing (the scale gauge pitfall of DESIGN §4)."""
    Wa, Wb, z = _match_points(p, d)
    r = (Wa - Wb).norm(dim=-1) / z.clamp(min=1e-6)
    return _weighted_mean(cauchy(r / cfg.scene3d_scale), p.match_conf)


def scene_2d(p: Problem, d: Derived, cfg: OptimConfig) -> torch.Tensor:
    """Reprojection of each end's 3D point into the other keyframe, in pixels (both directions)."""
    Wa, Wb, _ = _match_points(p, d)
    in_a = (Wb - d.c_key[p.kf_a])[:, None, :] @ d.R_key[p.kf_a]
    in_b = (Wa - d.c_key[p.kf_b])[:, None, :] @ d.R_key[p.kf_b]
    ra = (project(in_a[:, 0], d.focal, p.cx, p.cy) - p.uv_a).norm(dim=-1)
    rb = (project(in_b[:, 0], d.focal, p.cx, p.cy) - p.uv_b).norm(dim=-1)
    r = torch.cat([ra, rb]) / cfg.scene2d_scale
    return _weighted_mean(cauchy(r), torch.cat([p.match_conf, p.match_conf]))


def scale_anchor(v: Variables, anchor: float) -> torch.Tensor:
    """Holds the mean log depth scale: fixes the gauge when no contact sets the metric scale."""
    return (v.log_scale.mean() - anchor).square()


# ------------------------------------------------------------------------------------------ people
def prior(p: Problem, v: Variables, cfg: OptimConfig) -> torch.Tensor:
    """Closeness to the front-end's local bodies (pose, orientation, translation, shape)."""
    pose = (v.body_pose - p.pose_init).square().sum(-1).mean() / cfg.pose_prior_scale**2
    orient = v.root_rot.square().sum(-1).mean() / cfg.orient_prior_scale**2
    depth = p.t_init[:, 2].abs().clamp(min=0.5)
    transl = ((v.root_transl - p.t_init).norm(dim=-1) / depth).square().mean() / cfg.transl_prior_scale**2
    shape = (v.shape - p.shape_init).square().sum(-1).mean() / cfg.shape_prior_scale**2
    return pose + orient + transl + shape


def smoothness(p: Problem, d: Derived, cfg: OptimConfig) -> torch.Tensor:
    """World-joint acceleration with real time steps (non-uniform second difference)."""
    if p.smooth_rows.shape[0] == 0:
        return d.focal.new_zeros(())
    J = world_points(d, d.body.joints)  # (N, 24, 3)
    j0, j1, j2 = J[p.smooth_rows[:, 0]], J[p.smooth_rows[:, 1]], J[p.smooth_rows[:, 2]]
    h0, h1 = p.smooth_dt[:, 0, None, None], p.smooth_dt[:, 1, None, None]
    acc = 2 * ((j2 - j1) / h1 - (j1 - j0) / h0) / (h0 + h1)
    return (acc.norm(dim=-1) / cfg.smooth_scale).square().mean()


def keypoints_2d(p: Problem, d: Derived, cfg: OptimConfig) -> torch.Tensor:
    """Reprojection of body keypoints onto the detected 2D keypoints, confidence-weighted."""
    uv = project(d.body.keypoints, d.focal, p.cx, p.cy)
    r = (uv - p.keypoints2d).norm(dim=-1) / cfg.keypoint_scale
    return _weighted_mean(pseudo_huber(r), p.keypoints_conf)


# ---------------------------------------------------------------------------------------- contacts
def contact_partners(p: Problem, d: Derived, cfg: OptimConfig, check_depth: bool = True):
    """For every contact entry: its point in the nearest keyframe's camera, the scene depth found
    behind it, and whether that partner passes the distance and depth checks.

    The partner is the nearest background pixel of the depth map (O(1) index-map lookup, redone
    every call because the body moves). Its depth, scaled by sigma_k, is taken along the contact
    vertex's own viewing ray: the neighbour stands in for the scene the person occludes, so only
    its depth is trusted, not its lateral position (which is off by the mask's width).
    """
    k = p.row_keyframe[p.contact_row]
    x_world = world_points(d, d.body.contact_vertices)[p.contact_row, p.contact_vertex]
    x_k = to_camera(d.R_key[k], d.c_key[k], x_world[:, None, :])[:, 0]
    with torch.no_grad():
        uv = project(x_k, d.focal, p.cx, p.cy)
        uv_map = (uv + 0.5) / p.stride - 0.5
        partner, dist, ok = lookup_partners(uv_map, k, p.nb_index, p.nb_distance)
        h, w = p.depth.shape[1:]
        flat = k * (h * w) + partner.clamp(min=0)
        raw_depth = p.depth.reshape(-1)[flat]
        conf = p.conf.reshape(-1)[flat]
        ok = ok & (dist <= cfg.contact_max_pixels) & (raw_depth > 0) & (x_k[:, 2] > 0.05)
    z_scene = d.scale[k] * raw_depth
    if check_depth:
        with torch.no_grad():
            ok = ok & ((x_k[:, 2] - z_scene).abs() < cfg.contact_depth_ratio * z_scene)
    return x_k, z_scene, ok, conf


def contact_alignment(p: Problem, d: Derived, cfg: OptimConfig) -> torch.Tensor:
    """L_c1: a contact vertex lies on the scene surface behind it (metres along its ray)."""
    if p.contact_row.shape[0] == 0:
        return d.focal.new_zeros(())
    x_k, z_scene, ok, conf = contact_partners(p, d, cfg)
    ray_length = x_k.norm(dim=-1) / x_k[:, 2].clamp(min=1e-3)
    r = (x_k[:, 2] - z_scene).abs() * ray_length / cfg.c1_scale
    return _weighted_mean(pseudo_huber(r), p.contact_weight * conf * ok)


def contact_stillness(p: Problem, d: Derived, cfg: OptimConfig) -> torch.Tensor:
    """L_c2: a vertex in contact in consecutive frames does not move in the world."""
    if p.still_row0.shape[0] == 0:
        return d.focal.new_zeros(())
    X = world_points(d, d.body.contact_vertices)
    step = X[p.still_row1, p.still_vertex] - X[p.still_row0, p.still_vertex]
    return _weighted_mean(pseudo_huber(step.norm(dim=-1) / cfg.c2_scale), p.still_weight)
