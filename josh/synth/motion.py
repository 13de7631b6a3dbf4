"""Walkers with planted feet and a handheld camera that follows them.

How a walker is animated (all vectorised over frames):

1. A shared, gently curving centre line (heading ψ(s) = ψ0 + A (sin(2πs/λ + φ) − sin φ)) gives
   every walker a parallel lane, so walkers never cross. The pelvis moves along its lane at a
   constant speed v.
2. Footsteps are planned on that lane: alternating left/right, one every half gait cycle, at the
   arclength the pelvis reaches at the heel strike plus a lead. On stairs a footstep that would
   straddle a riser is moved onto the tread. Each footstep is flat on the terrain (pitched with a
   slope). During stance the foot rolls: heel rocker (toe up, pivot on the heel), foot flat, heel
   off (pivot on the toe). Pivots are fixed in the world, so the stance foot never slides.
3. The swing foot travels from lift-off to the next strike on a minimum-jerk path with a lift that
   is raised wherever the sole would come within 2.5 cm of the terrain (risers).
4. The pelvis height follows the (smoothed) terrain and is capped, frame by frame, so that every
   foot target stays within reach of its hip; the cap produces the natural vertical bob.
5. Legs are solved by analytic inverse kinematics (knee angle from the hip-ankle distance, hip
   rotation aligning the leg with the target and the knee with the foot's heading, ankle rotation
   giving the foot its exact world orientation). Torso twist, arm swing and pelvis rotation follow
   the gait phase.

Camera: behind and to one side of the group at 3-5 m, 1.4-1.7 m above the terrain, looking at the
group, with smooth handheld shake. Camera axes are OpenCV's (x right, y down, z forward).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from josh.synth.world import Terrain

# indices into body_pose (n_pose_bones = 19)
UPPERLEG = {"L": 0, "R": 3}
LOWERLEG = {"L": 1, "R": 4}
FOOT = {"L": 2, "R": 5}
SPINE05, SPINE03, SPINE01, NECK, HEAD = 6, 7, 8, 9, 10
UPPERARM = {"L": 12, "R": 16}
LOWERARM = {"L": 13, "R": 17}
# indices into RestState.joint_heads (root = 0, then the 19 pose bones)
HEAD_OF = lambda bone: bone + 1  # noqa: E731
FOOT_VERTEX = {"L": (0, 1), "R": (2, 3)}  # heel, toe in BodyOutput.foot_vertices


# ------------------------------------------------------------------------------------ rotations
def rot_x(a):
    a = np.asarray(a, float)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def rot_y(a):
    a = np.asarray(a, float)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def rot_z(a):
    a = np.asarray(a, float)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def heading_rotation(psi):
    """Root orientation of a body facing world heading ψ (canonical body faces -y, Z up)."""
    return rot_z(np.asarray(psi) + np.pi / 2)


def align_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotations (..., 3, 3) taking directions a onto directions b (..., 3)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1)
    c = np.clip((a * b).sum(-1), -1.0, 1.0)
    angle = np.arctan2(s, c)
    unit = axis / np.maximum(s, 1e-12)[..., None]
    return Rotation.from_rotvec((unit * angle[..., None]).reshape(-1, 3)).as_matrix().reshape(a.shape + (3,))


def rotvec(R: np.ndarray) -> np.ndarray:
    return Rotation.from_matrix(R.reshape(-1, 3, 3)).as_rotvec().reshape(R.shape[:-2] + (3,))


def smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def min_jerk(x):
    x = np.clip(x, 0.0, 1.0)
    return x**3 * (10 - 15 * x + 6 * x * x)


def smooth_signal(rng: np.random.Generator, t: np.ndarray, dims: int, amplitude: float,
                  f_lo: float = 0.3, f_hi: float = 2.0, n_waves: int = 3) -> np.ndarray:  # fmt: skip
    """A smooth random signal (T, dims): a sum of sinusoids with std about `amplitude`."""
    out = np.zeros((len(t), dims))
    for d in range(dims):
        f = rng.uniform(f_lo, f_hi, n_waves)
        ph = rng.uniform(0, 2 * np.pi, n_waves)
        a = rng.uniform(0.5, 1.0, n_waves)
        a *= amplitude * np.sqrt(2.0) / np.sqrt((a**2).sum())
        out[:, d] = (a * np.sin(2 * np.pi * f * t[:, None] + ph)).sum(-1)
    return out


# ------------------------------------------------------------------------------------ the path
@dataclass
class CentreLine:
    """A planar curve by arclength: positions (n, 2) and headings (n,) on a fine grid."""

    s: np.ndarray
    xy: np.ndarray
    psi: np.ndarray

    @classmethod
    def make(cls, rng: np.random.Generator, s_min: float, s_max: float, step: float = 0.01):
        amp = np.deg2rad(rng.uniform(6.0, 14.0)) * rng.choice([-1.0, 1.0])
        wavelength = rng.uniform(6.0, 10.0)
        phase = rng.uniform(0, 2 * np.pi)
        s = np.arange(s_min, s_max + step, step)
        psi = amp * (np.sin(2 * np.pi * s / wavelength + phase) - np.sin(phase))
        dx, dy = np.cos(psi), np.sin(psi)
        x = np.concatenate([[0.0], np.cumsum((dx[1:] + dx[:-1]) / 2 * step)])
        y = np.concatenate([[0.0], np.cumsum((dy[1:] + dy[:-1]) / 2 * step)])
        i0 = int(np.argmin(np.abs(s)))  # origin at s = 0
        xy = np.stack([x - x[i0], y - y[i0]], -1)
        return cls(s, xy, psi)

    def at(self, s: np.ndarray, offset=0.0) -> tuple[np.ndarray, np.ndarray]:
        """Positions (..., 2) of the lane at lateral `offset` (+ = left) and headings (...,)."""
        s = np.asarray(s, float)
        x = np.interp(s, self.s, self.xy[:, 0])
        y = np.interp(s, self.s, self.xy[:, 1])
        psi = np.interp(s, self.s, self.psi)
        n = np.stack([-np.sin(psi), np.cos(psi)], -1)
        return np.stack([x, y], -1) + np.asarray(offset)[..., None] * n, psi


def left_normal(psi):
    return np.stack([-np.sin(psi), np.cos(psi)], -1)


def forward_dir(psi):
    return np.stack([np.cos(psi), np.sin(psi)], -1)


# ---------------------------------------------------------------------------------- body shapes
def stature(body, shapes: np.ndarray) -> np.ndarray:
    """Standing height (m), sole to crown, of bodies with phenotypes (n, 6)."""
    n = shapes.shape[0]
    verts = body.mesh(torch.as_tensor(shapes, dtype=torch.float64), torch.eye(3).expand(n, 3, 3),
                      torch.zeros(n, 3), torch.zeros(n, body.n_pose_bones, 3))  # fmt: skip
    z = verts[..., 2].double().numpy()
    return z.max(1) - z.min(1)


def sample_shapes(body, rng: np.random.Generator, n: int, lo: float = 1.55, hi: float = 1.92):
    """n adult phenotypes (gender, age, muscle, weight, height, proportions) with statures in
    [lo, hi] m, drawn by rejection from a batch of candidates. Returns (shapes, statures)."""
    if n == 0:
        return np.zeros((0, 6)), np.zeros(0)
    cand = np.stack(
        [
            rng.uniform(0.0, 1.0, 24),  # gender
            rng.uniform(0.5, 0.7, 24),  # age: adult
            rng.uniform(0.3, 0.7, 24),  # muscle
            rng.uniform(0.3, 0.7, 24),  # weight
            rng.uniform(0.2, 0.65, 24),  # height
            rng.uniform(0.4, 0.6, 24),  # proportions
        ],
        -1,
    )
    h = stature(body, cand)
    ok = np.flatnonzero((h >= lo) & (h <= hi))
    if len(ok) < n:
        raise RuntimeError("could not draw adult body shapes")  # pragma: no cover
    return cand[ok[:n]], h[ok[:n]]


# ------------------------------------------------------------------------------------- walkers
@dataclass
class LegGeometry:
    """Rest geometry of one leg of one body (canonical frame, root joint at the origin)."""

    hip: np.ndarray  # (3,) head of upperleg
    knee: np.ndarray  # head of lowerleg
    ankle: np.ndarray  # head of foot
    heel: np.ndarray  # heel pivot on the sole plane
    toe: np.ndarray  # toe pivot on the sole plane
    centre: np.ndarray  # sole centre (the footstep reference point)
    points: np.ndarray  # (n, 3) the foot's contact candidates (for swing clearance)
    reach: float  # largest hip-ankle distance the leg can make

    @property
    def sole_z(self) -> float:
        return float(self.centre[2])


def leg_geometry(heads: np.ndarray, foot_vertices: np.ndarray, contacts: np.ndarray, sets: dict, side: str):
    hip, knee, ankle = (heads[HEAD_OF(b[side])] for b in (UPPERLEG, LOWERLEG, FOOT))
    name = "left" if side == "L" else "right"
    idx = np.unique(np.concatenate([sets[f"{name}_{k}"] for k in ("sole", "heel", "toes")]))
    pts = contacts[idx]
    z = pts[:, 2].min()
    hv, tv = foot_vertices[FOOT_VERTEX[side][0]], foot_vertices[FOOT_VERTEX[side][1]]
    heel = np.array([hv[0], hv[1], z])
    toe = np.array([tv[0], tv[1], z])
    u, w = knee - hip, ankle - knee
    P = u[1] * w[1] + u[2] * w[2]
    Q = u[2] * w[1] - u[1] * w[2]
    reach = np.sqrt(u @ u + w @ w + 2 * (u[0] * w[0] + np.hypot(P, Q)))
    return LegGeometry(hip, knee, ankle, heel, toe, (heel + toe) / 2, pts, float(reach))


def leg_ik(leg: LegGeometry, R_root: np.ndarray, t_root: np.ndarray, ankle_w: np.ndarray, F_w: np.ndarray):
    """Hip, knee and foot rotations (T, 3) putting the ankle at `ankle_w` (T, 3) with foot
    orientation `F_w` (T, 3, 3) for roots (T, 3, 3), (T, 3). Exact within the leg's reach."""
    u, w = leg.knee - leg.hip, leg.ankle - leg.knee
    d = np.einsum("tji,tj->ti", R_root, ankle_w - t_root) - leg.hip
    P = u[1] * w[1] + u[2] * w[2]
    Q = u[2] * w[1] - u[1] * w[2]
    rho, phi = np.hypot(P, Q), np.arctan2(Q, P)
    c = ((d**2).sum(-1) - u @ u - w @ w) / 2 - u[0] * w[0]
    beta = phi + np.arccos(np.clip(c / rho, -1.0, 1.0))
    v = u + np.einsum("tij,j->ti", rot_x(beta), w)
    F_local = np.einsum("tji,tjk->tik", R_root, F_w)
    f = F_local @ np.array([0.0, -1.0, 0.0])
    gamma = np.arctan2(f[:, 0], -f[:, 1])
    d_rot = np.einsum("tji,tj->ti", rot_z(gamma), d)  # Rz(-γ) d
    D_hip = rot_z(gamma) @ align_rotation(v, d_rot)
    D_foot = np.einsum("tji,tjk->tik", D_hip @ rot_x(beta), F_local)
    return rotvec(D_hip), np.stack([beta, 0 * beta, 0 * beta], -1), rotvec(D_foot)


