"""Normative sagittal joint angles of adult level walking over the gait cycle.

Phase 0 is a heel strike of the leg, `TOE_OFF` its toe-off (stance 0-60% of the cycle, swing 60-100%).
The angles (degrees, whole numbers) are the textbook averages of adults walking at their natural
cadence, as tabulated in the gait literature (e.g. Winter, "Biomechanics and Motor Control of Human
Gait"; Perry, "Gait Analysis"):
- hip flexion (thigh relative to the pelvis): about +30 at heel strike, extending to -9 at 55%,
  flexing again through the swing;
- knee flexion: a 18-degree bend after loading, nearly straight at mid-stance, 37 at toe-off and
  a swing peak of 62 at 72% that lifts the foot clear of the ground;
- ankle dorsiflexion: -17 (plantarflexion) at toe-off, near neutral through the swing.

Why a body model needs them: seen from behind, a swing shank bent back toward the camera and its
mirror image project to the same pixels, and single-view 3D pose often takes the straight, low
mirror (docs/demo2.md). The gait cycle says which one walkers use.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline

TOE_OFF = 0.6  # fraction of the gait cycle at toe-off
PELVIS_TILT_DEG = 8.0
"""The pelvis's mean anterior tilt while walking: hip flexion is measured against the pelvis, and a
body model's root is an upright pelvis, so the thigh's angle from the root is hip flexion minus this."""

GAIT_CYCLE_DEG = {
    "hip": ((0, 30), (10, 27), (20, 19), (30, 10), (40, 1), (50, -8), (55, -9), (60, -4), (70, 14),
            (80, 27), (90, 32), (100, 30)),
    "knee": ((0, 4), (5, 11), (15, 18), (25, 12), (35, 6), (42, 5), (50, 12), (55, 22), (60, 37),
             (65, 51), (72, 62), (80, 52), (87, 32), (93, 12), (100, 4)),
    "ankle": ((0, 0), (7, -6), (15, 0), (30, 7), (45, 10), (50, 8), (56, 0), (62, -17), (70, -8),
              (80, 0), (90, 1), (100, 0)),
}  # fmt: skip


def _periodic_spline(points) -> CubicSpline:
    percent, degrees = np.asarray(points, np.float64).T
    return CubicSpline(percent / 100.0, np.radians(degrees), bc_type="periodic")


_CURVES = {joint: _periodic_spline(points) for joint, points in GAIT_CYCLE_DEG.items()}


def normative_angles(phase: np.ndarray) -> dict[str, np.ndarray]:
    """Radians of "hip" (thigh flexion from an upright root: hip flexion minus the pelvis tilt),
    "knee" (flexion) and "ankle" (dorsiflexion) at gait-cycle phases in [0, 1) (wrapped)."""
    phase = np.mod(np.asarray(phase, np.float64), 1.0)
    angles = {joint: curve(phase) for joint, curve in _CURVES.items()}
    angles["hip"] = angles["hip"] - np.radians(PELVIS_TILT_DEG)
    return angles


def swing_phase(n_frames: int) -> np.ndarray:
    """Gait-cycle phases of the `n_frames` frames of one swing, from toe-off to the next heel
    strike, at the frames' centres (a swing seen from its first to its last lifted frame)."""
    return TOE_OFF + (1.0 - TOE_OFF) * (np.arange(n_frames) + 0.5) / max(n_frames, 1)
