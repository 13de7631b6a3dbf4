"""SMPL through smplx on a generated model file: loading, errors, fast path vs smplx, gradients."""

import pickle

import numpy as np
import pytest
import torch

from josh.body import load_body_model
from josh.body.protocol import BodyModel
from josh.errors import SetupError
from josh.testing.body_checks import check_gradients, check_root_translation, fast_path_errors, random_bodies
from josh.testing.fake_smpl import write_fake_smpl_folder


@pytest.fixture(scope="module")
def smpl_dir(tmp_path_factory):
    return write_fake_smpl_folder(tmp_path_factory.mktemp("smpl"))


@pytest.fixture(scope="module")
def smpl(smpl_dir):
    return load_body_model("smpl", model_path=smpl_dir)


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
    for name, err in fast_path_errors(smpl).items():
        assert err < 1e-4, (name, err)  # < 0.1 mm, pose blend shapes included


def test_pose_blend_shapes_are_not_dropped(smpl):
    """The generated model has sizeable pose blend shapes: skinning without them would miss."""
    shape, person, R, t, pose = random_bodies(smpl, seed=3)
    out = smpl.forward(smpl.rest(shape), person, R, t, pose)
    saved = smpl._rows_posedirs
    try:
        smpl._rows_posedirs = torch.zeros_like(saved)
        no_blend = smpl.forward(smpl.rest(shape), person, R, t, pose)
    finally:
        smpl._rows_posedirs = saved
    assert (out.contact_vertices - no_blend.contact_vertices).norm(dim=-1).max() > 1e-3


def test_root_translation_is_the_root_joint(smpl):
    check_root_translation(smpl)


def test_gradients_match_finite_differences(smpl):
    check_gradients(smpl)


def test_unknown_body_model():
    with pytest.raises(ValueError, match="smplx"):
        load_body_model("smplh")