@dataclass
class WalkerTruth:
    root_rotmat: np.ndarray  # (T, 3, 3)
    root_transl: np.ndarray  # (T, 3)
    body_pose: np.ndarray  # (T, 19, 3)
    ankle_target: np.ndarray  # (T, 2, 3) world ankle targets (L, R), for checks
    stance: np.ndarray  # (T, 2) bool: foot planted (L, R)
    arclength: np.ndarray  # (T,) pelvis arclength on the centre line


def _snap_to_treads(s_k, xy_fn, terrain: Terrain, leg: LegGeometry, margin=0.04):
    """Move footstep arclengths so that no foot straddles a riser."""
    risers = terrain.risers()[0]
    if len(risers) == 0:
        return s_k
    half_len = (leg.heel[1] - leg.toe[1]) / 2 + 0.01
    half_wid = 0.055
    s_k = s_k.copy()
    for k in range(len(s_k)):
        for _ in range(6):
            xy, psi = xy_fn(s_k[k], k)
            ext = half_len * abs(np.cos(psi)) + half_wid * abs(np.sin(psi))
            lo, hi = xy[0] - ext - margin, xy[0] + ext + margin
            hit = risers[(risers > lo) & (risers < hi)]
            if len(hit) == 0:
                break
            xb = hit[0]
            back, fwd = xb - hi, xb - lo  # shift in x to clear it
            dx = back if abs(back) < abs(fwd) else fwd
            s_k[k] += (dx + np.sign(dx) * 1e-3) / max(np.cos(psi), 0.3)
    return s_k


