"""SMPL through smplx on a generated model file: loading, errors, fast path vs smplx, gradients."""

import pickle

import numpy as np
import pytest
import roma
import torch

from josh.body import load_body_model
from josh.body.protocol import BodyModel
from josh.errors import SetupError
from josh.testing.fake_smpl import write_fake_smpl_folder


@pytest.fixture(scope="module")
def smpl_dir(tmp_path_factory):
    return write_fake_smpl_folder(tmp_path_factory.mktemp("smpl"))


@pytest.fixture(scope="module")
def smpl(smpl_dir):
    return load_body_model("smpl", model_path=smpl_dir)


def _random_bodies(P=3, B=8, seed=0, pose_scale=0.6):
    g = torch.Generator().manual_seed(seed)
    shape = 1.5 * torch.randn(P, 10, generator=g)
    person = torch.arange(B) % P
    R = roma.rotvec_to_rotmat(torch.randn(B, 3, generator=g))
    t = torch.randn(B, 3, generator=g) + torch.tensor([0.0, 0.0, 4.0])
    pose = pose_scale * torch.randn(B, 23, 3, generator=g)
    return shape, person, R, t, pose


def test_missing_model_files_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.delenv("JOSH_SMPL_DIR", raising=False)
    with pytest.raises(SetupError, match="JOSH_SMPL_DIR") as err:
        load_body_model("smpl", model_path=tmp_path)
    assert "smpl.is.tue.mpg.de" in str(err.value) and "\n" not in str(err.value)


def test_model_folder_from_environment(smpl_dir, monkeypatch):
    monkeypatch.setenv("JOSH_SMPL_DIR", str(smpl_dir))
    body = load_body_model("smpl", gender="female")
    assert body.model_file.name == "SMPL_FEMALE.pkl"


def test_foreign_and_chumpy_files_are_explained(tmp_path):
    chumpy = tmp_path / "SMPL_NEUTRAL.pkl"
    chumpy.write_bytes(b"cchumpy.ch\nCh\n.")  # a pickle that needs the chumpy module
    with pytest.raises(SetupError, match="chumpy"):
        load_body_model("smpl", model_path=chumpy)
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"v_template": np.zeros((10, 3))}))
    with pytest.raises(SetupError, match="not an SMPL model"):
        load_body_model("smpl", model_path=other)


def test_protocol_shapes(smpl):
    assert isinstance(smpl, BodyModel)
    assert len(smpl.joint_names) == 24 and len(smpl.keypoint_names) == 23
    assert smpl.n_pose_bones == 23 and smpl.shape_dim == 10
    assert smpl.faces.shape == (13776, 3) and smpl.faces.max() < 6890
    assert sorted(smpl.foot_vertex_ids.tolist()) == [3216, 3387, 6617, 6787]
    for name in ("left_heel", "left_toes", "left_sole", "right_heel", "right_toes", "right_sole",
                 "left_hand", "right_hand", "buttocks"):  # fmt: skip
        assert len(smpl.contact_sets[name]) > 0, name


def test_contact_sets_follow_the_geometry(smpl):
    """Soles at the bottom of the feet, heels behind toes, hands far out, buttocks behind."""
    rest = smpl._v_template.numpy()
    ids = smpl.contact_vertex_ids
    at = lambda name: rest[ids[smpl.contact_sets[name]]]  # noqa: E731
    foot = rest[np.isin(smpl._weights.numpy().argmax(1), (7, 10))]
    assert at("left_sole")[:, 1].max() < foot[:, 1].min() + 0.06
    assert at("left_heel")[:, 2].mean() < at("left_toes")[:, 2].mean()
    assert at("left_hand")[:, 0].min() > 0.5 and at("right_hand")[:, 0].max() < -0.5  # +x = left
    assert at("buttocks")[:, 2].max() < smpl.pelvis(np.zeros(10))[2]


def test_fast_forward_matches_smplx(smpl):
    shape, person, R, t, pose = _random_bodies()
    out = smpl.forward(smpl.rest(shape), person, R, t, pose)
    vertices, joints = smpl.smplx_output(shape[person], R, t, pose)
    ref = smpl.regress(vertices, joints)
    for name in ("joints", "keypoints", "contact_vertices", "foot_vertices"):
        err = (getattr(out, name).double() - ref[name]).norm(dim=-1).max()
        assert err < 1e-4, (name, float(err))  # < 0.1 mm, pose blend shapes included


def test_pose_blend_shapes_are_not_dropped(smpl):
    """The generated model has sizeable pose blend shapes: skinning without them would miss."""
    shape, person, R, t, pose = _random_bodies(seed=3)
    out = smpl.forward(smpl.rest(shape), person, R, t, pose)
    saved = smpl._rows_posedirs
    try:
        smpl._rows_posedirs = torch.zeros_like(saved)
        no_blend = smpl.forward(smpl.rest(shape), person, R, t, pose)
    finally:
        smpl._rows_posedirs = saved
    assert (out.contact_vertices - no_blend.contact_vertices).norm(dim=-1).max() > 1e-3


def test_root_translation_is_the_root_joint(smpl):
    """root_transl = smplx transl + J0(betas); the root rotation pivots about that joint."""
    shape, person, R, t, pose = _random_bodies(P=1, B=2, seed=1)
    vertices, joints = smpl.smplx_output(shape[person], R, t, pose)
    assert torch.allclose(joints[:, 0], t.double(), atol=1e-9)
    transl = smpl.root_to_transl(shape[0].numpy(), t.numpy())
    assert np.allclose(smpl.transl_to_root(shape[0].numpy(), transl), t.numpy())
    assert np.allclose(transl + smpl.pelvis(shape[0].numpy()), t.numpy())
    rest = smpl.rest(shape)
    a = smpl.forward(rest, person, R, t, pose).keypoints
    Q = roma.rotvec_to_rotmat(torch.tensor([0.3, -0.2, 1.0]))
    s = torch.tensor([1.0, 2.0, -0.5])
    b = smpl.forward(rest, person, Q @ R, t @ Q.T + s, pose).keypoints
    assert torch.allclose(a @ Q.T + s, b, atol=1e-5)


def test_gradients_match_finite_differences(smpl):
    shape, person, R, t, pose = _random_bodies(P=2, B=4, seed=2)
    shape = shape.double().requires_grad_(True)
    pose = pose.double().requires_grad_(True)
    body64 = smpl.__class__(model_path=smpl.model_file, dtype=torch.float64)

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


def test_unknown_body_model():
    with pytest.raises(ValueError, match="smpl"):
        load_body_model("smplh")
