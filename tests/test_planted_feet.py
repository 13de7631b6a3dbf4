"""Contacts from what the video shows: foot keypoints cast on the ground, planted when they stay put."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from josh.geometry.world_frame import apply_world_transform, rigid_inverse
from josh.perception.contacts import PlantedOptions, cast_on_ground, contacts_from_video, planted_runs
from josh.pipeline.report import plausibility
from josh.testing.reconstruction import synthetic_reconstruction
from josh.types import HumanTrack

FPS = 30.0


def _gait(n: int, rng, noise: float = 0.005) -> tuple[np.ndarray, np.ndarray]:
    """A foot's ground track: planted 12 frames, swinging 0.7 m in 6 frames (3.5 m/s), planted
    12 frames, ... with `noise` m of jitter; and the truth (planted frames)."""
    x, planted, pos, t = np.zeros(n), np.zeros(n, bool), 0.0, 0
    while t < n:
        for _ in range(12):
            if t < n:
                x[t], planted[t], t = pos, True, t + 1
        for _ in range(6):
            if t < n:
                pos += 0.7 / 6
                x[t], t = pos, t + 1
    track = np.c_[x, np.zeros(n), np.zeros(n)] + rng.normal(0, noise, (n, 3)) * [1, 1, 0]
    return track, planted


def test_planted_runs_find_the_plants_of_a_noisy_gait():
    rng = np.random.default_rng(0)
    track, truth = _gait(90, rng)
    found = planted_runs(track, np.arange(90) / FPS, np.ones(90, bool), PlantedOptions())
    # the swing starts and ends slowly after the 3-frame median: allow a frame at each end of a plant
    assert (found & truth).sum() >= truth.sum() - 2 * 5 and (found & ~truth).sum() <= 2 * 5
    assert not found[~truth][2:-2].all()  # swings are never all called planted
    # unseen frames are never planted; a run cut by them below `min_frames` is dropped
    seen = np.ones(90, bool)
    seen[::2] = False
    assert not planted_runs(track, np.arange(90) / FPS, seen, PlantedOptions()).any()


def test_a_slow_drift_is_cut_into_short_anchored_runs():
    n = 60
    drift = np.c_[np.arange(n) * 0.5 / FPS, np.zeros(n), np.zeros(n)]  # 0.5 m/s: under still_speed
    o = PlantedOptions()
    found = planted_runs(drift, np.arange(n) / FPS, np.ones(n, bool), o)
    starts = np.flatnonzero(np.diff(np.r_[0, found.astype(int)]) == 1)
    ends = np.flatnonzero(np.diff(np.r_[found.astype(int), 0]) == -1)
    assert len(starts) >= 2 and not found.all()  # the drift does not pass as one long plant
    for a, b in zip(starts, ends):  # no run spans more than twice the anchor radius
        assert drift[b, 0] - drift[a, 0] <= 2 * o.anchor_radius + 1e-9


def test_a_short_occlusion_does_not_end_a_plant():
    """Frames where the part is not seen say nothing; the frames beside them stay planted (they
    were read as a jump of metres to the origin)."""
    ground = np.tile([5.0, 3.0, 0.0], (20, 1)) + np.random.default_rng(1).normal(0, 0.003, (20, 3))
    seen = np.ones(20, bool)
    seen[8:10] = False
    ground[8:10] = np.nan
    found = planted_runs(ground, np.arange(20) / FPS, seen, PlantedOptions())
    np.testing.assert_array_equal(found, seen)


def test_cast_on_ground_meets_the_local_ground():
    from scipy.spatial import cKDTree

    from josh.types import Intrinsics

    intr = Intrinsics.centred(500.0, 640, 480)
    # a camera 1.6 m up, looking along +y and pitched 20 degrees down (OpenCV axes: x right, y down, z ahead)
    a = np.deg2rad(20)
    R = np.array([[1, 0, 0], [0, -np.sin(a), np.cos(a)], [0, -np.cos(a), -np.sin(a)]])
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, [0, 0, 1.6]
    g = np.arange(-3, 3, 0.05)
    gx, gy = np.meshgrid(g, g + 5)
    step = np.c_[gx.ravel(), gy.ravel(), np.where(gy.ravel() > 5, 0.15, 0.0)]  # a 15 cm step at y = 5
    targets = np.array([[0.3, 4.0, 0.0], [-0.5, 6.5, 0.15]])
    x = (targets - T[:3, 3]) @ R
    uv = np.c_[intr.focal * x[:, 0] / x[:, 2] + intr.cx, intr.focal * x[:, 1] / x[:, 2] + intr.cy]
    got = cast_on_ground(uv, np.stack([T, T]), intr, step, cKDTree(step[:, :2]), 30)
    np.testing.assert_allclose(got, targets, atol=0.01)
    sky = np.array([[320.0, 0.0]])  # a ray above the horizon never reaches the ground
    assert np.isnan(cast_on_ground(sky, T[None], intr, step, cKDTree(step[:, :2]), 30)).all()


def _walker_seen_by_the_camera(body, n=60, toes=False):
    """The synthetic reconstruction's first walker with a 2D track whose heels follow a gait on
    the ground (projected through the reconstruction's cameras), toes unseen (confidence 0); with
    `toes`, the big toes follow the same gait 0.2 m ahead, seen, and the small toes are the big
    toes' low-confidence copies (what a one-toe-point detector gives)."""
    internal, world_to_internal = synthetic_reconstruction(body, n_frames=n, n_people=1)
    world = apply_world_transform(internal, rigid_inverse(world_to_internal))
    g = np.arange(-4.0, 8.0, 0.1)
    gx, gy = np.meshgrid(g, g)
    ground = np.c_[gx.ravel(), gy.ravel(), np.zeros(gx.size)]
    world = dataclasses.replace(world, scene_points=ground, scene_colors=np.zeros((len(ground), 3), np.uint8))
    person = world.people[0]
    rng = np.random.default_rng(1)
    start = person.root_transl[0] * [1, 1, 0]
    heading = person.root_transl[-1] - person.root_transl[0]
    heading = heading * [1, 1, 0] / np.linalg.norm(heading[:2])
    side = np.cross([0, 0, 1.0], heading)
    left, left_truth = _gait(n, rng, noise=0.0)
    right, right_truth = _gait(n + 9, rng, noise=0.0)  # half a cycle later
    right, right_truth = right[9:], right_truth[9:]
    names = list(body.keypoint_names)
    kp, conf = np.zeros((n, len(names), 2)), np.zeros((n, len(names)))
    points = [("left_heel", left, 0.12, 0.0, 1.0), ("right_heel", right, -0.12, 0.0, 1.0)]
    if toes:
        points += [(f"{s}_{toe}", t, o, 0.2, c) for s, t, o in (("left", left, 0.12), ("right", right, -0.12))
                   for toe, c in (("big_toe", 1.0), ("small_toe", 0.1))]  # fmt: skip
    for name, track, offset, ahead, confidence in points:
        X = start + (track[:, :1] + ahead) * heading + offset * side
        T = world.T_wc[person.frames]
        x = np.einsum("nji,nj->ni", T[:, :3, :3], X - T[:, :3, 3])
        f, cx, cy = world.intrinsics.focal, world.intrinsics.cx, world.intrinsics.cy
        kp[:, names.index(name)] = np.c_[f * x[:, 0] / x[:, 2] + cx, f * x[:, 1] / x[:, 2] + cy]
        conf[:, names.index(name)] = confidence
    track = HumanTrack(person_id=person.person_id, frames=person.frames, root_rotmat=np.zeros((n, 3, 3)),
                       root_transl=np.zeros((n, 3)), body_pose=np.zeros((n, body.n_pose_bones, 3)),
                       shape=person.shape, keypoints2d=kp, keypoints_conf=conf,
                       contact_prob=np.zeros_like(person.contacts), focal_assumed=world.intrinsics.focal)  # fmt: skip
    internal = apply_world_transform(world, world_to_internal)
    return internal, world, track, left_truth, right_truth


def test_contacts_from_video_follow_the_heels_the_video_shows(body):
    internal, _, track, left_truth, right_truth = _walker_seen_by_the_camera(body)
    prob = contacts_from_video([track], internal, body)[0]
    for side, truth in (("left", left_truth), ("right", right_truth)):
        for part in ("heel", "toes", "sole"):  # unseen toes follow the heel of their foot
            planted = (prob[:, body.contact_sets[f"{side}_{part}"]] > 0.5).all(1)
            assert (planted == truth).mean() >= 0.85, (side, part)
    # a track of another person's frames is left as it was
    other = dataclasses.replace(track, person_id=99, contact_prob=np.full_like(track.contact_prob, 0.25))
    assert np.all(contacts_from_video([other], internal, body)[0] == 0.25)


def test_toes_are_seen_through_their_visible_keypoint(body):
    from josh.perception.contacts import planted_feet

    _, world, track, left_truth, right_truth = _walker_seen_by_the_camera(body, toes=True)
    parts = planted_feet(track, world, body)
    for side, truth in (("left", left_truth), ("right", right_truth)):
        toes = parts[f"{side}_toes"]
        assert np.isfinite(toes).all(), side  # one visible toe point is enough to see the toes
        assert ((toes > 0.5) == truth).mean() >= 0.85, side


def test_report_measures_sliding_of_the_feet_the_video_shows_planted(body):
    _, world, track, _, _ = _walker_seen_by_the_camera(body)
    p = plausibility(world, body, [track])["people"][0]
    # the synthetic walker glides at 1.2 m/s with its feet fixed to the body: every planted
    # part slides 40 mm per frame, whatever the video says
    assert p["fs_planted_mm"] == pytest.approx(40.0, rel=0.02)
    assert 0.5 < p["planted_frames"] <= 1.0
    assert plausibility(world, body)["people"][0]["fs_planted_mm"] is None  # no 2D track: not measured


@pytest.mark.parametrize("toes", [False, True])
def test_footprints_give_the_speed_of_the_gait_not_of_the_body(body, toes):
    """The heels (and toes, 0.2 m ahead of them) step 0.7 m every 18 frames: 1.17 m/s, whatever
    the fitted body does (it glides at 1.2 m/s); the fixed gaps between the parts' prints are
    not motion."""
    from josh.perception.contacts import cast_foot_parts, footprint_velocity

    _, world, track, _, _ = _walker_seen_by_the_camera(body, toes=toes)
    p = plausibility(world, body, [track])["people"][0]
    assert p["speed_footprints_mps"] == pytest.approx(0.7 * FPS / 18, rel=0.01)  # not 1.2
    assert p["speed_mps"] == pytest.approx(1.2, rel=0.01)
    parts = cast_foot_parts(track, world, body)
    once = {name: dataclasses.replace(part, planted=part.planted & (np.cumsum(np.diff(np.r_[0, part.planted.astype(int)]) == 1) <= 1))
            for name, part in parts.items()}  # fmt: skip
    assert footprint_velocity(once) is None  # every part planted once: offsets and motion are confounded
