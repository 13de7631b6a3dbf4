"""People front-end: multi-person 2D keypoints, metric 3D landmarks, tracks with identities, masks.

Data flow per frame (streamed: no full-resolution frame is kept):

1. `PoseDetector` runs MediaPipe's BlazePose `PoseLandmarker` (IMAGE mode, several poses) on
   overlapping square crops of the frame. The detector looks at a 224x224 version of its input and
   misses small and back-facing people on a whole wide frame; crops make everyone bigger.
   Duplicates of one person from overlapping crops are merged (keypoint agreement), keeping the
   copy farthest from an inner crop edge.
2. Each pose's 33 landmarks become our 23 keypoints (`KEYPOINT_NAMES`, see `MEDIAPIPE_INDEX`),
   its world landmarks the metric 3D landmarks (`world_to_camera`), its segmentation a mask at
   `mask_stride`. Segmentations are computed in each pose's region and bleed into neighbours,
   so overlaps are resolved by distance to each person's skeleton (`resolve_mask_overlaps`).
3. `josh.perception.tracking.PersonTracker` assigns detections to identities; at the end it drops
   unreliable tracks and fills short gaps.

Side by side: when two people overlap in the image, the landmarker often returns one pose mixing
both bodies (the head and one side of one, the other side of the other). Such a pose's torso has
two halves of different colours, unless the two dress alike. `split_side_by_side` re-detects it
twice, once with each side of its torso painted over: each pass finds the person on the side left
in view, with their own head and legs. On demo2 this separates the woman from the man in white
beside her (docs/demo2.md). A split is kept only when the two people found wear clearly different
colours: one person lit from the side has torso halves of different brightness, and re-detected
comes back as two halves of one shirt.

The person union, the mask SfM gets, never depends on the split: it is built from the poses as
first detected, tracked on their own to fill its gaps (`_union_with_gaps`); the split poses'
masks, seen on painted images, only decide who owns which pixel. SfM on short clips hinges on a
few dozen mask pixels at people's edges: with the split tracks' masks in the union, the test
suite's 60-frame cut of demo2 with every frame shown twice drifted (camera path 4.44 against
2.81 m). On by default (`PeopleOptions.split_pairs`; `josh run --no-split-pairs`).

Cost on 2 CPU cores at 960x540 (three 540x540 crops): ~130-150 ms per frame, almost all of it in
MediaPipe, plus two small crops per split pose.

Conventions: pixels (u, v) at working resolution with the centre of the top-left pixel at (0, 0);
low-resolution mask pixel (i, j) covers image pixels rows [i*s, (i+1)*s), columns [j*s, (j+1)*s)
for stride s (centre ((j + 0.5) s - 0.5, (i + 0.5) s - 0.5)).

MediaPipe's world landmarks (checked on demo2, 136 poses from 20 frames): metres, origin between
the hips; +x goes with image +u (weak-perspective fit u = s x + a gave s > 0 for every pose,
s ~ 154 px/m), +y with image +v (s > 0 for every pose), and +z away from the camera (for people
walking away, the nose lies 0.18 m farther than the shoulders in every pose; world z correlates
with MediaPipe's image-landmark depth, "smaller is closer", at r = 0.99). So they are already in
our camera axes (x right, y down, z forward) as seen along the ray to the person; `world_to_camera`
only re-centres them on the hip midpoint of our keypoints, and `rotate_to_viewing_ray` turns them
into the optical-axis frame once the focal is known.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, NamedTuple

import numpy as np

from josh.errors import InputError
from josh.perception.pose_models import PoseModelError, pose_bundle_path
from josh.perception.tracking import TORSO, Detection, PersonTracker, TrackerOptions, appearance_distance, keypoint_distance

log = logging.getLogger(__name__)

KEYPOINT_NAMES = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle", "left_big_toe", "right_big_toe", "left_small_toe",
    "right_small_toe", "left_heel", "right_heel",
]  # fmt: skip
# MediaPipe BlazePose landmark index of each keypoint. BlazePose has one "foot index" landmark per
# foot (the tip of the foot, at the big/second toe): it is the big toe; the small toe gets the same
# position with its confidence scaled by `PeopleOptions.small_toe_conf_scale` (not observed).
MEDIAPIPE_INDEX = np.array([0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28, 31, 32, 31, 32, 29, 30])
SMALL_TOES = [19, 20]
HIPS = [11, 12]
# limbs used as the skeleton for mask overlap resolution (pairs of keypoint indices)
SKELETON = [(0, 5), (0, 6), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12), (11, 12), (5, 12), (6, 11),
            (11, 13), (13, 15), (15, 21), (15, 17), (12, 14), (14, 16), (16, 22), (16, 18), (3, 4)]  # fmt: skip


@dataclass
class PeopleOptions:
    """Settings of the people front-end (detector, masks, tracker)."""

    num_poses: int = 4  # poses per crop
    min_detection_confidence: float = 0.3  # BlazePose detector score (0.5 misses back-facing walkers)
    min_presence_confidence: float = 0.3  # BlazePose landmark-model pose presence
    crop_overlap: float = 0.5  # least overlap of neighbouring square crops (fraction of the crop side)
    full_frame: bool = False  # also run on the whole frame (for people larger than a crop)
    merge_keypoint_dist: float = 0.1  # poses closer than this (median, box heights) are one person
    mask_stride: int = 4  # image pixels per mask pixel
    mask_threshold: float = 0.5  # segmentation probability of a person pixel
    mask_box_margin: float = 0.15  # a person's mask stays within its box grown by this (box heights)
    mask_max_skeleton_dist: float = 0.3  # ... and within this distance of its skeleton (box heights)
    skeleton_min_conf: float = 0.3  # keypoints at least this confident form the skeleton
    small_toe_conf_scale: float = 0.1  # see MEDIAPIPE_INDEX
    split_pairs: bool = True  # re-detect poses that mix two people side by side (module doc; `josh run --no-split-pairs`)
    pair_asymmetry: float = 0.4  # torso halves this far apart in colour (`torso_halves_distance`) may be two people
    pair_homogeneity: float = 0.7  # ... each pose found instead must have halves nearer than this
    pair_contrast: float = 0.85  # ... and the two found must differ this much in torso colour (`appearance_distance`)
    model_path: str | None = None  # pose bundle; default: `pose_bundle_path()` (built by `josh setup`)
    tracker: TrackerOptions = field(default_factory=TrackerOptions)

    def __post_init__(self):
        if self.num_poses < 1 or self.mask_stride < 1 or not 0 <= self.crop_overlap < 1:
            raise InputError("people options: need num_poses >= 1, mask_stride >= 1 and 0 <= crop_overlap < 1")


@dataclass
class PersonTrack2D:
    """One person over the frames where they are tracked (detected or interpolated)."""

    track_id: int
    frames: np.ndarray  # (T,) int video frame indices, increasing
    keypoints2d: np.ndarray  # (T, 23, 2) float32 working-resolution pixels, KEYPOINT_NAMES order
    keypoints_conf: np.ndarray  # (T, 23) float32 in [0, 1]
    landmarks3d: np.ndarray  # (T, 23, 3) float32 metres, hip-centred, camera axes (x right, y down, z forward)
    boxes: np.ndarray  # (T, 4) float32 x1, y1, x2, y2 pixels
    detected: np.ndarray  # (T,) bool; False where interpolated over a short gap
    masks: np.ndarray  # (T, h, w) bool at `mask_stride`, within the union (in gaps: the nearest mask moved with the box)
    mask_stride: int


@dataclass
class PeopleResult:
    tracks: list[PersonTrack2D]
    frame_ids: np.ndarray  # (N,) every processed frame
    union_masks: np.ndarray  # (N, h, w) bool: any person (tracked or not) at `mask_stride`
    mask_stride: int
    image_size: tuple[int, int]  # (width, height) of the working frames
    stats: dict

    def masks_by_frame(self) -> dict[int, np.ndarray]:
        """Frame index -> union person mask (the form `estimate_scene(masks=...)` takes)."""
        return {int(f): m for f, m in zip(self.frame_ids, self.union_masks)}


# ------------------------------------------------------------------------------ landmark mapping
def landmarks_to_keypoints(image_landmarks: np.ndarray, width: int, height: int, x0: float = 0.0, y0: float = 0.0,
                           small_toe_conf_scale: float = 0.1) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """MediaPipe image landmarks (33, 5: x, y normalised to the input image, z, visibility,
    presence) of an input image of `width` x `height` placed at (x0, y0) in the frame ->
    keypoints (23, 2) in frame pixels and confidences (23,) = visibility x presence."""
    lm = np.asarray(image_landmarks, dtype=np.float64)[MEDIAPIPE_INDEX]
    # normalised coordinates run over pixel edges: 0 is the left edge of pixel 0 (centre at u = 0)
    uv = np.stack([lm[:, 0] * width - 0.5 + x0, lm[:, 1] * height - 0.5 + y0], axis=1)
    conf = np.clip(lm[:, 3], 0, 1) * np.clip(lm[:, 4], 0, 1)
    conf[SMALL_TOES] *= small_toe_conf_scale
    return uv, conf


def world_to_camera(world_landmarks: np.ndarray) -> np.ndarray:
    """MediaPipe world landmarks (33, >=3) -> our 23 metric landmarks (23, 3), hip-centred.

    MediaPipe's world axes already are x right, y down, z away from the camera (module doc), so
    no axis flip; the origin is moved exactly onto the midpoint of our two hip keypoints.
    """
    xyz = np.asarray(world_landmarks, dtype=np.float64)[MEDIAPIPE_INDEX, :3]
    return xyz - xyz[HIPS].mean(axis=0)


def rotate_to_viewing_ray(landmarks3d: np.ndarray, keypoints2d: np.ndarray, focal: float, cx: float, cy: float) -> np.ndarray:
    """Landmarks (..., 23, 3) as seen along the ray to the person -> the camera's optical-axis frame.

    The pose network sees a crop around the person, i.e. the person viewed along the ray through
    their hips; its z axis is that ray. Rotating z onto the ray (smallest rotation) gives the
    orientation in the camera frame; this matters away from the image centre (wide lenses).
    Not applied by `detect_people` (the focal is not known there). On demo2 (f = 523 px) a
    perspective refit of the landmarks to the keypoints did not separate the two clearly (median
    residual 2.9 -> 2.75 px beyond 0.4 f from the centre, 2.3 -> 2.75 px near it; the opposite
    rotation was clearly worse, 4 px), so treat it as an option to evaluate, not a known gain.
    """
    lm = np.asarray(landmarks3d, dtype=np.float64)
    hip = np.asarray(keypoints2d, dtype=np.float64)[..., HIPS, :].mean(axis=-2)
    ray = np.concatenate([(hip[..., :1] - cx) / focal, (hip[..., 1:2] - cy) / focal, np.ones_like(hip[..., :1])], -1)
    ray /= np.linalg.norm(ray, axis=-1, keepdims=True)
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(z, ray)  # (..., 3), |axis| = sin(angle)
    s = np.linalg.norm(axis, axis=-1, keepdims=True)
    c = ray[..., 2:3]
    k = axis / np.maximum(s, 1e-12)
    # Rodrigues: v cos + (k x v) sin + k (k.v)(1 - cos), per person-frame
    k_ = k[..., None, :]
    v = lm
    return v * c[..., None] + np.cross(k_, v) * s[..., None] + k_ * np.sum(k_ * v, -1, keepdims=True) * (1 - c[..., None])


# ------------------------------------------------------------------------------ crops
def crop_layout(width: int, height: int, overlap: float, align: int = 1) -> list[tuple[int, int, int, int]]:
    """Square crops (x0, y0, x1, y1) of side min(width, height) covering the frame along its long
    side, neighbours overlapping by at least `overlap` of the side; offsets are multiples of
    `align` (so crops map onto the mask grid exactly)."""
    side = min(width, height)
    long_len = max(width, height)
    step = max(side * (1 - overlap), 1.0)
    n = 1 if long_len <= side else int(math.ceil((long_len - side) / step)) + 1
    offsets = sorted({min(int(round(o / align)) * align, long_len - side) for o in np.linspace(0, long_len - side, n)})
    if width >= height:
        return [(o, 0, o + side, side) for o in offsets]
    return [(0, o, side, o + side) for o in offsets]


# ------------------------------------------------------------------------------ masks
def mask_grid(width: int, height: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Image coordinates (u, v) of the mask pixel centres, each (h, w)."""
    h, w = int(math.ceil(height / stride)), int(math.ceil(width / stride))
    u = (np.arange(w) + 0.5) * stride - 0.5
    v = (np.arange(h) + 0.5) * stride - 0.5
    return np.meshgrid(u, v)


