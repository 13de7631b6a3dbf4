"""The joint optimiser's losses and solver on a tiny generated world.

With error-free simulated front-ends the variables start at the ground truth: each data term is
(near) zero there, and moving one variable away makes the term positive with a gradient that
pushes back. A small end-to-end run with noisy front-ends must recover the metric scale and the
focal within a few percent.
"""

import dataclasses

import numpy as np
import pytest
import torch

from josh.body.protocol import standing_height
from josh.optimize import OptimConfig, Phase, reconstruct
from josh.optimize import losses
from josh.optimize.problem import build_problem
from josh.optimize.variables import Variables, derive
from josh.synth.config import NoiseConfig, SynthConfig
from josh.synth.frontend import simulate_frontends, toward_average_adults
from josh.synth.generate import generate_world

TINY = SynthConfig(terrain="flat", people=1, frames=24, keyframes=6, width=320, height=180, focal=256.0,
                   depth_stride=4, seed=3)  # fmt: skip


@pytest.fixture(scope="module")
def tiny(body):
    gt = generate_world(TINY, body)
    exact = simulate_frontends(gt, NoiseConfig.none(), body, seed=TINY.seed)
    return gt, exact


def _state(body, inputs, **config):
    cfg = OptimConfig(**config)
    p = build_problem(inputs, cfg)
    return p, Variables(p), cfg


def _value_and_grad(term, v, param):
    param.grad = None
    value = term()
    value.backward()
    return float(value.detach()), param.grad.clone()


def test_scene_terms_zero_at_truth_and_push_back(body, tiny):
    _, exact = tiny
    p, v, cfg = _state(body, exact)
    d = derive(v, p, body, scene=True, people=False)
    assert float(losses.scene_3d(p, d, cfg).detach()) < 1e-6
    assert float(losses.scene_2d(p, d, cfg).detach()) < 1e-6
    with torch.no_grad():
        v.log_scale[2] += 0.1  # keyframe 2's depths 10% too deep
    value, grad = _value_and_grad(lambda: losses.scene_3d(p, derive(v, p, body, True, False), cfg), v, v.log_scale)
    assert value > 1e-3 and grad[2] > 0  # gradient descent lowers the scale again
    with torch.no_grad():
        v.log_scale[2] -= 0.1
        v.log_focal += 0.05
    value, grad = _value_and_grad(lambda: losses.scene_2d(p, derive(v, p, body, True, False), cfg), v, v.log_focal)
    assert value > 1e-3 and grad[0] > 0


def test_people_terms_zero_at_truth_and_push_back(body, tiny):
    _, exact = tiny
    p, v, cfg = _state(body, exact)
    d = derive(v, p, body, scene=False, people=True, metric=True)
    assert float(losses.prior(p, v, cfg).detach()) == 0.0
    assert float(losses.keypoints_2d(p, d, cfg).detach()) < 1e-6
    assert float(losses.contact_stillness(p, d, cfg).detach()) < 0.2  # true contacts move < 1 cm per frame
    c1_truth = float(losses.contact_alignment(p, d, cfg).detach())
    assert c1_truth < 0.1  # contact vertices within ~1.5 cm of the surface under them

    def push_row_deeper(amount):
        with torch.no_grad():
            v.root_transl[:, 2] += amount

    push_row_deeper(0.3)  # the person floats 30 cm behind the ground they stand on
    value, grad = _value_and_grad(lambda: losses.contact_alignment(p, derive(v, p, body, False, True, metric=True), cfg),
                                  v, v.root_transl)  # fmt: skip
    assert value > 3 * c1_truth and grad[:, 2].sum() > 0
    value, grad = _value_and_grad(lambda: losses.prior(p, v, cfg), v, v.root_transl)
    assert value > 0 and (grad[:, 2] > 0).all()
    push_row_deeper(-0.3)
    with torch.no_grad():
        v.root_transl[:, 0] += 0.1  # 10 cm to the right: keypoints land off their detections
    value, grad = _value_and_grad(lambda: losses.keypoints_2d(p, derive(v, p, body, False, True), cfg), v, v.root_transl)
    assert value > 0.1 and grad[:, 0].sum() > 0
    with torch.no_grad():
        v.root_transl[:, 0] -= 0.1
        v.root_transl[1::2, 0] += 0.05  # every other frame jumps sideways: feet slide, joints jerk
    d = derive(v, p, body, False, True)
    assert float(losses.contact_stillness(p, d, cfg).detach()) > 1.0
    assert float(losses.smoothness(p, d, cfg).detach()) > float(losses.smoothness(p, derive(v, p, body, False, True), cfg).detach()) - 1e-9


