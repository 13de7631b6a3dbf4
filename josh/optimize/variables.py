"""The optimisation variables and the quantities derived from them each iteration.

Parameterisation (DESIGN §4):
- focal: f = f_init * exp(log_focal);
- keyframe k: camera-to-world rotation exp(rot_k) R_k^init and centre c_k; keyframe 0 is fixed
  (it defines the world frame); depth scale sigma_k = exp(log_scale_k);
- person p: shape beta_p; row (person-frame) n: root orientation exp(root_rot_n) R_n^init and
  body pose in the camera frame, and root translation t~_n with the focal-depth coupling
  t_n = (f / f_assumed) t~_n (a body front-end places a person at a depth proportional to the focal
  it assumed, so changing the focal moves the person along the viewing ray consistently).
"""

from __future__ import annotations

from dataclasses import dataclass

import roma
import torch

from josh.body.protocol import BodyOutput
from josh.geometry.camera import interpolate_poses, to_world
from josh.optimize.problem import DTYPE, Problem


class Variables(torch.nn.Module):
    def __init__(self, problem: Problem):
        super().__init__()
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
        self.register_buffer("R_key_init", problem.T_init[:, :3, :3].clone())
        gauge = torch.ones(K, 1, dtype=DTYPE)
        gauge[0] = 0.0
        self.register_buffer("gauge_mask", gauge)  # keyframe 0 stays where it is

    # groups of parameters, for freezing per method and phase
    def scene_parameters(self, focal: bool) -> list[torch.nn.Parameter]:
        return [self.cam_rot, self.cam_centre, self.log_scale] + ([self.log_focal] if focal else [])

    def people_parameters(self) -> list[torch.nn.Parameter]:
        return [self.shape, self.root_rot, self.root_transl, self.body_pose]

    @torch.no_grad()
    def rescale_world(self, factor: float) -> None:
        """Multiply the scene's metric scale (depth scales and camera centres) by `factor`."""
        self.log_scale += float(torch.log(torch.tensor(factor)))
        self.cam_centre *= factor

    @torch.no_grad()
    def project_to_valid(self) -> None:
        """Keep the shape inside the body model's range (phenotypes live in [0, 1])."""
        self.shape.clamp_(0.0, 1.0)

    def keyframe_centres(self) -> torch.Tensor:
        """Camera centres with keyframe 0's held fixed (no gradient reaches it)."""
        m = self.gauge_mask
        return m * self.cam_centre + (1 - m) * self.cam_centre.detach()


@dataclass
class Derived:
    """What the losses read: current cameras, scales, focal and bodies."""

    focal: torch.Tensor
    R_key: torch.Tensor  # (K, 3, 3) camera-to-world
    c_key: torch.Tensor  # (K, 3)
    scale: torch.Tensor  # (K,)
    R_row: torch.Tensor | None = None  # (N, 3, 3) camera of each person row
    c_row: torch.Tensor | None = None
    body: BodyOutput | None = None  # camera-frame bodies of every row
    root_transl_cam: torch.Tensor | None = None


def derive(v: Variables, problem: Problem, body_model, with_people: bool) -> Derived:
    focal = problem.f_init * torch.exp(v.log_focal[0])
    R_key = roma.rotvec_to_rotmat(v.cam_rot * v.gauge_mask) @ v.R_key_init
    d = Derived(focal=focal, R_key=R_key, c_key=v.keyframe_centres(), scale=torch.exp(v.log_scale))
    if not with_people or problem.n_rows == 0:
        return d
    d.R_row, d.c_row = interpolate_poses(R_key, d.c_key, problem.row_left, problem.row_alpha)
    d.root_transl_cam = v.root_transl * (focal / problem.row_f_assumed)[:, None]
    root_R = roma.rotvec_to_rotmat(v.root_rot) @ problem.R_init
    rest = body_model.rest(v.shape)
    d.body = body_model.forward(rest, problem.row_person, root_R, d.root_transl_cam, v.body_pose)
    return d


def world_points(d: Derived, points_cam: torch.Tensor) -> torch.Tensor:
    """Camera-frame points of each row (N, n, 3) -> world."""
    return to_world(d.R_row, d.c_row, points_cam)