def skeleton_distance(keypoints2d: np.ndarray, conf: np.ndarray, u: np.ndarray, v: np.ndarray, min_conf: float) -> np.ndarray:
    """Distance (pixels) from each point (u, v) to the nearest limb between confident keypoints
    (inf when none is confident)."""
    p = np.stack([u, v], axis=-1).astype(np.float64)
    best = np.full(u.shape, np.inf)
    ok = np.asarray(conf) >= min_conf
    for a, b in SKELETON:
        if not (ok[a] and ok[b]):
            continue
        pa, pb = keypoints2d[a], keypoints2d[b]
        ab = pb - pa
        t = np.clip(((p - pa) @ ab) / max(float(ab @ ab), 1e-9), 0, 1)
        best = np.minimum(best, np.linalg.norm(p - (pa + t[..., None] * ab), axis=-1))
    if not np.isfinite(best).any():  # lone confident keypoints: distance to the nearest one
        for k in np.flatnonzero(ok):
            best = np.minimum(best, np.linalg.norm(p - keypoints2d[k], axis=-1))
    return best


def resolve_mask_overlaps(claims: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """Label map (h, w) int16 from per-person claims (P, h, w) bool and skeleton distances (P, h, w).

    A pixel claimed by several people goes to the one whose skeleton is nearest (distances are in
    each person's own units, e.g. box heights); -1 where nobody claims it.
    """
    if len(claims) == 0:
        return np.full(claims.shape[1:], -1, np.int16)
    d = np.where(claims, distances, np.inf)
    label = np.argmin(d, axis=0).astype(np.int16)
    label[~claims.any(axis=0)] = -1
    return label


def shift_mask(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """`mask` moved by (dy, dx) pixels, zero-filled."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    if abs(dy) >= h or abs(dx) >= w:
        return out
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = mask[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


# ------------------------------------------------------------------------------ appearance
def torso_histogram(frame: np.ndarray, keypoints2d: np.ndarray, conf: np.ndarray, min_conf: float = 0.3,
                    bins: tuple[int, int, int] = (8, 4, 4)) -> np.ndarray | None:  # fmt: skip
    """Normalised HSV colour histogram of the torso box (shoulders to hips, inner 70% of its
    width); None when the torso is not visible or too small."""
    box = _torso_box(keypoints2d, conf, min_conf)
    if box is None:
        return None
    (x1, y1), (x2, y2) = box
    cxm, half = 0.5 * (x1 + x2), 0.35 * (x2 - x1)
    return _hsv_histogram(frame, cxm - half, cxm + half, y1, y2, bins)


def torso_halves_distance(frame: np.ndarray, keypoints2d: np.ndarray, conf: np.ndarray, min_conf: float = 0.3,
                          bins: tuple[int, int, int] = (8, 4, 4)) -> float | None:  # fmt: skip
    """Colour distance (Bhattacharyya, 0-1) between the image-left and image-right halves of the
    torso box below the shoulder line (a central tenth left out); None when not visible. One
    person's shirt gives 0.1-0.5 (side light, a bag strap), a pose that mixes two differently
    dressed people 0.8-1 (measured on demo2)."""
    box = _torso_box(keypoints2d, conf, min_conf)
    if box is None:
        return None
    (x1, y1), (x2, y2) = box
    cx, w, top = 0.5 * (x1 + x2), x2 - x1, y1 + 0.1 * (y2 - y1)
    left = _hsv_histogram(frame, cx - 0.45 * w, cx - 0.05 * w, top, y2, bins)
    right = _hsv_histogram(frame, cx + 0.05 * w, cx + 0.45 * w, top, y2, bins)
    return None if left is None or right is None else appearance_distance(left, right)


def _torso_box(keypoints2d: np.ndarray, conf: np.ndarray, min_conf: float) -> tuple | None:
    """(min corner, max corner) of the shoulder and hip keypoints, when at least three are seen."""
    ok = np.asarray(conf)[TORSO] >= min_conf
    if ok.sum() < 3:
        return None
    pts = keypoints2d[TORSO][ok]
    return pts.min(0), pts.max(0)


def _hsv_histogram(frame: np.ndarray, x1: float, x2: float, y1: float, y2: float, bins) -> np.ndarray | None:
    """Normalised HSV histogram of the frame's pixels in columns [x1, x2], rows [y1, y2]."""
    import cv2

    H, W = frame.shape[:2]
    c1, c2 = int(max(x1, 0)), int(min(x2, W - 1)) + 1
    r1, r2 = int(max(y1, 0)), int(min(y2, H - 1)) + 1
    if c2 - c1 < 3 or r2 - r1 < 3:
        return None
    hsv = cv2.cvtColor(np.ascontiguousarray(frame[r1:r2, c1:c2]), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(bins), [0, 180, 0, 256, 0, 256]).ravel()
    total = hist.sum()
    return hist / total if total > 0 else None


# ------------------------------------------------------------------------------ detector
@dataclass
class FrameDetections:
    """Everything detected in one frame: poses, their resolved masks and the person union."""

    detections: list[Detection]
    labels: np.ndarray  # (h, w) int16 index into `detections` owning each mask pixel, -1 = none
    union: np.ndarray  # (h, w) bool any person pixel (also ones no pose owns)
    first: "FrameDetections | None" = None
    """The poses as first detected, where the side-by-side split changed them (else None): the
    person union is built from these alone (module doc)."""

    @property
    def as_first_detected(self) -> "FrameDetections":
        return self if self.first is None else self.first


class _CropPose(NamedTuple):
    """One pose as one crop saw it."""

    det: Detection
    crop: tuple[int, int, int, int]  # x0, y0, x1, y1 in the frame
    prob: np.ndarray | None  # (crop h, crop w) person probability from the landmarker
    quality: float  # `_crop_quality`: which copy to keep when crops overlap


class PoseDetector:
    """MediaPipe PoseLandmarker over crops of each frame. Use as a context manager (closes the
    landmarker's native resources deterministically)."""

    def __init__(self, options: PeopleOptions | None = None):
        from mediapipe.tasks.python import BaseOptions, vision

        self.options = opts = options or PeopleOptions()
        model = opts.model_path or str(pose_bundle_path())
        try:
            with _quiet_native_stderr():
                self._landmarker = vision.PoseLandmarker.create_from_options(vision.PoseLandmarkerOptions(
                    base_options=BaseOptions(model_asset_path=model),
                    running_mode=vision.RunningMode.IMAGE,
                    num_poses=opts.num_poses,
                    min_pose_detection_confidence=opts.min_detection_confidence,
                    min_pose_presence_confidence=opts.min_presence_confidence,
                    output_segmentation_masks=True,
                ))  # fmt: skip
        except (RuntimeError, ValueError, OSError) as exc:
            raise PoseModelError(f"cannot load the pose model {model} (run `josh setup` to rebuild it): {exc}") from exc
        self._layout: tuple | None = None
        self._warm = False

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def __enter__(self) -> "PoseDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _crops(self, width: int, height: int) -> list[tuple[int, int, int, int]]:
        if self._layout is None or self._layout[0] != (width, height):
            crops = crop_layout(width, height, self.options.crop_overlap, align=self.options.mask_stride)
            if self.options.full_frame and crops != [(0, 0, width, height)]:
                crops.append((0, 0, width, height))
            self._layout = ((width, height), crops)
        return self._layout[1]

    def __call__(self, frame: np.ndarray) -> FrameDetections:
        """Detect, merge, describe and segment every person in one RGB uint8 frame (H, W, 3)."""
        opts = self.options
        H, W = frame.shape[:2]
        found: list[_CropPose] = []
        for crop in self._crops(W, H):
            found.extend(self._detect_crop(frame, crop))
        found = _merge_duplicates(found, opts.merge_keypoint_dist, opts.tracker.keypoint_min_conf)
        # the union (what SfM masks out) comes from the poses as first detected: a split pose's
        # parts are seen on painted images, and their masks only decide who owns which pixel
        masks = self._person_masks(found, W, H)
        union = masks.any(axis=0)
        first = self._described(frame, found, masks, union)
        if not opts.split_pairs:
            return first
        parts = [part for pose in found for part in self.split_side_by_side(frame, pose)]
        if len(parts) == len(found):
            return first
        found = _merge_duplicates(parts, opts.merge_keypoint_dist, opts.tracker.keypoint_min_conf)
        split = self._described(frame, found, self._person_masks(found, W, H), union)
        split.first = first
        return split

    def _described(self, frame: np.ndarray, found: list[_CropPose], masks: np.ndarray, union: np.ndarray) -> FrameDetections:
        """The poses with their torso colours (for the tracker) and who owns which union pixel.
        Poses kept whole by the split, and its parts, already have their colours."""
        H, W = frame.shape[:2]
        for pose in found:
            if pose.det.appearance is None:
                pose.det.appearance = torso_histogram(frame, pose.det.keypoints2d, pose.det.keypoints_conf)
        return FrameDetections([pose.det for pose in found], self._owners(found, masks & union, W, H), union)

    def split_side_by_side(self, frame: np.ndarray, pose: _CropPose) -> list[_CropPose]:
        """The two people a pose mixes, when its torso halves differ in colour, re-detecting with
        each side painted over finds one person on the other side, and the two people found wear
        clearly different colours; else the pose."""
        opts = self.options
        det = pose.det
        mixed = torso_halves_distance(frame, det.keypoints2d, det.keypoints_conf)
        if mixed is None or mixed < opts.pair_asymmetry:
            return [pose]
        H, W = frame.shape[:2]
        grow = 0.15 * det.height
        a = opts.mask_stride
        crop = (int(max(det.box[0] - grow, 0)) // a * a, int(max(det.box[1] - grow, 0)) // a * a,
                int(min(det.box[2] + grow, W)), int(min(det.box[3] + grow, H)))  # fmt: skip
        mid = _torso_mid_x(det)
        parts = [self._one_beside(frame, crop, mid, side, det.box) for side in (-1, 1)]
        if any(p is None for p in parts) or _same_person(parts[0].det, parts[1].det, opts.merge_keypoint_dist,
                                                         opts.tracker.keypoint_min_conf):  # fmt: skip
            return [pose]
        colours = [torso_histogram(frame, p.det.keypoints2d, p.det.keypoints_conf) for p in parts]
        if any(c is None for c in colours) or appearance_distance(*colours) < opts.pair_contrast:
            return [pose]  # one person lit from the side, found twice in halves
        for part, colour in zip(parts, colours):
            part.det.appearance = colour
        return parts

    def _one_beside(self, frame: np.ndarray, crop, mid: float, side: int, box: np.ndarray) -> _CropPose | None:
        """Re-detect in `crop` with the image on `side` (-1 left, +1 right) of column `mid` painted
        in the ground's colour (the crop's bottom rows): the first pose whose torso lies on the
        other side, within the mixed pose's box, and has one colour."""
        x0, y0, x1, y1 = crop
        painted = frame.copy()
        cols = slice(x0, max(int(mid), x0)) if side < 0 else slice(int(mid), x1)
        ground = frame[max(y1 - 20, y0):y1, x0:x1].reshape(-1, 3)
        painted[y0:y1, cols] = np.median(ground, axis=0).astype(frame.dtype)
        for cand in self._detect_crop(painted, crop):
            m = _torso_mid_x(cand.det)
            if (m - mid) * side >= 0 or not box[0] <= m <= box[2]:
                continue
            halves = torso_halves_distance(painted, cand.det.keypoints2d, cand.det.keypoints_conf)
            if halves is not None and halves < self.options.pair_homogeneity:
                return cand
        return None

    def _detect_crop(self, frame: np.ndarray, crop) -> list[_CropPose]:
        import mediapipe as mp

        x0, y0, x1, y1 = crop
        H, W = frame.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame[y0:y1, x0:x1]))
        if self._warm:
            result = self._landmarker.detect(image)
        else:  # the first inference logs set-up chatter of the native runtime
            with _quiet_native_stderr():
                result = self._landmarker.detect(image)
            self._warm = True
        cw, ch = x1 - x0, y1 - y0
        out = []
        for k, (lms, wlms) in enumerate(zip(result.pose_landmarks, result.pose_world_landmarks)):
            img_lm = np.array([[l.x, l.y, l.z, _prob(l.visibility), _prob(l.presence)] for l in lms])
            world = np.array([[l.x, l.y, l.z] for l in wlms])
            kp, conf = landmarks_to_keypoints(img_lm, cw, ch, x0, y0, self.options.small_toe_conf_scale)
            box = _person_box(img_lm, cw, ch, x0, y0)
            det = Detection(box=box, keypoints2d=kp, keypoints_conf=conf, landmarks3d=world_to_camera(world))
            prob = None
            if result.segmentation_masks is not None and k < len(result.segmentation_masks):
                prob = np.asarray(result.segmentation_masks[k].numpy_view()).reshape(ch, cw).astype(np.float32)
            out.append(_CropPose(det, crop, prob, _crop_quality(det, crop, W, H)))
        return out

    def _person_masks(self, found: list[_CropPose], W: int, H: int) -> np.ndarray:
        """(n, h, w) bool: each pose's person pixels at `mask_stride`, within its grown box."""
        opts = self.options
        u, v = mask_grid(W, H, opts.mask_stride)
        masks = np.zeros((len(found),) + u.shape, bool)
        for i, (det, crop, prob, _quality) in enumerate(found):
            if prob is not None:
                m, b = opts.mask_box_margin * det.height, det.box
                in_box = (u >= b[0] - m) & (u <= b[2] + m) & (v >= b[1] - m) & (v <= b[3] + m)
                masks[i] = (_prob_on_grid(prob, crop, u.shape, opts.mask_stride) >= opts.mask_threshold) & in_box
        return masks

    def _owners(self, found: list[_CropPose], person: np.ndarray, W: int, H: int) -> np.ndarray:
        """Owner label map at `mask_stride` (see `FrameDetections`) from the poses' `person`
        masks: a pixel goes to the nearest skeleton among the poses that hold it and lie near."""
        opts = self.options
        u, v = mask_grid(W, H, opts.mask_stride)
        claims = np.zeros_like(person)
        dists = np.full(person.shape, np.inf)
        for i, pose in enumerate(found):
            if person[i].any():
                kp, kc, height = pose.det.keypoints2d, pose.det.keypoints_conf, pose.det.height
                dists[i][person[i]] = skeleton_distance(kp, kc, u[person[i]], v[person[i]], opts.skeleton_min_conf) / height
                claims[i] = person[i] & (dists[i] <= opts.mask_max_skeleton_dist)
        return resolve_mask_overlaps(claims, dists)


