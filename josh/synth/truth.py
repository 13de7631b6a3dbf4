"""Ground truth of a generated world: what the benchmark compares a `Reconstruction` against."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from josh.types import Intrinsics


@dataclass
class PersonTruth:
    person_id: int
    frames: np.ndarray  # (T,) int
    root_rotmat: np.ndarray  # (T, 3, 3) world
    root_transl: np.ndarray  # (T, 3) world root-joint position
    body_pose: np.ndarray  # (T, n_pose_bones, 3)
    shape: np.ndarray  # (shape_dim,)
    joints: np.ndarray  # (T, 24, 3) world
    foot_vertices: np.ndarray  # (T, 4, 3) world (L heel, L toe, R heel, R toe)
    contact_vertices: np.ndarray  # (T, n_contact, 3) world
    contacts: np.ndarray  # (T, n_contact) bool: candidate touches the terrain and is still


@dataclass
class GroundTruth:
    """A synthetic world in its own Z-up metric frame."""

    fps: float
    n_frames: int
    intrinsics: Intrinsics  # true focal
    T_wc: np.ndarray  # (N, 4, 4) true camera-to-world
    keyframe_ids: np.ndarray  # (K,)
    keyframe_depth: np.ndarray  # (K, h, w) true metric depth of the static scene, 0 = none
    keyframe_background: np.ndarray  # (K, h, w) bool
    depth_stride: float
    scene_points: np.ndarray  # (M, 3) dense samples of the static surfaces (for CD)
    people: list[PersonTruth] = field(default_factory=list)
    keyframe_colors: np.ndarray | None = None  # (K, h, w, 3) uint8 texture of the static scene
    world: object | None = None  # the analytic `josh.synth.world.World` (surfaces, ray casting)
