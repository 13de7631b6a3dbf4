"""Dataset readers (EMDB, SLOPER4D, RICH), file readers and the SMPL evaluation used by `josh eval`."""

import pickle

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from josh.errors import InputError, SetupError
from josh.eval.datasets import base, emdb, rich, sloper4d
from josh.eval.sequence import CameraModel, rigid_inverse, transform_points
from josh.eval.smpl_eval import FOOT_VERTEX_IDS, SmplEvaluator, SmplParams, resolve_smpl_dir
from josh.testing import eval_fixtures as F
from josh.testing.fake_smpl import write_fake_smpl_folder

K = np.array([[40.0, 0.0, 32.0], [0.0, 40.0, 24.0], [0.0, 0.0, 1.0]])


@pytest.fixture(scope="module")
def smpl_dir(tmp_path_factory):
    return write_fake_smpl_folder(tmp_path_factory.mktemp("smpl"))


@pytest.fixture(scope="module")
def smpl(smpl_dir):
    return SmplEvaluator(smpl_dir)


def _track(n):
    return F.camera_track(np.stack([np.linspace(0, 1, n), np.zeros(n), np.zeros(n)], 1), np.linspace(0, 0.3, n))


# ------------------------------------------------------------------------------------ SMPL


def test_smpl_dir_comes_from_the_argument_or_the_environment(smpl_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("JOSH_SMPL_DIR", raising=False)
    with pytest.raises(SetupError, match="JOSH_SMPL_DIR"):
        resolve_smpl_dir(None)
    with pytest.raises(SetupError, match="no SMPL_NEUTRAL.pkl"):
        resolve_smpl_dir(tmp_path)
    monkeypatch.setenv("JOSH_SMPL_DIR", str(smpl_dir))
    assert resolve_smpl_dir(None) == smpl_dir


def test_moving_smpl_parameters_rigidly_moves_the_body_exactly(smpl):
    body = F.walking_body(5, seed=1)
    params = SmplParams.from_axis_angle(body["poses_root"], body["poses_body"], body["betas"], body["trans"])
    T = F.pose_matrix(Rotation.from_rotvec([0.4, -1.2, 0.3]).as_matrix(), [1.0, 2.0, -0.5])
    moved = params.transformed(T, smpl.rest_pelvis(params.betas[0]))
    a, b = smpl.run(params, with_vertices=True), smpl.run(moved, with_vertices=True)
    np.testing.assert_allclose(b.vertices, transform_points(T, a.vertices), atol=1e-9)
    np.testing.assert_allclose(b.joints, transform_points(T, a.joints), atol=1e-9)
    np.testing.assert_array_equal(a.feet, a.vertices[:, list(FOOT_VERTEX_IDS)])


# ------------------------------------------------------------------------------------ EMDB


def test_emdb_reader_uses_the_gendered_model_and_the_published_keys(tmp_path, smpl, smpl_dir):
    import smplx

    n = 12
    body = F.walking_body(n, seed=2)
    good = np.ones(n, bool)
    good[3] = False
    w2c = rigid_inverse(_track(n))
    F.write_emdb_sequence(tmp_path, "P3", "07_stairs", body, w2c, K, good, gender="female")
    (ref,) = emdb.find_sequences(tmp_path)
    assert ref.name == "P3_07_stairs" and ref.prediction_dirs[:2] == ["P3/07_stairs", "P3_07_stairs"]
    gt = emdb.load_sequence(ref, smpl)
    assert gt.body.gender == "female" and gt.fps == 30.0 and gt.n_video_frames == n
    np.testing.assert_array_equal(gt.valid, good)
    np.testing.assert_allclose(gt.w2c, w2c)
    model = smplx.SMPL(model_path=str(smpl_dir), gender="female", dtype=torch.float64)
    t = lambda x: torch.as_tensor(np.asarray(x, np.float64))  # noqa: E731
    direct = model(global_orient=t(body["poses_root"]), body_pose=t(body["poses_body"]),
                   betas=t(np.tile(body["betas"], (n, 1))), transl=t(body["trans"]))  # fmt: skip
    np.testing.assert_allclose(gt.joints, direct.joints[:, :24].numpy(), atol=1e-9)
    neutral = smpl.run(SmplParams(gt.body.global_orient, gt.body.body_pose, gt.body.betas, gt.body.transl))
    assert np.abs(neutral.joints - gt.joints).max() > 1e-3  # the gender matters
    assert emdb.subset_tags(ref) == {"emdb1": False, "emdb2": True}


def test_emdb_reader_rejects_inconsistent_files(tmp_path, smpl):
    n = 6
    path = F.write_emdb_sequence(tmp_path, "P0", "x", F.walking_body(n), rigid_inverse(_track(n)), K)
    data = pickle.loads(path.read_bytes())
    data["n_frames"] = n + 1
    path.write_bytes(pickle.dumps(data))
    (ref,) = emdb.find_sequences(tmp_path)
    with pytest.raises(InputError, match="n_frames=7"):
        emdb.load_sequence(ref, smpl)
    del data["camera"]
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(InputError, match="missing key.*camera"):
        emdb.load_sequence(ref, smpl)


# -------------------------------------------------------------------------------- SLOPER4D


def test_sloper4d_cameras_from_cam_pose_or_from_the_lidar_trajectory(tmp_path, smpl):
    n = 8
    body = F.walking_body(n, seed=3)
    w2c = rigid_inverse(_track(n))
    F.write_sloper4d_sequence(tmp_path / "a", "seq003_street_002", body, w2c)
    (ref,) = sloper4d.find_sequences(tmp_path / "a")
    gt = sloper4d.load_sequence(ref, smpl)
    assert gt.fps == 20.0 and gt.body.gender == "male"
    np.testing.assert_allclose(gt.w2c, w2c)
    # float32 storage of the toolkit: the GT body is what the file holds
    np.testing.assert_allclose(gt.transl, np.asarray(body["trans"], np.float32), rtol=0, atol=0)

    # Without RGB_frames the toolkit derives cam_pose = lidar2cam @ world2lidar from lidar_traj
    # (columns frame, x, y, z, qx, qy, qz, qw, timestamp); lidar2cam is the identity here.
    lidar_c2w = rigid_inverse(w2c)
    traj = np.concatenate([np.arange(n)[:, None], lidar_c2w[:, :3, 3],
                           Rotation.from_matrix(lidar_c2w[:, :3, :3]).as_quat(), 1000 + np.arange(n)[:, None]], 1)
    F.write_sloper4d_sequence(tmp_path / "b", "seq004", body, None, lidar_traj=traj)
    (ref_b,) = sloper4d.find_sequences(tmp_path / "b")
    np.testing.assert_allclose(sloper4d.load_sequence(ref_b, smpl).w2c, w2c, atol=1e-9)


def test_sloper4d_reads_the_lidar_map_and_scans(tmp_path, smpl):
    n = 4
    pts = np.random.default_rng(0).normal(size=(50, 3))
    F.write_sloper4d_sequence(tmp_path, "seq005", F.walking_body(n), rigid_inverse(_track(n)), scene_points=pts,
                              scans={2: pts[:10]})  # fmt: skip
    gt = sloper4d.load_sequence(sloper4d.find_sequences(tmp_path)[0], smpl)
    np.testing.assert_allclose(gt.scene_points(), pts, atol=1e-12)
    np.testing.assert_allclose(gt.depth_scan(2), pts[:10], atol=1e-6)  # float32 PCD
    assert gt.depth_scan(1) is None and gt.camera.width == 64


# ------------------------------------------------------------------------------------ RICH


def test_rich_reader_matches_gt_folders_to_images(tmp_path, smpl):
    body = F.walking_body(3, seed=4)
    F.write_rich_sequence(tmp_path, "BBQ_001_guitar", 6, [1, 3, 4], body, scan_points=np.zeros((5, 3)))
    F.write_rich_sequence(tmp_path, "BBQ_002_juggle", 2, [0], F.walking_body(1))
    first, second = rich.find_sequences(tmp_path)
    gt = rich.load_sequence(first, smpl)
    np.testing.assert_array_equal(gt.frame_ids, [1, 3, 4])
    assert gt.body.gender == "neutral" and gt.w2c is None and gt.n_video_frames == 6
    assert gt.scene_points().shape == (5, 3) and gt.evaluate_recon
    gt2 = rich.load_sequence(second, smpl)
    assert not gt2.evaluate_recon and "first sequence of scene BBQ" in gt2.notes[0]


def test_rich_reader_refuses_smplx_body_poses(tmp_path, smpl):
    body = F.walking_body(1)
    folder = F.write_rich_sequence(tmp_path, "Gym_001_x", 1, [0], body)
    path = folder / "00000" / "000_smpl.pkl"
    data = pickle.loads(path.read_bytes())
    data["body_pose"] = np.zeros((1, 63))
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(InputError, match="69 values"):
        rich.load_sequence(rich.find_sequences(tmp_path)[0], smpl)


# ------------------------------------------------------------------------------- file readers


@pytest.mark.parametrize("binary", [True, False])
def test_pcd_round_trip(tmp_path, binary):
    pts = np.random.default_rng(1).normal(size=(7, 3)).astype(np.float32)
    path = base.write_pcd_points(tmp_path / "a.pcd", pts, binary=binary)
    np.testing.assert_allclose(base.read_pcd_points(path), pts, rtol=1e-6)


def test_pcd_with_extra_fields_and_compressed_data(tmp_path):
    header = ("VERSION 0.7\nFIELDS x y z intensity\nSIZE 4 4 4 4\nTYPE F F F F\nCOUNT 1 1 1 1\nWIDTH 2\nHEIGHT 1\n"
              "POINTS 2\nDATA binary\n")  # fmt: skip
    rows = np.array([[1, 2, 3, 9], [4, 5, 6, 9]], np.float32)
    (tmp_path / "b.pcd").write_bytes(header.encode() + rows.tobytes())
    np.testing.assert_allclose(base.read_pcd_points(tmp_path / "b.pcd"), rows[:, :3])
    (tmp_path / "c.pcd").write_bytes(header.replace("binary", "binary_compressed").encode())
    with pytest.raises(InputError, match="binary_compressed"):
        base.read_pcd_points(tmp_path / "c.pcd")


def test_distorted_projection_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    camera = CameraModel(np.array([[599.6, 0, 971.6], [0, 599.5, 540.3], [0, 0, 1.0]]), 1920, 1080,
                         np.array([0.003, -0.003, -0.001, 0.004, 0.0005]))  # fmt: skip
    X = np.random.default_rng(2).uniform([-2, -1, 2], [2, 1, 6], size=(20, 3))
    expected, _ = cv2.projectPoints(X, np.zeros(3), np.zeros(3), camera.K, camera.distortion)
    np.testing.assert_allclose(camera.project(X), expected[:, 0], atol=1e-6)
