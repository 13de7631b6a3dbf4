"""The solver: JOSH's joint optimisation, the serial baseline and the ablations (DESIGN §4).

Every method runs the same steps on the same inputs, so they differ only where they should:
1. scene-only alignment (cameras, depth scales, focal from `L_scene`, mean log-scale held) — what
   a scene front-end's global alignment gives;
2. one global metric scale from the people: the median ratio of body depth to scene depth at
   contact pixels. This uses contacts, so the no-`L_c1` ablation does not get it (its scene
   keeps the front-end's scale); the serial baseline does (DESIGN: "fix one global scale from
   human/scene depth at contacts"). Methods with `L_c1` then rescale each person so that their
   contacts meet the scene (`MethodSwitches.sizes`; the `no_sizes` ablation leaves it out);
3. the people: either alone with the cameras frozen and no contact terms (serial baseline) or
   jointly with the cameras, scales and focal (JOSH and its ablations), in a coarse phase (3D
   terms, focal frozen) and a fine phase (+ the scene's 2D reprojection, focal free).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import roma
import torch

from josh.body.protocol import (ADULT_STATURE_M, MAX_SIZE_CHANGE, MIN_SIZING_CONTACT_FRAMES, foot_candidates,
                                shape_with_stature, standing_height)
from josh.geometry.camera import backproject, homogeneous, interpolate_poses, interpolation_weights, map_pixel_centres, to_world
from josh.optimize import losses
from josh.optimize.config import OptimConfig, Phase
from josh.optimize.problem import Problem, build_problem
from josh.optimize.rest_cache import RestCache
from josh.optimize.variables import Variables, derive, to_rows_world
from josh.types import FrontEndInputs, Intrinsics, PersonResult, Reconstruction

log = logging.getLogger(__name__)

METHODS = ("serial", "josh", "no_c1", "no_c2", "no_sizes", "fixed_people", "fixed_focal")


@dataclass(frozen=True)
class MethodSwitches:
    """What a method optimises and which contact terms it uses."""

    joint: bool = True  # cameras and people in one optimisation (False: serial baseline)
    c1: bool = True  # contact alignment (and the contact-based global scale)
    c2: bool = True  # contact stillness
    contact_scale: bool = True  # global metric scale from contacts before the people phases
    sizes: bool = True
    """Each person rescaled so that their contacts meet the scene, after the global scale (needs
    `c1`). A monocular body fit cannot tell size from distance: given the average adult, a shorter
    person is placed too far and sinks into the ground, a taller one floats. The redescending
    L_c1 hardly pulls a foot 10 cm off, and moving a person along their rays takes the size, the
    depth and the shape prior changing together, which gradient steps do not find (demo2: one
    walker's planted feet stayed 10-15 cm under the scene's surface)."""
    people_free: bool = True
    focal_free: bool = True

    @classmethod
    def of(cls, method: str) -> "MethodSwitches":
        table = {
            "josh": cls(),
            "serial": cls(joint=False, c1=False, c2=False, sizes=False),
            "no_c1": cls(c1=False, contact_scale=False, sizes=False),
            "no_c2": cls(c2=False),
            "no_sizes": cls(sizes=False),
            "fixed_people": cls(people_free=False),
            "fixed_focal": cls(focal_free=False),
        }
        if method not in table:
            raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
        return table[method]


def reconstruct(inputs: FrontEndInputs, body, config: OptimConfig | None = None, method: str = "josh") -> Reconstruction:
    """Optimise cameras, scene scale, focal and people; return everything in one world frame."""
    config = config or OptimConfig()
    with _torch_threads(config.threads):
        return _reconstruct(inputs, body, config, method)


@contextlib.contextmanager
def _torch_threads(n: int):
    previous = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _reconstruct(inputs: FrontEndInputs, body, config: OptimConfig, method: str) -> Reconstruction:
    switches = MethodSwitches.of(method)
    torch.manual_seed(config.seed)
    start = time.perf_counter()
    problem = build_problem(inputs, config, feet=foot_candidates(body))
    v = Variables(problem, body.shape_bounds)
    history: dict[str, float] = {}
    warnings: list[str] = []

    _run_phase(v, problem, body, config, config.scene_phase, switches, "scene", history)
    has_people = problem.n_rows > 0
    if has_people and switches.contact_scale:
        ratios = _contact_depth_ratios(v, problem, body, config)
        factor = _world_scale(ratios)
        if factor is None:
            warnings.append("too few contacts with a scene partner: the scene scale is the front-end's")
        else:
            v.rescale_world(factor)
            history["contact_scale_factor"] = factor
            if switches.sizes:
                _size_people_by_contacts(v, problem, body, ratios, factor, history, warnings)
    if not has_people:
        warnings.append("no people: the scene's scale is the front-end's, not metric")
    else:
        for name, phase in (("coarse", config.coarse), ("fine", config.fine)):
            _run_phase(v, problem, body, config, phase, switches, name, history)
    for w in warnings:
        log.warning(w)
    recon = _to_reconstruction(inputs, problem, v, body, config)
    recon.metadata.update(method=method, warnings=warnings, losses=history,
                          optimiser_seconds=time.perf_counter() - start, config=config.to_dict())  # fmt: skip
    return recon


# ------------------------------------------------------------------------------------------ phases
def _run_phase(v: Variables, problem: Problem, body, cfg: OptimConfig, phase: Phase, sw: MethodSwitches,
               stage: str, history: dict) -> None:  # fmt: skip
    people_stage = stage != "scene"
    scene_free = not people_stage or sw.joint
    params = []
    if scene_free:
        params = v.scene_parameters(focal=phase.focal_free and sw.focal_free, cameras=not problem.static_camera)
    if people_stage and sw.people_free:
        params += v.people_parameters()
    if phase.iterations <= 0 or not params:
        return
    opt = torch.optim.Adam(params, lr=phase.lr, betas=(0.9, 0.9))
    rest = RestCache(body, radius=0.1 * body.shape_unit, step=0.05 * body.shape_unit)
    terms: dict[str, torch.Tensor] = {}
    for it in range(phase.iterations):
        for group in opt.param_groups:
            group["lr"] = phase.lr * 0.5 * (1 + math.cos(math.pi * it / phase.iterations))
        opt.zero_grad(set_to_none=True)
        terms = _terms(v, problem, body, cfg, phase, sw, people_stage, rest)
        if not terms:  # e.g. a scene with no correspondences (the ground-plane fallback)
            return
        loss = sum(terms.values())
        if not torch.isfinite(loss):
            log.warning("non-finite loss in the %s phase at iteration %d; stopping the phase", stage, it)
            break
        loss.backward()
        opt.step()
        v.project_to_valid()
    for name, value in terms.items():
        history[f"{stage}/{name}"] = float(value.detach())
    history[f"{stage}/focal"] = float(problem.f_init * torch.exp(v.log_focal.detach()[0]))
    history[f"{stage}/mean_log_scale"] = float(v.log_scale.detach().mean())


def _terms(v: Variables, p: Problem, body, cfg: OptimConfig, phase: Phase, sw: MethodSwitches, people_stage: bool,
           rest=None):  # fmt: skip
    scene_active = (not people_stage or sw.joint) and p.n_correspondences > 0
    metric = people_stage and sw.c1  # contacts set the scale; otherwise keyframe 0's scale is the gauge
    d = derive(v, p, body, scene=scene_active, people=people_stage, rest=rest, metric=metric,
               contacts_move_pose=cfg.contact_moves_pose)  # fmt: skip
    terms: dict[str, torch.Tensor] = {}
    if scene_active:
        terms["scene3d"] = cfg.w_scene3d * losses.scene_3d(p, d, cfg)
        if phase.reprojection:
            terms["scene2d"] = cfg.w_scene2d * losses.scene_2d(p, d, cfg)
        if cfg.w_match_depth > 0:
            terms["match_depth"] = cfg.w_match_depth * losses.match_depth_prior(p, v, cfg)
    if people_stage:
        terms["prior"] = cfg.w_prior * losses.prior(p, v, cfg, body.shape_unit)
        terms["smooth"] = cfg.w_smooth * losses.smoothness(p, d, cfg)
        terms["keypoints"] = cfg.w_keypoints * losses.keypoints_2d(p, d, cfg)
        if sw.c1:
            terms["c1"] = cfg.w_c1 * losses.contact_alignment(p, d, cfg)
        if sw.c2:
            terms["c2"] = cfg.w_c2 * losses.contact_stillness(p, d, cfg)
        if sw.c2 and cfg.w_skate > 0 and p.up is not None:
            terms["skate"] = cfg.w_skate * losses.lowest_foot_stillness(p, d, cfg)
    return terms


@torch.no_grad()
def _contact_depth_ratios(v: Variables, p: Problem, body, cfg: OptimConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per person, (ratios of body depth to scene depth, rows) over the contact entries that have
    a valid scene partner."""
    d = derive(v, p, body, scene=False, people=True)
    x_k, z_scene, ok, _, _ = losses.contact_partners(p, d, cfg, check_depth=False)
    ratio = (x_k[:, 2] / z_scene).numpy()
    row = (p.contact_entry // d.contacts_world.shape[1]).numpy()
    person = p.row_person.numpy()[row]
    ok = ok.numpy()
    return [(ratio[ok & (person == i)], row[ok & (person == i)]) for i in range(p.n_people)]


def _enough_contacts(rows: np.ndarray) -> bool:
    return len(np.unique(rows)) >= MIN_SIZING_CONTACT_FRAMES


def _world_scale(ratios: list[tuple[np.ndarray, np.ndarray]]) -> float | None:
    """The scene's metric scale from the people: the median depth ratio over every contact entry
    (at least 5), so that people with many contacts weigh more. Not one vote per person: on a
    2-s cut of demo2 whose scene disagreed with two walkers, each person's median given one vote
    made a camera path of 1.87 m and put 50-100% of every person's frames more than 20 cm from
    the scene; the entries' median, 2.92 m (other runs of the cut: 2.8-2.9) and 0-33%."""
    every = np.concatenate([r for r, _ in ratios]) if ratios else np.zeros(0)
    return float(np.median(every)) if len(every) >= 5 else None


def _size_people_by_contacts(v: Variables, p: Problem, body, ratios, world_scale: float, history: dict,
                             warnings: list[str]) -> None:  # fmt: skip
    """Rescale each person so that their contacts meet the scene (`MethodSwitches.sizes`), unless
    that would make somebody no adult's height; record the sizes or say why none were applied."""
    sizes = _person_sizes(ratios, world_scale)
    statures = [standing_height(body, shape) for shape in p.shape_init.numpy()]
    if not _adult_statures(sizes, statures):
        warnings.append(f"the people's contacts and the scene disagree beyond adult statures (sizes "
                        f"{min(sizes):.2f}-{max(sizes):.2f}): everyone keeps the body fit's size")  # fmt: skip
        return
    sizes = [float(np.clip(s, 1 / MAX_SIZE_CHANGE, MAX_SIZE_CHANGE)) for s in sizes]
    _resize_people(v, p, body, sizes, statures)
    history.update({f"size/{pid}": s for pid, s in zip(p.person_ids, sizes)})


def _person_sizes(ratios: list[tuple[np.ndarray, np.ndarray]], world_scale: float) -> list[float]:
    """Per person, the factor (size and distance along their rays together) that puts their
    contacts on the scene rescaled by `world_scale`; 1 with too few contact frames. The world's
    scale is the people's (the size prior's) as before: the contact entries' median ratio, which
    people sized near 1 dominate. Not yet bounded."""
    return [float(world_scale / np.median(r)) if _enough_contacts(rows) else 1.0 for r, rows in ratios]


def _adult_statures(sizes: list[float], statures: list[float]) -> bool:
    """Whether every person, resized, would be an adult's height (`ADULT_STATURE_M`). One who
    would not says the scene disagrees with the people, not that somebody is 1.2 m tall: a short
    clip's SfM (the test suite's 2-s cut of demo2, one run in several) put the ground under two
    walkers at another height than under the other two, and sizing them to it gave statures of
    1.45-1.93 m (clipped from 1.21-1.90) with feet 0.4-0.6 m apart in height. Then nobody is
    resized."""
    lo, hi = ADULT_STATURE_M
    return all(lo <= s * h <= hi for s, h in zip(sizes, statures))


@torch.no_grad()
def _resize_people(v: Variables, p: Problem, body, sizes: list[float], statures: list[float]) -> None:
    """Each person `sizes[i]` times larger and further along their rays (about each frame's
    camera centre): root positions scaled, shape moved to `sizes[i]` times their stature
    `statures[i]`. The front-end's bodies (the prior's centre) move with them, or the prior
    would pull them back."""
    factor = torch.as_tensor(sizes, dtype=p.t_init.dtype)[p.row_person][:, None]
    p.t_init = p.t_init * factor
    v.root_transl.mul_(factor)
    shapes = p.shape_init.clone()
    for i, s in enumerate(sizes):
        if abs(s - 1.0) > 1e-4:
            shapes[i] = torch.as_tensor(shape_with_stature(body, shapes[i].numpy(), s * statures[i]))
    p.shape_init = shapes
    v.shape.copy_(shapes)


# ------------------------------------------------------------------------------------------ output
@torch.no_grad()
def _to_reconstruction(inputs: FrontEndInputs, p: Problem, v: Variables, body, cfg: OptimConfig) -> Reconstruction:
    d = derive(v, p, body, scene=False, people=p.n_rows > 0)
    left, alpha = interpolation_weights(p.keyframe_ids, np.arange(p.n_frames))
    R_i, c_i = interpolate_poses(d.R_key, d.c_key, torch.as_tensor(left), torch.as_tensor(alpha))
    R_all = R_i @ p.frame_delta_R
    c_all = c_i + (R_i @ p.frame_delta_c[..., None])[..., 0] * d.scale.log().mean().exp()
    scale = d.scale.numpy().astype(np.float64)
    points, colors = _scene_points(inputs, p, d, cfg)
    return Reconstruction(
        fps=p.fps,
        intrinsics=Intrinsics(float(d.focal), p.cx, p.cy, p.width, p.height),
        T_wc=homogeneous(R_all, c_all),
        keyframe_ids=p.keyframe_ids.copy(),
        keyframe_scales=scale,
        keyframe_depth=(p.depth.numpy() * scale[:, None, None]).astype(np.float32),
        keyframe_background=p.background.numpy().copy(),
        depth_stride=p.stride,
        scene_points=points,
        scene_colors=colors,
        people=_people(p, v, d) if p.n_rows else [],
        body_model=inputs.body_model,
    )


def _scene_points(inputs: FrontEndInputs, p: Problem, d, cfg: OptimConfig):
    """Confident background pixels of every keyframe, in the world, thinned on a voxel grid."""
    K, h, w = p.depth.shape
    uv = torch.as_tensor(np.stack(map_pixel_centres(h, w, p.stride), -1), dtype=torch.float32)
    keep = p.background & (p.conf >= cfg.min_scene_conf)
    X = backproject(uv.expand(K, h, w, 2), p.depth * d.scale[:, None, None], d.focal, p.cx, p.cy)
    W = to_world(d.R_key, d.c_key, X.reshape(K, -1, 3)).reshape(K, h, w, 3)
    pts = W[keep].numpy().astype(np.float64)
    colors = inputs.keyframes.colors
    col = colors[keep.numpy()] if colors is not None else np.full((len(pts), 3), 160, np.uint8)
    if len(pts) == 0:
        return pts.reshape(0, 3), col.reshape(0, 3)
    voxel = np.floor(pts / cfg.scene_voxel).astype(np.int64)
    _, first = np.unique(voxel, axis=0, return_index=True)
    return pts[first], col[first]


def _people(p: Problem, v: Variables, d) -> list[PersonResult]:
    R_world = d.R_row @ (roma.rotvec_to_rotmat(v.root_rot) @ p.R_init)
    t_world = (d.R_row @ d.root_transl_cam[..., None])[..., 0] + d.c_row
    feet = to_rows_world(d, d.body.foot_vertices).numpy()
    people = []
    for i, pid in enumerate(p.person_ids):
        rows = (p.row_person == i).numpy()
        people.append(PersonResult(
            person_id=pid,
            frames=p.row_frame.numpy()[rows],
            root_rotmat=R_world.numpy()[rows],
            root_transl=t_world.numpy()[rows],
            body_pose=v.body_pose.detach().numpy()[rows],
            shape=v.shape.detach().numpy()[i],
            joints=d.joints_world.numpy()[rows],
            foot_vertices=feet[rows],
            contact_vertices=d.contacts_world.numpy()[rows],
            contacts=p.contact_prob.numpy()[rows],
        ))  # fmt: skip
    return people
