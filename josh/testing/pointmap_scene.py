"""A ray-cast synthetic scene (a ground plane and a box) seen by known cameras, for point-map tests.

`render(T_wc, focal, size)` returns exactly what an ideal point-map model would output for that
view: the camera-frame point map, a confidence map (1 on surfaces, 0 for rays that hit nothing
within range) and a textured RGB image (random grey cells fixed to the surfaces, so features
are matchable across views). World: OpenCV-like axes, y down; the ground is the plane y = 1.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PlaneAndBox:
    ground_y: float = 1.5
    box_min: tuple = (-0.6, 0.7, 4.0)
    box_max: tuple = (0.4, 1.5, 5.0)
    max_range: float = 40.0
    cell: float = 0.25  # texture cell on the ground (m)
    box_cell: float = 0.1
    seed: int = 0

    def __post_init__(self):
        self._table = np.random.default_rng(self.seed).integers(20, 235, (97, 97, 3)).astype(np.uint8)

    def _texture(self, a: np.ndarray, b: np.ndarray, cell: float, salt: int) -> np.ndarray:
        i = (np.floor(a / cell).astype(int) * 31 + salt) % 97
        j = (np.floor(b / cell).astype(int) * 17 + 3 * salt) % 97
        return self._table[i, j]

    def render(self, T_wc: np.ndarray, focal: float, size: tuple[int, int]):
        """(points (H, W, 3) camera frame, conf (H, W), rgb (H, W, 3) uint8) of one view."""
        W, H = size
        v, u = np.mgrid[0:H, 0:W].astype(float)
        return self.cast(T_wc, focal, size, u, v)

    def cast(self, T_wc: np.ndarray, focal: float, size: tuple[int, int], u: np.ndarray, v: np.ndarray):
        """`render` at arbitrary pixel positions u, v (any equal shapes)."""
        W, H = size
        d_cam = np.stack([(u - (W - 1) / 2) / focal, (v - (H - 1) / 2) / focal, np.ones_like(u)], -1)
        R, c = T_wc[:3, :3], T_wc[:3, 3]
        d = d_cam @ R.T  # world directions, camera z component = 1 so the ray parameter is depth
        with np.errstate(divide="ignore", invalid="ignore"):
            t_ground = np.where(d[..., 1] > 1e-9, (self.ground_y - c[1]) / d[..., 1], np.inf)
            lo = (np.array(self.box_min) - c) / d
            hi = (np.array(self.box_max) - c) / d
        t_enter = np.nanmax(np.minimum(lo, hi), -1)
        t_exit = np.nanmin(np.maximum(lo, hi), -1)
        t_box = np.where((t_enter <= t_exit) & (t_enter > 1e-6), t_enter, np.inf)
        t = np.minimum(t_ground, t_box)
        hit = np.isfinite(t) & (t < self.max_range)
        t = np.where(hit, t, self.max_range)
        points = d_cam * t[..., None]
        world = c + d * t[..., None]
        on_box = hit & (t_box <= t_ground)
        rgb = self._texture(world[..., 0], world[..., 2], self.cell, 0)
        box_rgb = np.where(
            np.isclose(world[..., 2:3], self.box_min[2], atol=1e-6),
            self._texture(world[..., 0], world[..., 1], self.box_cell, 1),
            self._texture(world[..., 2], world[..., 1], self.box_cell, 2),
        )  # fmt: skip
        rgb = np.where(on_box[..., None], box_rgb, rgb)
        rgb = np.where(hit[..., None], rgb, 200).astype(np.uint8)
        return points.astype(np.float32), hit.astype(np.float32), rgb


def look(yaw: float, pitch: float, centre) -> np.ndarray:
    """Camera-to-world with the given yaw (about world y) and downward pitch (radians)."""
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    R_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    R_pitch = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]])  # +pitch turns the view down (y down)
    T = np.eye(4)
    T[:3, :3] = R_yaw @ R_pitch
    T[:3, 3] = centre
    return T