def _prob_on_grid(prob: np.ndarray, crop, shape: tuple[int, int], stride: int) -> np.ndarray:
    """A crop's person probability (crop h, crop w) averaged onto the frame's mask grid `shape`
    (crop offsets are multiples of the stride, see `crop_layout`)."""
    import cv2

    x0, y0, x1, y1 = crop
    small = cv2.resize(prob, (math.ceil((x1 - x0) / stride), math.ceil((y1 - y0) / stride)), interpolation=cv2.INTER_AREA)
    out = np.zeros(shape, np.float32)
    r0, c0 = y0 // stride, x0 // stride
    sh, sw = min(small.shape[0], shape[0] - r0), min(small.shape[1], shape[1] - c0)
    out[r0:r0 + sh, c0:c0 + sw] = small[:sh, :sw]
    return out


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence what native code writes to the stderr file descriptor (TFLite/glog set-up notes
    that Python logging cannot filter); Python-level errors are still raised normally."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _prob(x) -> float:
    return 1.0 if x is None else float(x)


def _person_box(img_lm: np.ndarray, width: int, height: int, x0: float, y0: float) -> np.ndarray:
    """Box (x1, y1, x2, y2) of the landmarks that are present, grown to cover the head top and
    the body's outline (10% of its height above, 4% elsewhere)."""
    keep = img_lm[:, 4] >= 0.5
    pts = img_lm[keep if keep.sum() >= 4 else slice(None), :2] * [width, height] - 0.5 + [x0, y0]
    (a, b), (c, d) = pts.min(0), pts.max(0)
    hgt = max(d - b, 1.0)
    return np.array([a - 0.04 * hgt, b - 0.10 * hgt, c + 0.04 * hgt, d + 0.04 * hgt])


