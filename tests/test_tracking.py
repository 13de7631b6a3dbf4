"""The people tracker on synthetic detections: crossing, occlusion gaps, spurious detections, swaps."""

from __future__ import annotations

import numpy as np
import pytest

from josh.perception.tracking import Detection, PersonTracker, TrackerOptions, appearance_distance, box_iou, jump_weights

K = 23
HEIGHT = 200.0  # px


def _person(cx: float, cy: float = 300.0, conf: float = 0.9, colour: int | None = None, rng=None, noise=0.0) -> Detection:
    """A standing stick figure of height HEIGHT centred at (cx, cy), keypoints spread over the body."""
    rng = rng or np.random.default_rng(0)
    rel = np.stack([np.tile([-0.1, 0.0, 0.1], 8)[:K], np.linspace(-0.45, 0.45, K)], axis=1) * HEIGHT
    kp = np.array([cx, cy]) + rel + noise * HEIGHT * rng.standard_normal((K, 2))
    box = np.array([kp[:, 0].min() - 20, kp[:, 1].min() - 10, kp[:, 0].max() + 20, kp[:, 1].max() + 10])
    hist = None
    if colour is not None:
        hist = np.full(16, 0.01)
        hist[colour] = 1.0
        hist /= hist.sum()
    return Detection(box=box, keypoints2d=kp, keypoints_conf=np.full(K, conf), landmarks3d=np.zeros((K, 3)) + cx / 1000,
                     appearance=hist)  # fmt: skip


def _run(frames: list[list[Detection]], opts: TrackerOptions | None = None):
    tracker = PersonTracker(opts or TrackerOptions(min_detections=5))
    ids = [tracker.update(i, dets) for i, dets in enumerate(frames)]
    tracks, dropped = tracker.finish()
    return tracks, dropped, ids


def test_two_people_crossing_keep_their_identities():
    # A walks right, B walks left; at frame 10 they are at the same place (boxes coincide)
    n = 21
    frames = []
    for t in range(n):
        a = _person(300 + 20 * (t - 10))
        b = _person(300 - 20 * (t - 10))
        frames.append([b, a] if t % 2 else [a, b])  # detection order carries no identity
    tracks, _, _ = _run(frames)
    assert len(tracks) == 2
    for tr in tracks:
        assert len(tr.frames) == n and tr.detected.all()
        x = tr.keypoints2d[:, :, 0].mean(axis=1)
        steps = np.diff(x)
        # each identity keeps moving one way: no swap at the crossing (a swap reverses the direction)
        assert np.all(np.sign(steps) == np.sign(steps[0]))
        assert np.allclose(np.abs(steps), 20, atol=1e-6)


def test_occlusion_gap_is_filled_with_the_same_id():
    frames = []
    for t in range(30):
        walker = _person(100 + 10 * t)
        frames.append([] if 10 <= t < 15 else [walker])
    tracks, _, ids = _run(frames)
    assert len(tracks) == 1
    tr = tracks[0]
    assert list(tr.frames) == list(range(30))
    assert not tr.detected[10:15].any() and tr.detected[:10].all() and tr.detected[15:].all()
    assert ids[9] == ids[15]  # re-found after the gap with the same id
    # linear interpolation of the motion through the gap, lowered confidences
    x = tr.keypoints2d[:, :, 0].mean(axis=1)
    assert np.allclose(np.diff(x), 10, atol=1e-4)
    assert np.all(tr.keypoints_conf[10:15] < 0.5 * tr.keypoints_conf[9])
    assert np.all(tr.detection_index[10:15] == -1) and np.all(tr.detection_index[tr.detected] == 0)


def test_gap_longer_than_fill_gap_is_left_out():
    frames = [[] if 5 <= t < 15 else [_person(100 + 5 * t)] for t in range(25)]
    tracks, _, _ = _run(frames, TrackerOptions(min_detections=5, fill_gap=4, max_gap=20))
    assert len(tracks) == 1  # still one identity (within max_gap) ...
    assert list(tracks[0].frames) == list(range(5)) + list(range(15, 25))  # ... but not interpolated
    assert tracks[0].detected.all()


