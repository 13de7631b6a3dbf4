"""Generated worlds and simulated front-ends: the ground truth the benchmark measures against."""

import dataclasses

import numpy as np
import pytest

from josh.synth.config import NoiseConfig, SynthConfig
from josh.synth.frontend import simulate_frontends
from josh.synth.generate import generate_world, keyframe_ids

SMALL = SynthConfig(people=2, frames=30, keyframes=6, width=320, height=180, focal=256.0, depth_stride=4, seed=2)


@pytest.fixture(scope="module", params=["flat", "steps", "slope"])
def world(request, body):
    return generate_world(dataclasses.replace(SMALL, terrain=request.param), body)


def test_keyframes_cover_the_clip():
    k = keyframe_ids(100, 20)
    assert k[0] == 0 and k[-1] == 99 and len(k) == 20 and np.all(np.diff(k) > 0)
    assert list(keyframe_ids(3, 20)) == [0, 1, 2]


def test_walkers_stand_on_the_terrain_with_planted_feet(world):
    for person in world.people:
        assert person.contacts.any(1).mean() > 0.9  # a walker always has a foot down
        gap = world.world.surface_distance(person.contact_vertices[person.contacts])
        assert gap.max() < 0.02
        planted = person.contacts[:-1] & person.contacts[1:]
        step = np.linalg.norm(np.diff(person.contact_vertices, axis=0), axis=-1)[planted]
        assert np.median(step) < 0.002  # stance feet do not slide
        speed = np.linalg.norm(np.diff(person.root_transl[:, :2], axis=0), axis=-1).sum() / (len(person.frames) - 1) * world.fps
        assert 1.0 < speed < 1.7


def test_cameras_see_the_people_and_the_scene(world):
    assert world.keyframe_background.mean() > 0.5
    assert (~world.keyframe_background & (world.keyframe_depth > 0)).any()  # people occlude the scene
    R, c = world.T_wc[:, :3, :3], world.T_wc[:, :3, 3]
    for person in world.people:
        cam = np.einsum("tji,tj->ti", R, person.root_transl - c)
        assert (cam[:, 2] > 2.0).all()  # in front of the camera, not too close


def test_generation_is_deterministic(body):
    a = generate_world(SMALL, body)
    b = generate_world(SMALL, body)
    np.testing.assert_array_equal(a.T_wc, b.T_wc)
    np.testing.assert_array_equal(a.people[1].joints, b.people[1].joints)
    c = generate_world(dataclasses.replace(SMALL, seed=3), body)
    assert not np.allclose(a.T_wc, c.T_wc)


def test_error_free_front_ends_reproduce_the_truth(body):
    gt = generate_world(SMALL, body)
    inputs = simulate_frontends(gt, NoiseConfig.none(), body)
    assert inputs.intrinsics.focal == gt.intrinsics.focal
    valid = gt.keyframe_background
    np.testing.assert_allclose(inputs.keyframes.depth[valid], gt.keyframe_depth[valid], rtol=1e-5)
    rel = np.linalg.inv(gt.T_wc[0])[None] @ gt.T_wc[gt.keyframe_ids]
    np.testing.assert_allclose(inputs.keyframe_T_wc, rel, atol=1e-9)
    track = inputs.humans[0]
    truth = gt.people[0]
    R_cam = np.einsum("tji,tjk->tik", gt.T_wc[track.frames, :3, :3], truth.root_rotmat[track.frames])
    np.testing.assert_allclose(track.root_rotmat, R_cam, atol=1e-9)
    np.testing.assert_allclose(track.body_pose, truth.body_pose[track.frames], atol=1e-9)
    assert set(np.unique(track.contact_prob)) <= {0.1, 0.9}


def test_noise_knobs_do_what_they_say(body):
    gt = generate_world(SMALL, body)
    base = NoiseConfig.none()
    scaled = simulate_frontends(gt, dataclasses.replace(base, depth_scale_range=2.0, global_scale_range=3.0), body)
    ratio = np.array([np.median(scaled.keyframes.depth[k][gt.keyframe_background[k]] / gt.keyframe_depth[k][gt.keyframe_background[k]])
                      for k in range(len(gt.keyframe_ids))])  # fmt: skip
    assert ratio.min() >= 1 / 6 - 1e-6 and ratio.max() <= 6 + 1e-6 and ratio.std() > 0.05
    focal = simulate_frontends(gt, dataclasses.replace(base, focal_error=0.2), body).intrinsics.focal
    assert abs(focal / gt.intrinsics.focal - 1) <= 0.2 and focal != gt.intrinsics.focal
    flips = simulate_frontends(gt, dataclasses.replace(base, contact_flip=0.5), body).humans[0].contact_prob
    clean = simulate_frontends(gt, base, body).humans[0].contact_prob
    assert 0.2 < (flips != clean).mean() < 0.8
    outliers = simulate_frontends(gt, dataclasses.replace(base, match_outliers=0.3), body).correspondences
    exact = simulate_frontends(gt, base, body).correspondences
    assert len(outliers) == len(exact)
    moved = np.linalg.norm(outliers.uv_b - exact.uv_b, axis=1) > 1
    assert 0.2 < moved.mean() < 0.4
