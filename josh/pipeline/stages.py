"""The stages of `josh run`, one small function each; `josh.pipeline.run` orders and caches them.

    decode ─▶ people ─┬─▶ scene ─▶ bodies ─▶ contacts ─▶ optimise ─▶ refine ─▶ (outputs)
                      └── masks ──▶┘

Frame indices: a run works on a *clip*: the video frames `start, start + stride, ...` (at most
`max_frames`), numbered 0 .. N-1 ("clip frames"); `Clip.video_frames` maps them back to the
video. Every stage result (tracks, keyframes, cameras, reconstruction) uses clip frames, and the
clip's frame rate is the video's divided by the stride, so real time steps stay right.

Every result is a dataclass of numpy arrays (cacheable by `josh.pipeline.cache`).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from josh.errors import InputError
from josh.perception.people import PeopleOptions, PeopleResult, PersonTrack2D
from josh.perception.scene import SceneConfig, SceneEstimate
from josh.perception.sway import SwayOptions
from josh.perception.swing_prior import SwingPriorOptions, with_normative_swings
from josh.pipeline.options import RunOptions, SourceSpec
from josh.types import FrontEndInputs, HumanTrack, Reconstruction

log = logging.getLogger(__name__)

Progress = Callable[[int], None]  # called with the number of items done so far


# ------------------------------------------------------------------------------------------ decode
@dataclass
class Clip:
    """The frames a run works on (see module doc) and the video they come from."""

    video: str
    video_info: dict  # josh.perception.video.VideoInfo as a dict (full-resolution size, fps, ...)
    video_frames: np.ndarray  # (N,) int video frame index of each clip frame
    fps: float  # clip frame rate: video fps / stride
    stride: int  # video frames per clip frame
    width: int  # working resolution
    height: int
    long_side: int

    @property
    def n_frames(self) -> int:
        return int(len(self.video_frames))

    def keyframes(self, every: int) -> np.ndarray:
        """Clip frames 0, every, 2 * every, ... and the last one."""
        kf = np.arange(0, self.n_frames, every)
        return kf if kf[-1] == self.n_frames - 1 else np.append(kf, self.n_frames - 1)

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """Stream (clip frame, RGB uint8 (H, W, 3)) at working resolution, decoding again."""
        from josh.perception.video import iter_frames

        position = {int(v): i for i, v in enumerate(self.video_frames)}
        for v, rgb in iter_frames(self.video, long_side=self.long_side, start=int(self.video_frames[0]),
                                  max_frames=self.n_frames, stride=self.stride):  # fmt: skip
            if v in position:
                yield position[v], rgb


class FrameSequence:
    """The clip's frames as a sized, re-iterable sequence of images, decoded on demand (for
    consumers that want `len()` and one pass, like SfM): no frame is held."""

    def __init__(self, clip: Clip, progress: Progress | None = None):
        self.clip = clip
        self.progress = progress

    def __len__(self) -> int:
        return self.clip.n_frames

    def __iter__(self) -> Iterator[np.ndarray]:
        for i, rgb in self.clip.frames():
            yield rgb
            if self.progress is not None:
                self.progress(i + 1)


def select_frames(n_video_frames: int, opts: RunOptions) -> np.ndarray:
    """Video frame indices the run asks for; InputError when the request cannot be met."""
    if opts.start >= n_video_frames:
        raise InputError(f"--start {opts.start} is beyond the video's {n_video_frames} frames")
    frames = np.arange(opts.start, n_video_frames, opts.stride)
    if opts.max_frames is not None:
        frames = frames[: opts.max_frames]
    check_frame_limit(len(frames), opts)
    if len(frames) < 3:
        raise InputError(f"only {len(frames)} frame(s) selected (need at least 3): check --start/--stride/--max-frames")
    return frames


def check_frame_limit(n_frames: int, opts: RunOptions) -> None:
    if n_frames > opts.frame_limit:
        raise InputError(
            f"the clip has {n_frames} frames to process, more than the limit of {opts.frame_limit}: "
            f"choose a part with --start/--max-frames/--stride, or raise --frame-limit"
        )


def decode(opts: RunOptions, progress: Progress | None = None) -> Clip:
    """Probe the video, check the selection, and decode it once (streamed) to catch corrupt or
    truncated files before any expensive stage."""
    from josh.perception.video import iter_frames, probe, working_size

    info = probe(opts.video)
    if opts.fps is not None:  # the user knows better (an image folder has no rate of its own)
        info = dataclasses.replace(info, fps=float(opts.fps), duration=info.frames / float(opts.fps))
    wanted = select_frames(info.frames, opts)
    got = []
    for n, (v, _rgb) in enumerate(iter_frames(opts.video, long_side=opts.long_side, start=opts.start,
                                              max_frames=len(wanted), stride=opts.stride)):  # fmt: skip
        got.append(v)
        if progress is not None:
            progress(n + 1)
    if len(got) < 3:
        raise InputError(f"{opts.video}: only {len(got)} frame(s) could be decoded in the selection (need at least 3)")
    w, h = working_size(info.width, info.height, opts.long_side)
    return Clip(
        video=str(opts.video.resolve()), video_info=dataclasses.asdict(info), video_frames=np.asarray(got, np.int64),
        fps=float(info.fps) / opts.stride, stride=int(opts.stride), width=int(w), height=int(h), long_side=int(opts.long_side),
    )  # fmt: skip


# ------------------------------------------------------------------------------------------ people
@dataclass
class PeopleStage:
    """Who is in the clip. The built-in front-end gives 2D tracks (bodies are fitted later); TRAM
    gives camera-frame SMPL bodies directly (`fitted`)."""

    source: str
    tracks: list = field(default_factory=list)  # list[PersonTrack2D] (built-in)
    fitted: list = field(default_factory=list)  # list[HumanTrack] (learned front-end)
    masks: np.ndarray | None = None  # (N, h, w) bool: any person, at `mask_stride`; None = unknown
    mask_stride: int = 4
    stats: dict = field(default_factory=dict)

    @property
    def n_people(self) -> int:
        return len(self.tracks) + len(self.fitted)

    def masks_by_frame(self) -> dict[int, np.ndarray] | None:
        return None if self.masks is None else {i: m for i, m in enumerate(self.masks)}


def people_builtin(clip: Clip, options: PeopleOptions, people_max: int, progress: Progress | None = None) -> PeopleStage:
    """MediaPipe people, tracked, at most `people_max` of them (those detected in most frames)."""
    from josh.perception.people import detect_people

    result: PeopleResult = detect_people(clip.frames(), options, progress)
    tracks = keep_most_seen(result.tracks, people_max, lambda t: int(np.sum(t.detected)))
    stats = dict(result.stats, kept=len(tracks), found=len(result.tracks))
    return PeopleStage("builtin", tracks=tracks, masks=result.union_masks, mask_stride=result.mask_stride, stats=stats)


def keep_most_seen(items: list, limit: int, seen: Callable) -> list:
    """The `limit` items with the largest `seen(item)`, in their original order."""
    if len(items) <= limit:
        return list(items)
    order = sorted(range(len(items)), key=lambda i: -seen(items[i]))[:limit]
    return [items[i] for i in sorted(order)]


def people_tram(clip: Clip, people: SourceSpec, contacts: SourceSpec, body, people_max: int,
                mask_stride: int = 4) -> PeopleStage:  # fmt: skip
    """TRAM tracks (+ DECO contacts) re-indexed to clip frames; SAM3 union masks when the TRAM
    folder's root has a `mask/` folder."""
    from josh.interop.official_inputs import MASK_DIR, PersonMasks, list_frames, tram_people

    original = (int(clip.video_info["width"]), int(clip.video_info["height"]))
    humans = tram_people(people.path, body, (clip.width, clip.height), deco=contacts.path if contacts.kind == "deco" else None,
                         original_size=original)  # fmt: skip
    humans = [h for h in (to_clip_frames(h, clip) for h in humans) if len(h.frames) >= 2]
    humans = keep_most_seen(humans, people_max, lambda h: len(h.frames))
    root = people.path if (people.path / MASK_DIR).is_dir() else people.path.parent
    masks, notes = None, []
    if (root / MASK_DIR).is_dir() and (root / "rgb").is_dir():
        names = [p.stem for p in list_frames(root)]
        reader = PersonMasks(root / MASK_DIR, names, (clip.width, clip.height))
        h, w = -(-clip.height // mask_stride), -(-clip.width // mask_stride)
        masks = np.zeros((clip.n_frames, h, w), bool)
        for i, v in enumerate(clip.video_frames):
            if int(v) < len(reader):
                masks[i] = _block_any(reader[int(v)], mask_stride, h, w)
    else:
        notes.append(f"no SAM3 masks next to {people.path}: the scene front-end sees people as scene")
    stats = {"tracks": len(humans), "notes": notes}
    return PeopleStage("tram", fitted=humans, masks=masks, mask_stride=mask_stride, stats=stats)


def _block_any(mask: np.ndarray, s: int, h: int, w: int) -> np.ndarray:
    """A full-resolution bool mask reduced to (h, w) blocks of s x s pixels (True if any is)."""
    padded = np.zeros((h * s, w * s), bool)
    padded[: mask.shape[0], : mask.shape[1]] = mask
    return padded.reshape(h, s, w, s).any(axis=(1, 3))


def to_clip_frames(h: HumanTrack, clip: Clip) -> HumanTrack:
    """A track indexed by video frames, restricted to the clip and indexed by clip frames."""
    position = {int(v): i for i, v in enumerate(clip.video_frames)}
    rows = np.array([int(f) in position for f in h.frames], bool)
    take = lambda x: np.asarray(x)[rows]  # noqa: E731
    return dataclasses.replace(
        h, frames=np.array([position[int(f)] for f in h.frames[rows]], np.int64), root_rotmat=take(h.root_rotmat),
        root_transl=take(h.root_transl), body_pose=take(h.body_pose), keypoints2d=take(h.keypoints2d),
        keypoints_conf=take(h.keypoints_conf), contact_prob=take(h.contact_prob),
    )  # fmt: skip


# ------------------------------------------------------------------------------------------- scene
def scene_builtin(clip: Clip, keyframes: np.ndarray, people: PeopleStage, config: SceneConfig,
                  progress: Progress | None = None) -> SceneEstimate:  # fmt: skip
    """pycolmap SfM on the clip with people masked out (ground plane when it fails)."""
    from josh.perception.scene import estimate_scene

    return estimate_scene(FrameSequence(clip, progress), keyframes, frame_ids=np.arange(clip.n_frames),
                          masks=people.masks_by_frame(), config=config)  # fmt: skip


def scene_pointmaps(clip: Clip, spec: SourceSpec, people: PeopleStage, config) -> SceneEstimate:
    """A point-map file's scene, on the maps that fall on clip frames (those are the keyframes)."""
    from josh.interop.pointmaps import read_pointmaps, scene_from_pointmaps

    pm = read_pointmaps(spec.path)
    position = {int(v): i for i, v in enumerate(clip.video_frames)}
    kf_video = np.array([int(f) for f in pm.frame_ids if int(f) in position], np.int64)
    if len(kf_video) < 2:
        raise InputError(f"{spec.path}: only {len(kf_video)} of its point maps fall on the selected frames (need 2); "
                         f"its maps cover video frames {pm.frame_ids[:3].tolist()}...")  # fmt: skip
    masks = None
    if people.masks is not None:
        masks = {int(clip.video_frames[i]): people.masks[i] for i in range(clip.n_frames)}
    frames = None
    if pm.T_wc is None and pm.matches is None and pm.rgb is None:  # poses must come from images
        wanted = {position[int(v)] for v in kf_video}
        frames = {int(clip.video_frames[i]): rgb for i, rgb in clip.frames() if i in wanted}
    scene = scene_from_pointmaps(pm, kf_video, image_size=(clip.width, clip.height), person_masks=masks,
                                 frames=frames, n_frames=int(clip.video_frames[-1]) + 1, config=config)  # fmt: skip
    kf_clip = np.array([position[int(v)] for v in kf_video], np.int64)
    return dataclasses.replace(
        scene, keyframes=dataclasses.replace(scene.keyframes, frame_ids=kf_clip),
        all_T_wc=scene.all_T_wc[clip.video_frames], registered=scene.registered[clip.video_frames],
    )  # fmt: skip


# ------------------------------------------------------------------------------------------ bodies
def fit_local_bodies(people: PeopleStage, scene: SceneEstimate, body, fps: float, config) -> list[HumanTrack]:
    """Camera-frame bodies: fitted to the built-in 2D tracks (keypoints moved to the scene's
    undistorted pinhole image first, keypoints that jump for a frame or two down-weighted:
    `jump_weights`), or the learned front-end's as they are. The lowered confidences stay with
    the tracks, so the joint optimisation's 2D term and the video contacts see them too."""
    from josh.perception.bodyfit import fit_bodies
    from josh.perception.scene import undistort_pixels
    from josh.perception.tracking import jump_weights

    if people.fitted:
        return list(people.fitted)
    if not people.tracks:
        return []
    intr = scene.intrinsics
    tracks = [
        dataclasses.replace(t, keypoints2d=undistort_pixels(t.keypoints2d, intr, scene.camera_model, scene.distortion)
                            .astype(np.float32),
                            keypoints_conf=t.keypoints_conf * jump_weights(t.keypoints2d, t.frames, t.boxes[:, 3] - t.boxes[:, 1]))  # fmt: skip
        for t in people.tracks
    ]
    return fit_bodies(tracks, intr.focal, intr.cx, intr.cy, body, fps, config)


# ---------------------------------------------------------------------------------------- contacts
def first_contacts(humans: list[HumanTrack], body, source: SourceSpec) -> list[HumanTrack]:
    """Contact probabilities before any optimisation: the learned ones (DECO, already in the
    tracks) or the geometric estimate from each local body."""
    from josh.perception.contacts import initial_contacts

    if source.kind == "deco":
        return list(humans)
    with np.errstate(over="ignore"):  # the logistic saturates far from the ground
        return [dataclasses.replace(h, contact_prob=initial_contacts(h, body)) for h in humans]


def contacts_from_result(humans: list[HumanTrack], recon: Reconstruction, body, swing_prior: SwingPriorOptions | None = None,
                         sway: SwayOptions | None = None, min_kept_fraction: float = 0.25) -> tuple[list[HumanTrack], list[str]]:  # fmt: skip
    """Contacts re-estimated after a first reconstruction: the feet from what the video shows
    (keypoints cast through its cameras onto its ground, `contacts_from_video`), the rest from
    its geometry (near the scene and still). With `sway`, frames where the video shows no foot
    planted get the foot the pelvis's sway says carries the walker (`josh.perception.sway`).
    With `swing_prior`, the legs of these people swing as walkers' do between the plants
    (`josh.perception.swing_prior`).

    A person for whom this finds contact in fewer than `min_kept_fraction` of the frames the
    first estimate had keeps the first estimate (feet the video hardly shows, or a
    reconstruction that left them far from the scene, cannot tell where they touch it), and the
    fitted legs, whose guess that estimate is; a note says so.
    """
    from josh.geometry.world_frame import align_world
    from josh.perception.contacts import contacts_from_video
    from josh.perception.sway import fill_unplanted, stance_from_sway

    with np.errstate(over="ignore"):
        new = contacts_from_video(humans, recon, body)
    aligned = {p.person_id: p for p in align_world(recon, body).people} if sway is not None else {}
    out, notes = [], []
    for h, prob in zip(humans, new):
        before = int((h.contact_prob > 0.5).any(1).sum())
        after = int((prob > 0.5).any(1).sum())
        if after < min_kept_fraction * before:
            notes.append(f"person {h.person_id}: the reconstruction finds contact in {after} frames "
                         f"(first estimate {before}); kept the first estimate")  # fmt: skip
            out.append(h)
        else:
            person = aligned.get(h.person_id)
            if person is not None and np.array_equal(person.frames, h.frames):
                prob = fill_unplanted(prob, stance_from_sway(person, recon.fps, sway), body)
            h = dataclasses.replace(h, contact_prob=np.asarray(prob, np.float64))
            out.append(h if swing_prior is None else with_normative_swings(h, body, recon.fps, swing_prior))
    return out, notes


# -------------------------------------------------------------------------------------- optimiser
def ground_plane_from_contacts(scene: SceneEstimate, humans: list[HumanTrack], body,
                               people: PeopleStage) -> tuple[SceneEstimate, list[HumanTrack]]:  # fmt: skip
    """For the ground-plane scene (SfM failed): the people scaled onto one ground
    (`josh.perception.one_ground`) and the scene made of that ground (camera frame; the plane of
    `josh.geometry.world_frame.people_ground_plane`) instead of the default plane below the
    camera; (scene, humans) unchanged otherwise."""
    from josh.perception.one_ground import place_on_one_ground
    from josh.perception.scene import ground_plane_scene

    if scene.source != "ground_plane" or not humans:
        return scene, humans
    humans, plane = place_on_one_ground(humans, body)
    kf = scene.keyframes
    masks = None
    if people.masks is not None:
        masks = [people.masks[int(f)] for f in kf.frame_ids]
    obs, plane = ground_plane_scene(scene.intrinsics, kf.frame_ids, stride=int(kf.stride), person_masks=masks,
                                    plane=plane)  # fmt: skip
    obs.colors = kf.colors
    in_contact = sum(int((np.asarray(h.contact_prob) > 0.5).sum()) for h in humans)
    stats = dict(scene.stats, ground_points=in_contact)
    return dataclasses.replace(scene, keyframes=obs, ground_plane=plane, stats=stats), humans


def front_end_inputs(clip: Clip, scene: SceneEstimate, humans: list[HumanTrack], body_model: str) -> FrontEndInputs:
    """What the optimiser consumes, in clip frames (the scene's per-frame cameras included)."""
    all_T = np.asarray(scene.all_T_wc, np.float64)
    frame_T = all_T if len(all_T) == clip.n_frames else None
    return FrontEndInputs(
        n_frames=clip.n_frames, fps=clip.fps, intrinsics=scene.intrinsics, keyframes=scene.keyframes,
        keyframe_T_wc=scene.keyframe_T_wc, correspondences=scene.correspondences, humans=list(humans),
        body_model=body_model, frame_T_wc=frame_T, static_camera=scene.camera_static,
    )  # fmt: skip


def optimise(inputs: FrontEndInputs, body, config) -> Reconstruction:
    """The joint optimisation (`josh.optimize.reconstruct`, method "josh").

    A scene with no correspondences (the ground plane) gives the scene-only phase nothing to
    optimise; it is skipped rather than run on an empty loss.
    """
    from josh.optimize import reconstruct

    if len(inputs.correspondences) == 0 and config.scene_phase.iterations > 0:
        config = dataclasses.replace(config, scene_phase=dataclasses.replace(config.scene_phase, iterations=0))
    return reconstruct(inputs, body, config, method="josh")


__all__ = [
    "Clip", "FrameSequence", "PeopleStage", "select_frames", "check_frame_limit", "decode", "people_builtin", "people_tram",
    "keep_most_seen", "to_clip_frames", "scene_builtin", "scene_pointmaps", "fit_local_bodies", "first_contacts",
    "contacts_from_result", "ground_plane_from_contacts", "front_end_inputs", "optimise", "PersonTrack2D",
]  # fmt: skip