def _torso_mid_x(det: Detection) -> float:
    """Image column of the torso's centre (mean of the shoulder and hip keypoints)."""
    return float(det.keypoints2d[TORSO, 0].mean())


def _crop_quality(det: Detection, crop, W: int, H: int) -> float:
    """How well a crop saw the person: distance (box heights, capped at 0.25) from the box to the
    nearest crop edge that is not an image edge, plus the torso confidence."""
    x0, y0, x1, y1 = crop
    b = det.box
    gaps = [b[0] - x0 if x0 > 0 else np.inf, x1 - b[2] if x1 < W else np.inf,
            b[1] - y0 if y0 > 0 else np.inf, y1 - b[3] if y1 < H else np.inf]  # fmt: skip
    return float(min(min(gaps) / det.height, 0.25)) + 0.5 * det.torso_conf


def _merge_duplicates(found: list[_CropPose], max_dist: float, min_conf: float) -> list[_CropPose]:
    """Keep one copy of each person: the best-placed one. Two poses are the same person when their
    confident keypoints agree within `max_dist` box heights (box overlap alone would merge people
    standing one behind the other). Duplicates come from overlapping crops, and also from one crop:
    when one person hides another, the landmarker's pose for the hidden one often collapses onto the
    one in front."""
    kept: list[_CropPose] = []
    for cand in sorted(found, key=lambda p: -p.quality):
        if not any(_same_person(cand.det, k.det, max_dist, min_conf) for k in kept):
            kept.append(cand)
    return kept


