"""The gait cycle's angles, Anny's leg axes, and the normative swings of the second optimisation."""

import numpy as np
import pytest
import torch

from josh.body.gait import TOE_OFF, normative_angles, swing_phase
from josh.perception.swing_prior import SwingPriorOptions, swing_runs, with_normative_swings
from josh.types import HumanTrack


def test_gait_cycle_bends_the_swing_knee_and_closes():
    phase = np.linspace(0, 1, 201)
    a = normative_angles(phase)
    for joint in ("hip", "knee", "ankle"):
        assert a[joint][0] == pytest.approx(a[joint][-1], abs=1e-9)  # periodic
    knee = np.degrees(a["knee"])
    swing, mid_stance = (phase > TOE_OFF) & (phase < 0.85), (phase > 0.3) & (phase < 0.45)
    assert knee[swing].max() > 55 and knee[mid_stance].max() < 10
    assert np.degrees(a["ankle"][np.argmin(abs(phase - 0.62))]) < -10  # plantarflexed at push-off
    hip = np.degrees(a["hip"])
    assert hip[0] > 15 and hip[np.argmin(abs(phase - 0.5))] < -10  # thigh forward at heel strike, back at push-off
    p = swing_phase(10)
    assert p[0] > TOE_OFF and p[-1] < 1.0 and np.all(np.diff(p) > 0)


def test_anny_sagittal_axes_bend_the_legs_as_named(body):
    rest = body.rest(torch.as_tensor(body.default_shape, dtype=torch.float32)[None])
    forward, up = body.forward_axis, body.up_axis

    def joints(pose):
        out = body.forward(rest, torch.zeros(1, dtype=torch.long), torch.eye(3)[None], torch.zeros(1, 3),
                           torch.as_tensor(pose, dtype=torch.float32)[None])  # fmt: skip
        return out.joints[0].double().numpy()

    zero = np.zeros((body.n_pose_bones, 3))
    base = joints(zero)
    names = body.joint_names
    for side, tag in (("left", "L"), ("right", "R")):
        knee, ankle, toe = (names.index(f"{b}.{tag}") for b in ("lowerleg01", "foot", "toe3-1"))
        for joint, moved, direction in (("hip", knee, forward), ("knee", ankle, -forward), ("ankle", toe, up)):
            bone, component, sign = body.sagittal_legs[side][joint]
            pose = zero.copy()
            pose[bone, component] = sign * 0.4  # 0.4 rad of flexion (dorsiflexion at the ankle)
            shift = joints(pose)[moved] - base[moved]
            assert shift @ direction > 0.02, (side, joint, shift)


def _track(body, planted_left, planted_right, frames=None):
    T = len(planted_left)
    n_contact = 1 + max(int(np.max(v)) for v in body.contact_sets.values())
    prob = np.zeros((T, n_contact))
    for side, planted in (("left", planted_left), ("right", planted_right)):
        prob[np.ix_(np.asarray(planted, bool), body.contact_sets[f"{side}_heel"])] = 0.9
    pose = np.full((T, body.n_pose_bones, 3), 0.05)
    return HumanTrack(person_id=0, frames=np.arange(T) if frames is None else frames, root_rotmat=np.eye(3)[None].repeat(T, 0),
                      root_transl=np.zeros((T, 3)), body_pose=pose, shape=body.default_shape.copy(),
                      keypoints2d=np.zeros((T, 23, 2)), keypoints_conf=np.zeros((T, 23)), contact_prob=prob, focal_assumed=500.0)  # fmt: skip


def test_swings_between_plants_take_the_gait_cycle(body):
    T = 40
    left = np.ones(T, bool)
    left[10:22] = False  # a 12-frame swing between two plants
    right = np.zeros(T, bool)
    right[5:31] = True  # the other foot planted throughout it; its own lifted runs touch the track's ends
    track = _track(body, left, right)
    out = with_normative_swings(track, body, 30.0)
    hip, knee, ankle = (body.sagittal_legs["left"][j] for j in ("hip", "knee", "ankle"))
    changed = np.flatnonzero((out.body_pose != track.body_pose).any((1, 2)))
    assert changed.min() == 10 and changed.max() == 21
    bend = np.degrees(knee[2] * out.body_pose[10:22, knee[0], knee[1]])
    assert 55 < bend.max() < 65 and bend.argmax() in range(2, 6)  # the swing's knee peak comes early
    assert bend[-1] < 15  # nearly straight for the heel strike
    others = [b for b in range(body.n_pose_bones) if b not in (hip[0], knee[0], ankle[0])]
    np.testing.assert_array_equal(out.body_pose[:, others], track.body_pose[:, others])
    np.testing.assert_array_equal(out.body_pose[10:22, knee[0], 1:], track.body_pose[10:22, knee[0], 1:])  # flexion only


def test_lifted_runs_that_are_not_one_swing_are_left_alone(body):
    T = 40
    left = np.ones(T, bool)
    left[10:22] = False
    alone = np.zeros(T, bool)  # neither foot planted: a missed plant as often as a swing
    assert swing_runs({"left": left, "right": alone}, np.arange(T), 30.0, SwingPriorOptions())["left"] == []
    right = np.ones(T, bool)
    assert swing_runs({"left": left, "right": right}, np.arange(T), 30.0, SwingPriorOptions())["left"] == [slice(10, 22)]
    long_gap = np.ones(T, bool)
    long_gap[5:30] = False  # 25 frames: longer than a swing at 30 fps, one at 60 fps
    assert swing_runs({"left": long_gap, "right": right}, np.arange(T), 30.0, SwingPriorOptions())["left"] == []
    assert swing_runs({"left": long_gap, "right": right}, np.arange(T), 60.0, SwingPriorOptions())["left"] == [slice(5, 30)]
    frames = np.r_[np.arange(0, 15), np.arange(25, 50)]  # the track is not seen in frames 15-24
    assert swing_runs({"left": left, "right": right}, frames, 30.0, SwingPriorOptions())["left"] == []  # cut by the gap


def test_body_models_without_leg_axes_keep_their_poses(body):
    class NoAxes:
        contact_sets = body.contact_sets

    track = _track(body, np.r_[np.ones(10), np.zeros(10), np.ones(10)], np.ones(30))
    assert with_normative_swings(track, NoAxes(), 30.0) is track