def animate_walker(body, rest_heads, foot_vertices, contacts, terrain: Terrain, line: CentreLine,
                   lane: float, speed: float, s0: float, height: float, times: np.ndarray,
                   rng: np.random.Generator) -> WalkerTruth:  # fmt: skip
    """Planted-feet walking of one body along lane `lane` of `line` (see module doc)."""
    legs = {sd: leg_geometry(rest_heads, foot_vertices, contacts, body.contact_sets, sd) for sd in "LR"}
    T = len(times)
    # gait timing
    step_len = 0.415 * height * (speed / 1.3) ** 0.45
    period = 2 * step_len / speed  # one full cycle (two steps)
    duty = 0.62 - 0.04 * np.clip((speed - 1.0) / 0.6, 0, 1)
    stance_dist = duty * period * speed
    phase0 = rng.uniform(0.0, 1.0)
    first = rng.choice(["L", "R"])
    other = "R" if first == "L" else "L"
    half = period / 2
    k = np.arange(int(np.floor(times[0] / half + phase0)) - 3, int(np.ceil(times[-1] / half + phase0)) + 4)
    t_strike = (k - phase0) * half
    side_of = np.where(k % 2 == 0, first, other)
    # sole-centre lead over the pelvis at heel strike
    lead = 0.36 * stance_dist + (legs["L"].centre[1] * -1.0)  # sole centre sits ahead of the ankle
    s_k = s0 + speed * t_strike + lead
    stance_width = {sd: 0.85 * abs(legs[sd].centre[0]) for sd in "LR"}
    toe_out = {sd: np.deg2rad(rng.uniform(2.0, 7.0)) for sd in "LR"}

    def footstep_xy(s, idx):
        sd = side_of[idx]
        xy, psi = line.at(s, lane)
        sign = 1.0 if sd == "L" else -1.0
        return xy + sign * stance_width[sd] * left_normal(psi), psi

    s_k = _snap_to_treads(s_k, footstep_xy, terrain, legs["L"])
    P = np.zeros((len(k), 3))
    yaw = np.zeros(len(k))
    for i in range(len(k)):
        xy, psi = footstep_xy(s_k[i], i)
        P[i, :2] = xy
        yaw[i] = psi + (toe_out[side_of[i]] if side_of[i] == "L" else -toe_out[side_of[i]])
    P[:, 2] = terrain.height(P[:, :2])
    pitch_t = -np.arctan(terrain.gradient_x(P[:, :2]) * np.cos(yaw))
    F_flat = heading_rotation(yaw) @ rot_x(pitch_t)

    # stance foot poses and swing
    theta_strike, theta_off = np.deg2rad(-10.0), np.deg2rad(35.0)
    tau_flat, tau_heel_off = 0.12, 0.55
    ankle = np.zeros((T, 2, 3))
    F = np.zeros((T, 2, 3, 3))
    stance = np.zeros((T, 2), bool)
    swing_seg = np.full((T, 2), -1)
    swing_sig = np.zeros((T, 2))

    def stance_pose(i, tau, leg):
        tau = np.asarray(tau, float)
        th = np.where(
            tau < tau_flat, theta_strike * (1 - smoothstep(tau / tau_flat)),
            np.where(tau < tau_heel_off, 0.0, theta_off * smoothstep((tau - tau_heel_off) / (1 - tau_heel_off))),
        )  # fmt: skip
        pivot = np.where((tau < tau_flat)[..., None], leg.heel, np.where((tau < tau_heel_off)[..., None], leg.centre, leg.toe))
        Fi = F_flat[i] @ rot_x(th)
        pivot_w = P[i] + np.einsum("ij,...j->...i", F_flat[i], pivot - leg.centre)
        a = pivot_w + np.einsum("...ij,...j->...i", Fi, leg.ankle - pivot)
        return a, Fi, th

    for j, sd in enumerate("LR"):
        leg = legs[sd]
        idx = np.flatnonzero(side_of == sd)
        ts = t_strike[idx]
        cur = np.searchsorted(ts, times, side="right") - 1  # latest strike of this foot
        into = times - ts[cur]
        st = into < duty * period
        stance[:, j] = st
        for m in np.unique(cur):
            rows = np.flatnonzero(cur == m)
            i = idx[m]
            r_st = rows[st[rows]]
            if len(r_st):
                a, Fi, _ = stance_pose(i, into[r_st] / (duty * period), leg)
                ankle[r_st, j], F[r_st, j] = a, Fi
            r_sw = rows[~st[rows]]
            if len(r_sw):
                i2 = idx[m + 1]
                sig = (into[r_sw] - duty * period) / ((1 - duty) * period)
                a0, _, _ = stance_pose(i, np.array(1.0), leg)
                a1, _, _ = stance_pose(i2, np.array(0.0), leg)
                e = smoothstep(sig)
                dyaw = np.angle(np.exp(1j * (yaw[i2] - yaw[i])))
                th = theta_off + (theta_strike - theta_off) * smoothstep(sig / 0.7)
                F[r_sw, j] = heading_rotation(yaw[i] + dyaw * e) @ rot_x(pitch_t[i] + (pitch_t[i2] - pitch_t[i]) * e + th)
                mj = min_jerk(sig)[:, None]
                a = a0 + (a1 - a0) * mj
                a[:, 2] = a0[2] + (a1[2] - a0[2]) * smoothstep(sig / 0.6) + 0.05 * np.sin(np.pi * sig)
                ankle[r_sw, j] = a
                swing_seg[r_sw, j] = m
                swing_sig[r_sw, j] = sig
        # raise the swing where the sole would come close to the terrain (risers, slopes)
        for _ in range(3):
            rows = np.flatnonzero(swing_seg[:, j] >= 0)
            if len(rows) == 0:
                break
            pts = ankle[rows, j, None] + np.einsum("tij,nj->tni", F[rows, j], leg.points - leg.ankle)
            clear = (pts[..., 2] - terrain.height(pts[..., :2])).min(1)
            sig = swing_sig[rows, j]
            bump = np.sin(np.pi * sig)
            need = np.where((sig > 0.08) & (sig < 0.92), np.maximum(0.025 - clear, 0.0) / np.maximum(bump, 0.1), 0.0)
            if need.max() <= 1e-4:
                break
            amp = np.zeros(swing_seg[:, j].max() + 1)
            np.maximum.at(amp, swing_seg[rows, j], need)
            ankle[rows, j, 2] += 1.1 * amp[swing_seg[rows, j]] * bump

    # pelvis: lane position, gait phase, rotation
    s_p = s0 + speed * times
    xy, psi = line.at(s_p, lane)
    t_left = t_strike[np.flatnonzero(side_of == "L")[0]]
    phi = 2 * np.pi * (times - t_left) / period  # 0 at a left heel strike
    sway = 0.02 * np.cos(phi - 0.6 * np.pi)
    root_xy = xy + sway[:, None] * left_normal(psi)
    yaw_osc = -0.06 * np.cos(phi)
    lean = 0.04 + 0.03 * (speed - 1.2)
    R_root = heading_rotation(psi + yaw_osc) @ rot_y(0.03 * np.cos(phi - 0.6 * np.pi)) @ rot_x(np.full(T, lean))
    # height: smoothed terrain + standing height, capped by the legs' reach
    ahead = np.linspace(-0.3, 0.3, 7)
    samp, _ = line.at(s_p[:, None] + ahead[None], lane)
    ground = terrain.height(samp).mean(1)
    z_nom = ground - legs["L"].sole_z - 0.015
    caps = []
    for j, sd in enumerate("LR"):
        leg = legs[sd]
        hip_off = R_root @ leg.hip
        dh = np.linalg.norm(ankle[:, j, :2] - (root_xy + hip_off[:, :2]), axis=1)
        r = 0.985 * leg.reach
        caps.append(ankle[:, j, 2] + np.sqrt(np.maximum(r**2 - dh**2, (0.3 * r) ** 2)) - hip_off[:, 2])
    cap = np.minimum(*caps)
    z = np.minimum(z_nom, cap)
    sigma = max(0.04 / max(times[1] - times[0], 1e-6) if T > 1 else 0.0, 0.0)
    for _ in range(6):
        if T > 3 and sigma > 0:
            z = np.minimum(gaussian_filter1d(z, sigma, mode="nearest"), cap)
    if T > 3 and sigma > 0:  # a last pass without the cap: a pelvis moves without kinks; the
        z = gaussian_filter1d(z, 1.5 * sigma, mode="nearest")  # few mm it may rise above the cap are within the reach slack
    t_root = np.concatenate([root_xy, z[:, None]], 1)

    # legs by IK, the rest of the body from the gait phase
    pose = np.zeros((T, body.n_pose_bones, 3))
    for j, sd in enumerate("LR"):
        hip, knee, foot = leg_ik(legs[sd], R_root, t_root, ankle[:, j], F[:, j])
        pose[:, UPPERLEG[sd]], pose[:, LOWERLEG[sd]], pose[:, FOOT[sd]] = hip, knee, foot
    twist = -1.2 * yaw_osc
    pose[:, SPINE05] = np.stack([-0.3 * lean + 0 * phi, 0 * phi, 0.3 * twist], -1)
    pose[:, SPINE03] = np.stack([-0.3 * lean + 0 * phi, 0 * phi, 0.3 * twist], -1)
    pose[:, SPINE01] = np.stack([0.01 * np.sin(2 * phi), 0 * phi, 0.4 * twist], -1)
    pose[:, NECK] = np.stack([0 * phi, 0 * phi, -0.4 * (yaw_osc + twist)], -1)
    pose[:, HEAD] = np.stack([0.02 * np.sin(2 * phi), 0 * phi, -0.6 * (yaw_osc + twist)], -1)
    swing_amp = 0.22 + 0.25 * (speed - 1.0)
    adduct = 0.62
    for sd, sign in (("L", 1.0), ("R", -1.0)):
        arm = sign * swing_amp * np.cos(phi)  # + = backwards; the left arm is back at a left strike
        R_arm = rot_x(arm) @ rot_y(np.full(T, sign * adduct))
        pose[:, UPPERARM[sd]] = rotvec(R_arm)
        shoulder, elbow, wrist = (rest_heads[HEAD_OF(b)] for b in (UPPERARM[sd], LOWERARM[sd], LOWERARM[sd] + 1))
        axis = np.cross(elbow - shoulder, wrist - elbow)
        axis /= np.linalg.norm(axis)
        flex = 0.15 + 0.15 * np.clip(-arm / max(swing_amp, 1e-6), 0, 1)  # more bent when forward
        pose[:, LOWERARM[sd]] = flex[:, None] * axis
    return WalkerTruth(R_root, t_root, pose, ankle, stance, s_p)


