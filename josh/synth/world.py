"""Static synthetic world: a terrain height field plus box-shaped structures, and a ray caster.

World frame: Z up, metres. The walkers head roughly along +x, so every terrain varies along x only:

- ``flat``: z = 0;
- ``steps``: a staircase of `n` risers across the path (each ``rise`` high, treads ``run`` deep),
  then a landing that continues forever;
- ``slope``: flat ground, then an incline of angle ``theta`` going up along +x.

The terrain is stored as a piecewise-linear function of x with breakpoints ``xs`` and one line
z = a_i + b_i x per segment (segment i spans [xs[i-1], xs[i]), the first and last are unbounded);
a jump of height at a breakpoint is a vertical riser face. Structures are boxes rotated about the
vertical axis (walls, pillars, crates) that reach below the terrain, so their visible part is
exactly what sticks out of it. Everything is ray-cast analytically and vectorised over rays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from josh.geometry.camera import map_pixel_centres

SKY = -1  # surface id of a ray that hits nothing within range
TERRAIN = 0  # surface id of the terrain; box b has id b + 1


# ------------------------------------------------------------------------------------- terrain
@dataclass
class Terrain:
    kind: str
    xs: np.ndarray  # (n,) increasing breakpoints in x
    a: np.ndarray  # (n+1,) z = a + b x on each segment
    b: np.ndarray  # (n+1,)

    def _segment(self, x: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.xs, x, side="right")

    def height(self, xy: np.ndarray) -> np.ndarray:
        """Terrain height z under points (..., 2) (or (..., 3); only x and y are read)."""
        x = np.asarray(xy)[..., 0]
        i = self._segment(x)
        return self.a[i] + self.b[i] * x

    def gradient_x(self, xy: np.ndarray) -> np.ndarray:
        """dz/dx of the terrain under points (..., 2) (0 on treads and flat ground)."""
        return self.b[self._segment(np.asarray(xy)[..., 0])]

    def risers(self):
        """Vertical faces at breakpoints with a height jump: (x, z_low, z_high) arrays."""
        left = self.a[:-1] + self.b[:-1] * self.xs
        right = self.a[1:] + self.b[1:] * self.xs
        jump = np.abs(right - left) > 1e-9
        return self.xs[jump], np.minimum(left, right)[jump], np.maximum(left, right)[jump]

    def max_height_between(self, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        """Highest terrain point for x in [min(x0,x1), max(x0,x1)] (vectorised)."""
        lo, hi = np.minimum(x0, x1), np.maximum(x0, x1)
        best = np.maximum(self.height(np.stack([lo, lo], -1)), self.height(np.stack([hi, hi], -1)))
        for j, xb in enumerate(self.xs):  # values just either side of every breakpoint inside
            inside = (xb > lo) & (xb < hi)
            z = max(self.a[j] + self.b[j] * xb, self.a[j + 1] + self.b[j + 1] * xb)
            best = np.where(inside, np.maximum(best, z), best)
        return best


def make_terrain(kind: str, rng: np.random.Generator, start_x: float) -> Terrain:
    """A terrain of the given kind whose feature (steps, incline) begins at about ``start_x``."""
    if kind == "flat":
        return Terrain("flat", np.zeros(0), np.zeros(1), np.zeros(1))
    if kind == "steps":
        n = int(rng.integers(4, 6))  # 4 or 5 risers
        rise = float(rng.uniform(0.13, 0.17))
        run = float(rng.uniform(0.42, 0.48))
        xs = start_x + run * np.arange(n)
        a = rise * np.arange(n + 1, dtype=float)
        return Terrain("steps", xs, a, np.zeros(n + 1))
    if kind == "slope":
        theta = np.deg2rad(rng.uniform(8.0, 12.0))
        g = float(np.tan(theta))
        return Terrain("slope", np.array([start_x]), np.array([0.0, -g * start_x]), np.array([0.0, g]))
    raise ValueError(f"unknown terrain {kind!r}; choose 'flat', 'steps' or 'slope'")


# ---------------------------------------------------------------------------------------- boxes
@dataclass
class Boxes:
    """B boxes rotated by `yaw` about the vertical through their centre."""

    centre: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (B, 3)
    half: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (B, 3) half extents
    yaw: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (B,)
    kind: list = field(default_factory=list)  # "wall" | "pillar" | "crate"
    color: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.uint8))  # (B, 3)

    def __len__(self) -> int:
        return int(self.centre.shape[0])

    def to_local(self, points: np.ndarray) -> np.ndarray:
        """Points (..., 3) in every box's frame: (..., B, 3)."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        d = points[..., None, :] - self.centre
        return np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1], d[..., 2]], -1)

    def surface_distance(self, points: np.ndarray) -> np.ndarray:
        """Unsigned distance of points (..., 3) to the surface of each box: (..., B)."""
        q = np.abs(self.to_local(points)) - self.half
        outside = np.linalg.norm(np.maximum(q, 0.0), axis=-1)
        inside = np.minimum(q.max(-1), 0.0)
        return np.abs(outside + inside)

    def contains_xy(self, xy: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Whether points (..., 2) are within `margin` of a box footprint: (..., B)."""
        p = np.concatenate([xy, np.zeros(xy.shape[:-1] + (1,))], -1)
        q = np.abs(self.to_local(p))[..., :2] - self.half[:, :2]
        return np.linalg.norm(np.maximum(q, 0.0), axis=-1) <= margin


# ---------------------------------------------------------------------------------------- world
@dataclass
class World:
    terrain: Terrain
    boxes: Boxes
    max_range: float = 60.0

    def surface_distance(self, points: np.ndarray) -> np.ndarray:
        """Distance (...,) of points (..., 3) to the nearest surface (terrain treads, risers, boxes)."""
        p = np.asarray(points, float)
        t = self.terrain
        x, z = p[..., 0], p[..., 2]
        i = t._segment(x)
        best = np.abs(z - t.a[i] - t.b[i] * x) / np.sqrt(1.0 + t.b[i] ** 2)
        rx, rlo, rhi = t.risers()
        for xb, lo, hi in zip(rx, rlo, rhi):
            dz = np.maximum(np.maximum(lo - z, z - hi), 0.0)
            best = np.minimum(best, np.hypot(x - xb, dz))
        if len(self.boxes):
            best = np.minimum(best, self.boxes.surface_distance(p).min(-1))
        return best

    def raycast(self, origins: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First hit along rays o + t d (t > 0) for origins/dirs (R, 3).

        Returns t (R,) (inf where nothing is hit within `max_range` metres) and the surface id
        (R,): SKY, TERRAIN or 1 + box index. With d = R_wc (x, y, 1) the hit's t is its z-depth.
        """
        o = np.asarray(origins, float)
        d = np.asarray(dirs, float)
        R = o.shape[0]
        best = np.full(R, np.inf)
        sid = np.full(R, SKY, np.int64)
        eps = 1e-9
        t = self.terrain
        lo = np.concatenate([[-np.inf], t.xs])
        hi = np.concatenate([t.xs, [np.inf]])
        for a, b, x0, x1 in zip(t.a, t.b, lo, hi):  # segments z = a + b x
            den = d[:, 2] - b * d[:, 0]
            with np.errstate(divide="ignore", invalid="ignore"):
                th = (a + b * o[:, 0] - o[:, 2]) / den
            xh = o[:, 0] + th * d[:, 0]
            ok = (np.abs(den) > eps) & (th > 1e-6) & (xh >= x0) & (xh <= x1) & (th < best)
            best = np.where(ok, th, best)
            sid = np.where(ok, TERRAIN, sid)
        for xb, zlo, zhi in zip(*t.risers()):
            with np.errstate(divide="ignore", invalid="ignore"):
                th = (xb - o[:, 0]) / d[:, 0]
            zh = o[:, 2] + th * d[:, 2]
            ok = (np.abs(d[:, 0]) > eps) & (th > 1e-6) & (zh >= zlo) & (zh <= zhi) & (th < best)
            best = np.where(ok, th, best)
            sid = np.where(ok, TERRAIN, sid)
        bx = self.boxes
        if len(bx):
            ol = bx.to_local(o)  # (R, B, 3)
            c, s = np.cos(bx.yaw), np.sin(bx.yaw)
            dl = np.stack([c * d[:, None, 0] + s * d[:, None, 1], -s * d[:, None, 0] + c * d[:, None, 1],
                           np.broadcast_to(d[:, None, 2], (R, len(bx)))], -1)  # fmt: skip
            with np.errstate(divide="ignore", invalid="ignore"):
                inv = 1.0 / dl
                t1 = (-bx.half - ol) * inv
                t2 = (bx.half - ol) * inv
            # rays parallel to a slab: inside it -> (-inf, inf), outside -> empty
            par = np.abs(dl) < 1e-12
            inside_slab = np.abs(ol) <= bx.half
            t1 = np.where(par, np.where(inside_slab, -np.inf, np.inf), t1)
            t2 = np.where(par, np.where(inside_slab, np.inf, -np.inf), t2)
            tn = np.minimum(t1, t2).max(-1)
            tf = np.maximum(t1, t2).min(-1)
            hit = (tn <= tf) & (tn > 1e-6)
            tb = np.where(hit, tn, np.inf)
            j = tb.argmin(1)
            tj = tb[np.arange(R), j]
            ok = tj < best
            best = np.where(ok, tj, best)
            sid = np.where(ok, j + 1, sid)
        rng = best * np.linalg.norm(d, axis=1)
        far = ~(rng <= self.max_range)
        best[far] = np.inf
        sid[far] = SKY
        return best, sid

    def colors(self, points: np.ndarray, sid: np.ndarray) -> np.ndarray:
        """A procedural texture (uint8 RGB) at hit points: a checkered ground, tinted boxes."""
        p = np.asarray(points)
        checker = ((np.floor(p[..., 0] / 0.5) + np.floor(p[..., 1] / 0.5) + np.floor(p[..., 2] / 0.5)) % 2)
        shade = 0.85 + 0.15 * checker
        base = np.empty(p.shape[:-1] + (3,))
        base[...] = (120.0, 128.0, 110.0)  # ground
        if len(self.boxes):
            box = sid >= 1
            base[box] = self.boxes.color[sid[box] - 1]
        out = base * shade[..., None]
        out[sid == SKY] = (170, 200, 235)
        return np.clip(out, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------- structures
def _segment_point_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of 2D points p (n, 2) to segments a->b (m, 2): (n, m)."""
    ab = b - a
    L2 = np.maximum((ab**2).sum(-1), 1e-12)
    ap = p[:, None] - a[None]
    u = np.clip((ap * ab[None]).sum(-1) / L2[None], 0.0, 1.0)
    return np.linalg.norm(ap - u[..., None] * ab[None], axis=-1)


def place_structures(
    rng: np.random.Generator,
    terrain: Terrain,
    walk_xy: np.ndarray,
    camera_xy: np.ndarray,
    sight_from: np.ndarray,
    sight_to: np.ndarray,
    far_side: float,
) -> Boxes:
    """Walls, pillars and crates around the walkers' corridor, never on it or in the camera's way.

    walk_xy (n, 2): every walker's root positions; camera_xy (m, 2): camera positions; sight
    segments (camera -> person) that must stay unobstructed; `far_side` = +1/-1: the side (in y)
    away from the camera, where structures form the background of the shot.
    """
    pts = np.concatenate([walk_xy, camera_xy])
    x_min, x_max = float(pts[:, 0].min()), float(pts[:, 0].max())
    walk_side = walk_xy[:, 1] * far_side
    edge = float(walk_side.max())  # farthest extent of the walkers towards the far side
    boxes: list[tuple] = []

    def ok(centre_xy, half_xy, yaw, clearance=0.6) -> bool:
        r = float(np.hypot(*half_xy)) + clearance
        if np.min(np.linalg.norm(walk_xy - centre_xy, axis=1)) < r:
            return False
        if np.min(np.linalg.norm(camera_xy - centre_xy, axis=1)) < r:
            return False
        if len(sight_from) and _segment_point_distance(centre_xy[None], sight_from, sight_to).min() < r - 0.2:
            return False
        return True

    def add(cx, cy, hx, hy, height, yaw, kind, color):
        foot = np.array([[cx - hx, cy - hy], [cx + hx, cy + hy], [cx - hx, cy + hy], [cx + hx, cy - hy]])
        r = np.hypot(hx, hy)
        g_lo = min(terrain.height(foot).min(), terrain.height(np.array([cx - r, cy])), terrain.height(np.array([cx + r, cy])))
        g_hi = max(terrain.height(foot).max(), terrain.height(np.array([cx - r, cy])), terrain.height(np.array([cx + r, cy])))
        z0, z1 = float(g_lo) - 0.5, float(g_hi) + height
        boxes.append(((cx, cy, (z0 + z1) / 2), (hx, hy, (z1 - z0) / 2), yaw, kind, color))

    # a long wall on the far side, in 2-3 segments of different heights
    wall_y = far_side * (edge + rng.uniform(2.5, 3.5))
    x0, x1 = x_min - 6.0, x_max + 8.0
    n_seg = int(rng.integers(2, 4))
    cuts = np.sort(rng.uniform(x0 + 3, x1 - 3, n_seg - 1))
    bounds = np.concatenate([[x0], cuts, [x1]])
    for i in range(n_seg):
        gap = 0.0 if i == 0 else rng.uniform(0.0, 1.2)
        a, b = bounds[i] + gap, bounds[i + 1]
        grey = rng.uniform(150, 215)
        add((a + b) / 2, wall_y, (b - a) / 2, 0.15, rng.uniform(2.2, 3.6), 0.0, "wall",
            (grey, grey * rng.uniform(0.9, 1.0), grey * rng.uniform(0.8, 0.95)))  # fmt: skip
    # a far wall across the path ahead
    far_x = x_max + rng.uniform(6.0, 9.0)
    add(far_x, 0.0, 0.2, 9.0, rng.uniform(3.0, 4.5), 0.0, "wall", (190, 170, 150))

    # pillars between the corridor and the side wall
    n_pillars = int(rng.integers(3, 6))
    placed, tries = 0, 0
    while placed < n_pillars and tries < 200:
        tries += 1
        cx = rng.uniform(x_min - 2.0, x_max + 4.0)
        cy = far_side * rng.uniform(edge + 1.0, abs(wall_y) - 0.5)
        h = rng.uniform(0.15, 0.25)
        if ok(np.array([cx, cy]), (h, h), 0.0):
            add(cx, cy, h, h, 3.2, 0.0, "pillar", (200, 200, 205))
            placed += 1
    # crates: beside the path on the far side or beyond the walkers' end point
    n_crates = int(rng.integers(3, 7))
    placed, tries = 0, 0
    while placed < n_crates and tries < 300:
        tries += 1
        hx, hy = rng.uniform(0.2, 0.6, 2)
        yaw = rng.uniform(-np.pi, np.pi)
        if rng.uniform() < 0.6:
            cx = rng.uniform(x_min - 1.0, x_max + 5.0)
            cy = far_side * rng.uniform(edge + 0.8, abs(wall_y) - 0.5)
        else:
            cx = rng.uniform(x_max + 1.5, far_x - 0.8)
            cy = rng.uniform(-3.0, 3.0)
        if ok(np.array([cx, cy]), (hx, hy), yaw):
            colour = rng.uniform(60, 230, 3)
            add(cx, cy, hx, hy, rng.uniform(0.4, 1.2), yaw, "crate", colour)
            placed += 1

    return Boxes(
        centre=np.array([b[0] for b in boxes], float),
        half=np.array([b[1] for b in boxes], float),
        yaw=np.array([b[2] for b in boxes], float),
        kind=[b[3] for b in boxes],
        color=np.array([b[4] for b in boxes], float).astype(np.uint8),
    )


# ---------------------------------------------------------------------------------- rendering
def render_depth(world: World, T_wc: np.ndarray, focal: float, cx: float, cy: float, width: int,
                 height: int, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """True z-depth (K, h, w) (0 = sky), surface ids (K, h, w) and colours (K, h, w, 3) of the
    static world seen by cameras T_wc (K, 4, 4) at depth-map resolution."""
    uu, vv = map_pixel_centres(height // stride, width // stride, stride)
    d_cam = np.stack([(uu - cx) / focal, (vv - cy) / focal, np.ones_like(uu)], -1)  # (h, w, 3)
    K = T_wc.shape[0]
    dirs = np.einsum("kij,hwj->khwi", T_wc[:, :3, :3], d_cam)
    origins = np.broadcast_to(T_wc[:, None, None, :3, 3], dirs.shape)
    t, sid = world.raycast(origins.reshape(-1, 3), dirs.reshape(-1, 3))
    hit = np.isfinite(t)
    pts = origins.reshape(-1, 3) + np.where(hit, t, 0.0)[:, None] * dirs.reshape(-1, 3)
    colors = world.colors(pts, sid)
    shape = (K,) + uu.shape
    depth = np.where(hit, t, 0.0).reshape(shape)
    return depth, sid.reshape(shape), colors.reshape(shape + (3,))
