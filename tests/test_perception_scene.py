"""Scene front-end: SfM on a rendered textured scene, the ground-plane fallback, no crash on bad input."""

from __future__ import annotations

import math
import os
from functools import lru_cache

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.transform import Rotation

pytest.importorskip("pycolmap")

from josh.perception.scene import (  # noqa: E402
    SceneConfig,
    estimate_scene,
    fit_ground_plane,
    ground_plane_scene,
    supported,
)
from josh.perception.sfm import localisation_pairs, skeleton_pairs, spread  # noqa: E402
from josh.types import Intrinsics  # noqa: E402

W, H, F = 320, 240, 260.0
DEMO = os.environ.get("JOSH_DEMO_VIDEO", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "demo2.mp4"))
if not os.path.exists(DEMO):
    DEMO = "/work/shared/data/demo2.mp4"
FAST = dict(first_octave=0, max_features=2048)  # 320x240 renders: no upsampled octave needed


# ------------------------------------------------------------------------------ synthetic scene
# World in OpenCV axes (y down). Planes n.X = d with a texture over two in-plane coordinates.
PLANES = [
    # normal, d, (axis u, axis v), brightness
    (np.array([0.0, 1.0, 0.0]), 1.5, (0, 2), 0.9),  # ground y = 1.5
    (np.array([0.0, 0.0, 1.0]), 9.0, (0, 1), 1.0),  # back wall z = 9
    (np.array([1.0, 0.0, 0.0]), -4.0, (2, 1), 0.8),  # left wall x = -4
    (np.array([1.0, 0.0, 0.0]), 4.0, (2, 1), 0.7),  # right wall x = 4
]
TEXEL = 0.02  # m


@lru_cache(maxsize=1)
def _textures():
    rng = np.random.default_rng(7)
    out = []
    for _ in PLANES:
        t = np.zeros((768, 768))
        for sigma, amp in ((1.5, 0.6), (4.0, 1.0), (10.0, 1.0)):
            t += amp * ndimage.gaussian_filter(rng.standard_normal((768, 768)), sigma, mode="wrap") * sigma
        t = (t - t.mean()) / t.std()
        out.append(np.clip(0.5 + 0.18 * t, 0, 1))
    return out


def _camera_path(n: int, static: bool = False):
    """Camera-to-world poses: sideways and forward motion with a slow yaw."""
    T = np.zeros((n, 4, 4))
    for i in range(n):
        s = 0.0 if static else i
        T[i] = np.eye(4)
        T[i, :3, :3] = Rotation.from_euler("yx", [-1.2 * s, 0.3 * s], degrees=True).as_matrix()
        T[i, :3, 3] = [0.15 * s - 0.8, 0.0, 0.08 * s]
    return T


def _render(T_wc: np.ndarray, ss: int = 2, focal: float = F):
    """RGB uint8 (H, W, 3) and depth (H, W) of the planes seen by a pinhole camera (supersampled)."""
    tex = _textures()
    u, v = np.meshgrid((np.arange(W * ss) + 0.5) / ss - 0.5, (np.arange(H * ss) + 0.5) / ss - 0.5)
    cx, cy = (W - 1) / 2, (H - 1) / 2
    rays_c = np.stack([(u - cx) / focal, (v - cy) / focal, np.ones_like(u)], -1)
    R, o = T_wc[:3, :3], T_wc[:3, 3]
    rays = rays_c @ R.T
    best_t = np.full(u.shape, np.inf)
    value = np.zeros(u.shape)
    for (n, d, (a, b), bright), t_img in zip(PLANES, tex):
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (d - n @ o) / (rays @ n)
        hit = (t > 0.05) & (t < best_t)
        X = o + rays * t[..., None]
        coords = np.stack([X[..., b] / TEXEL, X[..., a] / TEXEL])
        val = ndimage.map_coordinates(t_img, coords.reshape(2, -1), order=1, mode="grid-wrap").reshape(u.shape)
        value = np.where(hit, bright * val, value)
        best_t = np.where(hit, t, best_t)
    img = value.reshape(H, ss, W, ss).mean((1, 3))
    depth = best_t.reshape(H, ss, W, ss).mean((1, 3))  # ray length along camera z is t here
    rgb = np.repeat((np.clip(img, 0, 1) * 255).astype(np.uint8)[..., None], 3, -1)
    return rgb, depth


