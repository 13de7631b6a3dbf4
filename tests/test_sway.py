"""The stance foot from the pelvis's sideways sway, and the plant labels it fills."""

import numpy as np
import pytest

from josh.body.protocol import foot_candidates
from josh.perception.sway import SwayOptions, fill_unplanted, stance_from_sway
from josh.types import PersonResult

FPS = 30.0
STRIDE = 1.1  # s


def walker(root_xy: np.ndarray, frames: np.ndarray | None = None) -> PersonResult:
    T = len(root_xy)
    return PersonResult(person_id=0, frames=np.arange(T) if frames is None else frames, root_rotmat=np.tile(np.eye(3), (T, 1, 1)),
                        root_transl=np.c_[root_xy, np.full(T, 0.9)], body_pose=np.zeros((T, 1, 3)), shape=np.zeros(1),
                        joints=np.zeros((T, 1, 3)), foot_vertices=np.zeros((T, 4, 3)), contact_vertices=np.zeros((T, 1, 3)),
                        contacts=np.zeros((T, 1)))  # fmt: skip


def curved_walk(sway_m: float, T: int = 120, speed: float = 1.2, radius: float = 8.0):
    """Ground positions of a walker on a left-turning arc, swaying `sway_m` to the left of it at
    the stride's rate (positive half-cycles: left), and that sway per frame."""
    t = np.arange(T) / FPS
    angle = speed * t / radius
    centre = np.c_[radius * np.sin(angle), radius * (1 - np.cos(angle))]
    left = np.c_[-np.sin(angle), np.cos(angle)]  # z x the direction of travel
    sway = sway_m * np.sin(2 * np.pi * t / STRIDE)
    return centre + sway[:, None] * left, sway


def test_sway_names_the_foot_under_a_turning_walker():
    xy, sway = curved_walk(0.03)
    stance = stance_from_sway(walker(xy), FPS, SwayOptions(stride_seconds=STRIDE))
    left, right = stance["left"], stance["right"]
    assert not (left & right).any()
    assert_sides_match(stance, sway)
    inner = slice(20, -20)
    assert (left | right)[inner].mean() > 0.6
    assert left[inner].sum() > 20 and right[inner].sum() > 20


def assert_sides_match(stance, sway):
    """Every frame in the clip's interior right, and nearly every one near its ends, where the path is
    extrapolated (by about 5 mm here)."""
    right_side = np.where(stance["left"], sway > 0, True) & np.where(stance["right"], sway < 0, True)
    assert right_side[20:-20].all() and right_side.mean() > 0.97


def test_sway_to_the_other_side_swaps_the_feet():
    xy, sway = curved_walk(-0.03)
    stance = stance_from_sway(walker(xy), FPS, SwayOptions(stride_seconds=STRIDE))
    assert_sides_match(stance, sway)
    assert stance["left"].sum() > 20 and stance["right"].sum() > 20


@pytest.mark.parametrize("case", ["standing", "tiny sway", "short runs"])
def test_sway_says_nothing_when_it_cannot_tell(case):
    rng = np.random.default_rng(0)
    frames = None
    if case == "standing":
        xy = 0.02 * rng.standard_normal((120, 2))  # shifting weight on the spot
    elif case == "tiny sway":
        xy, _ = curved_walk(0.003)
    else:  # two stretches of 25 frames each, shorter than a stride (33 frames)
        xy, _ = curved_walk(0.03, T=50)
        frames = np.r_[np.arange(25), np.arange(40, 65)]
    stance = stance_from_sway(walker(xy, frames), FPS, SwayOptions(stride_seconds=STRIDE))
    assert not stance["left"].any() and not stance["right"].any()


def test_fill_plants_the_swaying_foot_only_where_the_video_plants_none(body):
    left, right = foot_candidates(body, "left"), foot_candidates(body, "right")
    T = 6
    prob = np.zeros((T, len(body.contact_vertex_ids)))
    prob[0, left] = 1.0  # the video: left planted on frame 0, right on frame 1, none after
    prob[1, right[:1]] = 0.9
    prob[2, left] = 0.3  # below the contact threshold: not planted
    stance = {"left": np.zeros(T, bool), "right": np.ones(T, bool)}
    stance["right"][5], stance["left"][4] = False, True  # frame 4: the sway says left, frame 5: nothing
    stance["right"][4] = False
    out = fill_unplanted(prob, stance, body)
    np.testing.assert_array_equal(out[:2], prob[:2])  # planted frames kept, even against the sway
    assert (out[2:4][:, right] == 1.0).all() and (out[2, left] == 0.3).all()
    assert (out[4, left] == 1.0).all() and (out[4, right] == 0.0).all()
    np.testing.assert_array_equal(out[5], prob[5])
    assert prob[2, right].max() == 0.0  # the input is not changed in place
