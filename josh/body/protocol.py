"""The body-model protocol the optimiser, the simulator and the metrics are written against.

Parameters of one body in one frame (all in the frame the body is expressed in, e.g. the camera
frame of that frame or the world):

- `root_rotmat` (3,3): orientation of the root bone;
- `root_transl` (3,): position of the root joint. The root rotation pivots about this joint, so a
  rigid motion `x -> R x + t` of the body is simply `root_rotmat <- R @ root_rotmat`,
  `root_transl <- R @ root_transl + t` (no pivot-offset conjugation needed);
- `body_pose` (n_pose_bones, 3): axis-angle of each posable bone;
- `shape` (shape_dim,): identity parameters, constant over time.

Performance rule (DESIGN §3): `forward` evaluates only the kinematic chain and the few hundred
"points of interest" the losses touch (joints, keypoints, contact candidates, foot-sliding
vertices). The full mesh is produced by `mesh`, once, for export and rendering.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch


@dataclass
class RestState:
    """Shape-dependent quantities, computed once per person per iteration (cheap: P bodies)."""

    joint_heads: torch.Tensor  # (P, n_drivers, 3) reference head of each driving bone
    joint_offsets: torch.Tensor  # (P, n_joints, 3) reference position of each output joint
    point_moments: torch.Tensor  # (P, n_points, n_drivers, 3) skinning moments of points
    point_weights: torch.Tensor  # (n_points, n_drivers) skinning weight summed per driver

    PER_PERSON = ("joint_heads", "joint_offsets", "point_moments")  # the fields with a leading P axis


@dataclass
class BodyOutput:
    joints: torch.Tensor  # (B, n_joints, 3) skeleton joints (24, SMPL-like order)
    keypoints: torch.Tensor  # (B, n_keypoints, 3) COCO-17 + toes + heels (23)
    contact_vertices: torch.Tensor  # (B, n_contact, 3) contact-candidate vertices
    foot_vertices: torch.Tensor  # (B, 4, 3) foot-sliding vertices (L heel, L toe, R heel, R toe)


@runtime_checkable
class BodyModel(Protocol):
    """What the optimiser needs from a parametric body model."""

    name: str
    n_pose_bones: int
    shape_dim: int
    joint_names: list[str]
    keypoint_names: list[str]
    contact_sets: dict[str, np.ndarray]  # set name -> indices into the contact vertices
    contact_vertex_ids: np.ndarray  # (n_contact,) mesh vertex id of each contact candidate
    foot_vertex_ids: np.ndarray  # (4,) mesh vertex ids used by the foot-sliding metric
    faces: np.ndarray  # (F, 3) triangles of the full mesh
    up_axis: np.ndarray  # (3,) the model's "up" in its canonical frame
    forward_axis: np.ndarray  # (3,) the direction the canonical body faces
    default_shape: np.ndarray  # (shape_dim,) an average adult: where fits start and priors pull
    shape_bounds: tuple[float, float]  # valid range of every shape parameter
    shape_unit: float  # one typical step of a shape parameter (trust-region and step scale)
    shape_spread: np.ndarray  # (shape_dim,) std of each shape parameter across adults (population prior)

    def rest(self, shape: torch.Tensor) -> RestState: ...

    def forward(
        self,
        rest: RestState,
        person: torch.Tensor,
        root_rotmat: torch.Tensor,
        root_transl: torch.Tensor,
        body_pose: torch.Tensor,
    ) -> BodyOutput: ...

    def mesh(
        self,
        shape: torch.Tensor,
        root_rotmat: torch.Tensor,
        root_transl: torch.Tensor,
        body_pose: torch.Tensor,
    ) -> torch.Tensor: ...


FOOT_SETS = ("left_heel", "left_toes", "left_sole", "right_heel", "right_toes", "right_sole")


def foot_candidates(body, side: str | None = None) -> np.ndarray:
    """Sorted indices (into the contact vertices) of the contact candidates on the feet, or on
    one foot (`side`: "left" or "right")."""
    names = [s for s in FOOT_SETS if side is None or s.startswith(f"{side}_")]
    sets = [np.asarray(body.contact_sets[s]) for s in names if s in body.contact_sets]
    return np.unique(np.concatenate(sets)) if sets else np.zeros(0, np.int64)


def standing_height(body, shape) -> float:
    """Rest-pose (zero pose) stature of a shape along the body's up axis, metres."""
    f64 = lambda x: torch.as_tensor(np.asarray(x, np.float64))  # noqa: E731
    verts = body.mesh(f64(shape)[None], f64(np.eye(3))[None], f64(np.zeros((1, 3))), f64(np.zeros((1, body.n_pose_bones, 3))))
    verts = verts[0].double().numpy()
    h = verts @ np.asarray(body.up_axis, np.float64)
    return float(h.max() - h.min())


ADULT_STATURE_M = (1.45, 2.0)
"""Statures of adults, women and men together (about the 1st to the 99th percentile): a size that
takes a person outside it says more about the evidence than about the person."""

MAX_SIZE_CHANGE = 1.15
"""A person is rescaled (size and distance together) by at most this factor either way: adults are
0.88-1.15 of the average adult's stature, and a larger change says more about bad contacts (or a
scene that a short clip hardly determines) than about the person."""

MIN_SIZING_CONTACT_FRAMES = 3
"""A person in contact on fewer frames keeps their size: that few contacts say more about a
wrong label than about where the person stands."""


def shape_with_stature(body, shape: np.ndarray, target: float, iterations: int = 4) -> np.ndarray:
    """The shape nearest `shape` (steps along the stature's gradient) whose standing height is
    `target` metres, within the body model's shape bounds."""
    shape = np.asarray(shape, np.float64).copy()
    direction = _stature_gradient(body, shape)
    if not np.any(direction):
        return shape
    direction /= direction @ direction  # one unit of stature per step length
    lo, hi = body.shape_bounds
    for _ in range(iterations):
        error = target - standing_height(body, shape)
        if abs(error) < 1e-3:
            break
        shape = np.clip(shape + error * direction, lo, hi)
    return shape


def _stature_gradient(body, shape: np.ndarray) -> np.ndarray:
    step = 0.1 * body.shape_unit
    grad = np.zeros_like(shape)
    for i in range(len(shape)):
        up, down = shape.copy(), shape.copy()
        up[i] += step
        down[i] -= step
        grad[i] = (standing_height(body, up) - standing_height(body, down)) / (2 * step)
    return grad
