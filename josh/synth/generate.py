"""Generate a ground-truth world: terrain and structures, walkers with planted feet, a handheld
follow camera, and what that camera sees at its keyframes (static depth, person silhouettes).

`generate_world(config, body)` returns a `GroundTruth` (Z-up metric world). The simulated front-ends
that turn it into optimiser inputs live in `josh.synth.frontend`. Everything is a deterministic
function of `config.seed`.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from josh.geometry.camera import image_to_map, map_pixel_centres
from josh.synth.config import SynthConfig
from josh.synth.motion import CentreLine, animate_walker, camera_path, sample_shapes
from josh.synth.truth import GroundTruth, PersonTruth
from josh.synth.world import World, make_terrain, place_structures, render_depth
from josh.types import Intrinsics

CONTACT_DISTANCE = 0.02  # m: a candidate vertex this close to a surface ...
CONTACT_STEP = 0.01  # m per frame: ... and moving less than this (the field's FS threshold) touches it


def keyframe_ids(n_frames: int, n_keyframes: int) -> np.ndarray:
    """Evenly spaced keyframes, first and last frame included."""
    k = min(n_keyframes, n_frames)
    return np.unique(np.round(np.linspace(0, n_frames - 1, k)).astype(int))


def generate_world(config: SynthConfig, body) -> GroundTruth:
    cfg = config.validate()
    rng = np.random.default_rng(cfg.seed)
    times = np.arange(cfg.frames) / cfg.fps
    duration = times[-1]

    shapes, heights = sample_shapes(body, rng, cfg.people)
    lanes = _lanes(rng, cfg.people)
    speeds = rng.uniform(1.15, 1.45, cfg.people)
    starts = rng.uniform(-0.8, 0.8, cfg.people)
    walk_speed = float(speeds.mean()) if cfg.people else 1.3
    line = CentreLine.make(rng, -12.0, 12.0 + 1.6 * duration * 1.5)
    # the terrain feature (steps, incline) begins where the group is ~30% into the clip
    terrain = make_terrain(cfg.terrain, rng, start_x=1.5 + 0.3 * duration * walk_speed)

    rest = body.rest(torch.as_tensor(shapes, dtype=torch.float32)) if cfg.people else None
    walkers = []
    for p in range(cfg.people):
        heads, feet, contacts = _rest_geometry(body, rest, p)
        walkers.append(animate_walker(body, heads, feet, contacts, terrain, line, lanes[p], speeds[p],
                                      starts[p], heights[p], times, rng))  # fmt: skip

    # the camera follows (a little ahead of) the rearmost walker, so nobody comes too close to it
    group_s = np.min([w.arclength for w in walkers], 0) + 0.5 if walkers else walk_speed * times
    side = float(rng.choice([-1.0, 1.0]))
    T_wc = camera_path(rng, terrain, line, group_s, float(np.mean(lanes)) if cfg.people else 0.0, times, side)
    if cfg.still_camera:
        T_wc = np.repeat(T_wc[:1], len(T_wc), 0)

    walk_xy = np.concatenate([w.root_transl[:, :2] for w in walkers]) if walkers else line.at(group_s)[0]
    sight_from, sight_to = _sight_lines(T_wc, walkers)
    boxes = place_structures(rng, terrain, walk_xy, T_wc[:, :2, 3], sight_from, sight_to, far_side=-side)
    world = World(terrain, boxes)

    intr = Intrinsics.centred(cfg.focal, cfg.width, cfg.height)
    people = [_person_truth(body, world, rest, p, w, shapes[p]) for p, w in enumerate(walkers)]
    kf = keyframe_ids(cfg.frames, cfg.keyframes)
    depth, sid, colors = render_depth(world, T_wc[kf], cfg.focal, intr.cx, intr.cy, cfg.width, cfg.height, cfg.depth_stride)
    person_mask = _person_masks(body, shapes, walkers, T_wc, kf, intr, cfg.depth_stride, depth.shape[1:])
    return GroundTruth(
        fps=cfg.fps,
        n_frames=cfg.frames,
        intrinsics=intr,
        T_wc=T_wc,
        keyframe_ids=kf,
        keyframe_depth=depth.astype(np.float32),
        keyframe_background=(depth > 0) & ~person_mask,
        depth_stride=float(cfg.depth_stride),
        scene_points=_scene_samples(depth, T_wc[kf], intr, cfg.depth_stride),
        people=people,
        keyframe_colors=colors,
        world=world,
    )


def _lanes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Lateral offsets of the walkers' lanes, ~0.9-1.2 m apart, centred on the line."""
    if n == 0:
        return np.zeros(0)
    gaps = rng.uniform(0.9, 1.2, max(n - 1, 0))
    lanes = np.concatenate([[0.0], np.cumsum(gaps)])
    return lanes - lanes.mean()


