"""People on one ground: each person's size and distance from where their feet meet the ground.

One view cannot tell a person's size from their distance: a body s times larger, s times further
along the same rays, gives the same pixels. The body fit (`josh.perception.bodyfit`) therefore
gives everybody the body model's average adult, and a person taller than that is placed too near
(a 1.90 m man is put at 0.89 of his distance) with their feet above the ground. With a scene the
contacts pull the feet down; on the ground-plane fallback (a still camera: SfM fails) the plane
itself comes from the people (`josh.geometry.world_frame.people_ground_plane`) and the joint
optimisation cannot make the move, since it takes the size, the distance and the 2D keypoints
changing together (measured on a frozen frame of demo2: one man 25 cm over the others' ground).

Feet fix it: scaling a person s about the camera centre moves their in-contact feet along their
rays, and one s puts them on the ground. The error of s is the feet's height error over the
camera's height above the ground (3 cm in 1.5 m: 2%), where the size prior's is the spread of
adult statures (5%). The plane is the people's median, so the median person keeps the average
size, and the world's scale stays the size prior's.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from josh.body.protocol import MAX_SIZE_CHANGE, MIN_SIZING_CONTACT_FRAMES, shape_with_stature, standing_height
from josh.geometry.world_frame import lowest_in_contact_heights, people_ground_plane
from josh.interop.official_results import people_in_world
from josh.types import HumanTrack, PersonResult

ROUNDS = 2  # the plane follows the people once (the bodies' up stays: scaling turns no body)


def place_on_one_ground(humans: list[HumanTrack], body) -> tuple[list[HumanTrack], np.ndarray | None]:
    """(the tracks scaled onto their common ground plane, that plane (n, d) in the camera frame).
    Tracks without enough in-contact frames keep their size; no people: (humans, None)."""
    humans = list(humans)
    plane = None
    for _ in range(ROUNDS):
        people = people_in_world(humans, _camera_frames(humans), body)
        plane = people_ground_plane(people, body)
        if plane is None:
            return humans, None
        humans = [scaled_track(h, size_on_ground(p, plane), body) for h, p in zip(humans, people)]
    return humans, people_ground_plane(people_in_world(humans, _camera_frames(humans), body), body)


def size_on_ground(person: PersonResult, plane: np.ndarray) -> float:
    """The factor about the camera centre (the origin) that puts the person's in-contact feet on
    `plane` (n.X = d): per frame with a contact, d over the height term n.X of its lowest
    in-contact vertex; the median over frames, within `MAX_SIZE_CHANGE`. 1 with too few contacts."""
    lowest, d = lowest_in_contact_heights(person, plane[:3]), plane[3]
    ratios = d / lowest[lowest * d > 0]  # same side of the camera as the ground
    if len(ratios) < MIN_SIZING_CONTACT_FRAMES:
        return 1.0
    return float(np.clip(np.median(ratios), 1 / MAX_SIZE_CHANGE, MAX_SIZE_CHANGE))


def scaled_track(h: HumanTrack, factor: float, body) -> HumanTrack:
    """`h` made `factor` times larger and further along its rays: the root, and the shape moved to
    a stature `factor` times its own. Every keypoint keeps its pixel up to the change of
    proportions a body model ties to stature."""
    if abs(factor - 1.0) < 1e-4:
        return h
    shape = shape_with_stature(body, h.shape, factor * standing_height(body, h.shape))
    return dataclasses.replace(h, root_transl=np.asarray(h.root_transl, np.float64) * factor, shape=shape)


def _camera_frames(humans: list[HumanTrack]) -> np.ndarray:
    n_frames = 1 + max((int(np.max(h.frames)) for h in humans if len(h.frames)), default=-1)
    return np.repeat(np.eye(4)[None], n_frames, 0)