def test_contact_partners_find_the_ground(body, tiny):
    gt, exact = tiny
    p, v, cfg = _state(body, exact)
    d = derive(v, p, body, scene=False, people=True, metric=True)
    x_k, z_scene, ok, _, normal = losses.contact_partners(p, d, cfg)
    assert ok.float().mean() > 0.5  # most contacts find a background partner passing the checks
    height = ((x_k[:, 2] - z_scene) * (normal * x_k).sum(-1) / x_k[:, 2])[ok]
    assert height.abs().median() < 0.02  # true contacts sit within 2 cm of the ground found behind them
    assert (normal[ok] @ torch.tensor([0.0, -1.0, 0.0])).median() > 0.9  # ground normal ~ camera up


def test_solver_is_deterministic_and_vectorised_over_people(body, tiny):
    _, exact = tiny
    fast = OptimConfig(scene_phase=Phase(5, 0.02, True, True), coarse=Phase(5, 0.02, False, False),
                       fine=Phase(5, 0.005, True, True))  # fmt: skip
    a = reconstruct(exact, body, fast)
    b = reconstruct(exact, body, fast)
    np.testing.assert_array_equal(a.T_wc, b.T_wc)
    np.testing.assert_array_equal(a.people[0].joints, b.people[0].joints)


def test_no_people_gives_scene_with_warning(body, tiny):
    _, exact = tiny
    alone = dataclasses.replace(exact, humans=[])
    recon = reconstruct(alone, body, OptimConfig(scene_phase=Phase(20, 0.02, True, True)))
    assert recon.people == [] and recon.T_wc.shape == (TINY.frames, 4, 4)
    assert any("not metric" in w for w in recon.metadata["warnings"])


def test_scene_without_correspondences_still_optimises_people(body, tiny):
    """The ground-plane fallback has depth but no matches: the scene phase has nothing to do."""
    from josh.synth.frontend import _empty_correspondences

    _, exact = tiny
    plane_only = dataclasses.replace(exact, correspondences=_empty_correspondences())
    fast = OptimConfig(scene_phase=Phase(5, 0.02, True, True), coarse=Phase(5, 0.02, False, False),
                       fine=Phase(5, 0.005, True, True))  # fmt: skip
    recon = reconstruct(plane_only, body, fast)
    assert len(recon.people) == 1 and np.isfinite(recon.people[0].joints).all()


def test_a_static_camera_stays_where_the_front_end_put_it(body, tiny):
    """Without scene matches only the people could move the camera (the fallback of a camera whose
    frames do not move): a known-static camera keeps its poses, a free one drifts."""
    from josh.synth.frontend import _empty_correspondences

    gt, _ = tiny
    noisy = simulate_frontends(gt, NoiseConfig(), body, seed=1)
    still = np.repeat(np.eye(4)[None], len(noisy.keyframe_T_wc), 0)
    plane_only = dataclasses.replace(noisy, correspondences=_empty_correspondences(), keyframe_T_wc=still, frame_T_wc=None)
    fast = OptimConfig(scene_phase=Phase(0, 0.02, True, True), coarse=Phase(30, 0.02, False, False),
                       fine=Phase(20, 0.005, True, True))  # fmt: skip
    free = reconstruct(plane_only, body, fast)
    held = reconstruct(dataclasses.replace(plane_only, static_camera=True), body, fast)
    assert np.linalg.norm(free.T_wc[:, :3, 3], axis=1).max() > 1e-3
    np.testing.assert_allclose(held.T_wc, np.repeat(np.eye(4)[None], TINY.frames, 0), atol=1e-6)
    assert len(held.people) == 1 and np.isfinite(held.people[0].joints).all()


