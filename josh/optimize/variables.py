"""The optimisation variables and the quantities derived from them each iteration.

Parameterisation (DESIGN §4):
- focal: f = f_init * exp(log_focal);
- keyframe k: camera-to-world rotation exp(rot_k) R_k^init and centre c_k; keyframe 0 is fixed
  (it defines the world frame); depth scale sigma_k = exp(log_scale_k). The scene terms alone
  cannot tell the world's scale (they are invariant to scaling depths and camera centres
  together), so unless contacts set it (`metric=True`), sigma_0 is held where it is: the scale
  gauge, like keyframe 0's pose for the rigid gauge (DESIGN §4, "scale gauge").
- person p: shape beta_p; row (person-frame) n: root orientation exp(root_rot_n) R_n^init and
  body pose in the camera frame, and root position t~_n with the focal-depth coupling
  t_z = (f / f_assumed) t~_z. A body front-end infers depth from apparent size, so its root depth
  is proportional to the focal it assumed while x and y are metric offsets that keep the root's
  projection fixed (TRAM's t = (t_x, t_y, 2f/(b s))): scaling only z with the focal moves the
  person consistently as the focal is refined.
"""

from __future__ import annotations

from dataclasses import dataclass

import roma
import torch

from josh.body.protocol import BodyOutput
from josh.geometry.camera import backproject
from josh.optimize.problem import DTYPE, Problem


