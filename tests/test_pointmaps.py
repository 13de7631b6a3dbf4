"""Point-map files and their adapter, on a ray-cast plane + box seen from known cameras."""

import numpy as np
import pytest

from josh.errors import InputError
from josh.interop.pointmaps import (
    PointMapConfig,
    focal_from_pointmap,
    read_pointmaps,
    scene_from_pointmaps,
    validate_pointmaps,
    write_pointmaps,
)
from josh.testing.pointmap_scene import PlaneAndBox, look

FOCAL, SIZE = 300.0, (320, 240)


@pytest.fixture(scope="module")
def views():
    """Three views of the scene: true poses, point maps, confidences, images."""
    scene = PlaneAndBox()
    poses = np.stack([look(0.0, 0.25, [0, 0, 0]), look(0.1, 0.22, [0.4, -0.05, 0.5]), look(0.2, 0.2, [0.8, 0, 1.0])])
    points, conf, rgb = (np.stack(x) for x in zip(*[scene.render(T, FOCAL, SIZE) for T in poses]))
    return poses, points, conf, rgb


def _relative(poses):
    return np.linalg.inv(poses[0]) @ poses


def _world(T, uv, z):
    X = np.stack([(uv[:, 0] - (SIZE[0] - 1) / 2) / FOCAL * z, (uv[:, 1] - (SIZE[1] - 1) / 2) / FOCAL * z, z], 1)
    return X @ T[:3, :3].T + T[:3, 3]


def _match_errors(est, true_T):
    """Relative 3D disagreement of the two ends of every correspondence, placed with the TRUE
    poses and focal (the adapter's depths are in the first map's unit, the true one here)."""
    c = est.correspondences
    wa, wb = np.zeros((len(c), 3)), np.zeros((len(c), 3))
    for k in range(len(true_T)):
        m = c.kf_a == k
        wa[m] = _world(true_T[k], c.uv_a[m], c.depth_a[m])
        m = c.kf_b == k
        wb[m] = _world(true_T[k], c.uv_b[m], c.depth_b[m])
    distance = np.linalg.norm(wa - true_T[c.kf_a, :3, 3], axis=1)  # from camera a
    return np.linalg.norm(wa - wb, axis=1) / distance


