"""The fast partial Anny evaluation must agree with Anny's full forward."""

import numpy as np
import roma
import torch

from josh.body.protocol import BodyModel
from josh.testing.body_checks import check_rigid_root_motion


def _random_bodies(body, P=3, B=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = torch.rand(P, body.shape_dim, generator=g)
    person = torch.arange(B) % P
    R = roma.rotvec_to_rotmat(torch.randn(B, 3, generator=g))
    t = torch.randn(B, 3, generator=g)
    pose = 0.6 * torch.randn(B, body.n_pose_bones, 3, generator=g)
    return shape, person, R, t, pose


def test_protocol_shapes(body):
    assert isinstance(body, BodyModel)
    assert len(body.joint_names) == 24 and len(body.keypoint_names) == 23
    assert body.faces.shape[1] == 3 and body.faces.max() < 13718
    assert body.foot_vertex_ids.shape == (4,)
    for name in ("left_heel", "left_toes", "right_heel", "right_toes", "left_hand", "buttocks"):
        assert len(body.contact_sets[name]) > 0


def test_partial_matches_full_forward(body):
    shape, person, R, t, pose = _random_bodies(body)
    out = body.forward(body.rest(shape), person, R, t, pose)
    vertices = body.mesh(shape[person], R, t, pose).double()
    ref = body.regress(vertices)
    for name in ("keypoints", "contact_vertices", "foot_vertices"):
        err = (getattr(out, name).double() - ref[name]).norm(dim=-1).max()
        assert err < 1e-4, (name, err)  # < 0.1 mm
    heads = body.model.forward(
        pose_parameters=body.delta_transforms(R, t, pose),
        phenotype_kwargs=shape[person].double(),
    )["bone_poses"][:, body.joint_bones, :3, 3]
    assert (out.joints.double() - heads).norm(dim=-1).max() < 1e-4


def test_rigid_motion_of_root(body):
    """x -> Rx + t of the body equals composing R into the root (root pivots about its joint)."""
    check_rigid_root_motion(body, *_random_bodies(body, P=1, B=2, seed=1), output="joints")


def test_geometry_is_plausible(body):
    rest = body.rest(torch.full((1, 6), 0.5))
    eye = torch.eye(3)[None]
    out = body.forward(rest, torch.zeros(1, dtype=torch.long), eye, torch.zeros(1, 3), torch.zeros(1, 19, 3))
    height = out.keypoints[0, :, 2].max() - out.foot_vertices[0, :, 2].min()
    assert 1.4 < height < 1.8  # nose-to-sole of an average adult
    lh, lt, rh, rt = out.foot_vertices[0]
    assert lh[0] > 0 and rh[0] < 0  # +x is the person's left
    assert lt[1] < lh[1]  # faces -y: toes ahead of heel


def test_gradients_flow_to_all_parameters(body):
    shape, person, R, t, pose = _random_bodies(body, P=2, B=4, seed=2)
    shape.requires_grad_(True)
    pose.requires_grad_(True)
    t.requires_grad_(True)
    out = body.forward(body.rest(shape), person, R, t, pose)
    loss = out.keypoints.square().sum() + out.contact_vertices.square().sum() + out.joints.sum()
    loss.backward()
    for g in (shape.grad, pose.grad, t.grad):
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0
    # finite difference on one shape parameter
    with torch.no_grad():
        eps = 1e-3
        s2 = shape.detach().clone()
        s2[0, 4] += eps
        f = lambda s: (body.forward(body.rest(s), person, R, t, pose).keypoints.square().sum())  # noqa: E731
        fd = (f(s2) - f(shape.detach())) / eps
    analytic = torch.autograd.grad(f(shape), shape)[0][0, 4]
    assert np.isclose(float(fd), float(analytic), rtol=0.05, atol=1e-3)


def test_default_shape_is_the_average_adult_of_annys_calibrated_distribution(body):
    """The prior centre must be an adult (Anny's all-0.5 phenotype is a 1.62 m teenager)."""
    from anny.shape_distribution import SimpleShapeDistribution

    from josh.body.anny_body import PHENOTYPES

    from josh.body.protocol import standing_height

    class Spec:  # what SimpleShapeDistribution reads from a model
        dtype, device = torch.float64, "cpu"
        phenotype_labels = list(PHENOTYPES)

    f64 = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    torch.manual_seed(0)
    adults = SimpleShapeDistribution(Spec(), morphological_age_distribution=torch.distributions.Uniform(f64(20.0), f64(60.0)))
    _, phenotypes = adults.sample(4000)
    mean = np.array([phenotypes[k].mean().item() for k in Spec.phenotype_labels])
    assert np.abs(mean - body.default_shape).max() < 0.03, mean.round(3)
    assert 1.65 < standing_height(body, body.default_shape) < 1.75
    assert standing_height(body, np.full(6, 0.5)) < 1.64  # the old centre, a teenager