def gather(onehot: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Rows of `table` (K, ...) picked by one-hot rows (n, K): (n, ...), with a matmul backward."""
    return (onehot @ table.reshape(table.shape[0], -1)).reshape(onehot.shape[0], *table.shape[1:])


def rotate(R: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """R x for rotations (..., 3, 3) and vectors (..., 3), elementwise (no tiny bmm calls)."""
    return (R * x[..., None, :]).sum(-1)


class Variables(torch.nn.Module):
    def __init__(self, problem: Problem, shape_bounds: tuple[float, float] = (-float("inf"), float("inf"))):
        super().__init__()
        self.shape_bounds = shape_bounds
        K, N = problem.n_keyframes, problem.n_rows
        z = lambda *s: torch.nn.Parameter(torch.zeros(*s, dtype=DTYPE))  # noqa: E731
        self.log_focal = z(1)
        self.cam_rot = z(K, 3)
        self.cam_centre = torch.nn.Parameter(problem.T_init[:, :3, 3].clone())
        self.log_scale = z(K)
        self.shape = torch.nn.Parameter(problem.shape_init.clone())
        self.root_rot = z(N, 3)
        self.root_transl = torch.nn.Parameter(problem.t_init.clone())
        self.body_pose = torch.nn.Parameter(problem.pose_init.clone())
        self.match_depth = z(2, problem.n_correspondences)  # log-depth corrections of both ends of each match
        self.register_buffer("R_key_init", problem.T_init[:, :3, :3].clone())
        gauge = torch.ones(K, 1, dtype=DTYPE)
        gauge[:1] = 0.0
        self.register_buffer("gauge_mask", gauge)  # keyframe 0 stays where it is

    # groups of parameters, for freezing per method and phase
    def scene_parameters(self, focal: bool, cameras: bool = True) -> list[torch.nn.Parameter]:
        poses = [self.cam_rot, self.cam_centre] if cameras else []
        return poses + [self.log_scale, self.match_depth] + ([self.log_focal] if focal else [])

    def people_parameters(self) -> list[torch.nn.Parameter]:
        return [self.shape, self.root_rot, self.root_transl, self.body_pose]

    @torch.no_grad()
    def rescale_world(self, factor: float) -> None:
        """Multiply the scene's metric scale (depth scales and camera centres) by `factor`."""
        self.log_scale += float(torch.log(torch.tensor(factor)))
        self.cam_centre *= factor

    @torch.no_grad()
    def project_to_valid(self) -> None:
        """Keep the shape inside the body model's valid range."""
        self.shape.clamp_(*self.shape_bounds)


@dataclass
class Derived:
    """What the losses read: current cameras, scales, focal, matched points and bodies."""

    focal: torch.Tensor
    R_key: torch.Tensor  # (K, 3, 3) camera-to-world
    c_key: torch.Tensor  # (K, 3)
    scale: torch.Tensor  # (K,)
    # scene: world points of both ends of every correspondence, and their metric depths; the
    # `_fixed` copies do not depend on the focal (see losses.scene_3d)
    W_a: torch.Tensor | None = None
    W_b: torch.Tensor | None = None
    W_a_fixed: torch.Tensor | None = None
    W_b_fixed: torch.Tensor | None = None
    z_a: torch.Tensor | None = None
    z_b: torch.Tensor | None = None
    # people
    R_row: torch.Tensor | None = None  # (N, 3, 3) camera of each row
    c_row: torch.Tensor | None = None
    root_transl_cam: torch.Tensor | None = None  # (N, 3)
    body: BodyOutput | None = None  # camera-frame bodies of every row
    joints_world: torch.Tensor | None = None  # (N, 24, 3)
    root_R_world: torch.Tensor | None = None  # (N, 3, 3) body-to-world orientation of each row
    contacts_world: torch.Tensor | None = None  # (N, C, 3)
    contacts_world_rigid: torch.Tensor | None = None  # the same, moved only with the root (see derive)


def derive(v: Variables, p: Problem, body_model, scene: bool, people: bool, rest=None, metric: bool = False,
           contacts_move_pose: bool = True) -> Derived:  # fmt: skip
    """Everything the active terms need from the current variables. `rest` maps shapes to the
    body's `RestState` (default: the body's exact `rest`; the solver passes a `RestCache`)."""
    focal = p.f_init * torch.exp(v.log_focal[0])
    R_key = roma.rotvec_to_rotmat(v.cam_rot * v.gauge_mask) @ v.R_key_init
    c_key = v.gauge_mask * v.cam_centre + (1 - v.gauge_mask) * v.cam_centre.detach()
    log_scale = v.log_scale if metric else torch.cat([v.log_scale[:1].detach(), v.log_scale[1:]])
    d = Derived(focal=focal, R_key=R_key, c_key=c_key, scale=torch.exp(log_scale))
    if scene and p.n_correspondences:
        d.W_a, d.W_a_fixed, d.z_a = _world_points(d, p.corr_a, p.uv_a, p.depth_a * torch.exp(v.match_depth[0]), p)
        d.W_b, d.W_b_fixed, d.z_b = _world_points(d, p.corr_b, p.uv_b, p.depth_b * torch.exp(v.match_depth[1]), p)
    if people and p.n_rows:
        d.R_row, d.c_row = row_cameras(d.R_key, d.c_key, p, log_scale)
        depth = v.root_transl[:, 2] * focal / p.row_f_assumed  # the focal-depth coupling
        d.root_transl_cam = torch.cat([v.root_transl[:, :2], depth[:, None]], 1)
        root_R = roma.rotvec_to_rotmat(v.root_rot) @ p.R_init
        rest_state = (rest or body_model.rest)(v.shape)
        d.body = body_model.forward(rest_state, p.row_person, root_R, d.root_transl_cam, v.body_pose)
        d.joints_world = to_rows_world(d, d.body.joints)
        d.root_R_world = d.R_row @ root_R
        d.contacts_world = to_rows_world(d, d.body.contact_vertices)
        d.contacts_world_rigid = d.contacts_world
        if not contacts_move_pose:  # contact alignment places the body; it does not bend it
            t = d.root_transl_cam[:, None]
            local = ((d.body.contact_vertices - t) @ root_R).detach()
            d.contacts_world_rigid = to_rows_world(d, local @ root_R.transpose(-1, -2) + t)
    return d


def _world_points(d: Derived, onehot: torch.Tensor, uv, depth, p: Problem):
    """World points of matched pixels, with the focal live and with it held (its gradient cut)."""
    z = (onehot @ d.scale) * depth
    R, c = gather(onehot, d.R_key), onehot @ d.c_key
    live = rotate(R, backproject(uv, z, d.focal, p.cx, p.cy)) + c
    held = rotate(R, backproject(uv, z, d.focal.detach(), p.cx, p.cy)) + c
    return live, held, z


def row_cameras(R_key: torch.Tensor, c_key: torch.Tensor, p: Problem, log_scale: torch.Tensor):
    """Camera-to-world of every row's frame: keyframe poses interpolated (slerp, linear centre),
    composed with the front-end's deviation from that interpolation (its centre offset in the
    current metric scale)."""
    if R_key.shape[0] == 1:
        R, c = R_key.expand(p.n_rows, 3, 3), c_key.expand(p.n_rows, 3)
    else:
        step = roma.rotmat_to_rotvec(R_key[:-1].transpose(-1, -2) @ R_key[1:])  # (K-1, 3)
        a = p.row_alpha[:, None]
        R = gather(p.row_interval, R_key[:-1]) @ roma.rotvec_to_rotmat(a * (p.row_interval @ step))
        c = (1 - a) * (p.row_interval @ c_key[:-1]) + a * (p.row_interval @ c_key[1:])
    offset = rotate(R, p.row_delta_c) * torch.exp(log_scale.mean())
    return R @ p.row_delta_R, c + offset


def to_rows_world(d: Derived, points_cam: torch.Tensor) -> torch.Tensor:
    """Camera-frame points of each row (N, n, 3) -> world."""
    return points_cam @ d.R_row.transpose(-1, -2) + d.c_row[:, None, :]
