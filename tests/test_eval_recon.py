"""Reconstruction metrics of the benchmark protocol: CD, depth, FFR, CR on hand-made scenes."""

import numpy as np
import pytest
import trimesh

from josh.eval import recon
from josh.eval.datasets import rich, sloper4d
from josh.eval.predictions import load_official_prediction, prediction_from_world_arrays
from josh.eval.protocol import evaluate_sequence
from josh.eval.sequence import CameraModel, PredictedScene, rigid_inverse, transform_points
from josh.eval.smpl_eval import SmplEvaluator
from josh.testing import eval_fixtures as F
from josh.testing.fake_smpl import write_fake_smpl_folder

# A 4x3 depth map with focal 2 px: at depth 2 m its pixels back-project onto a 1 m grid.
DEPTH_K = np.array([[2.0, 0.0, 1.5], [0.0, 2.0, 1.0], [0.0, 0.0, 1.0]])


@pytest.fixture(scope="module")
def smpl(tmp_path_factory):
    return SmplEvaluator(write_fake_smpl_folder(tmp_path_factory.mktemp("smpl")))


def _flat_scene(keyframes, depth=2.0):
    """Constant-depth maps; pixel (row 0, col 0) unconfident and pixel (2, 3) without depth."""
    d = np.full((len(keyframes), 3, 4), depth)
    d[:, 2, 3] = 0.0
    conf = np.ones_like(d)
    conf[:, 0, 0] = 0.05
    return PredictedScene(depth=d, conf=conf, K=DEPTH_K, keyframes=np.asarray(keyframes))


def _grid_points(depth=2.0):
    """The 10 confident back-projected points of `_flat_scene` (camera frame)."""
    rows, cols = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    keep = np.ones((3, 4), bool)
    keep[0, 0] = keep[2, 3] = False
    return np.stack([(cols[keep] - 1.5) / 2 * depth, (rows[keep] - 1.0) / 2 * depth, np.full(keep.sum(), depth)], 1)


# ------------------------------------------------------------------------------------- units


def _windowed(keyframes, points):
    """`points_in_window(start, end)` over fixed per-keyframe point sets."""

    def in_window(start, end):
        inside = [p for k, p in zip(keyframes, points) if start <= k < end]
        return np.concatenate(inside) if inside else np.zeros((0, 3))

    return in_window


def test_back_projection_keeps_confident_pixels_with_depth():
    np.testing.assert_allclose(_flat_scene([0]).points_camera(0), _grid_points())
    # relative to camera 0: a keyframe whose camera is 1 m to the right of camera 0's sees its points there
    cams = np.stack([np.eye(4), F.pose_matrix(np.eye(3), [1.0, 0, 0])])
    points = recon.ScenePoints(_flat_scene([0, 1]), cams)
    np.testing.assert_allclose(points.keyframe(1), _grid_points() + [1.0, 0, 0])
    assert points.in_window(0, 1).shape == (10, 3) and points.in_window(0, 2).shape == (20, 3)


def test_points_inside_a_closed_mesh():
    box = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    pts = np.random.default_rng(0).uniform(-1.5, 1.5, size=(400, 3))
    pts = pts[np.abs(np.abs(pts) - 1.0).min(axis=1) > 0.01]  # not on the surface
    inside = recon.points_inside_mesh(box.vertices, box.faces, pts)
    np.testing.assert_array_equal(inside, np.all(np.abs(pts) < 1.0, axis=1))
    sphere = trimesh.creation.icosphere(subdivisions=3)
    r = np.linalg.norm(pts, axis=1)
    keep = np.abs(r - 1.0) > 0.05
    flipped = sphere.faces[:, ::-1]  # orientation does not matter
    np.testing.assert_array_equal(recon.points_inside_mesh(sphere.vertices, flipped, pts[keep]), r[keep] < 1.0)


