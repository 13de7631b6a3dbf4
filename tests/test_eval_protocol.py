"""Known-answer checks of the per-sequence benchmark protocol (reference/official-josh.md §1.2-1.4).

Tiny sequences are written in each dataset's published format with a generated (fake) SMPL model,
read back with the dataset readers, and evaluated against predictions built to have analytic
metric values.
"""

import numpy as np
import pytest

from josh.eval import metrics as M
from josh.eval.datasets import emdb, rich, sloper4d
from josh.eval.predictions import load_official_prediction, prediction_from_world_arrays
from josh.eval.protocol import evaluate_dataset, evaluate_sequence
from josh.eval.sequence import rigid_inverse, transform_points
from josh.eval.smpl_eval import SmplEvaluator
from josh.testing import eval_fixtures as F
from josh.testing.fake_smpl import write_fake_smpl_folder

K = np.array([[40.0, 0.0, 32.0], [0.0, 40.0, 24.0], [0.0, 0.0, 1.0]])


@pytest.fixture(scope="module")
def smpl(tmp_path_factory):
    return SmplEvaluator(write_fake_smpl_folder(tmp_path_factory.mktemp("smpl")))


def _centres(n, seed=0):
    t = np.arange(n, dtype=float)
    return np.stack([0.05 * t, 0.1 * np.sin(0.2 * t + seed), 0.3 * np.cos(0.1 * t + seed)], axis=1)


def _emdb_gt(tmp_path, smpl, body, c2w, good=None, subject="P0", sequence="01_walk"):
    F.write_emdb_sequence(tmp_path / "emdb", subject, sequence, body, rigid_inverse(c2w), K, good)
    ref = [r for r in emdb.find_sequences(tmp_path / "emdb") if r.name == f"{subject}_{sequence}"][0]
    return ref, emdb.load_sequence(ref, smpl)


def _predict(tmp_path, smpl, gt, cam_c2w, frames, transl_offset=None, name="seq"):
    """Official-layout prediction of the GT bodies expressed in the GT cameras (exact), optionally
    with camera-frame transl offsets (N,3), read back through the official loader."""
    rows = np.searchsorted(gt.frame_ids, frames)
    params = F.camera_frame_params(gt.body.take(rows), gt.w2c[rows], smpl) if gt.w2c is not None else gt.body.take(rows)
    if transl_offset is not None:
        params.transl = params.transl + transl_offset
    F.write_official_prediction(tmp_path / "pred" / name, cam_c2w, params, frames)
    return load_official_prediction(tmp_path / "pred" / name, smpl)


# ---------------------------------------------------------------------------------------- EMDB


