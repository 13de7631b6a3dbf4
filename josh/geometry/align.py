"""Point-set alignment (Umeyama similarity / rigid fits) used by the evaluation metrics.

All functions take numpy arrays in any float dtype and compute in float64. The recipe is the one
of SLAHMR/WHAM ``align_pcl`` (see reference/official-josh.md §1.1), so the field's metrics are
reproduced exactly, including the reflection fix.
"""

from __future__ import annotations

import numpy as np


def _fit_batched(src: np.ndarray, dst: np.ndarray, with_scale: bool = True):
    """Least-squares similarity dst ≈ s R src + t for a batch of point sets.

    src, dst: (B, N, 3). Returns s (B,), R (B, 3, 3), t (B, 3).
    C = y0ᵀx0/N, C = U D Vh, S = diag(1, 1, ±1) fixes reflections, R = U S Vh,
    s = tr(D S) / (Σ‖x0‖²/N), t = my − s R mx.
    """
    x = np.asarray(src, dtype=np.float64)
    y = np.asarray(dst, dtype=np.float64)
    n = x.shape[-2]
    mx, my = x.mean(axis=-2), y.mean(axis=-2)
    x0, y0 = x - mx[..., None, :], y - my[..., None, :]
    cov = np.einsum("bni,bnj->bij", y0, x0) / n
    u, d, vh = np.linalg.svd(cov)
    sign = np.where(np.linalg.det(u) * np.linalg.det(vh) < 0, -1.0, 1.0)
    svec = np.ones_like(d)
    svec[:, 2] = sign
    rot = u @ (svec[:, :, None] * vh)
    if with_scale:
        var_x = (x0**2).sum(axis=(-2, -1)) / n
        scale = (d * svec).sum(axis=-1) / var_x
    else:
        scale = np.ones(x.shape[0])
    trans = my - scale[:, None] * np.einsum("bij,bj->bi", rot, mx)
    return scale, rot, trans


def umeyama(src: np.ndarray, dst: np.ndarray, with_scale: bool = True):
    """Similarity (s, R, t) mapping src (N,3) onto dst (N,3), minimising ‖dst − (s R src + t)‖².

    with_scale=False gives the rigid (SE(3)) fit with s = 1. R is a proper rotation (det +1).
    """
    s, rot, t = _fit_batched(np.asarray(src)[None], np.asarray(dst)[None], with_scale)
    return float(s[0]), rot[0], t[0]


def apply_similarity(s: float, R: np.ndarray, t: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Apply x ↦ s R x + t to points X of shape (..., 3)."""
    X = np.asarray(X, dtype=np.float64)
    return s * X @ np.asarray(R, dtype=np.float64).T + np.asarray(t, dtype=np.float64)


def procrustes_per_frame(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Align each frame of pred (T,J,3) onto gt (T,J,3) with its own similarity (PA-MPJPE).

    Same result as HMR's ``batch_compute_similarity_transform``; vectorised over frames.
    """
    pred = np.asarray(pred, dtype=np.float64)
    s, rot, t = _fit_batched(pred, gt, with_scale=True)
    return s[:, None, None] * np.einsum("bij,bnj->bni", rot, pred) + t[:, None, :]