def _same_person(a: Detection, b: Detection, max_dist: float, min_conf: float) -> bool:
    """Two poses of one person: their confident keypoints agree within `max_dist` box heights."""
    return keypoint_distance(a.keypoints2d, a.keypoints_conf, b.keypoints2d, b.keypoints_conf,
                             0.5 * (a.height + b.height), min_conf) <= max_dist  # fmt: skip


# ------------------------------------------------------------------------------ the front-end
def detect_people(frames: Iterable[tuple[int, np.ndarray]], options: PeopleOptions | None = None,
                  progress: Callable[[int], None] | None = None) -> PeopleResult:  # fmt: skip
    """Track every person through a stream of (frame_index, RGB uint8 (H, W, 3)) pairs, as
    `josh.perception.video.iter_frames` yields them. `progress(n)` is called after each frame."""
    opts = options or PeopleOptions()
    tracker = PersonTracker(opts.tracker)
    # the poses as first detected, tracked on their own for the union's gaps (see `_union_with_gaps`)
    first_tracker = PersonTracker(opts.tracker) if opts.split_pairs else None
    per_frame: list[tuple[list[Detection], np.ndarray, np.ndarray]] = []
    first_per_frame: list[tuple[list[Detection], np.ndarray, np.ndarray]] = []
    size = None
    t0 = time.perf_counter()
    with PoseDetector(opts) as detector:
        for n, (frame_id, frame) in enumerate(frames):
            frame = np.asarray(frame)
            if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                raise InputError(f"frame {frame_id}: expected an RGB uint8 image (H, W, 3), got {frame.dtype} {frame.shape}")
            if size is None:
                size = frame.shape[:2]
            elif frame.shape[:2] != size:
                raise InputError(f"frame {frame_id} is {frame.shape[1]}x{frame.shape[0]}, earlier frames {size[1]}x{size[0]}")
            fd = detector(frame)
            tracker.update(frame_id, fd.detections)
            per_frame.append((fd.detections, fd.labels, fd.union))
            if first_tracker is not None:
                first = fd.as_first_detected
                first_tracker.update(frame_id, first.detections)
                first_per_frame.append((first.detections, first.labels, first.union))
            if progress is not None:
                progress(n + 1)
    if size is None:
        raise InputError("no frames to detect people in")
    seconds = time.perf_counter() - t0
    tracks, dropped = tracker.finish()
    people = [_assemble(t, per_frame, opts.mask_stride) for t in tracks]
    if first_tracker is None:
        union = _union_with_gaps(per_frame, tracks, people)
    else:
        first_tracks, _ = first_tracker.finish()
        first_people = [_assemble(t, first_per_frame, opts.mask_stride) for t in first_tracks]
        union = _union_with_gaps(first_per_frame, first_tracks, first_people)
        for p, t in zip(people, tracks):  # a split track's gap masks are guesses: kept within the union
            p.masks &= union[t.steps]
    n = len(per_frame)
    stats = {
        "frames": n,
        "seconds": seconds,
        "ms_per_frame": 1000 * seconds / n,
        "detections_per_frame": float(np.mean([len(d) for d, _, _ in per_frame])),
        "tracks": len(people),
        "dropped_tracks": dropped,
        "person_pixel_fraction": float(union.mean()),
    }
    log.info("people: %d frames in %.1f s (%.0f ms/frame), %.1f detections/frame, %d tracks kept, dropped %s",
             n, seconds, stats["ms_per_frame"], stats["detections_per_frame"], len(people), dropped)  # fmt: skip
    return PeopleResult(people, np.asarray(tracker.frame_ids, dtype=np.int64), union, opts.mask_stride,
                        (int(size[1]), int(size[0])), stats)  # fmt: skip


