"""Hand-computed cases for josh.eval.metrics (field-standard metric definitions)."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from josh.eval import metrics as M


def _similarity(seed, scale):
    rot = Rotation.random(random_state=seed).as_matrix()
    t = np.random.default_rng(seed).normal(size=3)
    return lambda X: scale * X @ rot.T + t


def _walking_joints(n_frames, n_joints=24, seed=0):
    """A body of random joints translating along a random walk, (T,J,3) in metres."""
    rng = np.random.default_rng(seed)
    body = 0.3 * rng.normal(size=(n_joints, 3))
    root = np.cumsum(0.02 * rng.normal(size=(n_frames, 3)), axis=0)
    wiggle = 0.01 * rng.normal(size=(n_frames, n_joints, 3))
    return body[None] + root[:, None] + wiggle


# ---------------------------------------------------------------- W-MPJPE / WA-MPJPE


def test_w_and_wa_mpjpe_vanish_under_a_global_similarity():
    gt = _walking_joints(150)
    pred = _similarity(1, 1.4)(gt)
    assert M.w_mpjpe(pred, gt).shape == (150,)
    np.testing.assert_allclose(M.w_mpjpe(pred, gt), 0.0, atol=1e-8)
    np.testing.assert_allclose(M.wa_mpjpe(pred, gt), 0.0, atol=1e-8)


def test_w_mpjpe_offset_after_first_two_frames_is_exactly_100mm():
    gt = _walking_joints(100)
    pred = gt.copy()
    pred[2:] += np.array([0.1, 0.0, 0.0])
    w = M.w_mpjpe(pred, gt)
    np.testing.assert_allclose(w[:2], 0.0, atol=1e-8)
    np.testing.assert_allclose(w[2:], 100.0, atol=1e-8)
    # WA fits on all frames by least squares. The best pure translation (a shift of 98 mm) leaves
    # 98 mm on 2 frames and 2 mm on 98 frames: RMS sqrt((2*98² + 98*2²)/100) = 14 mm. The
    # similarity fit can only lower that RMS, and the mean of per-frame errors is below the RMS.
    wa = M.wa_mpjpe(pred, gt)
    assert wa.mean() <= 14.0 + 1e-9
    assert np.all(wa[2:] < 100.0)


def test_chunks_of_100_100_50_are_aligned_independently():
    gt = _walking_joints(250)
    pred = np.concatenate([
        _similarity(2, 0.8)(gt[:100]),
        _similarity(3, 1.3)(gt[100:200]),
        _similarity(4, 2.0)(gt[200:]),
    ])
    np.testing.assert_allclose(M.w_mpjpe(pred, gt), 0.0, atol=1e-8)
    np.testing.assert_allclose(M.wa_mpjpe(pred, gt), 0.0, atol=1e-8)
    # Wrong chunk boundaries would mix two similarities in one chunk.
    assert M.wa_mpjpe(pred, gt, chunk=120).max() > 1.0


def test_single_frame_last_chunk_uses_that_frame():
    gt = _walking_joints(101)
    pred = np.concatenate([_similarity(5, 1.1)(gt[:100]), _similarity(6, 0.7)(gt[100:])])
    w = M.w_mpjpe(pred, gt)
    assert w.shape == (101,)
    np.testing.assert_allclose(w, 0.0, atol=1e-8)


# ---------------------------------------------------------------- local joint errors


def test_pa_mpjpe_vanishes_under_per_frame_similarities():
    gt = _walking_joints(5)
    pred = np.stack([_similarity(10 + i, 0.5 + 0.2 * i)(gt[i]) for i in range(5)])
    np.testing.assert_allclose(M.pa_mpjpe(pred, gt), 0.0, atol=1e-8)


def test_pa_mpjpe_is_at_most_the_unaligned_error():
    gt = _walking_joints(5)
    pred = gt + 0.05 * np.random.default_rng(3).normal(size=gt.shape)
    raw = np.linalg.norm(pred - gt, axis=-1).mean(axis=-1) * 1000
    pa = M.pa_mpjpe(pred, gt)
    assert np.all(pa > 0) and np.all(pa < raw)


def test_mpjpe_centres_on_the_hip_midpoint_not_joint_0():
    gt = np.array([[[0.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    pred = gt.copy()
    pred[0, 0, 1] += 0.03
    # Hip midpoint unchanged: only joint 0 is off by 30 mm -> mean 10 mm (joint-0 centring: 20).
    np.testing.assert_allclose(M.mpjpe(pred, gt), [10.0])
    np.testing.assert_allclose(M.mpjpe(pred + np.array([5.0, 1.0, 2.0]), gt), [10.0])


def test_pve_centres_vertices_on_the_joint_pelvis():
    joints = np.zeros((1, 3, 3))
    joints[0, 1], joints[0, 2] = [-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]
    verts = np.array([[[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]]])
    # Shift the prediction's vertices (not its joints) by 20 mm: PVE = 20 mm; a rigid shift of
    # vertices and joints together is removed by the centring.
    moved = verts + np.array([0.02, 0.0, 0.0])
    np.testing.assert_allclose(M.pve(moved, verts, joints, joints), [20.0])
    np.testing.assert_allclose(M.pve(verts + 3.0, verts, joints + 3.0, joints), [0.0], atol=1e-9)


# ---------------------------------------------------------------- RTE / ATE


def _line(n=11):
    return np.stack([np.arange(n) - (n - 1) / 2, np.zeros(n), np.zeros(n)], axis=1).astype(float)


def test_rte_zero_for_a_rigidly_moved_trajectory():
    gt = np.cumsum(np.random.default_rng(0).normal(size=(50, 3)), axis=0)
    rot = Rotation.random(random_state=1).as_matrix()
    np.testing.assert_allclose(M.rte(gt @ rot.T + 3.0, gt), 0.0, atol=1e-9)


def test_rte_of_a_stretched_line():
    gt = _line()  # 10 m straight walk, x = -5..5
    # 10 % too long, centred: the rigid fit is the identity, errors are 0.1 |x|.
    pred = 1.1 * gt
    np.testing.assert_allclose(M.rte(pred, gt), 0.1 * np.abs(gt[:, 0]) / 10.0 * 100, atol=1e-9)


def test_rte_of_lateral_offset_on_even_frames():
    gt = _line()
    pred = gt.copy()
    pred[::2, 1] += 0.1  # 6 of 11 frames; Σ x over them is 0, so the fit is only a shift
    shift = 0.1 * 6 / 11
    expected = np.where(np.arange(11) % 2 == 0, 0.1 - shift, shift) / 10.0 * 100
    np.testing.assert_allclose(M.rte(pred, gt), expected, atol=1e-9)


def _c2w(rot, centre):
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = rot, centre
    return T


def test_ate_zero_under_a_change_of_world_frame():
    rots = Rotation.random(8, random_state=2).as_matrix()
    centres = np.random.default_rng(2).normal(size=(8, 3))
    gt = np.stack([_c2w(r, c) for r, c in zip(rots, centres)])
    world = _c2w(Rotation.random(random_state=3).as_matrix(), [1.0, -2.0, 0.5])
    assert M.ate(world @ gt, gt) == pytest.approx(0.0, abs=1e-9)


def test_ate_uses_w2c_translation_columns_not_camera_centres():
    # GT camera only rotates in place -> all relative w2c translations are 0.
    # Pred: centres 0, (1,0,0), (1,0,0); the third camera is turned 180° about z.
    # w2c columns -R_iᵀ c_i = 0, (-1,0,0), (1,0,0): mean 0, errors 0, 1, 1 -> mean 2/3.
    # (Camera centres would give errors 2/3, 1/3, 1/3 -> mean 4/9.)
    rz180 = Rotation.from_euler("z", 180, degrees=True).as_matrix()
    rots = [np.eye(3), np.eye(3), rz180]
    pred = np.stack([_c2w(r, c) for r, c in zip(rots, [[0, 0, 0], [1, 0, 0], [1, 0, 0]])])
    gt = np.stack([_c2w(r, np.zeros(3)) for r in rots])
    assert M.ate(pred, gt) == pytest.approx(2.0 / 3.0)
    assert M.ate(pred, gt, stat="rmse") == pytest.approx(np.sqrt(2.0 / 3.0))
    with pytest.raises(ValueError):
        M.ate(pred, gt, stat="median")


# ---------------------------------------------------------------- smoothness


def test_jitter_zero_for_constant_velocity():
    t = np.arange(20)[:, None, None] / 30.0
    joints = np.array([1.0, -2.0, 0.5]) * t + np.zeros((1, 24, 3))
    out = M.jitter(joints, fps=30)
    assert out.shape == (17,)
    np.testing.assert_allclose(out, 0.0, atol=1e-9)


def test_jitter_of_cubic_motion_is_0p6():
    t = np.arange(20) / 30.0
    joints = np.zeros((20, 2, 3))
    joints[:, :, 0] = (t**3)[:, None]  # jerk 6 m/s³ -> 0.6 in units of 10 m/s³
    np.testing.assert_allclose(M.jitter(joints, fps=30), 0.6, rtol=1e-6)


def test_accel_error_of_constant_extra_acceleration():
    gt = _walking_joints(30)
    t = np.arange(30) / 30.0
    pred = gt.copy()
    pred[:, :, 2] += (0.5 * 2.0 * t**2)[:, None]  # extra 2 m/s² on every joint
    out = M.accel_error(pred, gt, fps=30)
    assert out.shape == (26,)
    np.testing.assert_allclose(out, 2.0, rtol=1e-6)


# ---------------------------------------------------------------- contact metrics


def test_foot_sliding_counts_only_gt_contact_entries():
    T = 10
    gt = np.zeros((T, 4, 3))
    gt[:, 3, 0] = 0.02 * np.arange(T)  # vertex 3 walks 2 cm/frame in GT: not in contact
    pred = gt.copy()
    pred[:, :3, 1] += 0.005 * np.arange(T)[:, None]  # the still vertices slide 5 mm/frame
    out = M.foot_sliding(pred, gt)
    assert out.shape == ((T - 1) * 3,)
    np.testing.assert_allclose(out, 5.0)
    assert M.foot_sliding_mean(pred, gt) == pytest.approx(5.0)
    assert np.isnan(M.foot_sliding_mean(pred, gt + 0.05 * np.arange(T)[:, None, None]))


def test_foot_floating_rate_on_a_ground_grid():
    g = np.arange(-2.0, 2.0001, 0.05)
    ground = np.stack(np.meshgrid(g, g, [0.0]), axis=-1).reshape(-1, 3)
    feet = np.zeros((4, 2, 3))
    feet[0, :, 2] = 0.1
    feet[1, :, 2] = 0.3
    feet[2, :, 2] = [0.1, 0.5]  # the closest vertex decides: not floating
    feet[3, :, 2] = [0.25, 0.3]
    assert M.foot_floating_rate(feet, ground) == pytest.approx(0.5)
    assert M.foot_floating_rate(feet[:2], ground, threshold=0.2) == pytest.approx(0.5)
    mask = np.array([False, True, True, False])
    assert M.foot_floating_rate(feet, ground, frames_mask=mask) == pytest.approx(0.5)
    assert M.foot_floating_rate(feet, ground, frames_mask=[False, True, False, True]) == 1.0
    np.testing.assert_array_equal(M.floating(feet, ground), [False, True, False, True])
    assert M.floating(feet, np.zeros((0, 3))).all()  # no scene: everything floats


# ---------------------------------------------------------------- reconstruction


def test_voxel_downsample_averages_per_voxel():
    pts = np.array([[0.1, 0.1, 0.1], [0.2, 0.2, 0.2], [1.05, 0.0, 0.0], [-0.1, 0.0, 0.0]])
    out = M.voxel_downsample(pts, 1.0, origin=(0.0, 0.0, 0.0))
    expected = {(0.15, 0.15, 0.15), (1.05, 0.0, 0.0), (-0.1, 0.0, 0.0)}
    assert {tuple(np.round(p, 9)) for p in out} == expected


def test_voxel_downsample_anchors_its_grid_like_open3d():
    # open3d's grid starts at min - voxel/2 = (-0.6, -0.5, -0.5): (-0.1, 0, 0) now shares the first
    # voxel with the two points near 0.15, and (1.05, 0, 0) is alone in the next one along x.
    pts = np.array([[0.1, 0.1, 0.1], [0.2, 0.2, 0.2], [1.05, 0.0, 0.0], [-0.1, 0.0, 0.0]])
    out = M.voxel_downsample(pts, 1.0)
    expected = {(round(0.2 / 3, 9), 0.1, 0.1), (1.05, 0.0, 0.0)}
    assert {tuple(np.round(p, 9)) for p in out} == expected
    assert M.voxel_downsample(np.zeros((0, 3)), 0.3).shape == (0, 3)


def test_voxel_downsample_of_chunks_equals_that_of_their_union():
    pts = np.random.default_rng(4).uniform(-2, 2, size=(3000, 3))
    chunks = [pts[:1000], pts[1000:1001], pts[1001:]]
    whole = M.voxel_downsample(pts, 0.3)
    parts = M.voxel_downsample_chunks(lambda: iter(chunks), 0.3)
    assert len(whole) == len(parts) < 3000
    np.testing.assert_allclose(parts[np.lexsort(parts.T)], whole[np.lexsort(whole.T)], atol=1e-12)


def _grid(n=5, spacing=1.0):
    g = np.arange(n) * spacing
    return np.stack(np.meshgrid(g, g, [0.0]), axis=-1).reshape(-1, 3)


def test_chamfer_identical_clouds_is_zero():
    pts = np.random.default_rng(0).uniform(0, 5, size=(2000, 3))
    out = M.chamfer_distance(pts, pts)
    assert out == {"accuracy": 0.0, "completeness": 0.0, "chamfer": 0.0}


def test_chamfer_of_a_grid_shifted_by_one_metre():
    gt = _grid()  # 5x5 points, 1 m apart, each alone in its 0.3 m voxel
    pred = gt + np.array([1.0, 0.0, 0.0])
    # Only the 5 points of the outer column (of 25) have no partner: mean 5/25 = 0.2 m each way.
    out = M.chamfer_distance(pred, gt)
    assert out["accuracy"] == pytest.approx(0.2)
    assert out["completeness"] == pytest.approx(0.2)
    assert out["chamfer"] == pytest.approx(0.2)
    # Duplicated pred points collapse in the voxel grid and change nothing.
    assert M.chamfer_distance(np.concatenate([pred, pred]), gt)["chamfer"] == pytest.approx(0.2)


def test_depth_metrics_of_doubled_depth_with_invalid_pixels():
    gt = np.array([[1.0, 2.0, 4.0], [np.inf, 0.0, 3.0]])
    pred = 2.0 * np.nan_to_num(gt, posinf=5.0)
    pred[1, 2] = 0.0  # invalid prediction -> pixel ignored
    out = M.depth_metrics(pred, gt)
    assert out["abs_rel"] == pytest.approx(1.0)
    assert out["rmse"] == pytest.approx(np.sqrt((1 + 4 + 16) / 3))
    assert out["log_rmse"] == pytest.approx(np.log(2.0))
    assert out["si_log_rmse"] == pytest.approx(0.0, abs=1e-7)
    assert (out["delta1"], out["delta2"], out["delta3"]) == (0.0, 0.0, 0.0)


def test_depth_metrics_deltas_on_mixed_ratios():
    gt = np.ones(4)
    pred = np.array([1.1, 1.4, 1.9, 2.5])  # ratios vs 1.25, 1.5625, 1.953125
    out = M.depth_metrics(pred, gt)
    assert (out["delta1"], out["delta2"], out["delta3"]) == (0.25, 0.5, 0.75)


# ---------------------------------------------------------------- scalars


def test_relative_error_and_frame_weighted_mean():
    assert M.relative_error(1.1, 1.0) == pytest.approx(0.1)
    assert M.relative_error(450.0, 500.0) == pytest.approx(0.1)
    # Frame-weighted: (1 + 2 + 3 + 10) / 4 = 4, not the per-sequence mean (2 + 10) / 2 = 6.
    assert M.frame_weighted_mean([np.array([1.0, 2.0, 3.0]), np.array([10.0])]) == 4.0