NO_ITERATIONS = OptimConfig(scene_phase=Phase(0, 0.02, True, True), coarse=Phase(0, 0.02, False, False),
                            fine=Phase(0, 0.005, True, True))  # fmt: skip
"""Set-up only (the global scale and the sizes), no optimisation step: what the sizing alone does."""


@pytest.fixture(scope="module")
def three_statures(body):
    """A moving camera's world with three walkers of different statures: the exact front-ends, and
    the same with everyone made the average adult at the distance that keeps their pixels."""
    cfg = dataclasses.replace(TINY, people=3, seed=3)
    exact = simulate_frontends(generate_world(cfg, body), NoiseConfig.none(), body, seed=cfg.seed)
    return exact, dataclasses.replace(exact, humans=toward_average_adults(exact.humans, body))


def _statures(body, humans) -> np.ndarray:
    return np.array([standing_height(body, h.shape) for h in humans])


@pytest.mark.parametrize("method", ["josh", "no_sizes"])
def test_contacts_with_the_scene_give_each_person_their_size(body, three_statures, method):
    """Before the people move, each person is rescaled so that their contacts meet the scene: the
    statures come back in the truth's proportions (the middle person keeps about their size);
    without the step everyone stays the average adult."""
    exact, alike = three_statures
    truth = _statures(body, exact.humans)
    assert np.ptp(np.log(truth)) > 0.05  # the people differ in size: the test means something
    recon = reconstruct(alike, body, NO_ITERATIONS, method=method)
    found = _statures(body, recon.people)
    if method == "josh":
        assert np.ptp(np.log(found / truth)) < 0.02, (found, truth)
        sizes = [recon.metadata["losses"][f"size/{p.person_id}"] for p in recon.people]
        assert abs(np.median(sizes) - 1.0) < 0.01  # the world's scale stays the people's average
    else:
        np.testing.assert_allclose(found, _statures(body, alike.humans))


def test_sizes_beyond_adult_statures_leave_everyone_as_fitted(body, three_statures):
    """A person whose contacts would make them 40% larger than the others says the scene and the
    people disagree: nobody is resized, and the run says why."""
    from josh.perception.one_ground import scaled_track

    _, alike = three_statures
    humans = [scaled_track(alike.humans[0], 1 / 1.4, body), *alike.humans[1:]]
    recon = reconstruct(dataclasses.replace(alike, humans=humans), body, NO_ITERATIONS)
    np.testing.assert_allclose(_statures(body, recon.people), _statures(body, humans))
    assert any("disagree beyond adult statures" in w for w in recon.metadata["warnings"])
    assert not any(k.startswith("size/") for k in recon.metadata["losses"])


@pytest.mark.slow
def test_end_to_end_recovers_scale_and_focal(body):
    """A small noisy world (2 people, 40 frames): the metric scale (up to 3x off to start with)
    and the focal (off by up to 20%) come back within a few percent (measured 2-6% over seeds
    5-8; without the contact terms the scale error is tens of percent)."""
    from josh.bench.scoring import score

    cfg = dataclasses.replace(TINY, people=2, frames=40, keyframes=8, width=480, height=270, focal=384.0,
                              depth_stride=8, seed=6)  # fmt: skip
    gt = generate_world(cfg, body)
    noisy = simulate_frontends(gt, NoiseConfig(), body, seed=cfg.seed)
    recon = reconstruct(noisy, body)
    s = score(recon, gt)
    assert s["scale_err"] < 0.08, s
    assert s["focal_err"] < 0.08, s
    assert s["ffr"] < 0.05, s