def detect_people_in_video(path, long_side: int | None = 960, options: PeopleOptions | None = None,
                           progress: Callable[[int], None] | None = None, **frame_kwargs) -> PeopleResult:  # fmt: skip
    """`detect_people` on a video decoded with `iter_frames(path, long_side, **frame_kwargs)`."""
    from josh.perception.video import iter_frames

    return detect_people(iter_frames(path, long_side=long_side, **frame_kwargs), options, progress)


def _union_with_gaps(per_frame, tracks, people: list[PersonTrack2D]) -> np.ndarray:
    """(N, h, w) bool: every frame's person union, plus the masks the tracks fill their gaps with
    (people the detector missed on a frame). Always built from the poses as first detected: the
    side-by-side split changes the pair's tracks and so their gaps' masks, and on the test
    suite's 60-frame cut of demo2 with every frame shown twice SfM drifted on that difference
    (camera path 4.44 against 2.81 m), while without the gaps' masks SfM registered only 35 of the
    50 frames of demo2 at half its frame rate (docs/demo2.md)."""
    union = np.stack([u for _, _, u in per_frame])
    for p, t in zip(people, tracks):
        union[t.steps] |= p.masks
    return union


def _assemble(t, per_frame, stride: int) -> PersonTrack2D:
    """A tracker `Track` plus its masks: the pose's own mask where detected; in gaps the nearest
    detected mask moved by the change of its box centre."""
    h, w = per_frame[0][1].shape
    masks = np.zeros((len(t.steps), h, w), bool)
    det_rows = np.flatnonzero(t.detected)
    for r, (step, idx) in enumerate(zip(t.steps, t.detection_index)):
        if idx >= 0:
            masks[r] = per_frame[step][1] == idx
    for r in np.flatnonzero(~t.detected):
        src = det_rows[np.argmin(np.abs(det_rows - r))]
        d = ((t.boxes[r, :2] + t.boxes[r, 2:]) - (t.boxes[src, :2] + t.boxes[src, 2:])) / (2 * stride)
        masks[r] = shift_mask(masks[src], int(round(d[1])), int(round(d[0])))
    return PersonTrack2D(
        track_id=t.track_id, frames=t.frames, keypoints2d=t.keypoints2d, keypoints_conf=t.keypoints_conf,
        landmarks3d=t.landmarks3d, boxes=t.boxes, detected=t.detected, masks=masks, mask_stride=stride,
    )  # fmt: skip


__all__ = [
    "KEYPOINT_NAMES", "MEDIAPIPE_INDEX", "PeopleOptions", "PersonTrack2D", "PeopleResult", "PoseDetector",
    "FrameDetections", "detect_people", "detect_people_in_video", "landmarks_to_keypoints", "world_to_camera",
    "rotate_to_viewing_ray", "crop_layout", "resolve_mask_overlaps", "skeleton_distance", "shift_mask",
    "torso_histogram", "mask_grid",
]  # fmt: skip
