"""Core data types: the typed boundaries between front-ends, the optimiser and the outputs.

Conventions (DESIGN §2): metres, seconds, radians; cameras are stored camera-to-world (`T_wc`,
4x4, OpenCV axes: x right, y down, z forward); pixel (u, v) = (column, row) with the centre of the
top-left pixel at (0, 0). Front-ends produce `FrontEndInputs`; the optimiser returns a
`Reconstruction`. Arrays are numpy; the optimiser converts to torch internally.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Intrinsics:
    """Pinhole intrinsics with square pixels and one focal for the whole video."""

    focal: float  # px
    cx: float  # px
    cy: float  # px
    width: int
    height: int

    @classmethod
    def centred(cls, focal: float, width: int, height: int) -> "Intrinsics":
        """Principal point at the image centre (what every front-end here assumes)."""
        return cls(float(focal), (width - 1) / 2.0, (height - 1) / 2.0, int(width), int(height))

    def matrix(self) -> np.ndarray:
        return np.array([[self.focal, 0, self.cx], [0, self.focal, self.cy], [0, 0, 1.0]])


@dataclass
class KeyframeObservations:
    """What the scene front-end saw at each keyframe, in that keyframe's camera frame.

    Depth is known only up to an unknown per-keyframe scale (the optimiser's sigma_k). Maps are
    stored at a reduced resolution: depth pixel (i, j) covers image pixel
    (u, v) = ((j + 0.5) * stride - 0.5, (i + 0.5) * stride - 0.5).
    """

    frame_ids: np.ndarray  # (K,) int, frame index of each keyframe, increasing
    depth: np.ndarray  # (K, h, w) float32, camera z; 0 where unknown
    conf: np.ndarray  # (K, h, w) float32 in [0, 1]
    background: np.ndarray  # (K, h, w) bool, True = static scene (not a person, valid depth)
    stride: float  # image pixels per depth-map pixel
    colors: np.ndarray | None = None  # (K, h, w, 3) uint8

    @property
    def n_keyframes(self) -> int:
        return int(self.frame_ids.shape[0])


@dataclass
class Correspondences:
    """Matched pixels between pairs of keyframes, with the front-end's depth at each end.

    Depths are in each keyframe's own (unknown) scale, like `KeyframeObservations.depth`. Sparse
    SfM tracks and dense point-map matches both fit this form.
    """

    kf_a: np.ndarray  # (M,) int keyframe index (into KeyframeObservations)
    kf_b: np.ndarray  # (M,) int
    uv_a: np.ndarray  # (M, 2) float image pixels in keyframe a
    uv_b: np.ndarray  # (M, 2)
    depth_a: np.ndarray  # (M,) float
    depth_b: np.ndarray  # (M,)
    conf: np.ndarray  # (M,) float in [0, 1]

    def __len__(self) -> int:
        return int(self.kf_a.shape[0])


@dataclass
class HumanTrack:
    """One person's local (camera-frame) body estimates, as a body front-end produced them."""

    person_id: int
    frames: np.ndarray  # (T,) int, increasing frame indices where the person is seen
    root_rotmat: np.ndarray  # (T, 3, 3) root orientation in the camera frame
    root_transl: np.ndarray  # (T, 3) root joint position in the camera frame
    body_pose: np.ndarray  # (T, n_pose_bones, 3) axis-angle per posable bone
    shape: np.ndarray  # (shape_dim,) identity parameters
    keypoints2d: np.ndarray  # (T, n_keypoints, 2) image pixels
    keypoints_conf: np.ndarray  # (T, n_keypoints) in [0, 1]
    contact_prob: np.ndarray  # (T, n_contact) probability each contact candidate touches the scene
    focal_assumed: float  # px: the focal the body front-end used to place root_transl


@dataclass
class FrontEndInputs:
    """Everything the joint optimiser consumes: initialisations from the front-ends."""

    n_frames: int
    fps: float
    intrinsics: Intrinsics  # initial intrinsics (focal is refined)
    keyframes: KeyframeObservations
    keyframe_T_wc: np.ndarray  # (K, 4, 4) initial camera-to-world of the keyframes
    correspondences: Correspondences
    humans: list[HumanTrack] = field(default_factory=list)
    body_model: str = "anny"
    frame_T_wc: np.ndarray | None = None
    """(n_frames, 4, 4) the front-end's camera of every frame, in the keyframes' frame and scale
    (NaN rows where it has none). The optimiser moves keyframes only; a frame between them gets
    the interpolated keyframe pose composed with the front-end's own deviation from that
    interpolation, so a handheld camera's shake between keyframes is kept (DESIGN §4)."""
    up: np.ndarray | None = None
    """(3,) the world's up direction in this frame when known (from a first reconstruction's
    alignment to gravity); terms that need "down" (`OptimConfig.w_skate`) are off without it."""
    static_camera: bool = False
    """The camera is known not to move (the scene front-end saw no image motion): its poses stay
    at `keyframe_T_wc`, because with no scene matches only the people could move it, and their
    noise would."""


@dataclass
class PersonResult:
    """One person's reconstructed motion in the world frame of the reconstruction."""

    person_id: int
    frames: np.ndarray  # (T,) int
    root_rotmat: np.ndarray  # (T, 3, 3) world
    root_transl: np.ndarray  # (T, 3) world position of the root joint
    body_pose: np.ndarray  # (T, n_pose_bones, 3)
    shape: np.ndarray  # (shape_dim,)
    joints: np.ndarray  # (T, n_joints, 3) world
    foot_vertices: np.ndarray  # (T, 4, 3) world: L heel, L toe, R heel, R toe
    contact_vertices: np.ndarray  # (T, n_contact, 3) world
    contacts: np.ndarray  # (T, n_contact) float, contact probability used


@dataclass
class Reconstruction:
    """The result: cameras, scene and people in one metric world frame."""

    fps: float
    intrinsics: Intrinsics
    T_wc: np.ndarray  # (N, 4, 4) camera-to-world of every frame
    keyframe_ids: np.ndarray  # (K,) int
    keyframe_scales: np.ndarray  # (K,) sigma_k applied to the front-end depth
    keyframe_depth: np.ndarray  # (K, h, w) metric depth (sigma_k * input depth), 0 = unknown
    keyframe_background: np.ndarray  # (K, h, w) bool
    depth_stride: float
    scene_points: np.ndarray  # (M, 3) world
    scene_colors: np.ndarray  # (M, 3) uint8
    people: list[PersonResult] = field(default_factory=list)
    world_align: np.ndarray = field(default_factory=lambda: np.eye(4))  # internal -> exported
    metadata: dict = field(default_factory=dict)
    body_model: str = "anny"
