"""A small hand-built `Reconstruction` with known geometry, for the output and world-frame tests.

People stand in Anny's zero pose on the ground z = 0 of a Z-up world and glide along straight lines
with a walking-like alternation of left/right foot contacts; a camera follows them, pitched down;
scene points lie on the ground and on a wall. The whole result is then moved into an "internal"
frame (by default the first camera's OpenCV frame, like the optimiser's world), so tests can check
that the exported world comes back.
"""

from __future__ import annotations

import numpy as np
import roma
import torch

from josh.geometry.world_frame import apply_world_transform, rigid_inverse
from josh.types import Intrinsics, PersonResult, Reconstruction

WIDTH, HEIGHT = 160, 120


def synthetic_reconstruction(
    body,
    n_frames: int = 6,
    n_people: int = 2,
    fps: float = 30.0,
    world_to_internal: np.ndarray | None = None,
    root_tilt_deg: float = 0.0,
    lean_deg: float = 0.0,
    contact_noise_m: float = 0.0,
    slope_deg: float = 0.0,
    with_contacts: bool = True,
    n_scene_points: int = 300,
    seed: int = 0,
) -> tuple[Reconstruction, np.ndarray]:
    """(reconstruction in the internal frame with world_align = I, the world -> internal 4x4).

    `root_tilt_deg`: std of a random tilt added to every root orientation (posture noise);
    `lean_deg`: every root leans this far toward its heading (walkers lean forward);
    `contact_noise_m`: std of noise on the contact vertices (a monocular fit's scatter);
    `slope_deg`: people climb along their heading (stairs/slope) while standing upright.
    """
    rng = np.random.default_rng(seed)
    people = [
        _walker(body, i, n_frames, fps, rng, root_tilt_deg, lean_deg, contact_noise_m, slope_deg, with_contacts)
        for i in range(n_people)
    ]
    T_wc = _following_camera(n_frames, fps)
    ground = np.c_[rng.uniform(-4, 8, (n_scene_points, 2)), np.zeros(n_scene_points)]
    wall = np.c_[np.full(n_scene_points // 3, 9.0), rng.uniform(-4, 6, n_scene_points // 3),
                 rng.uniform(0, 3, n_scene_points // 3)]  # fmt: skip
    points = np.concatenate([ground, wall])
    keyframes = np.arange(0, n_frames, 3)
    world = Reconstruction(
        fps=fps,
        intrinsics=Intrinsics.centred(150.0, WIDTH, HEIGHT),
        T_wc=T_wc,
        keyframe_ids=keyframes,
        keyframe_scales=rng.uniform(0.5, 2.0, len(keyframes)),
        keyframe_depth=rng.uniform(1, 10, (len(keyframes), 6, 8)).astype(np.float32),
        keyframe_background=rng.random((len(keyframes), 6, 8)) > 0.3,
        depth_stride=20.0,
        scene_points=points,
        scene_colors=rng.integers(0, 256, (len(points), 3), dtype=np.uint8),
        people=people,
        metadata={"method": "josh", "warnings": [], "losses": {"fine/c1": 0.0125}, "config": {"seed": seed}},
    )
    if world_to_internal is None:
        world_to_internal = rigid_inverse(T_wc[0])
    internal = apply_world_transform(world, world_to_internal)
    internal.world_align = np.eye(4)
    return internal, world_to_internal


def random_rigid(seed: int, max_translation: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    T = np.eye(4)
    T[:3, :3] = roma.rotvec_to_rotmat(torch.as_tensor(rng.normal(size=3) * 1.5)).numpy()
    T[:3, 3] = rng.uniform(-max_translation, max_translation, 3)
    return T


def _walker(body, index, n_frames, fps, rng, tilt_deg, lean_deg, contact_noise, slope_deg, with_contacts) -> PersonResult:
    first = 2 * index if n_frames > 4 * index else 0  # later people appear later
    frames = np.arange(first, n_frames)
    T = len(frames)
    heading_angle = 0.3 + 1.9 * index  # people walk in different directions
    heading = np.array([np.cos(heading_angle), np.sin(heading_angle), 0.0])
    start = np.array([1.5 * index, 0.8 * index, 0.0])
    distance = 1.2 * frames / fps  # m
    shape = np.full(body.shape_dim, 0.5) if index == 0 else rng.uniform(0.3, 0.7, body.shape_dim)

    # yaw that turns the body's forward axis onto the heading, plus posture noise
    forward = np.asarray(body.forward_axis, np.float64)
    yaw = np.arctan2(heading[1], heading[0]) - np.arctan2(forward[1], forward[0])
    R = np.repeat(roma.rotvec_to_rotmat(torch.tensor([0.0, 0.0, yaw])).numpy()[None], T, 0)
    if tilt_deg > 0:
        tilt = np.radians(tilt_deg) * rng.normal(size=(T, 3)) * np.array([1, 1, 0])
        R = roma.rotvec_to_rotmat(torch.as_tensor(tilt)).numpy() @ R
    if lean_deg:
        lean = np.cross([0.0, 0.0, 1.0], heading) * np.radians(lean_deg)  # turns up toward the heading
        R = roma.rotvec_to_rotmat(torch.as_tensor(lean)).numpy() @ R
    zero_pose = torch.zeros(T, body.n_pose_bones, 3)
    rest = body.rest(torch.as_tensor(shape, dtype=torch.float32)[None])
    person = torch.zeros(T, dtype=torch.long)
    at_origin = body.forward(rest, person[:1], torch.eye(3)[None], torch.zeros(1, 3), zero_pose[:1])
    root_height = -float(at_origin.contact_vertices[0, :, 2].min())
    transl = start + distance[:, None] * heading
    transl[:, 2] = root_height + distance * np.tan(np.radians(slope_deg))
    out = body.forward(rest, person, torch.as_tensor(R, dtype=torch.float32),
                       torch.as_tensor(transl, dtype=torch.float32), zero_pose)  # fmt: skip

    contacts = np.zeros((T, len(body.contact_vertex_ids)), np.float32)
    if with_contacts:
        phase = 2 * np.pi * frames / fps  # one stride per second
        for side, down in (("left", np.sin(phase) > -0.3), ("right", np.sin(phase) < 0.3)):
            for part in ("heel", "toes", "sole"):
                contacts[np.ix_(down, body.contact_sets[f"{side}_{part}"])] = 0.9
    contact_vertices = out.contact_vertices.numpy()
    if contact_noise > 0:  # draws only when asked, so other scenes keep their random numbers
        contact_vertices = contact_vertices + contact_noise * rng.normal(size=contact_vertices.shape)
    return PersonResult(
        person_id=index * 3 + 1,  # ids need not be 0..P-1
        frames=frames,
        root_rotmat=R,
        root_transl=transl,
        body_pose=zero_pose.numpy(),
        shape=shape,
        joints=out.joints.numpy(),
        foot_vertices=out.foot_vertices.numpy(),
        contact_vertices=contact_vertices,
        contacts=contacts,
    )


def _following_camera(n_frames: int, fps: float, pitch_deg: float = 12.0) -> np.ndarray:
    """Camera-to-world poses (OpenCV axes) of a camera walking behind the people, pitched down."""
    T_wc = np.repeat(np.eye(4)[None], n_frames, 0)
    for i in range(n_frames):
        yaw = 0.6 + 0.01 * i
        pitch = np.radians(pitch_deg)
        z = np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), -np.sin(pitch)])
        x = np.cross(z, [0, 0, 1.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        T_wc[i, :3, :3] = np.stack([x, y, z], 1)
        T_wc[i, :3, 3] = [-3.0 + 1.2 * i / fps, -2.0 + 0.5 * i / fps, 1.5]
    return T_wc