def _grid_truth(poses, stride=8):
    """Ray-cast depth at the exact depth-grid pixels ((j + 0.5) * stride - 0.5), and hit masks."""
    v, u = np.mgrid[0 : SIZE[1] // stride, 0 : SIZE[0] // stride] * stride + (stride - 1) / 2
    cast = [PlaneAndBox().cast(T, FOCAL, SIZE, u.astype(float), v.astype(float)) for T in poses]
    return np.stack([c[0][..., 2] for c in cast]), np.stack([c[1] > 0 for c in cast])


def test_file_round_trip_and_validation(views, tmp_path):
    poses, points, conf, rgb = views
    path = write_pointmaps(tmp_path / "maps.npz", points.astype(np.float16), conf, frame_ids=[0, 5, 10],
                           T_wc=poses, rgb=rgb, image_size=(640, 480))  # fmt: skip
    pm = read_pointmaps(path)
    assert pm.points.dtype == np.float32 and np.allclose(pm.points, points, rtol=1e-3)
    assert pm.frame_ids.tolist() == [0, 5, 10] and pm.image_size == (640, 480) and pm.map_size == SIZE
    assert np.allclose(pm.T_wc, poses) and (pm.rgb == rgb).all() and pm.matches is None
    good = {"points": points, "conf": conf}
    bad_cases = {
        "'points'": {"points": points[0], "conf": conf},
        "'conf' must have shape": {"points": points, "conf": conf[:, :10]},
        "sigmoid": {"points": points, "conf": conf * 3},
        "frame_ids": {**good, "frame_ids": [0, 0, 1]},
        "proper rotations": {**good, "T_wc": poses * 2},
        "two different maps": {**good, "match_a": [0], "match_b": [3], "match_uv_a": [[1, 2]], "match_uv_b": [[1, 2]]},
        "need all": {**good, "match_a": [0]},
        "format_version": {**good, "format_version": 7},
    }
    for message, arrays in bad_cases.items():
        with pytest.raises(InputError, match=message):
            validate_pointmaps(arrays)
    with pytest.raises(InputError, match="not found"):
        read_pointmaps(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot read"):
        read_pointmaps(tmp_path / "junk.npz")


def test_points_behind_the_camera_are_unusable(views):
    _, points, conf, _ = views
    p = points.copy()
    p[0, :5] = np.nan
    p[0, 5:7, :, 2] = -1.0
    pm = validate_pointmaps({"points": p, "conf": conf})
    assert (pm.conf[0, :7] == 0).all() and np.isfinite(pm.points).all()


def test_weiszfeld_focal_is_exact_on_a_pinhole_map(views):
    _, points, conf, _ = views
    assert abs(focal_from_pointmap(points[0], conf[0] > 0) - FOCAL) < 1e-3


def test_poses_from_the_file(views):
    poses, points, conf, _ = views
    est = scene_from_pointmaps(validate_pointmaps({"points": points, "conf": conf, "T_wc": poses}))
    assert est.source == "pointmaps" and est.stats["pose_source"] == "file poses"
    assert abs(est.intrinsics.focal - FOCAL) < 1e-3
    assert np.allclose(est.keyframe_T_wc, _relative(poses), atol=1e-9)
    # depth = z of the ray-cast point map at the grid pixels, background where something was hit
    obs = est.keyframes
    assert obs.depth.shape == (3, 30, 40) and obs.stride == 8
    truth, hit = _grid_truth(poses)
    rel = np.abs(obs.depth - truth)[obs.background] / truth[obs.background]
    assert np.mean(rel < 1e-5) > 0.98  # interpolated inverse depth: exact on planes; nearest at edges
    assert obs.background[hit].mean() > 0.97 and not obs.background[~hit].any()
    err = _match_errors(est, _relative(poses))
    assert len(err) > 1000 and np.median(err) < 1e-6 and np.mean(err < 1e-3) > 0.98
    assert err.max() < 0.035  # never worse than the depth-agreement test lets through
    assert (np.abs(est.correspondences.kf_a - est.correspondences.kf_b) <= 3).all()
    assert est.all_T_wc.shape == (3, 4, 4)


def test_poses_from_images_with_unknown_scales(views):
    """Per-map scales differ (as MASt3R's do); SIFT + PnP recovers poses, scales and matches."""
    poses, points, conf, rgb = views
    unit = np.array([1.0, 1.7, 0.6])
    scaled = points * unit[:, None, None, None]
    est = scene_from_pointmaps(validate_pointmaps({"points": scaled, "conf": conf, "rgb": rgb, "frame_ids": [0, 5, 10]}),
                               n_frames=11)  # fmt: skip
    assert est.stats["pose_source"] == "sift + pnp" and est.stats["unposed_keyframes"] == []
    assert np.allclose(est.stats["keyframe_scales"], 1 / unit, rtol=0.01)
    rel = _relative(poses)
    for k in (1, 2):
        R_err = np.degrees(np.arccos(np.clip((np.trace(est.keyframe_T_wc[k, :3, :3].T @ rel[k, :3, :3]) - 1) / 2, -1, 1)))
        assert R_err < 0.5 and np.linalg.norm(est.keyframe_T_wc[k, :3, 3] - rel[k, :3, 3]) < 0.02
    # depths are rescaled to the first map's unit
    obs = est.keyframes
    truth, _ = _grid_truth(poses)
    rel_depth = np.abs(obs.depth - truth)[obs.background] / truth[obs.background]
    assert np.mean(rel_depth < 0.005) > 0.98
    err = _match_errors(est, rel)
    assert len(err) > 1000 and np.median(err) < 0.005
    assert est.all_T_wc.shape == (11, 4, 4) and np.allclose(est.all_T_wc[5], est.keyframe_T_wc[1])


def test_poses_and_correspondences_from_file_matches(views):
    """MASt3R-style files: matches given, no poses; the matches themselves are the correspondences."""
    poses, points, conf, _ = views
    rel = _relative(poses)
    rng = np.random.default_rng(0)
    a_list, b_list, ua, ub = [], [], [], []
    for a, b in ((0, 1), (1, 2), (0, 2)):  # true matches: project a's pixels into b
        v, u = np.nonzero(conf[a] > 0)
        pick = rng.choice(len(u), 400, replace=False)
        uv = np.stack([u[pick], v[pick]], 1).astype(float)
        X = _world(rel[a], uv, points[a, v[pick], u[pick], 2])
        Y = (X - rel[b, :3, 3]) @ rel[b, :3, :3]
        q = np.stack([FOCAL * Y[:, 0] / Y[:, 2] + (SIZE[0] - 1) / 2, FOCAL * Y[:, 1] / Y[:, 2] + (SIZE[1] - 1) / 2], 1)
        qi = np.rint(q).astype(int)
        inside = (qi[:, 0] >= 0) & (qi[:, 0] < SIZE[0]) & (qi[:, 1] >= 0) & (qi[:, 1] < SIZE[1])
        inside[inside] &= np.abs(points[b, qi[inside, 1], qi[inside, 0], 2] - Y[inside, 2]) < 0.01 * Y[inside, 2]
        a_list.append(np.full(inside.sum(), a)), b_list.append(np.full(inside.sum(), b))
        ua.append(uv[inside]), ub.append(q[inside])
    unit = np.array([1.0, 2.0, 0.5])
    pm = validate_pointmaps({
        "points": points * unit[:, None, None, None], "conf": conf, "match_a": np.concatenate(a_list),
        "match_b": np.concatenate(b_list), "match_uv_a": np.concatenate(ua), "match_uv_b": np.concatenate(ub),
    })  # fmt: skip
    est = scene_from_pointmaps(pm)
    assert est.stats["pose_source"] == "file matches"
    assert np.allclose(est.stats["keyframe_scales"], 1 / unit, rtol=0.01)
    assert np.allclose(est.keyframe_T_wc[:, :3, 3], rel[:, :3, 3], atol=0.02)
    c = est.correspondences  # the file's matches, less the few whose pixel has no usable depth
    assert 0.98 * len(pm.matches.a) <= len(c) <= len(pm.matches.a)
    assert np.isin(c.uv_a[:, 0] + 1000 * c.uv_a[:, 1], pm.matches.uv_a[:, 0] + 1000 * pm.matches.uv_a[:, 1]).all()
    assert np.median(_match_errors(est, rel)) < 0.01


def test_person_pixels_are_never_scene_or_matched(views):
    poses, points, conf, _ = views
    person = np.zeros(conf.shape, bool)
    person[:, 120:, 140:200] = True
    est = scene_from_pointmaps(validate_pointmaps({"points": points, "conf": conf, "T_wc": poses, "person_mask": person}))
    obs, c = est.keyframes, est.correspondences
    assert not obs.background[:, 15:, 18:25].any() and obs.background[:, 15:, :15].any()
    for uv in (c.uv_a, c.uv_b):
        inside = (uv[:, 0] > 141) & (uv[:, 0] < 198) & (uv[:, 1] > 121)
        assert not inside.any()


def test_keyframe_subsets_and_missing_relations(views):
    poses, points, conf, _ = views
    pm = validate_pointmaps({"points": points, "conf": conf, "T_wc": poses, "frame_ids": [0, 5, 10]})
    est = scene_from_pointmaps(pm, keyframe_ids=[0, 10], image_size=(160, 120), config=PointMapConfig(stride=4))
    assert est.keyframes.frame_ids.tolist() == [0, 10] and est.keyframes.depth.shape == (2, 30, 40)
    assert abs(est.intrinsics.focal - FOCAL / 2) < 1e-3 and est.intrinsics.width == 160
    with pytest.raises(InputError, match="no point map"):
        scene_from_pointmaps(pm, keyframe_ids=[0, 7])
    with pytest.raises(InputError, match="nothing relates"):
        scene_from_pointmaps(validate_pointmaps({"points": points, "conf": conf}))