def test_collision_rate_samples_every_20th_frame_per_window():
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    frames = np.arange(130)
    # points of keyframe 0 (window 0-99): 6 inside the unit box at the origin; keyframe 100: 12.
    inside6 = np.random.default_rng(1).uniform(-0.4, 0.4, (6, 3))
    inside12 = np.random.default_rng(2).uniform(-0.4, 0.4, (12, 3))
    far = np.full((3, 3), 10.0)
    points = [np.vstack([inside6, far]), np.vstack([inside12, far])]

    def mesh(row):  # the body sits at the origin except on frame 40, where it is far away
        return box.vertices + (100.0 if row == 40 else 0.0), box.faces

    out = recon.collision_rates(frames, mesh, _windowed([0, 100], points))
    # window 0-99 samples frames 0, 20, 40, 60, 80 (6 points inside, except 0 at frame 40);
    # window 100-128 (the last frame is never in a window) samples 100, 120 (12 points inside).
    assert out["cr@4"] == pytest.approx(6 / 7) and out["cr@5"] == pytest.approx(6 / 7)
    assert out["cr@6"] == pytest.approx(2 / 7) and out["cr@10"] == pytest.approx(2 / 7)


def test_floating_frames_use_the_scene_of_their_own_window():
    frames = np.arange(0, 151)
    ground = np.stack(np.meshgrid(np.arange(-5, 5.01, 0.1), [0.0], np.arange(-5, 5.01, 0.1)), -1).reshape(-1, 3)
    feet = np.zeros((len(frames), 4, 3))
    feet[:, :, 1] = -0.1  # 10 cm above the ground (y down)
    feet[:, 1:, 1] = -0.9  # the other three vertices are high: the closest one decides
    feet[60:80, 0, 1] = -0.5  # frames 60-79 float
    keyframes = np.array([0, 120])
    out = recon.floating_frames(frames, feet, _windowed(keyframes, [ground, ground]))
    assert out.shape == (150,)  # frame 150 (the last) is in no window, as in the official loop
    np.testing.assert_array_equal(np.flatnonzero(out), np.arange(60, 80))
    # without scene points in a window, its frames float
    out = recon.floating_frames(frames, feet, _windowed([0], [ground]))
    assert out[100:].all() and out[:100].sum() == 20


def test_rasterised_depth_last_point_wins_and_fov_filter():
    camera = CameraModel(np.array([[10.0, 0, 5.0], [0, 10.0, 4.0], [0, 0, 1]]), 10, 8)
    pts = np.array([[0.0, 0.0, 2.0], [0.0, 0.0, 3.0], [0.2, 0.0, 2.0], [0.0, 0.0, -1.0], [5.0, 0, 1.0]])
    depth = recon.rasterise_depth(pts, np.eye(4), camera, 8, 10)
    assert depth[4, 5] == 3.0  # two points on pixel (5, 4): the later one
    assert depth[4, 6] == 2.0 and np.isinf(depth).sum() == 78
    half = recon.rasterise_depth(pts, np.eye(4), camera, 4, 5)  # half resolution: pixels scale by 4/8
    assert half[2, 2] == 3.0 and half[2, 3] == 2.0
    inside = recon.fov_mask(pts, np.stack([np.eye(4), F.pose_matrix(np.eye(3), [-50.0, 0, 0])]), camera, (20, 16))
    np.testing.assert_array_equal(inside, [True, True, True, False, False])


# --------------------------------------------------------------------------- SLOPER4D end to end


