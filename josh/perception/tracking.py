"""Multi-person tracking by detection: identities across frames, short occlusions, gap filling.

Pure numpy/scipy, independent of the pose model: `PersonTracker.update` takes one frame's
`Detection`s at a time and assigns them to tracks with the Hungarian algorithm
(`scipy.optimize.linear_sum_assignment`) on a cost that mixes

- box overlap with a constant-velocity prediction of the track's box,
- keypoint distance to the track's last keypoints moved by the predicted displacement (in units of
  the person's box height, so it means the same for near and far people),
- appearance: the Bhattacharyya distance between torso colour histograms (what keeps two people
  who walk side by side, or cross, from swapping),
- a small penalty for tracks that have not been seen for a while (recent tracks win ties).

A pair is only allowed when the keypoint distance and the appearance distance are both within
their gates. A track missed for up to `max_gap` steps stays matchable (occlusion); after that it
ends. `PersonTracker.finish` then drops tracks that are too short or too unsure to reconstruct and
fills gaps of up to `fill_gap` steps by linear interpolation (marked not detected, with lowered
confidences); longer gaps are left out of the track's frames.

Steps count processed frames; `frame_ids` keeps the video frame index of each step (frames may be
strided).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

TORSO = [5, 6, 11, 12]  # shoulders and hips in the 23-keypoint order
_NO_MATCH = 1e6


@dataclass
class TrackerOptions:
    """Thresholds of the tracker (lengths in steps = processed frames, distances in box heights)."""

    max_gap: int = 30  # a track unseen for more steps than this ends (occlusions up to ~1 s at 30 fps)
    fill_gap: int = 15  # gaps up to this long are interpolated; longer ones stay out of the track
    gap_conf_scale: float = 0.3  # confidence of an interpolated keypoint: this x the lower neighbour's
    keypoint_min_conf: float = 0.3  # keypoints at least this confident are compared between frames
    max_keypoint_dist: float = 0.6  # gate: median keypoint distance per box height (grows with the gap)
    gap_gate_growth: float = 0.05  # gate grows by this fraction per missed step
    max_appearance_dist: float = 0.55  # gate: Bhattacharyya distance of torso colour histograms
    w_iou: float = 1.0  # cost weights
    w_keypoints: float = 1.0
    w_appearance: float = 1.0
    w_age: float = 0.3  # cost added for a track missed `max_gap` steps (linear in the gap)
    velocity_smoothing: float = 0.6  # weight of the newest box displacement in the velocity average
    appearance_smoothing: float = 0.2  # weight of the newest histogram in the track's appearance
    min_start_conf: float = 0.5  # a detection starts a new track only if its torso confidence is this high
    min_detections: int = 8  # tracks detected in fewer steps are dropped (spurious detections)
    min_mean_conf: float = 0.5  # tracks whose mean torso confidence (detected steps) is lower are dropped
    min_median_height: float = 40.0  # px: tracks of people smaller than this (median box height) are dropped


@dataclass
class Detection:
    """One person seen in one frame (working-resolution pixels)."""

    box: np.ndarray  # (4,) x1, y1, x2, y2
    keypoints2d: np.ndarray  # (K, 2)
    keypoints_conf: np.ndarray  # (K,) in [0, 1]
    landmarks3d: np.ndarray  # (K, 3) metric, hip-centred, camera-aligned axes
    appearance: np.ndarray | None = None  # normalised colour histogram of the torso (sums to 1)

    @property
    def height(self) -> float:
        return max(float(self.box[3] - self.box[1]), 1.0)

    @property
    def torso_conf(self) -> float:
        return float(np.mean(self.keypoints_conf[TORSO]))


@dataclass
class Track:
    """A finished track: per-step arrays over its span (detected steps and filled gaps)."""

    track_id: int
    steps: np.ndarray  # (T,) int step numbers, increasing
    frames: np.ndarray  # (T,) int video frame indices
    keypoints2d: np.ndarray  # (T, K, 2)
    keypoints_conf: np.ndarray  # (T, K)
    landmarks3d: np.ndarray  # (T, K, 3)
    boxes: np.ndarray  # (T, 4)
    detected: np.ndarray  # (T,) bool; False for interpolated steps
    detection_index: np.ndarray  # (T,) int index into that step's detections; -1 when interpolated


@dataclass
class _Live:
    """A track while tracking: its detections so far and its motion/appearance state."""

    track_id: int
    steps: list[int] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))  # box displacement per step
    appearance: np.ndarray | None = None

    @property
    def last(self) -> Detection:
        return self.detections[-1]

    def predicted_box(self, step: int) -> np.ndarray:
        return self.last.box + self.velocity * (step - self.steps[-1])

    def add(self, step: int, det: Detection, index: int, opts: TrackerOptions) -> None:
        if self.steps:
            new_v = (det.box - self.last.box) / (step - self.steps[-1])
            a = opts.velocity_smoothing
            self.velocity = new_v if len(self.steps) == 1 else a * new_v + (1 - a) * self.velocity
        if det.appearance is not None:
            a = opts.appearance_smoothing
            self.appearance = det.appearance if self.appearance is None else (1 - a) * self.appearance + a * det.appearance
        self.steps.append(step)
        self.detections.append(det)
        self.indices.append(index)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes a (N, 4) and b (M, 4), xyxy -> (N, M)."""
    a = np.asarray(a, float).reshape(-1, 4)
    b = np.asarray(b, float).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def keypoint_distance(kp_a, conf_a, kp_b, conf_b, scale: float, min_conf: float) -> float:
    """Median distance of the keypoints confident in both, divided by `scale` (inf if none are)."""
    both = (conf_a >= min_conf) & (conf_b >= min_conf)
    if not both.any():
        return float("inf")
    return float(np.median(np.linalg.norm(kp_a[both] - kp_b[both], axis=1)) / max(scale, 1e-6))