# -------------------------------------------------------------------------------------- camera
def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Camera-to-world rotations (T, 3, 3), OpenCV axes, looking from eye to target, no roll."""
    z = target - eye
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    x = np.cross(z, np.array([0.0, 0.0, 1.0]))
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    y = np.cross(z, x)
    return np.stack([x, y, z], -1)


def camera_path(rng: np.random.Generator, terrain: Terrain, line: CentreLine, group_s: np.ndarray,
                group_lane: float, times: np.ndarray, side: float) -> np.ndarray:  # fmt: skip
    """Handheld follow camera T_wc (T, 4, 4): behind and to `side` (+1 left / -1 right) of the
    group centre, 1.4-1.7 m above the terrain, looking at the group, with smooth shake."""
    T = len(times)
    centre, psi = line.at(group_s, group_lane)
    back = rng.uniform(3.8, 4.8) + 0.25 * np.sin(2 * np.pi * times / rng.uniform(4, 8) + rng.uniform(0, 6.3))
    lateral = rng.uniform(1.6, 2.4) + 0.25 * np.sin(2 * np.pi * times / rng.uniform(4, 8) + rng.uniform(0, 6.3))
    # heading smoothed so the camera does not copy every wiggle of the path
    eye_xy = centre - back[:, None] * forward_dir(psi) + side * lateral[:, None] * left_normal(psi)
    cam_h = rng.uniform(1.45, 1.65)
    bob_f = rng.uniform(1.6, 2.0)
    offs = np.linspace(-0.5, 0.5, 5)
    ground_eye = terrain.height(eye_xy[:, None] + np.stack([offs, 0 * offs], -1)[None]).mean(1)
    eye_z = ground_eye + cam_h + 0.012 * np.sin(2 * np.pi * bob_f * times + rng.uniform(0, 6.3))
    eye = np.concatenate([eye_xy, eye_z[:, None]], 1) + smooth_signal(rng, times, 3, 0.008)
    ground_c = terrain.height(centre[:, None] + np.stack([offs, 0 * offs], -1)[None]).mean(1)
    target = np.concatenate([centre, (ground_c + 0.85)[:, None]], 1)
    R = look_at(eye, target)
    shake = Rotation.from_rotvec(np.deg2rad(smooth_signal(rng, times, 3, 0.5, 0.3, 2.5))).as_matrix()
    R = R @ shake
    T_wc = np.zeros((T, 4, 4))
    T_wc[:, :3, :3] = R
    T_wc[:, :3, 3] = eye
    T_wc[:, 3, 3] = 1.0
    return T_wc