def test_exact_prediction_in_another_world_frame_scores_zero(tmp_path, smpl):
    n = 40
    c2w = F.camera_track(_centres(n), np.linspace(0.0, 0.6, n))
    good = np.ones(n, bool)
    good[:2] = False  # the first evaluated frame is 2: predictions are taken relative to camera 2
    good[20:23] = False
    _, gt = _emdb_gt(tmp_path, smpl, F.walking_body(n), c2w, good)
    frames = np.flatnonzero(good)
    world = F.pose_matrix(F.Rotation.from_rotvec([0.3, 1.0, -0.2]).as_matrix(), [1.0, -2.0, 3.0])  # any rigid world
    pred = _predict(tmp_path, smpl, gt, world @ c2w, frames)
    res = evaluate_sequence(gt, pred, emdb.RULES, smpl)

    assert res.n_frames == len(frames) == 35
    for key in ("w_mpjpe", "wa_mpjpe", "pa_mpjpe", "mpjpe", "accel"):
        np.testing.assert_allclose(res.per_frame[key], 0.0, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(res.per_frame["pve"], 0.0, atol=1e-4)
    assert res.per_sequence["ate"] == pytest.approx(0.0, abs=1e-9)
    assert res.per_frame["accel"].shape == (len(frames) - 4,)

    # FS of a perfect prediction: its own displacement on the GT contact entries (< 1 cm/frame).
    disp = np.linalg.norm(np.diff(gt.feet[frames], axis=0), axis=-1)
    np.testing.assert_allclose(res.per_frame["fs"], disp[disp < 0.01] * 1000, rtol=1e-6)
    # Jitter is rigid-invariant: that of the GT world joints over the evaluated frames, at 30 fps.
    np.testing.assert_allclose(res.per_frame["jitter"], M.jitter(gt.joints[frames], 30.0), rtol=1e-6)

    # RTE moves the smplx `transl` vector *as a point* (official): with rotating cameras even a
    # perfect prediction is off by J0 - R_i^T J0 (the root pivots about J0, not about transl).
    j0 = smpl.rest_pelvis(gt.body.betas[0])
    E = gt.w2c
    expected_pred = np.stack([transform_points(E[frames[0]], gt.transl[i] + j0 - E[i, :3, :3].T @ j0)
                              for i in frames])  # fmt: skip
    expected = M.rte(expected_pred, transform_points(E[0], gt.transl[frames]))
    assert expected.max() > 0.01  # the quirk is visible here
    np.testing.assert_allclose(res.per_frame["rte"], expected, rtol=1e-6)


def test_constant_camera_frame_offset_gives_the_expected_millimetres(tmp_path, smpl):
    n = 30
    omega = 0.05
    angles = omega * np.maximum(np.arange(n) - 1, 0)  # cameras 0 and 1 share their orientation
    c2w = F.camera_track(_centres(n), angles)
    _, gt = _emdb_gt(tmp_path, smpl, F.walking_body(n, seed=1), c2w)
    d = np.array([0.1, 0.0, 0.0])  # 10 cm along the camera x axis, every frame
    pred = _predict(tmp_path, smpl, gt, c2w, np.arange(n), transl_offset=d)
    res = evaluate_sequence(gt, pred, emdb.RULES, smpl)

    # Pelvis-centred and Procrustes metrics do not see a translation.
    for key in ("pa_mpjpe", "mpjpe", "accel"):
        np.testing.assert_allclose(res.per_frame[key], 0.0, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(res.per_frame["pve"], 0.0, atol=1e-4)
    # Globally the offset turns with the camera: R_i d. W-MPJPE fits frames 0-1 (offset d exactly),
    # so frame i is off by |R_i d - d| = 2 |d| sin(theta_i / 2).
    expected = 2 * 100.0 * np.sin(angles / 2)
    np.testing.assert_allclose(res.per_frame["w_mpjpe"][:2], 0.0, atol=1e-6)
    np.testing.assert_allclose(res.per_frame["w_mpjpe"][2:], expected[2:], rtol=1e-6)
    assert np.all(res.per_frame["wa_mpjpe"] < res.per_frame["w_mpjpe"].max())


def test_rte_of_a_stretched_root_trajectory(tmp_path, smpl):
    n = 30
    rotation = F.yaw(0.4) @ np.array([[1.0, 0, 0], [0, np.cos(0.2), -np.sin(0.2)], [0, np.sin(0.2), np.cos(0.2)]])
    c2w = F.camera_track(_centres(n, seed=2), np.zeros(n), base_rotation=rotation)  # cameras only translate
    _, gt = _emdb_gt(tmp_path, smpl, F.walking_body(n, seed=2), c2w)
    g = transform_points(gt.w2c[0], gt.transl)  # GT root in camera-0 coordinates
    # Constant camera rotation: a camera-frame offset moves the global root by the same vector.
    pred = _predict(tmp_path, smpl, gt, c2w, np.arange(n), transl_offset=0.1 * (g - g.mean(axis=0)))
    res = evaluate_sequence(gt, pred, emdb.RULES, smpl)
    path = np.linalg.norm(np.diff(g, axis=0), axis=1).sum()
    expected = 0.1 * np.linalg.norm(g - g.mean(axis=0), axis=1) / path * 100
    np.testing.assert_allclose(res.per_frame["rte"], expected, rtol=1e-6)


def _stretched_cameras(n):
    """GT cameras translating along a planar curve with one fixed rotation, and predicted cameras
    whose centres are stretched by 10 % about their centroid."""
    centres = np.stack([np.linspace(0, 2, n), np.zeros(n), 0.5 * np.sin(np.linspace(0, 3, n))], axis=1)
    rotation = F.yaw(0.7)
    gt_c2w = F.camera_track(centres, np.zeros(n), base_rotation=rotation)
    stretched = centres + 0.1 * (centres - centres.mean(axis=0))
    pred_c2w = F.camera_track(stretched, np.zeros(n), base_rotation=rotation)
    errors = 0.1 * np.linalg.norm(centres - centres.mean(axis=0), axis=1)
    return gt_c2w, pred_c2w, errors


def test_ate_is_the_evo_mean_on_emdb(tmp_path, smpl):
    n = 25
    gt_c2w, pred_c2w, errors = _stretched_cameras(n)
    _, gt = _emdb_gt(tmp_path, smpl, F.walking_body(n, seed=3), gt_c2w)
    pred = _predict(tmp_path, smpl, gt, pred_c2w, np.arange(n))
    res = evaluate_sequence(gt, pred, emdb.RULES, smpl)
    assert res.per_sequence["ate"] == pytest.approx(errors.mean(), rel=1e-6)


def test_emdb_skips_a_sequence_whose_camera_track_is_short(tmp_path, smpl):
    n = 20
    c2w = F.camera_track(_centres(n), np.zeros(n))
    ref, gt = _emdb_gt(tmp_path, smpl, F.walking_body(n), c2w)
    params = F.camera_frame_params(gt.body, gt.w2c, smpl)
    F.write_official_prediction(tmp_path / "pred" / ref.prediction_dirs[0], c2w[:-1], params, np.arange(n))
    out = evaluate_dataset(emdb, [ref], tmp_path / "pred", smpl, lambda d: load_official_prediction(d, smpl))
    assert out.sequences == []
    assert "pred_cam has 19 frames" in out.skipped[ref.name]


def test_anny_joints_under_a_similarity_and_hand_made_feet(tmp_path, smpl):
    n = 30
    c2w = F.camera_track(_centres(n), np.linspace(0, 0.3, n))
    body = F.walking_body(n, seed=4, speed=0.1, still_frames=10)  # frames 0..10 stand still
    _, gt = _emdb_gt(tmp_path, smpl, body, c2w)
    scale, shift = 1.3, np.array([0.5, -1.0, 2.0])
    joints_world = scale * gt.joints + shift  # a similarity of the GT (no rotation: MPJPE is analytic)
    speeds = np.array([1.0, 2.0, 3.0, 4.0]) / 1000  # each foot vertex slides at its own speed
    feet_world = gt.feet[:1] + speeds[None, :, None] * np.arange(n)[:, None, None] * np.array([1.0, 0, 0])
    pred = prediction_from_world_arrays(np.arange(n), joints_world, c2w, feet_world=feet_world)
    res = evaluate_sequence(gt, pred, emdb.RULES, smpl)

    for key in ("w_mpjpe", "wa_mpjpe", "pa_mpjpe"):
        np.testing.assert_allclose(res.per_frame[key], 0.0, atol=1e-6, err_msg=key)
    gt_cam = transform_points(gt.w2c, gt.joints)
    centred = gt_cam - gt_cam[:, [1, 2]].mean(axis=1, keepdims=True)
    expected_mpjpe = (scale - 1) * np.linalg.norm(centred, axis=-1).mean(axis=1) * 1000
    np.testing.assert_allclose(res.per_frame["mpjpe"], expected_mpjpe, rtol=1e-6)
    # GT contact: the 10 still transitions x 4 vertices; predicted slide 1..4 mm per frame.
    assert res.per_frame["fs"].shape == (40,)
    assert res.per_frame["fs"].mean() == pytest.approx(2.5, rel=1e-6)
    assert "pve" in res.skipped and "anny" in res.skipped["pve"]
    assert any("approximate" in note for note in res.notes)


# ------------------------------------------------------------------------------------ SLOPER4D


def _sloper_gt(tmp_path, smpl, body, c2w, name="seq001_campus"):
    F.write_sloper4d_sequence(tmp_path / "sloper", name, body, rigid_inverse(c2w), gender="neutral")
    ref = [r for r in sloper4d.find_sequences(tmp_path / "sloper") if r.name == name][0]
    return sloper4d.load_sequence(ref, smpl)


def test_sloper4d_rte_measures_the_cameras_not_the_bodies(tmp_path, smpl):
    n = 30
    c2w = F.camera_track(_centres(n, seed=5), np.linspace(0, 0.8, n))  # rotating cameras
    gt = _sloper_gt(tmp_path, smpl, F.walking_body(n, seed=5), c2w)
    junk = np.random.default_rng(0).normal(0, 0.2, (n, 3))
    res = evaluate_sequence(gt, _predict(tmp_path, smpl, gt, c2w, np.arange(n), junk, "a"), sloper4d.RULES, smpl)
    np.testing.assert_allclose(res.per_frame["rte"], 0.0, atol=1e-9)  # exact cameras, wrong bodies
    assert res.per_frame["w_mpjpe"].mean() > 10.0

    # Camera centres off by Delta_i = R_0 0.1 (g_i - mean g): the tracked root moves by exactly that.
    g = transform_points(gt.w2c[0], gt.transl)
    wrong = c2w.copy()
    wrong[:, :3, 3] += (0.1 * (g - g.mean(axis=0))) @ c2w[0, :3, :3].T
    res = evaluate_sequence(gt, _predict(tmp_path, smpl, gt, wrong, np.arange(n), name="b"), sloper4d.RULES, smpl)
    path = np.linalg.norm(np.diff(g, axis=0), axis=1).sum()
    np.testing.assert_allclose(res.per_frame["rte"], 0.1 * np.linalg.norm(g - g.mean(axis=0), axis=1) / path * 100,
                               rtol=1e-6)  # fmt: skip


def test_sloper4d_ate_is_rmse_and_seq009_is_excluded(tmp_path, smpl):
    n = 25
    gt_c2w, pred_c2w, errors = _stretched_cameras(n)
    for name, expected in (("seq002_park", np.sqrt(np.mean(errors**2))), ("seq009_running", None)):
        gt = _sloper_gt(tmp_path, smpl, F.walking_body(n, seed=6), gt_c2w, name)
        res = evaluate_sequence(gt, _predict(tmp_path, smpl, gt, pred_c2w, np.arange(n), name=name), sloper4d.RULES,
                                smpl)  # fmt: skip
        if expected is None:
            assert "ate" not in res.per_sequence and "excluded" in res.skipped["ate"]
            assert "excluded" in res.skipped["cd"]
        else:
            assert res.per_sequence["ate"] == pytest.approx(expected, rel=1e-6)
            assert expected != pytest.approx(errors.mean(), rel=1e-3)  # RMSE, not the mean


def test_sloper4d_evaluates_the_predicted_frames_at_20_fps(tmp_path, smpl):
    n = 30
    c2w = F.camera_track(_centres(n), np.linspace(0, 0.2, n))
    gt = _sloper_gt(tmp_path, smpl, F.walking_body(n, seed=7), c2w)
    frames = np.arange(5, 28)
    res = evaluate_sequence(gt, _predict(tmp_path, smpl, gt, c2w, frames), sloper4d.RULES, smpl)
    assert res.n_frames == len(frames)
    np.testing.assert_allclose(res.per_frame["w_mpjpe"], 0.0, atol=1e-6)
    np.testing.assert_allclose(res.per_frame["jitter"], M.jitter(gt.joints[frames], 20.0), rtol=1e-6)


# ----------------------------------------------------------------------------------------- RICH


def test_rich_prediction_in_a_moved_camera_frame(tmp_path, smpl):
    n_images, gt_frames = 30, np.arange(2, 28)  # frames 0, 1, 28, 29 have no GT folder
    body = F.walking_body(len(gt_frames), seed=8)
    F.write_rich_sequence(tmp_path / "rich", "Gym_010_pushup", n_images, gt_frames, body)
    ref = rich.find_sequences(tmp_path / "rich")[0]
    gt = rich.load_sequence(ref, smpl)
    np.testing.assert_array_equal(gt.frame_ids, gt_frames)

    X = F.pose_matrix(F.yaw(0.5), [0.3, -0.2, 1.0])  # predicted camera frame = X (GT frame)
    params = gt.body.transformed(X, smpl.rest_pelvis(gt.body.betas[0]))
    frames = np.arange(n_images)[1:29]  # the track covers frames 1..28; 2..27 match GT
    rows = np.clip(np.searchsorted(gt_frames, frames), 0, len(gt_frames) - 1)
    static = np.repeat(F.pose_matrix(F.yaw(2.0), [5.0, 0.0, 0.0])[None], n_images, axis=0)
    F.write_official_prediction(tmp_path / "pred" / ref.name, static, params.take(rows), frames)
    pred = load_official_prediction(tmp_path / "pred" / ref.name, smpl)
    res = evaluate_sequence(gt, pred, rich.RULES, smpl)

    assert res.n_frames == len(gt_frames)
    for key in ("w_mpjpe", "wa_mpjpe"):
        np.testing.assert_allclose(res.per_frame[key], 0.0, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(res.per_frame["rte"], 0.0, atol=1e-9)  # transl maps rigidly
    # RICH's accel error compares global joints without alignment: the frame rotation shows.
    expected = M.accel_error(transform_points(X, gt.joints), gt.joints, 30.0)
    np.testing.assert_allclose(res.per_frame["accel"], expected, rtol=1e-6)
    assert not {"pa_mpjpe", "mpjpe", "pve"} & set(res.per_frame)
    assert "ate" not in res.per_sequence
