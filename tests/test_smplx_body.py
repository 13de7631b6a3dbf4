"""SMPL-X through smplx on a generated model file: loading, errors, fast path vs smplx, gradients."""

import numpy as np
import pytest
import torch

from josh.body import load_body_model
from josh.body.protocol import BodyModel
from josh.errors import SetupError
from josh.testing.body_checks import check_gradients, check_root_translation, fast_path_errors, random_bodies
from josh.testing.fake_smplx import FACE_VERTICES, FOOT_VERTICES, write_fake_smplx, write_fake_smplx_folder


@pytest.fixture(scope="module")
def smplx_dir(tmp_path_factory):  # the v1.1 layout (300 shape + 100 expression directions)
    return write_fake_smplx_folder(tmp_path_factory.mktemp("smplx"), genders=("neutral",))


@pytest.fixture(scope="module")
def smplx_body(smplx_dir):
    return load_body_model("smplx", model_path=smplx_dir)


def test_missing_model_files_say_where_to_put_them(tmp_path, monkeypatch):
    for var in ("JOSH_SMPLX_DIR", "JOSH_SMPL_DIR"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(SetupError, match="SMPLX_NEUTRAL.npz") as err:
        load_body_model("smplx", model_path=tmp_path)
    msg = str(err.value)
    assert "smpl-x.is.tue.mpg.de" in msg and "$JOSH_SMPLX_DIR" in msg and "\n" not in msg


def test_model_folder_from_environment(tmp_path, monkeypatch):
    """$JOSH_SMPLX_DIR falls back to $JOSH_SMPL_DIR, whose smplx/ subfolder holds the files (the
    smaller v1.0 layout: 10 shape + 10 expression directions)."""
    write_fake_smplx_folder(tmp_path / "smplx", genders=("female",), n_shape=10, n_expression=10)
    monkeypatch.delenv("JOSH_SMPLX_DIR", raising=False)
    monkeypatch.setenv("JOSH_SMPL_DIR", str(tmp_path))
    body = load_body_model("smplx", gender="female")
    assert body.model_file == tmp_path / "smplx" / "SMPLX_FEMALE.npz" and body.gender == "female"
    monkeypatch.setenv("JOSH_SMPLX_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(SetupError, match="SMPLX_MALE"):
        load_body_model("smplx", gender="male")


def test_foreign_files_are_explained(tmp_path):
    other = tmp_path / "SMPLX_NEUTRAL.npz"
    with open(other, "wb") as fh:
        np.savez(fh, v_template=np.zeros((10, 3)))
    with pytest.raises(SetupError, match="not an SMPL-X model"):
        load_body_model("smplx", model_path=other)
    smpl_like = write_fake_smplx(tmp_path / "x" / "SMPLX_NEUTRAL.npz", n_shape=10, n_expression=10)
    data = dict(np.load(smpl_like, allow_pickle=True))
    data["v_template"] = data["v_template"][:6890]
    with open(smpl_like, "wb") as fh:
        np.savez(fh, **data)
    with pytest.raises(SetupError, match="10475 vertices"):
        load_body_model("smplx", model_path=smpl_like)


def test_protocol_shapes(smplx_body):
    body = smplx_body
    assert isinstance(body, BodyModel) and body.name == "smplx"
    assert len(body.joint_names) == 24 and len(body.keypoint_names) == 23
    assert body.n_pose_bones == 21 and body.shape_dim == 10 and len(body.pose_bone_names) == 21
    assert body.faces.shape == (20908, 3) and body.faces.max() < 10475
    assert body.foot_vertex_ids.tolist() == [8846, 5770, 8635, 8463]
    assert np.allclose(body.up_axis, [0, 1, 0]) and np.allclose(body.forward_axis, [0, 0, 1])
    for name in ("left_heel", "left_toes", "left_sole", "right_heel", "right_toes", "right_sole",
                 "left_hand", "right_hand", "buttocks"):  # fmt: skip
        assert len(body.contact_sets[name]) > 0, name


def test_contact_sets_and_keypoints_follow_the_geometry(smplx_body):
    """Soles at the bottom of the feet, heels behind toes, hands far out on their side, buttocks
    behind; in the rest pose the keypoint vertices are where they are named."""
    body = smplx_body
    rest = body._v_template.numpy()
    ids = body.contact_vertex_ids
    at = lambda name: rest[ids[body.contact_sets[name]]]  # noqa: E731
    for side, sign, bones in (("left", 1, (7, 10)), ("right", -1, (8, 11))):
        foot = rest[np.isin(body._weights.numpy().argmax(1), bones)]
        assert at(f"{side}_sole")[:, 1].max() < foot[:, 1].min() + 0.06
        assert at(f"{side}_heel")[:, 2].mean() < at(f"{side}_toes")[:, 2].mean()
        assert (sign * at(f"{side}_hand")[:, 0]).min() > 0.5  # +x = the body's left
        assert (sign * at(f"{side}_sole")[:, 0]).min() > 0.0
    assert at("buttocks")[:, 2].max() < body.pelvis(np.zeros(10))[2]
    zero = torch.zeros(1, 3)
    out = body.forward(body.rest(torch.zeros(1, 10)), torch.tensor([0]), torch.eye(3)[None], zero, torch.zeros(1, 21, 3))
    kp = dict(zip(body.keypoint_names, out.keypoints[0].numpy()))
    assert kp["nose"][2] > kp["left_ear"][2] and kp["left_eye"][0] > 0 > kp["right_eye"][0]
    assert kp["left_heel"][2] < kp["left_big_toe"][2] and kp["left_ankle"][1] > kp["left_heel"][1]
    assert np.allclose(out.foot_vertices[0, 0].numpy(), kp["left_heel"])
    j = out.joints[0].numpy()  # joints 22 / 23: the middle-finger bases, just beyond the wrists
    assert 0.05 < j[22, 0] - j[20, 0] < 0.15 and 0.05 < j[21, 0] - j[23, 0] < 0.15
    assert sorted(FACE_VERTICES.values()) == sorted(body._keypoint_vertex_ids[n] for n in
                                                    ("nose", "left_eye", "right_eye", "left_ear", "right_ear"))  # fmt: skip
    assert body.foot_vertex_ids.tolist() == [FOOT_VERTICES["left"][0], FOOT_VERTICES["left"][1],
                                             FOOT_VERTICES["right"][0], FOOT_VERTICES["right"][1]]  # fmt: skip


def test_fast_forward_matches_smplx(smplx_body):
    """Against smplx.SMPLX's full forward with hands, jaw, eyes flat and expression zero: joints
    (incl. the finger joints 22 / 23), keypoints, contact vertices (incl. finger-skinned hand
    vertices) and foot vertices, pose blend shapes included."""
    for name, err in fast_path_errors(smplx_body).items():
        assert err < 1e-4, (name, err)  # < 0.1 mm


def test_mesh(smplx_body):
    shape, person, R, t, pose = random_bodies(smplx_body, P=2, B=3)
    mesh = smplx_body.mesh(shape[person], R, t, pose)
    assert mesh.shape == (3, 10475, 3) and mesh.dtype == torch.float32
    out = smplx_body.forward(smplx_body.rest(shape), person, R, t, pose)
    assert torch.allclose(mesh[:, smplx_body.foot_vertex_ids], out.foot_vertices, atol=1e-4)


def test_root_translation_is_the_root_joint(smplx_body):
    check_root_translation(smplx_body)


def test_gradients_match_finite_differences(smplx_body):
    check_gradients(smplx_body)