def test_smoothness_sees_a_jittering_root_turn():
    """The root's world orientation is smoothed on its own: a root that shakes about its vertical
    axis while the joints stay put costs, a steady turn costs (almost) nothing."""
    import roma
    from types import SimpleNamespace

    n, fps = 12, 30.0
    p = SimpleNamespace(row_next_ok=torch.ones(n - 1, dtype=torch.bool), row_dt=torch.full((n - 1,), 1 / fps))
    joints = torch.zeros(n, 24, 3)
    cfg = OptimConfig()

    def cost(yaw):
        R = roma.rotvec_to_rotmat(torch.stack([torch.zeros(n), torch.zeros(n), yaw], 1))
        return float(losses.smoothness(p, SimpleNamespace(joints_world=joints, root_R_world=R, focal=torch.ones(())), cfg))

    steady = cost(torch.arange(n) * 0.05)  # 1.5 rad/s, no angular acceleration
    shaking = cost(0.05 * (-1.0) ** torch.arange(n))  # +-3 degrees every frame
    assert steady < 1e-3 and shaking > 100 * max(steady, 1e-6)


def test_lowest_foot_stillness_small_for_a_true_walker_and_sees_a_sliding_body(body, tiny):
    """L_skate on the generated walker (stance feet roll without sliding, swing feet lifted): small
    at the truth, large once the whole body slides; off without an up direction."""
    from josh.body.protocol import foot_candidates

    gt, exact = tiny
    up = np.linalg.inv(gt.T_wc[0])[:3, :3] @ np.array([0.0, 0.0, 1.0])  # the inputs live in camera 0's frame
    cfg = OptimConfig(w_skate=1.0)
    p = build_problem(dataclasses.replace(exact, up=up), cfg, feet=foot_candidates(body))
    v = Variables(p)
    truth = float(losses.lowest_foot_stillness(p, derive(v, p, body, False, True), cfg).detach())
    with torch.no_grad():
        v.root_transl[:, 0] += 0.03 * torch.arange(len(v.root_transl), dtype=v.root_transl.dtype)  # +3 cm per frame
    sliding = float(losses.lowest_foot_stillness(p, derive(v, p, body, False, True), cfg).detach())
    # not zero at the truth: swing toes 2.5 cm up still weigh exp(-2.5 / 3) of the lowest point
    assert truth < 0.3 * sliding and sliding > 0.5
    unknown = build_problem(exact, cfg, feet=foot_candidates(body))
    assert float(losses.lowest_foot_stillness(unknown, derive(Variables(unknown), unknown, body, False, True), cfg)) == 0.0


def test_lowest_foot_stillness_lets_a_sliding_foot_rise(body):
    """The weights are not detached: a foot that slides while lowest can also lower the term by
    rising (a swing foot clears the ground), not only by stopping."""
    from types import SimpleNamespace

    cfg = OptimConfig()
    frames = 6
    still = torch.zeros(frames, 1, 3)
    sliding = torch.stack([torch.tensor([[0.05 * t, 0.3, 0.0]]) for t in range(frames)]).requires_grad_(True)
    X = torch.cat([still, sliding], 1)  # foot point 0 stands, point 1 slides beside it at the same height
    p = SimpleNamespace(up=torch.tensor([0.0, 0.0, 1.0]), feet=torch.tensor([0, 1]), row_adjacent=torch.ones(frames - 1, dtype=torch.bool))
    d = SimpleNamespace(contacts_world=X, focal=torch.ones(1))
    value = losses.lowest_foot_stillness(p, d, cfg)
    value.backward()
    assert value > 0.5 and (sliding.grad[:, 0, 2] < 0).all()  # descent raises the sliding point
    lifted = X.detach().clone()
    lifted[:, 1, 2] += 0.15  # the same slide 15 cm up: a swing, barely counted
    assert float(losses.lowest_foot_stillness(p, SimpleNamespace(contacts_world=lifted, focal=d.focal), cfg)) < 0.05 * float(value.detach())
