"""What the benchmark protocol consumes: one ground-truth sequence and one predicted sequence.

Dataset readers (`josh.eval.datasets.*`) produce `GroundTruthSequence`; prediction loaders
(`josh.eval.predictions`) produce `PredictedSequence`. The protocol (`josh.eval.protocol`) never
looks at files. Frames are identified by their 0-based video frame index everywhere.

Conventions: metres; 4x4 rigid transforms acting on column vectors [x; 1]; GT extrinsics are
world-to-camera (w2c), predicted cameras camera-to-world (c2w), OpenCV axes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from josh.eval.smpl_eval import SmplParams


def transform_points(T: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Apply 4x4 transform(s) T (4,4) or (N,4,4) to points X (..., 3) or (N, ..., 3)."""
    T = np.asarray(T, np.float64)
    X = np.asarray(X, np.float64)
    if T.ndim == 2:
        return X @ T[:3, :3].T + T[:3, 3]
    rot, trans = T[:, :3, :3], T[:, :3, 3]
    flat = X.reshape(len(X), -1, 3)
    out = np.einsum("nij,nkj->nki", rot, flat) + trans[:, None, :]
    return out.reshape(X.shape)


def rigid_inverse(T: np.ndarray) -> np.ndarray:
    """Inverse of rigid 4x4 transform(s) (..., 4, 4)."""
    T = np.asarray(T, np.float64)
    out = np.zeros_like(T)
    rot_t = np.swapaxes(T[..., :3, :3], -1, -2)
    out[..., :3, :3] = rot_t
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", rot_t, T[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out


@dataclass
class CameraModel:
    """A dataset camera: pinhole intrinsics, optional OpenCV distortion (k1, k2, p1, p2, k3)."""

    K: np.ndarray  # (3, 3)
    width: int
    height: int
    distortion: np.ndarray | None = None

    def project(self, X_cam: np.ndarray) -> np.ndarray:
        """Pixels (N, 2) of camera-frame points (N, 3) (z > 0 expected), with distortion."""
        X = np.asarray(X_cam, np.float64)
        x, y = X[:, 0] / X[:, 2], X[:, 1] / X[:, 2]
        if self.distortion is not None and np.any(self.distortion):
            k1, k2, p1, p2, k3 = (float(v) for v in self.distortion[:5])
            r2 = x * x + y * y
            radial = 1.0 + k1 * r2 + k2 * r2**2 + k3 * r2**3
            x, y = (x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
                    y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)  # fmt: skip
        K = self.K
        return np.stack([K[0, 0] * x + K[0, 1] * y + K[0, 2], K[1, 1] * y + K[1, 2]], axis=1)


@dataclass
class GroundTruthSequence:
    """Ground truth of one sequence, one row per annotated frame.

    `frame_ids[i]` is the video frame of row i. `body` holds the GT SMPL parameters in the dataset's
    own frame ("world"); `joints`, `feet` and `transl` are the same bodies evaluated with the
    gendered (EMDB, SLOPER4D) or neutral (RICH) model, in that frame. `w2c` maps that frame into
    the camera of each row (None where the dataset has no per-frame cameras: RICH, whose GT is
    already in camera coordinates).
    """

    dataset: str
    name: str
    fps: float
    frame_ids: np.ndarray  # (M,) int
    body: SmplParams  # (M,)
    joints: np.ndarray  # (M, 24, 3)
    feet: np.ndarray  # (M, 4, 3) SMPL foot vertices
    valid: np.ndarray  # (M,) bool, e.g. EMDB good_frames_mask
    w2c: np.ndarray | None = None  # (M, 4, 4)
    n_video_frames: int | None = None  # frames the predicted camera track must cover (ATE)
    camera: CameraModel | None = None
    scene_points: Callable[[], np.ndarray] | None = None  # lazily read GT scene (N, 3), dataset frame
    depth_scan: Callable[[int], np.ndarray | None] | None = None  # GT points seen at a frame (SLOPER4D)
    evaluate_ate: bool = True
    evaluate_recon: bool = True
    notes: list[str] = field(default_factory=list)
    source: Path | None = None

    @property
    def transl(self) -> np.ndarray:
        return self.body.transl


@dataclass
class PredictedScene:
    """The dense scene of a JOSH result (official `scene.pkl` keys `depth_hw`, `conf_hw`,
    `intrinsics`, `img_idx`): per keyframe a metric z-depth map and a confidence map."""

    depth: np.ndarray  # (K, H, W), kept in the file's dtype (float32: long videos have many keyframes)
    conf: np.ndarray  # (K, H, W)
    K: np.ndarray  # (3, 3) of the depth-map resolution
    keyframes: np.ndarray  # (K,) video frame of each depth map
    _ray_cache: dict = field(default_factory=dict, repr=False, compare=False)

    def points_camera(self, index: int, stride: int = 1, conf_threshold: float = 0.1) -> np.ndarray:
        """Back-projected confident pixels of keyframe `index`, camera frame (n, 3).

        Integer pixel grid (u, v) = (column, row); X = K^-1 [u, v, 1] * depth; kept where
        conf > `conf_threshold` and depth > 0 (per pixel, the official SLOPER4D rule).
        """
        depth = np.asarray(self.depth[index, ::stride, ::stride], np.float64)
        keep = (self.conf[index, ::stride, ::stride] > conf_threshold) & (depth > 0)
        return self._rays(stride)[keep] * depth[keep][:, None]

    def _rays(self, stride: int) -> np.ndarray:
        """K^-1 [u, v, 1] of every (strided) pixel, (H', W', 3), computed once per stride."""
        if stride not in self._ray_cache:
            rows, cols = np.meshgrid(np.arange(self.depth.shape[1])[::stride],
                                     np.arange(self.depth.shape[2])[::stride], indexing="ij")  # fmt: skip
            pixels = np.stack([cols, rows, np.ones_like(cols)], axis=-1).astype(np.float64)
            self._ray_cache[stride] = pixels @ np.linalg.inv(np.asarray(self.K, np.float64)).T
        return self._ray_cache[stride]


@dataclass
class PredictedSequence:
    """One person's predicted motion plus the predicted cameras (and scene) of the video.

    Bodies are given in the camera frame of their own frame, as the official `hps_track_*.npy`
    stores them; the protocol maps them into the first evaluated camera with `cam_c2w`.

    `body_model` says how the 24 joints were made:
      - "smpl": neutral SMPL, per-sequence mean betas (`smpl` holds the parameters; vertex metrics
        available);
      - "anny" (or any non-SMPL model): 24 skeleton joints in SMPL order used as an approximate
        SMPL-joint conversion; `feet` are the model's own foot vertices (L heel, L toe, R heel,
        R toe); no SMPL vertices, so PVE and the collision rate are skipped.
    """

    frames: np.ndarray  # (N,) video frame of each row, increasing
    cam_c2w: np.ndarray  # (T, 4, 4) predicted camera-to-world of every video frame
    joints_cam: np.ndarray  # (N, 24, 3)
    transl_cam: np.ndarray  # (N, 3) the point RTE tracks (SMPL transl; root joint for other models)
    feet_cam: np.ndarray | None = None  # (N, 4, 3)
    smpl: SmplParams | None = None  # (N,) camera-frame SMPL parameters
    body_model: str = "smpl"
    scene: PredictedScene | None = None
    source: str = ""

    def rows_for(self, frames: np.ndarray) -> np.ndarray:
        """Row index of each requested video frame (all must be present)."""
        lookup = {int(f): i for i, f in enumerate(self.frames)}
        return np.array([lookup[int(f)] for f in frames], dtype=np.int64)