def appearance_distance(h1: np.ndarray | None, h2: np.ndarray | None) -> float:
    """Bhattacharyya distance in [0, 1] of two normalised histograms (0 when either is unknown)."""
    if h1 is None or h2 is None:
        return 0.0
    bc = float(np.sum(np.sqrt(np.clip(h1, 0, None) * np.clip(h2, 0, None))))
    return float(np.sqrt(max(0.0, 1.0 - min(bc, 1.0))))


class PersonTracker:
    """Online assignment of per-frame detections to tracks (see module doc)."""

    def __init__(self, options: TrackerOptions | None = None):
        self.options = options or TrackerOptions()
        self.frame_ids: list[int] = []
        self._live: list[_Live] = []
        self._ended: list[_Live] = []
        self._next_id = 0

    def update(self, frame_id: int, detections: list[Detection]) -> list[int]:
        """Assign one frame's detections; returns the track id of each (-1: not tracked)."""
        step = len(self.frame_ids)
        self.frame_ids.append(int(frame_id))
        opts = self.options
        self._end_lost(step)
        ids = [-1] * len(detections)
        cost = self._cost(step, detections)
        matched_dets = set()
        if cost.size:
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols):
                if cost[r, c] < _NO_MATCH:
                    self._live[r].add(step, detections[c], c, opts)
                    ids[c] = self._live[r].track_id
                    matched_dets.add(c)
        for c, det in enumerate(detections):
            if c in matched_dets or det.torso_conf < opts.min_start_conf:
                continue
            track = _Live(self._next_id)
            self._next_id += 1
            track.add(step, det, c, opts)
            self._live.append(track)
            ids[c] = track.track_id
        return ids

    def _end_lost(self, step: int) -> None:
        keep = []
        for t in self._live:
            (keep if step - t.steps[-1] <= self.options.max_gap else self._ended).append(t)
        self._live = keep

    def _cost(self, step: int, detections: list[Detection]) -> np.ndarray:
        """(tracks, detections) assignment cost; `_NO_MATCH` where a gate fails."""
        opts = self.options
        cost = np.full((len(self._live), len(detections)), _NO_MATCH)
        if not self._live or not detections:
            return cost
        pred = np.stack([t.predicted_box(step) for t in self._live])
        iou = box_iou(pred, np.stack([d.box for d in detections]))
        for r, track in enumerate(self._live):
            gap = step - track.steps[-1]
            shift = pred[r, :2] + pred[r, 2:] - track.last.box[:2] - track.last.box[2:]  # 2x centre shift
            kp_pred = track.last.keypoints2d + shift / 2
            gate = opts.max_keypoint_dist * (1 + opts.gap_gate_growth * (gap - 1))
            for c, det in enumerate(detections):
                scale = 0.5 * (track.last.height + det.height)
                d_kp = keypoint_distance(kp_pred, track.last.keypoints_conf, det.keypoints2d, det.keypoints_conf,
                                         scale, opts.keypoint_min_conf)  # fmt: skip
                if not np.isfinite(d_kp):  # no keypoint confident in both: compare box centres
                    d_kp = float(np.linalg.norm((pred[r, :2] + pred[r, 2:] - det.box[:2] - det.box[2:]) / 2)) / scale
                d_app = appearance_distance(track.appearance, det.appearance)
                if d_kp > gate or d_app > opts.max_appearance_dist:
                    continue
                cost[r, c] = (opts.w_iou * (1 - iou[r, c]) + opts.w_keypoints * d_kp / gate
                              + opts.w_appearance * d_app / opts.max_appearance_dist
                              + opts.w_age * (gap - 1) / max(opts.max_gap, 1))  # fmt: skip
        return cost

    def finish(self) -> tuple[list[Track], dict]:
        """End every track; return the kept ones (gaps filled) and counts of dropped tracks."""
        opts = self.options
        tracks = self._ended + self._live
        self._ended, self._live = [], []
        kept, dropped = [], {"too_short": 0, "unsure": 0, "too_small": 0}
        for t in sorted(tracks, key=lambda t: t.track_id):
            if len(t.steps) < opts.min_detections:
                dropped["too_short"] += 1
            elif np.mean([d.torso_conf for d in t.detections]) < opts.min_mean_conf:
                dropped["unsure"] += 1
            elif np.median([d.height for d in t.detections]) < opts.min_median_height:
                dropped["too_small"] += 1
            else:
                kept.append(t)
        # ids renumbered 0..n-1 in order of first appearance
        kept.sort(key=lambda t: (t.steps[0], t.track_id))
        out = [self._fill(new_id, t) for new_id, t in enumerate(kept)]
        return out, dropped

    def _fill(self, track_id: int, t: _Live) -> Track:
        """Arrays over the detected steps plus interpolated gaps of up to `fill_gap` steps."""
        opts = self.options
        steps = np.asarray(t.steps)
        kp = np.stack([d.keypoints2d for d in t.detections])
        kc = np.stack([d.keypoints_conf for d in t.detections])
        lm = np.stack([d.landmarks3d for d in t.detections])
        bx = np.stack([d.box for d in t.detections])
        rows = {"steps": [], "kp": [], "kc": [], "lm": [], "bx": [], "det": [], "idx": []}

        def emit(s, k, c, l, b, det, idx):
            for key, v in zip(rows, (s, k, c, l, b, det, idx)):
                rows[key].append(v)

        for i, s in enumerate(steps):
            if i > 0 and 1 < s - steps[i - 1] <= opts.fill_gap + 1:
                a, g = steps[i - 1], s - steps[i - 1]
                for s_mid in range(a + 1, s):
                    w = (s_mid - a) / g
                    emit(s_mid, (1 - w) * kp[i - 1] + w * kp[i], opts.gap_conf_scale * np.minimum(kc[i - 1], kc[i]),
                         (1 - w) * lm[i - 1] + w * lm[i], (1 - w) * bx[i - 1] + w * bx[i], False, -1)  # fmt: skip
            emit(s, kp[i], kc[i], lm[i], bx[i], True, t.indices[i])
        s_all = np.asarray(rows["steps"], dtype=np.int64)
        return Track(
            track_id=track_id,
            steps=s_all,
            frames=np.asarray(self.frame_ids, dtype=np.int64)[s_all],
            keypoints2d=np.asarray(rows["kp"], dtype=np.float32),
            keypoints_conf=np.asarray(rows["kc"], dtype=np.float32),
            landmarks3d=np.asarray(rows["lm"], dtype=np.float32),
            boxes=np.asarray(rows["bx"], dtype=np.float32),
            detected=np.asarray(rows["det"], dtype=bool),
            detection_index=np.asarray(rows["idx"], dtype=np.int64),
        )


