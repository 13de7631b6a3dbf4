"""Contact partner search: O(1) per contact through precomputed nearest-background index maps.

For every keyframe depth map we precompute, with one Euclidean distance transform, the flat index
of the nearest background pixel of every pixel. During optimisation a contact vertex projects to a
pixel, and its scene partner is read from that map: no scan over the image, fully vectorised.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy import ndimage


def nearest_background_maps(background: np.ndarray, row_weight: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Nearest background pixel of every pixel, per keyframe.

    background (K, h, w) bool. Returns `index` (K, h, w) int64, the flat index (into h*w) of the
    nearest background pixel (itself when it is background), and `distance` (K, h, w) in pixels
    (horizontal units). `row_weight` > 1 makes vertical steps count more (see OptimConfig).
    Keyframes without any background get index -1.
    """
    K, h, w = background.shape
    index = np.full((K, h, w), -1, np.int64)
    distance = np.full((K, h, w), np.inf, np.float32)
    for k in range(K):  # set-up only, once per keyframe
        if not background[k].any():
            continue
        dist, (rows, cols) = ndimage.distance_transform_edt(
            ~background[k], sampling=(row_weight, 1.0), return_indices=True
        )
        index[k] = rows * w + cols
        distance[k] = dist
    return index, distance


def contact_depth_maps(depth: np.ndarray, background: np.ndarray, radius: int = 1) -> np.ndarray:
    """Depth maps for contact queries: each background pixel's depth replaced by the median over
    the background pixels of its (2 radius + 1)^2 neighbourhood. A contact compares a body vertex
    with one scene pixel; the median removes that pixel's own noise (and isolated bad depths)
    while keeping depth edges (a median does not blur across a step). Non-background stays 0."""
    K, h, w = depth.shape
    values = np.where(background, depth, np.nan).astype(np.float32)
    padded = np.pad(values, ((0, 0), (radius, radius), (radius, radius)), constant_values=np.nan)
    windows = [padded[:, i : i + h, j : j + w] for i in range(2 * radius + 1) for j in range(2 * radius + 1)]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows (no background) stay NaN
        median = np.nanmedian(np.stack(windows), axis=0)
    return np.where(background & np.isfinite(median), median, 0.0).astype(np.float32)


def lookup_partners(
    uv_depth: torch.Tensor,
    keyframe: torch.Tensor,
    index_map: torch.Tensor,
    distance_map: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scene partner of each query pixel.

    uv_depth (n, 2): query positions in depth-map pixel units (column, row); keyframe (n,).
    Returns the partner's flat pixel index (n,), its distance in pixels (n,) and whether the query
    landed inside the map (n,). Out-of-map queries are clamped (and flagged).
    """
    K, h, w = index_map.shape
    col = torch.round(uv_depth[:, 0]).long()
    row = torch.round(uv_depth[:, 1]).long()
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    col, row = col.clamp(0, w - 1), row.clamp(0, h - 1)
    flat = keyframe * (h * w) + row * w + col
    partner = index_map.reshape(-1)[flat]
    dist = distance_map.reshape(-1)[flat]
    return partner, dist, inside & (partner >= 0)
