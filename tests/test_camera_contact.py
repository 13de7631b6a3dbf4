"""Projection, pose interpolation and the O(1) nearest-background contact search."""

import numpy as np
import roma
import torch

from josh.geometry.camera import backproject, interpolate_poses, interpolation_weights, project, to_camera, to_world
from josh.optimize.contact import fill_occluded_depth, lookup_partners, nearest_background_maps


def test_project_backproject_roundtrip():
    uv = torch.tensor([[10.0, 20.0], [320.0, 240.0], [-5.0, 600.0]])
    z = torch.tensor([1.0, 4.5, 12.0])
    X = backproject(uv, z, 500.0, 320.0, 240.0)
    assert torch.allclose(X[:, 2], z)
    assert torch.allclose(project(X, 500.0, 320.0, 240.0), uv, atol=1e-4)


def test_world_camera_inverse():
    R = roma.random_rotmat(4)
    c = torch.randn(4, 3)
    x = torch.randn(4, 7, 3)
    assert torch.allclose(to_camera(R, c, to_world(R, c, x)), x, atol=1e-5)


def test_interpolation_hits_keyframes_and_midpoints():
    keys = np.array([0, 5, 10])
    left, alpha = interpolation_weights(keys, np.arange(12))
    assert left[5] == 1 and alpha[5] == 0 and left[10] == 1 and alpha[10] == 1
    assert np.isclose(alpha[7], 0.4) and left[11] == 1 and alpha[11] == 1  # clamped past the end
    Rk = roma.rotvec_to_rotmat(torch.tensor([[0, 0, 0.0], [0, 0, 1.0], [0, 0, 1.0]]))
    ck = torch.tensor([[0, 0, 0.0], [1, 0, 0], [1, 2, 0]])
    R, c = interpolate_poses(Rk, ck, torch.as_tensor(left), torch.as_tensor(alpha))
    assert torch.allclose(roma.rotmat_to_rotvec(R[2]), torch.tensor([0, 0, 0.4]), atol=1e-6)
    assert torch.allclose(c[7], torch.tensor([1.0, 0.8, 0.0]), atol=1e-6)
    assert torch.allclose(R[5], Rk[1], atol=1e-6)


def test_nearest_background_prefers_same_row():
    bg = np.ones((1, 9, 9), bool)
    bg[0, 2:7, 3:6] = False  # a person-shaped hole
    index, dist = nearest_background_maps(bg, row_weight=3.0)
    r, c = divmod(int(index[0, 6, 4]), 9)
    assert bg[0, r, c] and r == 6  # bottom row of the hole: same-row neighbour beats the one below
    assert index[0, 0, 0] == 0 and dist[0, 0, 0] == 0  # background maps to itself
    brute = [(abs(rr - 4) * 3.0) ** 2 + (cc - 4) ** 2 for rr in range(9) for cc in range(9) if bg[0, rr, cc]]
    assert np.isclose(dist[0, 4, 4] ** 2, min(brute))


def test_lookup_partners_vectorised():
    bg = np.zeros((2, 4, 5), bool)
    bg[0, :, 0] = True
    bg[1, 3, :] = True
    index, dist = nearest_background_maps(bg)
    q = torch.tensor([[4.0, 1.0], [2.2, 0.4], [30.0, 1.0]])
    partner, d, inside = lookup_partners(q, torch.tensor([0, 1, 0]), torch.as_tensor(index), torch.as_tensor(dist))
    assert partner.tolist()[:2] == [1 * 5 + 0, 3 * 5 + 2]
    assert inside.tolist() == [True, True, False]
    assert np.isclose(float(d[0]), 4.0)


def _ground_and_wall(h: int = 40, w: int = 60, horizon: int = 12, wall_inverse_depth: float = 0.05) -> np.ndarray:
    """Inverse depth of a level camera's view: a far wall above the row where it meets the
    ground, the ground plane below (inverse depth affine in the row)."""
    rows = np.arange(h, dtype=float)[:, None] * np.ones((1, w))
    ground = wall_inverse_depth + 0.02 * (rows - horizon)
    return np.where(rows < horizon, wall_inverse_depth, ground)


def test_fill_is_exact_on_a_plane():
    h, w = 30, 40
    v, u = np.mgrid[0:h, 0:w].astype(float)
    depth = 1.0 / (0.1 + 0.004 * u + 0.02 * v)  # a tilted plane: inverse depth affine in the pixel
    bg = np.ones((1, h, w), bool)
    bg[0, 8:26, 15:24] = False
    for row_weight in (1.0, 3.0):
        filled = fill_occluded_depth(depth[None], bg, row_weight)
        np.testing.assert_allclose(filled[0], depth, rtol=1e-5)


def test_fill_behind_a_standing_person_follows_the_ground_beside_the_feet():
    inverse = _ground_and_wall()
    depth = (1.0 / inverse)[None]
    bg = np.ones(depth.shape, bool)
    bg[0, 4:, 26:34] = False  # a person near the camera: head against the wall, legs to the image's bottom
    feet = (36, 30)
    truth = depth[0][feet]
    err = {rw: abs(fill_occluded_depth(depth, bg, rw)[0][feet] / truth - 1.0) for rw in (1.0, 3.0)}
    # isotropic: the far wall around the head pulls the surface behind the feet back (lower)
    assert err[1.0] > 0.03
    assert err[3.0] < err[1.0] / 5 and err[3.0] < 0.005
