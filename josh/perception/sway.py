"""Which foot carries a walker, from the sideways sway of the pelvis.

A walker's pelvis shifts over the foot that carries it: left of the path while the left foot is
planted, right while the right one is, once per stride. Seen from behind, the stance foot is
often hidden and the detector's keypoint for it sits on the other foot's print, so the video's
plant labels (`josh.perception.contacts.contacts_from_video`) leave gaps with no foot planted
(on demo2, 44% of one walker's frames, carrying 68% of his lowest foot's sliding). The pelvis
is seen on every frame, and its sway is sideways to the camera's ray, the direction a single
view measures best. On demo2 the sway's sign agrees with the video's labels where they are
reliable (correlation 0.78 for the walker seen from the side) and with the feet checked by eye
where they are not (docs/demo2.md).

The sway only says which side: it is used to fill frames where the video sees no foot planted,
never to override a foot the video shows planted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from josh.body.protocol import foot_candidates
from josh.perception.contacts import SIDES, planted_sides
from josh.perception.tracking import runs
from josh.types import PersonResult


@dataclass
class SwayOptions:
    """When the pelvis's sway says which foot is planted."""

    stride_seconds: float = 1.1
    """About one stride of adult walking (1.0-1.2 s): the path is the pelvis's moving average over
    this long, which keeps its course and removes the sway, and the sway's size is its largest
    value within this long."""
    min_share: float = 0.3
    """A frame tells only where the sway is at least this share of its size: near its zero
    crossings both feet are planted (double support) and noise decides the sign."""
    min_sway: float = 0.01  # m: a smaller size is no walker's sway (real sway: 2-5 cm each way)
    min_speed: float = 0.5  # m/s along the path: slower people are not walking


def stride_frames(options: SwayOptions, fps: float) -> int:
    return int(round(options.stride_seconds * fps))


def sideways_sway(root_xy: np.ndarray, fps: float, options: SwayOptions) -> tuple[np.ndarray, np.ndarray]:
    """(sway, speed) per frame of one run of consecutive frames: the root's offset (m) to the
    left of its path (positive = left), and the path's speed (m/s). `root_xy` (T, 2) are
    ground-plane positions of a Z-up world, at least one stride long.

    The path is a moving average over one stride, which removes the sway whatever its phase,
    corrected for cutting corners ("twicing": 2 A(x) - A(A(x)) is exact on any quadratic path).
    Uncorrected, a turn of 8 m radius shifts the sway by 1 cm, a third of its size."""
    window = stride_frames(options, fps)
    # the ends continue the path by point reflection (a straight walk stays straight)
    padded = np.pad(np.asarray(root_xy, np.float64), ((window, window), (0, 0)), mode="reflect", reflect_type="odd")
    average = lambda x: ndimage.uniform_filter1d(x, window, axis=0, mode="nearest")  # noqa: E731
    smooth = average(padded)
    path = (2 * smooth - average(smooth))[window:-window]
    velocity = np.gradient(path, axis=0) * fps
    speed = np.linalg.norm(velocity, axis=1)
    forward = velocity / np.maximum(speed, 1e-9)[:, None]
    left = np.stack([-forward[:, 1], forward[:, 0]], 1)  # z x forward
    return ((root_xy - path) * left).sum(1), speed


def stance_from_sway(person: PersonResult, fps: float, options: SwayOptions | None = None) -> dict[str, np.ndarray]:
    """Per side ("left", "right"), (T,) bool: frames on which the pelvis's sway says that foot
    carries `person` (a person of a Z-up world, `josh.geometry.world_frame.align_world`).
    Neither side on frames that do not tell: small sway, a slow person, or a run of consecutive
    frames shorter than one stride."""
    o = options or SwayOptions()
    T = len(person.frames)
    out = {side: np.zeros(T, bool) for side in SIDES}
    window = stride_frames(o, fps)
    for run in runs(person.frames):
        if run.stop - run.start < window:
            continue
        sway, speed = sideways_sway(np.asarray(person.root_transl)[run, :2], fps, o)
        size = ndimage.maximum_filter1d(np.abs(sway), window, mode="nearest")
        tells = (np.abs(sway) >= o.min_share * size) & (size >= o.min_sway) & (speed >= o.min_speed)
        out["left"][run] = tells & (sway > 0)
        out["right"][run] = tells & (sway < 0)
    return out


def fill_unplanted(prob: np.ndarray, stance: dict[str, np.ndarray], body, threshold: float = 0.5) -> np.ndarray:
    """`prob` (T, n_contact) with, on frames where no foot candidate is in contact, every candidate
    of the foot that `stance` (`stance_from_sway`) names set in contact. Other frames unchanged."""
    planted = planted_sides(prob, body, threshold)
    unplanted = ~(planted["left"] | planted["right"])
    out = np.array(prob, copy=True)
    for side in SIDES:
        out[np.ix_(unplanted & stance[side], foot_candidates(body, side))] = 1.0
    return out