def test_spurious_short_detection_is_dropped():
    frames = []
    for t in range(30):
        dets = [_person(200 + 3 * t)]
        if 12 <= t < 15:  # a 3-frame false positive far away
            dets.append(_person(900, 100))
        frames.append(dets)
    tracks, dropped, ids = _run(frames, TrackerOptions(min_detections=8))
    assert len(tracks) == 1 and len(tracks[0].frames) == 30
    assert dropped["too_short"] == 1
    assert ids[12][1] >= 0  # it was tracked online, then dropped at the end


def test_unsure_and_small_tracks_are_dropped():
    frames = [[_person(200, conf=0.2), _person(600)] for _ in range(20)]
    tracks, dropped, _ = _run(frames, TrackerOptions(min_detections=5, min_start_conf=0.1, min_mean_conf=0.5))
    assert len(tracks) == 1 and dropped["unsure"] == 1
    assert abs(tracks[0].keypoints2d[0, :, 0].mean() - 600) < 1
    tracks, dropped, _ = _run(frames[:10], TrackerOptions(min_detections=5, min_median_height=HEIGHT * 2))
    assert tracks == [] and dropped["too_small"] == 1


def _swap_prone_scene(seed: int):
    """Two differently dressed people side by side, 10% of their height apart, with keypoint noise
    as large as their separation: position alone cannot tell them apart."""
    rng = np.random.default_rng(seed)
    frames, truth = [], []
    for t in range(40):
        a = _person(400 + 2 * t, colour=2, rng=rng, noise=0.1)
        b = _person(420 + 2 * t, colour=9, rng=rng, noise=0.1)
        order = rng.permutation(2)
        frames.append([[a, b][i] for i in order])
        truth.append(list(order))  # detection c is person truth[t][c]
    return frames, truth


def _purity(ids, truth) -> bool:
    """True if every track id only ever received one person's detections."""
    owner = {}
    for frame_ids, frame_truth in zip(ids, truth):
        for tid, person in zip(frame_ids, frame_truth):
            if tid >= 0 and owner.setdefault(tid, person) != person:
                return False
    return True


def test_swap_prone_side_by_side_walkers_are_kept_apart_by_appearance():
    frames, truth = _swap_prone_scene(seed=3)
    tracks, _, ids = _run(frames)
    assert len(tracks) == 2 and all(len(t.frames) == 40 for t in tracks)
    assert _purity(ids, truth)
    # the scene really is swap-prone: without the appearance cue the tracker swaps them
    _, _, ids_blind = _run(frames, TrackerOptions(min_detections=5, w_appearance=0.0, max_appearance_dist=1.0))
    assert not _purity(ids_blind, truth)


def test_helpers():
    assert box_iou(np.array([0, 0, 10, 10]), np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])) == pytest.approx(
        np.array([[1.0, 1 / 3, 0.0]])
    )
    h = np.array([0.5, 0.5, 0.0])
    assert appearance_distance(h, h) == pytest.approx(0.0, abs=1e-7)
    assert appearance_distance(h, np.array([0.0, 0.0, 1.0])) == pytest.approx(1.0)
    assert appearance_distance(None, h) == 0.0


def test_jump_weights_keep_real_motion_and_drop_jumps():
    T = 30
    frames = np.arange(T)
    height = np.full(T, 200.0)
    kp = np.zeros((T, 2, 2), np.float32)
    kp[:, 0, 0] = 5.0 * frames  # a keypoint moving steadily
    kp[:, 1, 0] = np.minimum(frames, 12) * 8.0  # a foot that swings, then stops at once
    kp[20:22, 0, 1] += 30.0  # two frames of a 0.15-box-height jump
    w = jump_weights(kp, frames, height)
    assert w[20:22, 0].max() < 0.05
    keep = np.ones(T, bool)
    keep[20:22] = False
    assert w[keep, 0].min() > 0.99 and w[:, 1].min() > 0.99
    # frames that are not consecutive are not compared: two frames seen elsewhere between gaps
    seen = np.concatenate([np.arange(10), [40, 41], np.arange(60, 70)])
    elsewhere = np.zeros((len(seen), 1, 2), np.float32)
    elsewhere[10:12] = 400.0
    assert jump_weights(elsewhere, seen, np.full(len(seen), 200.0)).min() > 0.99