def runs(frames: np.ndarray) -> list[slice]:
    """Slices of rows whose frames are consecutive (frame[i + 1] = frame[i] + 1)."""
    frames = np.asarray(frames)
    if len(frames) == 0:
        return []
    cuts = np.flatnonzero(np.diff(frames) != 1) + 1
    bounds = np.concatenate([[0], cuts, [len(frames)]])
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def jump_weights(keypoints2d: np.ndarray, frames: np.ndarray, box_height: np.ndarray,
                 window: int = 5, scale: float = 0.03) -> np.ndarray:  # fmt: skip
    """(T, K) confidence factors in (0, 1] for a track's keypoints (T, K, 2): 1 / (1 + (d / scale)^2),
    d = a keypoint's distance from the median of its own positions over `window` consecutive
    frames, in the person's box heights (T,).

    Why: a pose network gives confident keypoints that jump for a frame or two where people
    overlap (demo2: the woman's head keypoints swing 25-30 px frame to frame, all at confidence
    0.99, while the man behind her crosses); fitted as they are, they become the body's jitter. A
    running median follows real motion, steps included (a planted foot stops at once), but not a
    jump of one or two frames, so only the jumps lose weight."""
    weights = np.ones(keypoints2d.shape[:2], np.float32)
    for run in runs(frames):
        if run.stop - run.start < 3:
            continue
        kp = keypoints2d[run]
        median = ndimage.median_filter(kp, size=(min(window, len(kp)), 1, 1), mode="nearest")
        d = np.linalg.norm(kp - median, axis=-1) / np.maximum(box_height[run, None], 1.0)
        weights[run] = 1.0 / (1.0 + (d / scale) ** 2)
    return weights


__all__ = ["TrackerOptions", "Detection", "Track", "PersonTracker", "box_iou", "jump_weights", "keypoint_distance", "runs", "appearance_distance"]