@lru_cache(maxsize=3)
def _sequence(n: int = 12, static: bool = False, focal: float = F):
    T = _camera_path(n, static)
    frames, depths = zip(*(_render(t, focal=focal) for t in T))
    return list(frames), np.stack(depths), T


@lru_cache(maxsize=1)
def _synthetic_estimate():
    frames, depths, T = _sequence()
    kf = np.array([0, 3, 6, 9, 11])
    cfg = SceneConfig(sfm_step=1, overlap=4, camera_model="SIMPLE_PINHOLE", **FAST)
    return estimate_scene(frames, kf, config=cfg), kf


# ------------------------------------------------------------------------------------------ SfM
def test_sfm_recovers_camera_motion():
    est, kf = _synthetic_estimate()
    _, _, T_gt = _sequence()
    assert est.source == "sfm", est.stats
    assert est.stats["registered_keyframes"] == len(kf)
    assert abs(est.intrinsics.focal - F) / F < 0.05, est.intrinsics
    np.testing.assert_allclose(est.keyframe_T_wc[0], np.eye(4), atol=1e-9)
    # ground truth relative to keyframe 0
    gt = np.linalg.inv(T_gt[kf[0]]) @ T_gt[kf]
    for k in range(1, len(kf)):
        R_err = est.keyframe_T_wc[k, :3, :3].T @ gt[k, :3, :3]
        angle = np.degrees(np.arccos(np.clip((np.trace(R_err) - 1) / 2, -1, 1)))
        assert angle < 1.0, (k, angle)
    # translation directions match after one global scale
    c_est, c_gt = est.keyframe_T_wc[1:, :3, 3], gt[1:, :3, 3]
    s = (c_est * c_gt).sum() / (c_est**2).sum()
    assert s > 0
    assert np.abs(s * c_est - c_gt).max() < 0.05 * np.abs(c_gt).max()
    # registered non-keyframes are consistent too
    assert est.registered.sum() >= 10
    assert np.isnan(est.all_T_wc[~est.registered]).all()


def test_sfm_depth_maps_match_the_rendered_depth():
    est, kf = _synthetic_estimate()
    frames, depths, T_gt = _sequence()
    obs = est.keyframes
    assert obs.depth.shape == (len(kf), math.ceil(H / 8), math.ceil(W / 8))
    _, _, T_gt = _sequence()
    gt = np.linalg.inv(T_gt[kf[0]]) @ T_gt[kf]
    s = np.linalg.norm(gt[-1, :3, 3]) / np.linalg.norm(est.keyframe_T_wc[-1, :3, 3])  # SfM -> metres
    h, w = obs.depth.shape[1:]
    rows = ((np.arange(h) + 0.5) * 8 - 0.5).round().astype(int).clip(0, H - 1)
    cols = ((np.arange(w) + 0.5) * 8 - 0.5).round().astype(int).clip(0, W - 1)
    for k, f in enumerate(kf):
        valid = obs.depth[k] > 0
        assert valid.mean() > 0.3, (k, valid.mean())
        true = depths[f][rows[:, None], cols[None, :]]
        rel = np.abs(obs.depth[k][valid] * s - true[valid]) / true[valid]
        assert np.median(rel) < 0.03, (k, np.median(rel))
        assert np.all(obs.conf[k][valid] > 0) and np.all(obs.conf[k] <= 1)
    assert obs.background.sum() == (obs.depth > 0).sum()  # nobody masked here


