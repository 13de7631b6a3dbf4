"""Checks shared by the body-model tests (SMPL, SMPL-X, Anny): random bodies, fast path vs smplx's full forward,
root-translation conventions, gradients against finite differences."""

from __future__ import annotations

import numpy as np
import roma
import torch


def random_bodies(body, P: int = 3, B: int = 8, seed: int = 0, pose_scale: float = 0.6):
    """P random shapes and B random posed bodies (person index, root rotation, root joint position
    about 4 m in front, axis-angle body pose)."""
    g = torch.Generator().manual_seed(seed)
    shape = 1.5 * torch.randn(P, body.shape_dim, generator=g)
    person = torch.arange(B) % P
    R = roma.rotvec_to_rotmat(torch.randn(B, 3, generator=g))
    t = torch.randn(B, 3, generator=g) + torch.tensor([0.0, 0.0, 4.0])
    pose = pose_scale * torch.randn(B, body.n_pose_bones, 3, generator=g)
    return shape, person, R, t, pose


def fast_path_errors(body, seed: int = 0) -> dict[str, float]:
    """Largest distance (m) between `forward` and smplx's full forward, per output."""
    shape, person, R, t, pose = random_bodies(body, seed=seed)
    out = body.forward(body.rest(shape), person, R, t, pose)
    ref = body.regress(*body.smplx_output(shape[person], R, t, pose))
    return {name: float((getattr(out, name).double() - ref[name]).norm(dim=-1).max()) for name in ref}


def check_root_translation(body) -> None:
    """root_transl = smplx transl + J0(betas) both ways, and the root rotation pivots about it."""
    shape, person, R, t, pose = random_bodies(body, P=1, B=2, seed=1)
    vertices, joints = body.smplx_output(shape[person], R, t, pose)
    assert torch.allclose(joints[:, 0], t.double(), atol=1e-9)
    transl = body.root_to_transl(shape[0].numpy(), t.numpy())
    assert np.allclose(body.transl_to_root(shape[0].numpy(), transl), t.numpy())
    assert np.allclose(transl + body.pelvis(shape[0].numpy()), t.numpy())
    check_rigid_root_motion(body, shape, person, R, t, pose)


def check_rigid_root_motion(body, shape, person, R, t, pose, output: str = "keypoints") -> None:
    """x -> Q x + s of the body equals composing Q into the root (the root pivots about its joint)."""
    rest = body.rest(shape)
    a = getattr(body.forward(rest, person, R, t, pose), output)
    Q = roma.rotvec_to_rotmat(torch.tensor([0.3, -0.2, 1.0]))
    s = torch.tensor([1.0, 2.0, -0.5])
    b = getattr(body.forward(rest, person, Q @ R, t @ Q.T + s, pose), output)
    assert torch.allclose(a @ Q.T + s, b, atol=1e-5)


def check_gradients(body) -> None:
    """Analytic gradients of a loss on keypoints and contact vertices match finite differences
    (float64 copy of the model)."""
    shape, person, R, t, pose = random_bodies(body, P=2, B=4, seed=2)
    shape = shape.double().requires_grad_(True)
    pose = pose.double().requires_grad_(True)
    body64 = body.__class__(model_path=body.model_file, gender=body.gender, dtype=torch.float64)

    def loss(s, q):
        out = body64.forward(body64.rest(s), person, R.double(), t.double(), q)
        return out.contact_vertices.square().sum() + out.keypoints.square().sum()

    g_shape, g_pose = torch.autograd.grad(loss(shape, pose), (shape, pose))
    eps = 1e-6
    with torch.no_grad():
        for grad, which, index in ((g_shape, 0, (1, 0)), (g_pose, 1, (2, 3, 1))):
            s2, q2 = shape.detach().clone(), pose.detach().clone()
            (s2 if which == 0 else q2)[index] += eps
            fd = (loss(s2, q2) - loss(shape, pose)) / eps
            assert np.isclose(float(fd), float(grad[index]), rtol=1e-4, atol=1e-6)
