"""Hand-checked cases for josh.geometry.align (Umeyama / Procrustes)."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from josh.geometry.align import apply_similarity, procrustes_per_frame, umeyama


def _random_similarity(seed, scale=1.7):
    rng = np.random.default_rng(seed)
    rot = Rotation.random(random_state=seed).as_matrix()
    return scale, rot, rng.normal(size=3)


def test_umeyama_recovers_known_similarity():
    src = np.random.default_rng(0).normal(size=(40, 3))
    s, rot, t = _random_similarity(1, scale=1.7)
    dst = s * src @ rot.T + t
    s_hat, rot_hat, t_hat = umeyama(src, dst)
    assert s_hat == pytest.approx(1.7, abs=1e-12)
    np.testing.assert_allclose(rot_hat, rot, atol=1e-12)
    np.testing.assert_allclose(t_hat, t, atol=1e-12)


def test_umeyama_rigid_mode_recovers_rigid_transform_with_unit_scale():
    src = np.random.default_rng(2).normal(size=(30, 3))
    _, rot, t = _random_similarity(3)
    dst = src @ rot.T + t
    s_hat, rot_hat, t_hat = umeyama(src, dst, with_scale=False)
    assert s_hat == 1.0
    np.testing.assert_allclose(rot_hat, rot, atol=1e-12)
    np.testing.assert_allclose(t_hat, t, atol=1e-12)


def test_umeyama_rigid_mode_ignores_scale_of_data():
    src = np.random.default_rng(4).normal(size=(30, 3))
    s_hat, rot_hat, t_hat = umeyama(src, 3.0 * src, with_scale=False)
    assert s_hat == 1.0
    np.testing.assert_allclose(rot_hat, np.eye(3), atol=1e-12)


def test_umeyama_reflection_gives_proper_rotation():
    # Points on the axes with covariance diag(9, 4, 1); dst mirrors z (the smallest spread).
    # C = diag(9, 4, -1): the reflection fix flips the last singular vector, so R = I and
    # s = tr(DS) / var_x = (9 + 4 - 1) / 14.
    a = np.sqrt(3.0) * np.array([3.0, 2.0, 1.0])
    src = np.concatenate([np.diag(a), -np.diag(a)])
    dst = src * np.array([1.0, 1.0, -1.0])
    s_hat, rot_hat, t_hat = umeyama(src, dst)
    np.testing.assert_allclose(rot_hat, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot_hat) == pytest.approx(1.0)
    assert s_hat == pytest.approx(12.0 / 14.0)
    np.testing.assert_allclose(t_hat, 0.0, atol=1e-12)


def test_apply_similarity_any_leading_shape():
    s, rot, t = _random_similarity(5, scale=0.5)
    X = np.random.default_rng(6).normal(size=(2, 5, 3))
    out = apply_similarity(s, rot, t, X)
    assert out.shape == (2, 5, 3)
    np.testing.assert_allclose(out[1, 3], s * rot @ X[1, 3] + t, atol=1e-12)


def test_procrustes_per_frame_undoes_per_frame_similarities():
    rng = np.random.default_rng(7)
    gt = rng.normal(size=(6, 24, 3))
    pred = np.empty_like(gt)
    for i in range(len(gt)):
        s, rot, t = _random_similarity(10 + i, scale=0.5 + 0.3 * i)
        pred[i] = s * gt[i] @ rot.T + t
    np.testing.assert_allclose(procrustes_per_frame(pred, gt), gt, atol=1e-10)


def test_procrustes_per_frame_matches_umeyama_on_noisy_frames():
    rng = np.random.default_rng(8)
    gt = rng.normal(size=(4, 24, 3))
    pred = gt + 0.1 * rng.normal(size=gt.shape)
    aligned = procrustes_per_frame(pred, gt)
    for i in range(len(gt)):
        np.testing.assert_allclose(aligned[i], apply_similarity(*umeyama(pred[i], gt[i]), pred[i]),
                                   atol=1e-12)