def test_keyframe_colours_are_their_frames():
    """Keyframe images are read back from what SfM saw (JPEG), not held: colours stay the frames'."""
    est, kf = _synthetic_estimate()
    frames, _, _ = _sequence()
    h, w = est.keyframes.colors.shape[1:3]
    rows = ((np.arange(h) + 0.5) * 8 - 0.5).round().astype(int).clip(0, H - 1)
    cols = ((np.arange(w) + 0.5) * 8 - 0.5).round().astype(int).clip(0, W - 1)
    for k, f in enumerate(kf):
        true = frames[f][rows[:, None], cols[None, :]].astype(int)
        err = np.abs(est.keyframes.colors[k].astype(int) - true)
        assert np.median(err) <= 2, (k, np.median(err))  # JPEG at quality 95
        other = np.abs(est.keyframes.colors[k].astype(int) - frames[kf[(k + 1) % len(kf)]][rows[:, None], cols[None, :]])
        assert np.median(other) > 3 * max(1, np.median(err)), k  # and each keyframe is its own frame


def test_correspondences_reproject_with_recovered_poses():
    est, kf = _synthetic_estimate()
    c = est.correspondences
    assert len(c) > 200
    assert np.all(np.abs(c.kf_a - c.kf_b) <= 5) and np.all(c.kf_a != c.kf_b)
    intr = est.intrinsics
    K = intr.matrix()
    Xa = np.linalg.inv(K) @ np.c_[c.uv_a, np.ones(len(c))].T * c.depth_a  # (3, M) in camera a
    T = est.keyframe_T_wc
    Xw = np.einsum("mij,jm->mi", T[c.kf_a, :3, :3], Xa) + T[c.kf_a, :3, 3]
    T_cw = np.linalg.inv(T[c.kf_b])
    Xb = np.einsum("mij,mj->mi", T_cw[:, :3, :3], Xw) + T_cw[:, :3, 3]
    np.testing.assert_allclose(Xb[:, 2], c.depth_b, rtol=0.03)
    uv = Xb[:, :2] / Xb[:, 2:] * intr.focal + [intr.cx, intr.cy]
    err = np.linalg.norm(uv - c.uv_b, axis=1)
    assert np.median(err) < 1.0 and np.percentile(err, 95) < 4.0, (np.median(err), np.percentile(err, 95))
    assert np.all((c.conf > 0) & (c.conf <= 1))


def test_a_known_focal_is_held():
    """A focal the user knows replaces the search and survives every adjustment, even 8% off
    the truth; the fallback uses it too."""
    frames, _, _ = _sequence()
    kf = np.array([0, 4, 8, 11])
    cfg = SceneConfig(sfm_step=1, overlap=4, focal_known=1.08 * F, **FAST)
    est = estimate_scene(frames, kf, config=cfg)
    assert est.source == "sfm", est.stats
    assert est.intrinsics.focal == pytest.approx(1.08 * F, rel=1e-9)
    assert [a["focal_guess"] for a in est.stats["focal_attempts"]] == [1.08 * F]
    assert est.stats["registered_keyframes"] == len(kf)
    flat = [np.full((H, W, 3), 128, np.uint8) for _ in range(6)]
    fallback = estimate_scene(flat, [0, 5], config=SceneConfig(sfm_step=1, focal_known=333.0))
    assert fallback.source == "ground_plane" and fallback.intrinsics.focal == 333.0


