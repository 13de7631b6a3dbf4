"""People scaled onto one ground (`josh.perception.one_ground`), on a still camera's synthetic world."""

import dataclasses

import numpy as np
import pytest

from josh.body.protocol import shape_with_stature, standing_height
from josh.interop.official_results import people_in_world
from josh.perception.one_ground import place_on_one_ground, size_on_ground
from josh.synth.config import NoiseConfig, SynthConfig
from josh.synth.frontend import simulate_frontends, toward_average_adults
from josh.synth.generate import generate_world

EXACT = NoiseConfig(focal_error=0.0, pose_noise_deg=0.0, pose_jitter_deg=0.0, root_rot_noise_deg=0.0, root_depth_noise=0.0,
                    shape_noise=0.0, keypoint_noise_px=0.0, contact_flip=0.0)  # fmt: skip


@pytest.fixture(scope="module")
def still_world(body):
    """(truth, exact camera-frame tracks) of three walkers of different statures seen by a still camera."""
    gt = generate_world(SynthConfig(people=3, frames=40, seed=3, still_camera=True), body)
    return gt, simulate_frontends(gt, EXACT, body, seed=3).humans


def _depth_ratios(humans, truth):
    return np.array([np.median(h.root_transl[:, 2] / t.root_transl[:, 2]) for h, t in zip(humans, truth)])


def test_a_still_world_keeps_its_camera_and_its_people_differ_in_size(still_world, body):
    gt, truth = still_world
    assert np.allclose(gt.T_wc, gt.T_wc[0])
    statures = [standing_height(body, h.shape) for h in truth]
    assert max(statures) / min(statures) > 1.05  # the test below means something


def test_people_the_body_fit_sized_alike_are_put_back_on_one_ground(still_world, body):
    gt, truth = still_world
    guessed = toward_average_adults(truth, body)
    before = _depth_ratios(guessed, truth)
    assert before.max() / before.min() > 1.15  # tall people too near, short ones too far
    placed, plane = place_on_one_ground(guessed, body)
    after = _depth_ratios(placed, truth)
    # what is left is the ground's tilt (0.75 degrees: the bodies' up, refined by their contacts)
    # over the people's different distances
    assert after.max() / after.min() < 1.03
    # their sizes follow: statures in the truth's proportions
    true_h = np.array([standing_height(body, h.shape) for h in truth])
    placed_h = np.array([standing_height(body, h.shape) for h in placed])
    assert np.ptp(np.log(placed_h / true_h)) < 0.03
    # everyone's in-contact feet on the plane
    for person in people_in_world(placed, np.repeat(np.eye(4)[None], gt.n_frames, 0), body):
        assert abs(size_on_ground(person, plane) - 1.0) < 0.01
    # the pixels stay (the body's proportions change a little with its stature)
    for g, p in zip(guessed, placed):
        assert np.allclose(g.root_transl / g.root_transl[:, 2:], p.root_transl / p.root_transl[:, 2:])


def test_people_already_on_one_ground_keep_their_size(still_world, body):
    _, truth = still_world
    placed, _ = place_on_one_ground(truth, body)
    ratios = _depth_ratios(placed, truth)
    assert np.abs(ratios - np.median(ratios)).max() < 0.01


def test_a_person_with_too_few_contacts_keeps_their_size(still_world, body):
    _, truth = still_world
    guessed = toward_average_adults(truth, body)
    floating = dataclasses.replace(guessed[0], contact_prob=np.zeros_like(guessed[0].contact_prob))
    placed, _ = place_on_one_ground([floating, *guessed[1:]], body)
    assert np.array_equal(placed[0].root_transl, floating.root_transl)
    assert np.array_equal(placed[0].shape, floating.shape)


def test_shape_with_stature_reaches_the_target_within_bounds(body):
    shape = np.asarray(body.default_shape, np.float64)
    h = standing_height(body, shape)
    for target in (h * 0.9, h * 1.12):
        s = shape_with_stature(body, shape, target)
        assert abs(standing_height(body, s) - target) < 0.003
        assert s.min() >= body.shape_bounds[0] and s.max() <= body.shape_bounds[1]