def test_sloper4d_chamfer_depth_and_ffr_on_hand_made_scenes(tmp_path, smpl):
    n = 30
    E = F.pose_matrix(F.yaw(0.3), [0.5, -0.2, 1.0])  # GT w2c, a static camera
    w2c = np.repeat(E[None], n, axis=0)
    grid = _grid_points()
    gt_map = np.vstack([
        transform_points(rigid_inverse(E), grid + [0.0, 0.0, 0.1]),  # the scene, 10 cm behind the prediction
        transform_points(rigid_inverse(E), [[0, 0, -3.0], [1, 0, -2.0], [50.0, 0, 2.0]]),  # never in view
    ])  # fmt: skip
    # lidar scan of frame 10: one point per pixel of the 4x3 depth map at 2.6 m depth
    # (GT intrinsics 40 px at 64x48, scaled by 3/48 to the depth map: f 2.5, c (2, 1.5)).
    rows, cols = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    scan_cam = np.stack([(cols - 2) / 2.5 * 2.6, (rows - 1.5) / 2.5 * 2.6, np.full(cols.shape, 2.6)], -1).reshape(-1, 3)
    F.write_sloper4d_sequence(tmp_path, "seq007_garden", F.walking_body(n, seed=9), w2c, gender="neutral",
                              scene_points=gt_map,
                              scans={10: transform_points(rigid_inverse(E), scan_cam)})  # fmt: skip
    gt = sloper4d.load_sequence(sloper4d.find_sequences(tmp_path)[0], smpl)

    # Anny-style prediction: world = camera 0 (identity cameras), feet above the grid.
    heights = np.where(np.arange(n) < 15, 0.1, 0.5)  # closest foot vertex height above the scene
    feet = np.repeat(grid[[0, 1, 2, 3]][None], n, axis=0)
    feet[:, :, 2] -= np.array([0.0, 0.4, 0.6, 0.8])[None] + heights[:, None]
    joints = transform_points(E, gt.joints)
    pred = prediction_from_world_arrays(np.arange(n), joints, np.repeat(np.eye(4)[None], n, 0), feet_world=feet,
                                        scene=_flat_scene([0, 10, 20]))  # fmt: skip
    res = evaluate_sequence(gt, pred, sloper4d.RULES, smpl)

    assert res.per_sequence["cd"] == pytest.approx(0.1, rel=1e-6)
    assert res.per_sequence["cd_accuracy"] == pytest.approx(0.1, rel=1e-6)
    assert res.per_sequence["cd_completeness"] == pytest.approx(0.1, rel=1e-6)  # out-of-view GT points dropped
    # depth: prediction 2.0 m, GT 2.6 m on the 11 pixels with a predicted depth (ratio 1.3)
    assert res.per_keyframe["depth_abs_rel"] == [pytest.approx(0.6 / 2.6, rel=1e-6)]
    assert res.per_keyframe["depth_rmse"] == [pytest.approx(0.6, rel=1e-6)]
    assert res.per_keyframe["depth_log_rmse"] == [pytest.approx(np.log(1.3), rel=1e-6)]
    assert res.per_keyframe["depth_delta1"] == [0.0] and res.per_keyframe["depth_delta2"] == [1.0]
    # FFR: frames 15..28 float (frame 29, the last, is in no window): 14 of 29
    assert res.per_sequence["ffr"] == pytest.approx(14 / 29)
    assert "anny" in res.skipped["cr"]


# ------------------------------------------------------------------------------- RICH end to end


def test_rich_chamfer_registers_through_the_human(tmp_path, smpl):
    n = 20
    body = F.walking_body(n, seed=10)
    F.write_rich_sequence(tmp_path / "rich", "LectureHall_003_wipingchairs1", n, np.arange(n), body)
    ref = rich.find_sequences(tmp_path / "rich")[0]
    gt = rich.load_sequence(ref, smpl)
    # The predicted camera frame is X (GT frame); the predicted world is another rigid W.
    X = F.pose_matrix(F.Rotation.from_rotvec([0.2, -0.7, 0.1]).as_matrix(), [0.4, 0.1, -0.3])
    W = F.pose_matrix(F.yaw(1.2), [3.0, 0.0, -1.0])
    params = gt.body.transformed(X, smpl.rest_pelvis(gt.body.betas[0]))
    scan = transform_points(rigid_inverse(X), _grid_points()) + np.array([0.0, 0.1, 0.0])
    F.write_ply_points(tmp_path / "rich" / "scan_calibration" / "LectureHall" / "scan_camcoord.ply", scan)
    F.write_official_prediction(tmp_path / "pred", np.repeat(W[None], n, 0), params, np.arange(n), scene={
        "depth_hw": _flat_scene([0, 5]).depth, "conf_hw": _flat_scene([0, 5]).conf,
        "intrinsics": DEPTH_K[None], "img_idx": [0, 5]})  # fmt: skip
    gt = rich.load_sequence(ref, smpl)
    res = evaluate_sequence(gt, load_official_prediction(tmp_path / "pred", smpl), rich.RULES, smpl)
    assert res.per_sequence["cd"] == pytest.approx(0.1, rel=1e-6)
    assert "ffr" in res.per_sequence and "cr@4" in res.per_sequence
    assert any("addition" in note for note in res.notes)