def test_masked_pixels_are_not_background():
    frames, _, _ = _sequence()
    kf = np.array([0, 4, 8, 11])
    masks = []
    for _ in frames:
        m = np.zeros((H // 4, W // 4), np.uint8)  # a reduced-resolution label map
        m[20:50, 30:50] = 2
        masks.append(m)
    cfg = SceneConfig(sfm_step=1, overlap=4, **FAST)
    est = estimate_scene(frames, kf, masks=masks, config=cfg)
    assert est.source == "sfm", est.stats
    # the masked box: grid rows 10..24, cols 15..24 (image rows 80..199, cols 120..199)
    box = est.keyframes.background[:, 11:24, 16:24]
    assert not box.any()
    assert est.keyframes.background.mean() > 0.3


# ------------------------------------------------------------------------------------- fallback
def test_static_camera_falls_back_to_a_ground_plane():
    frames = [_sequence()[0][0]] * 8  # one frame repeated: no parallax
    feet = np.array([[-0.5, 1.4, 4.0], [0.6, 1.4, 6.0], [0.1, 1.4, 9.0], [-1.0, 1.4, 7.0]])
    est = estimate_scene(frames, [0, 3, 7], ground_points_cam=feet, config=SceneConfig(sfm_step=1))
    assert est.source == "ground_plane"
    assert est.stats["sfm_failure"].startswith("static camera"), est.stats["sfm_failure"]
    assert len(est.correspondences) == 0
    np.testing.assert_allclose(est.keyframe_T_wc, np.repeat(np.eye(4)[None], 3, 0))
    assert est.all_T_wc.shape == (8, 4, 4)
    assert est.intrinsics.focal == pytest.approx(0.8 * max(W, H))  # a phone's main camera
    assert est.camera_static  # the frames did not move: the optimiser must not move the camera
    np.testing.assert_allclose(est.ground_plane, [0, -1, 0, -1.4], atol=1e-6)
    # depth of the plane y = 1.4 along each ray: z = 1.4 / ((v - cy) / f) below the horizon
    obs = est.keyframes
    intr = est.intrinsics
    v = (np.arange(obs.depth.shape[1]) + 0.5) * 8 - 0.5
    u = (np.arange(obs.depth.shape[2]) + 0.5) * 8 - 0.5
    y = ((v - intr.cy) / intr.focal)[:, None]
    x = ((u - intr.cx) / intr.focal)[None, :]
    z = 1.4 / np.where(y > 0, y, 1.0)
    below = (y > 0) & (z * np.sqrt(1 + x**2 + y**2) <= 100.0)  # within the plane's 100 m along the ray
    expect = np.where(below, z, 0.0)
    np.testing.assert_allclose(obs.depth[1], expect, rtol=1e-5)
    assert not obs.background[:, ~below].any() and obs.background[:, below].all()


def test_fit_ground_plane_tilted_and_degenerate():
    rng = np.random.default_rng(0)
    n_true = np.array([0.0, -math.cos(0.2), -math.sin(0.2)])  # tilted, facing the camera
    d_true = -1.5
    a, b = np.linalg.svd(n_true[None])[2][1:]
    ahead = np.array([0, 0, 6.0]) - (np.array([0, 0, 6.0]) @ n_true) * n_true  # in-plane shift forward
    pts = d_true * n_true + ahead + rng.uniform(-3, 3, (40, 1)) * a + rng.uniform(-3, 3, (40, 1)) * b
    pts += rng.normal(0, 0.01, pts.shape)
    outliers = rng.uniform(-2, 2, (6, 3)) + [0, 0, 6]
    plane = fit_ground_plane(np.vstack([pts, outliers]))
    assert abs(plane[:3] @ n_true) > 0.999
    np.testing.assert_allclose(np.abs(pts @ plane[:3] - plane[3]).max(), 0, atol=0.05)
    assert plane[3] < 0  # camera on the positive side
    # no points: horizontal plane camera_height below; a line: keeps the up prior around it
    np.testing.assert_allclose(fit_ground_plane(None, camera_height=1.6), [0, -1, 0, -1.6])
    line = np.array([[0, 1.5, z] for z in np.linspace(3, 8, 6)])
    np.testing.assert_allclose(fit_ground_plane(line), [0, -1, 0, -1.5], atol=1e-9)


def test_ground_plane_scene_masks_and_colors():
    intr = Intrinsics.centred(300.0, 160, 120)
    mask = np.zeros((120, 160), bool)
    mask[60:, :80] = True
    frame = np.full((120, 160, 3), 77, np.uint8)
    obs, plane = ground_plane_scene(intr, [0, 5], np.array([[0, 1.2, 3.0], [0.5, 1.2, 5.0], [-0.5, 1.2, 8.0]]),
                                    person_masks=[mask, None], colors=[frame, frame])  # fmt: skip
    assert obs.depth.shape == (2, 15, 20)
    assert obs.colors.shape == (2, 15, 20, 3) and (obs.colors == 77).all()
    assert not obs.background[0, 8:, :10].any() and obs.background[1, 8:, :10].all()
    np.testing.assert_allclose(plane, [0, -1, 0, -1.2], atol=1e-9)


# ------------------------------------------------------------------------ every frame's camera
def _pose_errors(T_est: np.ndarray, T_gt: np.ndarray, scale: float):
    """Rotation error (deg) and centre error (m) of estimated poses against the truth, both
    relative to frame 0, after the estimate's scale is multiplied by `scale`."""
    gt = np.linalg.inv(T_gt[0]) @ T_gt
    R_err = np.einsum("nji,njk->nik", T_est[:, :3, :3], gt[:, :3, :3])
    angle = np.degrees(np.arccos(np.clip((np.trace(R_err, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    return angle, np.linalg.norm(scale * T_est[:, :3, 3] - gt[:, :3, 3], axis=1)


def test_every_frame_gets_a_camera_in_the_keyframes_frame_and_scale():
    frames, _, T_gt = _sequence()
    kf = np.array([0, 3, 6, 9, 11])
    cfg = SceneConfig(sfm_step=3, min_skeleton_frames=0, overlap=4, camera_model="SIMPLE_PINHOLE", **FAST)  # skeleton = keyframes
    est = estimate_scene(frames, kf, config=cfg)
    assert est.source == "sfm", est.stats
    assert est.stats["mapped_frames"] == len(kf) and est.stats["localised_frames"] == len(frames) - len(kf)
    assert est.registered.all() and np.isfinite(est.all_T_wc).all()
    # the keyframes' rows are exactly their cameras; frame 0 is the world
    np.testing.assert_array_equal(est.all_T_wc[kf], est.keyframe_T_wc)
    np.testing.assert_allclose(est.all_T_wc[0], np.eye(4), atol=1e-9)
    # one scale (fixed on the keyframes) brings every frame onto the truth: same frame, same scale
    gt = np.linalg.inv(T_gt[0]) @ T_gt
    c_kf, c_gt = est.keyframe_T_wc[1:, :3, 3], gt[kf[1:], :3, 3]
    s = (c_kf * c_gt).sum() / (c_kf**2).sum()
    angle, centre = _pose_errors(est.all_T_wc, T_gt, s)
    extent = np.abs(gt[:, :3, 3]).max()
    localised = np.setdiff1d(np.arange(len(frames)), kf)
    assert angle[localised].max() < 1.0, angle
    assert centre[localised].max() < 0.03 * extent, centre / extent


def test_frames_outside_the_skeleton_have_no_camera_without_localisation():
    frames, _, _ = _sequence()
    kf = np.array([0, 3, 6, 9, 11])
    cfg = SceneConfig(sfm_step=3, min_skeleton_frames=0, overlap=4, localise=False, camera_model="SIMPLE_PINHOLE", **FAST)
    est = estimate_scene(frames, kf, config=cfg)
    assert est.source == "sfm", est.stats
    others = np.setdiff1d(np.arange(len(frames)), kf)
    assert not est.registered[others].any() and np.isnan(est.all_T_wc[others]).all()
    np.testing.assert_array_equal(est.all_T_wc[kf], est.keyframe_T_wc)


def test_focal_search_finds_a_wide_angle_lens():
    """A 0.44 x width focal (98 deg horizontal field of view), none of the guesses."""
    focal = 140.0
    frames, _, T_gt = _sequence(focal=focal)
    kf = np.array([0, 3, 6, 9, 11])
    est = estimate_scene(frames, kf, config=SceneConfig(sfm_step=1, overlap=4, **FAST))
    assert est.source == "sfm", est.stats
    assert abs(est.intrinsics.focal - focal) / focal < 0.05, (est.intrinsics.focal, est.stats["focal_attempts"])
    assert abs(est.distortion[0]) < 0.05  # the renders have none


# ------------------------------------------------------------------------------ pieces of SfM
def test_support_filter_drops_lone_points_and_keeps_ground_and_edges():
    """Ground with a steep depth gradient, a wall with a depth edge against it, one point far
    behind the ground (a feature on a moving shadow) and one floating in front of the wall."""
    rng = np.random.default_rng(1)
    f, cx, cy, h = 500.0, 480.0, 270.0, 1.5
    ground = np.c_[rng.uniform(0, 960, 400), rng.uniform(300, 540, 400)]
    z_ground = h * f / (ground[:, 1] - cy)  # a plane: inverse depth affine in the pixels
    wall = np.c_[rng.uniform(0, 960, 300), rng.uniform(0, 290, 300)]
    z_wall = np.full(300, 20.0)
    uv = np.vstack([ground, wall, [[480.0, 450.0], [300.0, 150.0]]])
    z = np.concatenate([z_ground, z_wall, [3 * h * f / (450 - cy), 5.0]])
    keep = supported(uv, z, radius=66.0)
    assert not keep[-2:].any()
    assert keep[:-2].mean() > 0.98


def test_pairs_and_spread():
    pairs = skeleton_pairs([0, 5, 10, 15, 20, 25], overlap=2, quadratic=True)
    assert (0, 5) in pairs and (0, 10) in pairs and (0, 20) in pairs and (5, 25) in pairs
    assert (0, 15) not in pairs and (0, 25) not in pairs  # steps 1, 2 and 4 skeleton frames
    assert all(a < b for a, b in pairs)
    assert localisation_pairs([1, 2, 7], [0, 5, 10], per_side=1) == [(0, 1), (0, 2), (1, 5), (2, 5), (5, 7), (7, 10)]
    assert spread(range(21), 5) == [0, 5, 10, 15, 20]
    assert spread([3, 1, 2], 5) == [1, 2, 3]


# ------------------------------------------------------------------------------------ robustness
def test_reversed_and_short_clips():
    frames, _, T_gt = _sequence()
    rev = frames[::-1]
    est = estimate_scene(rev, [0, 3, 6, 9, 11], config=SceneConfig(sfm_step=1, overlap=4, **FAST))
    assert est.source == "sfm", est.stats
    np.testing.assert_allclose(est.keyframe_T_wc[0], np.eye(4), atol=1e-9)
    assert est.registered.sum() >= 10
    short = estimate_scene(frames[:5], [0, 2, 4], config=SceneConfig(sfm_step=1, **FAST))
    assert short.source in ("sfm", "ground_plane")
    assert short.source == "sfm" or short.stats["sfm_failure"]
    assert short.all_T_wc.shape == (5, 4, 4) and short.keyframes.depth.shape[0] == 3


def test_featureless_and_tiny_inputs_do_not_crash():
    flat = [np.full((H, W, 3), 128, np.uint8) for _ in range(6)]
    est = estimate_scene(flat, [0, 5], config=SceneConfig(sfm_step=1))
    assert est.source == "ground_plane" and "sfm_failure" in est.stats
    assert est.keyframes.depth.shape == (2, 30, 40)
    one = estimate_scene([_sequence()[0][0]], [0])
    assert one.source == "ground_plane"
    none = estimate_scene([], [])
    assert none.source == "ground_plane" and none.keyframe_T_wc.shape == (0, 4, 4)


def _demo_frames(n: int, width: int, height: int) -> list[np.ndarray]:
    av = pytest.importorskip("av")
    frames = []
    with av.open(DEMO) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for fr in c.decode(stream):
            frames.append(fr.to_ndarray(format="rgb24", width=width, height=height, interpolation="AREA"))
            if len(frames) == n:
                break
    return frames


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(DEMO), reason="demo2.mp4 not found (set JOSH_DEMO_VIDEO; shared/data is not part of the repository)")
def test_demo2_scene():
    """The first 40 frames at 480x270 (people not masked: the support filter and the robust
    refinement must cope): every keyframe mapped, every frame posed, the focal that the whole
    clip gives at 960 px (515-527 px) halved, within 10%."""
    frames = _demo_frames(40, 480, 270)
    kf = list(range(0, 40, 5)) + [39]
    est = estimate_scene(frames, kf, config=SceneConfig(max_features=2048))
    assert est.source == "sfm", est.stats
    assert est.stats["registered_keyframes"] == len(kf)
    assert est.registered.sum() >= 36 and np.isfinite(est.all_T_wc[est.registered]).all()
    assert 235 < est.intrinsics.focal < 290, est.stats.get("focal_attempts")
    assert est.stats["reprojection_error"] < 1.0
    assert len(est.correspondences) > 500
    assert est.keyframes.background.mean() > 0.2


def test_camera_jumps_keep_the_longest_consistent_piece():
    """A displaced run of frames and a piece after a jump are flagged; a camera that stands still
    and then walks, or one that walks evenly, is kept whole."""
    from josh.perception.sfm import camera_jumps

    rng = np.random.default_rng(0)
    ids = np.arange(100)
    walk = np.stack([ids * 0.01, 0.001 * rng.standard_normal(100), 0.001 * rng.standard_normal(100)], 1)
    assert not camera_jumps(ids, walk, 6.0, 15).any()
    stand_then_walk = walk.copy()
    stand_then_walk[:50, 0] = 0.0
    stand_then_walk[50:, 0] = (ids[50:] - 50) * 0.01
    assert not camera_jumps(ids, stand_then_walk, 6.0, 15).any()
    broken = walk.copy()
    broken[75:86] += [0.5, 0.3, 0.0]  # misregistered skeleton frames
    broken[86:] += [0.2, 0.0, 0.0]  # the rest of the clip placed apart
    bad = camera_jumps(ids, broken, 6.0, 15)
    assert not bad[:75].any() and bad[75:].all()
    # every frame shown twice (slow motion): the camera stands still every other frame
    repeated = np.repeat(walk[:50], 2, axis=0) + 1e-6 * rng.standard_normal((100, 3))
    assert not camera_jumps(ids, repeated, 6.0, 15).any()
    repeated_broken = repeated.copy()
    repeated_broken[70:] += [0.3, 0.0, 0.0]
    bad = camera_jumps(ids, repeated_broken, 6.0, 15)
    assert not bad[:70].any() and bad[70:].all()


def test_focal_ambiguity_from_the_search():
    """Good guesses that agree are no warning; good guesses that disagree are (demo2's figures)."""
    from josh.perception.sfm import focal_ambiguity

    def attempts(*fits):
        return [{"focal": f, "median_error": e, "plausible": True} for f, e in fits]

    assert focal_ambiguity(attempts((516, 0.30), (793, 0.895), (533, 0.358))) is None  # demo2
    amb = focal_ambiguity(attempts((512, 0.373), (666, 0.339), (917, 0.473)))  # its portrait crop
    assert amb == {"focal_min": 512.0, "focal_max": 917.0, "error_ratio": 1.5}
    assert focal_ambiguity(attempts((512, 0.373))) is None


class _FakeImage:
    def __init__(self, fid, centre):
        self.name, self.has_pose, self._c = f"{fid:06d}.jpg", True, np.asarray(centre, float)

    def projection_center(self):
        return self._c


class _FakeModel:
    """What `_map_skeleton` reads of a pycolmap model: its images and their camera centres."""

    def __init__(self, centres: dict):
        self.images = {i: _FakeImage(f, c) for i, (f, c) in enumerate(centres.items())}

    def num_reg_images(self):
        return len(self.images)


def _skeleton_mapping(monkeypatch, paths: dict, max_final_mappings: int = 2, grows: bool = True):
    """The skeleton mapped at the focals of `paths` (the search's candidates, best first), the
    mapping replaced: growing the search's model at a focal, or mapping from scratch at it, gives
    that focal's camera path. With `grows` False, growing registers no frame."""
    from josh.perception import sfm

    focals = list(paths)
    mapped = []

    def grow(model, db, image_dir, frames, cfg, out):  # the search's "model" is its focal here
        mapped.append(("grown", model))
        return _FakeModel(paths[model] if grows else {})

    def map_fixed(db, image_dir, frames, params, cfg, out):
        mapped.append(("scratch", float(params[0])))
        return _FakeModel(paths[float(params[0])])

    def refine(rec, cfg, stats):
        stats["skeleton_model"] = {"median_error": 0.3}
        return rec

    monkeypatch.setattr(sfm, "_grow", grow)
    monkeypatch.setattr(sfm, "_map_fixed", map_fixed)
    monkeypatch.setattr(sfm, "_refine_final", refine)
    cfg = SceneConfig(max_final_mappings=max_final_mappings)
    stats = {"timing": {}}
    skeleton = list(range(0, 100, 5))
    candidates = [(0.1 * (i + 1), f, f) for i, f in enumerate(focals)]  # the search's, best first
    rec = sfm._map_at_focals(candidates, np.array([300.0, 160, 120, 0.0]), "db", "images", skeleton, 12, cfg, "root", stats)
    return rec, mapped, stats


def test_a_skeleton_whose_path_jumps_is_mapped_at_another_focal(monkeypatch):
    """A mapping whose camera path jumps (frames 80-95 placed apart) is passed over for the next
    focal whose path is whole; when every path jumps, the one losing the fewest frames is kept."""
    ids = list(range(0, 100, 5))
    walk = {f: [0.01 * f, 0.0, 0.0] for f in ids}
    jumps = {f: [0.01 * f, 0.0 if f < 80 else 5.0, 0.0] for f in ids}
    jumps_less = {f: [0.01 * f, 0.0 if f < 90 else 5.0, 0.0] for f in ids}

    rec, mapped, stats = _skeleton_mapping(monkeypatch, {700.0: jumps, 600.0: walk})
    assert mapped == [("grown", 700.0), ("grown", 600.0)]
    assert not any(im.projection_center()[1] for im in rec.images.values())  # the whole path
    assert stats["skeleton_jumps"] == [{"focal": 700.0, "frames": [80, 85, 90, 95]}]

    # every focal jumps: all three are tried (beyond max_final_mappings), the least broken kept
    rec, mapped, stats = _skeleton_mapping(monkeypatch, {700.0: jumps, 600.0: jumps, 800.0: jumps_less})
    assert [focal for _, focal in mapped] == [700.0, 600.0, 800.0]
    assert sum(im.projection_center()[1] > 0 for im in rec.images.values()) == 2

    # a whole path at the first focal: nothing else is mapped
    rec, mapped, stats = _skeleton_mapping(monkeypatch, {700.0: walk, 600.0: jumps})
    assert mapped == [("grown", 700.0)] and "skeleton_jumps" not in stats


def test_a_skeleton_that_does_not_grow_is_mapped_from_scratch(monkeypatch):
    """When the search's model registers too few of the other skeleton frames, the skeleton is
    mapped from scratch at that focal, as before growing."""
    ids = list(range(0, 100, 5))
    walk = {f: [0.01 * f, 0.0, 0.0] for f in ids}
    rec, mapped, _ = _skeleton_mapping(monkeypatch, {700.0: walk, 600.0: walk}, grows=False)
    assert mapped == [("grown", 700.0), ("scratch", 700.0)]
    assert rec.num_reg_images() == len(ids)