@torch.no_grad()
def _rest_geometry(body, rest, p: int):
    """Canonical (zero pose, root at the origin) driver heads, foot and contact vertices of body p."""
    out = body.forward(rest, torch.tensor([p]), torch.eye(3)[None], torch.zeros(1, 3),
                       torch.zeros(1, body.n_pose_bones, 3))  # fmt: skip
    heads = rest.joint_heads[p].double().numpy()
    return heads, out.foot_vertices[0].double().numpy(), out.contact_vertices[0].double().numpy()


def _sight_lines(T_wc: np.ndarray, walkers) -> tuple[np.ndarray, np.ndarray]:
    """Camera -> walker segments (2D) at a few times: structures must not block them."""
    if not walkers:
        return np.zeros((0, 2)), np.zeros((0, 2))
    idx = np.linspace(0, len(T_wc) - 1, 12).astype(int)
    src = np.concatenate([T_wc[idx, :2, 3] for _ in walkers])
    dst = np.concatenate([w.root_transl[idx, :2] for w in walkers])
    return src, dst


@torch.no_grad()
def _person_truth(body, world: World, rest, p: int, walker, shape: np.ndarray) -> PersonTruth:
    T = len(walker.root_transl)
    f32 = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
    out = body.forward(rest, torch.full((T,), p), f32(walker.root_rotmat), f32(walker.root_transl), f32(walker.body_pose))
    contact_v = out.contact_vertices.double().numpy()
    near = world.surface_distance(contact_v) < CONTACT_DISTANCE
    step = np.linalg.norm(np.diff(contact_v, axis=0), axis=-1)
    still = np.zeros_like(near)
    still[1:-1] = (step[:-1] < CONTACT_STEP) & (step[1:] < CONTACT_STEP)
    still[0], still[-1] = step[0] < CONTACT_STEP, step[-1] < CONTACT_STEP
    return PersonTruth(
        person_id=p,
        frames=np.arange(T),
        root_rotmat=walker.root_rotmat,
        root_transl=walker.root_transl,
        body_pose=walker.body_pose,
        shape=np.asarray(shape, float),
        joints=out.joints.double().numpy(),
        foot_vertices=out.foot_vertices.double().numpy(),
        contact_vertices=contact_v,
        contacts=near & still,
    )


@torch.no_grad()
def _person_masks(body, shapes, walkers, T_wc, kf, intr: Intrinsics, stride: int, hw) -> np.ndarray:
    """Silhouettes of the walkers in each keyframe's depth map: full-mesh vertices splatted onto
    the depth grid, then closed (the mesh is dense enough that holes are only a cell wide)."""
    h, w = hw
    masks = np.zeros((len(kf), h, w), bool)
    for p, walker in enumerate(walkers):
        n = len(kf)
        verts = body.mesh(np.repeat(shapes[p][None], n, 0), torch.as_tensor(walker.root_rotmat[kf]),
                          torch.as_tensor(walker.root_transl[kf]), torch.as_tensor(walker.body_pose[kf]))  # fmt: skip
        verts = verts.double().numpy()
        R, c = T_wc[kf, :3, :3], T_wc[kf, :3, 3]
        cam = np.einsum("kji,kvj->kvi", R, verts - c[:, None])
        z = cam[..., 2]
        u = intr.focal * cam[..., 0] / np.maximum(z, 1e-6) + intr.cx
        v = intr.focal * cam[..., 1] / np.maximum(z, 1e-6) + intr.cy
        col, row = np.round(image_to_map(np.stack([u, v], -1), stride)).astype(int).transpose(2, 0, 1)
        ok = (z > 0.1) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
        k_idx = np.broadcast_to(np.arange(n)[:, None], z.shape)
        masks[k_idx[ok], row[ok], col[ok]] = True
    for k in range(len(kf)):
        masks[k] = ndimage.binary_closing(masks[k], iterations=1) | masks[k]
    return masks


def _scene_samples(depth: np.ndarray, T_wc: np.ndarray, intr: Intrinsics, stride: int) -> np.ndarray:
    """World points of every static pixel of every keyframe: the GT cloud for the Chamfer distance
    (what the cameras saw, people included as occluders, like the field's FOV-restricted clouds)."""
    K, h, w = depth.shape
    uu, vv = map_pixel_centres(h, w, stride)
    rays = np.stack([(uu - intr.cx) / intr.focal, (vv - intr.cy) / intr.focal, np.ones_like(uu)], -1)
    pts = []
    for k in range(K):
        ok = depth[k] > 0
        X = rays[ok] * depth[k][ok][:, None]
        pts.append(X @ T_wc[k, :3, :3].T + T_wc[k, :3, 3])
    return np.concatenate(pts) if pts else np.zeros((0, 3))
