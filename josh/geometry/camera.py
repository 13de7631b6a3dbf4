"""Pinhole projection, back-projection and camera-pose interpolation (torch, differentiable).

Conventions: OpenCV camera axes, camera-to-world poses as (R (..,3,3), c (..,3)) so that a camera
point x maps to the world as R x + c; pixels (u, v) with the principal point (cx, cy).
"""

from __future__ import annotations

import numpy as np
import roma
import torch


def map_pixel_centres(h: int, w: int, stride: float) -> tuple[np.ndarray, np.ndarray]:
    """Image coordinates (u, v), each (h, w), of the centres of a map with `stride` image pixels
    per map pixel: map pixel (i, j) covers image pixel ((j + 0.5) stride - 0.5, (i + 0.5) stride - 0.5)."""
    u = (np.arange(w) + 0.5) * stride - 0.5
    v = (np.arange(h) + 0.5) * stride - 0.5
    return np.meshgrid(u, v)


def image_to_map(uv, stride: float):
    """Continuous map coordinates (column, row) of image pixels (..., 2): the inverse of the above."""
    return (uv + 0.5) / stride - 0.5


def backproject(uv: torch.Tensor, depth: torch.Tensor, focal, cx: float, cy: float) -> torch.Tensor:
    """Camera-frame points (..., 3) of pixels (..., 2) at z-depth (...)."""
    x = (uv[..., 0] - cx) / focal * depth
    y = (uv[..., 1] - cy) / focal * depth
    return torch.stack([x, y, depth], -1)


def project(points: torch.Tensor, focal, cx: float, cy: float, min_depth: float = 1e-3) -> torch.Tensor:
    """Pixels (..., 2) of camera-frame points (..., 3); depth clamped to stay finite."""
    z = points[..., 2].clamp(min=min_depth)
    return torch.stack([focal * points[..., 0] / z + cx, focal * points[..., 1] / z + cy], -1)


def to_world(R: torch.Tensor, c: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """x_world = R x + c for points (..., n, 3) and poses (..., 3, 3), (..., 3)."""
    return points @ R.transpose(-1, -2) + c[..., None, :]


def to_camera(R: torch.Tensor, c: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """x_cam = R^T (x - c): the inverse of `to_world`."""
    return (points - c[..., None, :]) @ R


def interpolation_weights(keyframe_ids: np.ndarray, frames: np.ndarray):
    """For each frame, the keyframe interval (left index) and the fraction along it.

    Frames outside [first, last] keyframe are clamped to the end poses.
    """
    keyframe_ids = np.asarray(keyframe_ids)
    frames = np.clip(np.asarray(frames), keyframe_ids[0], keyframe_ids[-1])
    if len(keyframe_ids) == 1:
        return np.zeros(len(frames), int), np.zeros(len(frames))
    left = np.clip(np.searchsorted(keyframe_ids, frames, side="right") - 1, 0, len(keyframe_ids) - 2)
    span = keyframe_ids[left + 1] - keyframe_ids[left]
    return left, (frames - keyframe_ids[left]) / span


def interpolate_poses(R_key: torch.Tensor, c_key: torch.Tensor, left: torch.Tensor, alpha: torch.Tensor):
    """Poses between keyframes: rotation by geodesic (slerp) interpolation, centre linearly.

    R_key (K,3,3), c_key (K,3); `left`/`alpha` from `interpolation_weights`.
    """
    if R_key.shape[0] == 1:
        return R_key[left], c_key[left]
    R0, R1 = R_key[left], R_key[left + 1]
    a = alpha.to(R_key.dtype)
    delta = roma.rotmat_to_rotvec(R0.transpose(-1, -2) @ R1)
    R = R0 @ roma.rotvec_to_rotmat(a[:, None] * delta)
    c = (1 - a[:, None]) * c_key[left] + a[:, None] * c_key[left + 1]
    return R, c


def homogeneous(R: np.ndarray | torch.Tensor, c: np.ndarray | torch.Tensor) -> np.ndarray:
    """4x4 matrices (..., 4, 4) from rotations and translations."""
    R = np.asarray(R.detach().cpu() if torch.is_tensor(R) else R, dtype=np.float64)
    c = np.asarray(c.detach().cpu() if torch.is_tensor(c) else c, dtype=np.float64)
    T = np.zeros(R.shape[:-2] + (4, 4))
    T[..., :3, :3] = R
    T[..., :3, 3] = c
    T[..., 3, 3] = 1.0
    return T
