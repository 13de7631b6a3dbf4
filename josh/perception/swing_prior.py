"""Normative swing legs for the second optimisation's local bodies.

The pose prior of the joint optimisation pulls each body toward the body fit's pose, and that fit
takes the leg's bend from single-view 3D landmarks. Seen from behind, those often swing the leg
straight and low, its foot sliding under the ground (the depth sign of the shank; docs/demo2.md).
Once the video has said which feet are planted (`josh.perception.contacts.contacts_from_video`),
the swings are known: a leg whose foot is lifted between two plants, while the other foot is
planted. There, this replaces the fit's sagittal hip, knee and ankle angles by the gait cycle's
(`josh.body.gait`), from toe-off to heel strike over the run of lifted frames; the 2D keypoints
still place the leg in the optimisation. Everything else about the pose is kept.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from josh.body.gait import normative_angles, swing_phase
from josh.perception.contacts import SIDES, planted_sides
from josh.perception.tracking import runs
from josh.types import HumanTrack



@dataclass
class SwingPriorOptions:
    """Which lifted runs of a foot count as swings."""

    min_seconds: float = 0.13  # shorter gaps between plants are label noise, not a step (4 frames at 30 fps)
    max_seconds: float = 0.67
    """A walker's swing lasts 0.35-0.45 s; a lifted run this long (20 frames at 30 fps) is not one
    swing, or not a walk."""
    other_planted: float = 0.5
    """Share of the run's frames in which the other foot must be planted: a walker swings one leg
    over the other. Runs where neither foot is planted are missed plants as often as swings."""


def swing_runs(planted: dict[str, np.ndarray], frames: np.ndarray, fps: float, options: SwingPriorOptions) -> dict[str, list[slice]]:
    """Per side, the runs of consecutive frames in which that foot is lifted, planted just before
    and just after (a run cut by the track's ends or a gap in its frames is not a whole swing),
    `min_seconds`-`max_seconds` long, with the other foot planted in `other_planted` of them."""
    shortest, longest = options.min_seconds * fps, options.max_seconds * fps
    out = {}
    for side in SIDES:
        lifted, other = ~planted[side], planted["right" if side == "left" else "left"]
        found = []
        for r in runs(frames):
            for (run,) in ndimage.find_objects(ndimage.label(lifted[r])[0]):
                a, b = r.start + run.start, r.start + run.stop
                whole = a > r.start and b < r.stop
                if whole and shortest <= b - a <= longest and other[a:b].mean() >= options.other_planted:
                    found.append(slice(a, b))
        out[side] = found
    return out


def with_normative_swings(track: HumanTrack, body, fps: float, options: SwingPriorOptions | None = None) -> HumanTrack:
    """`track` (a clip at `fps`) with its legs' sagittal angles set to the gait cycle's on its swings
    (see module doc); the track itself when the body model has no sagittal leg axes
    (`body.sagittal_legs`)."""
    legs = getattr(body, "sagittal_legs", None)
    if legs is None or len(track.frames) == 0:
        return track
    pose = np.array(track.body_pose, np.float64, copy=True)
    for side, swings in swing_runs(planted_sides(track.contact_prob, body), track.frames, fps, options or SwingPriorOptions()).items():
        for run in swings:
            angles = normative_angles(swing_phase(run.stop - run.start))
            for joint, (bone, component, sign) in legs[side].items():
                pose[run, bone, component] = sign * angles[joint]
    return dataclasses.replace(track, body_pose=pose.astype(np.asarray(track.body_pose).dtype))

