"""People front-end: landmark mapping, axes, crops, mask overlap resolution, MediaPipe on real frames."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from josh.errors import InputError, SetupError
from josh.perception.people import (
    KEYPOINT_NAMES,
    MEDIAPIPE_INDEX,
    crop_layout,
    landmarks_to_keypoints,
    mask_grid,
    resolve_mask_overlaps,
    rotate_to_viewing_ray,
    shift_mask,
    skeleton_distance,
    torso_halves_distance,
    world_to_camera,
)

DEMO = Path(os.environ.get("JOSH_DEMO_VIDEO", Path(__file__).resolve().parents[2] / "shared" / "data" / "demo2.mp4"))
if not DEMO.is_file():
    DEMO = Path("/work/shared/data/demo2.mp4")

# MediaPipe BlazePose landmark names, in its index order (from its documentation)
MP_NAMES = [
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
]  # fmt: skip


def test_keypoint_order_matches_the_body_model(body):
    assert KEYPOINT_NAMES == list(body.keypoint_names)


def test_mediapipe_landmarks_map_by_name():
    for ours, mp_index in zip(KEYPOINT_NAMES, MEDIAPIPE_INDEX):
        mp_name = MP_NAMES[mp_index]
        if ours.endswith("toe"):  # both toes of a foot come from its foot-index landmark
            assert mp_name == ours.split("_")[0] + "_foot_index"
        else:
            assert mp_name == ours


def test_landmarks_to_pixels_and_confidences():
    lm = np.zeros((33, 5))
    lm[:, 0] = np.linspace(0.0, 1.0, 33)  # x normalised to the crop
    lm[:, 1] = 0.25
    lm[:, 3] = 0.8  # visibility
    lm[:, 4] = 0.5  # presence
    uv, conf = landmarks_to_keypoints(lm, width=540, height=540, x0=210, y0=0, small_toe_conf_scale=0.1)
    assert uv.shape == (23, 2) and conf.shape == (23,)
    nose = KEYPOINT_NAMES.index("nose")
    heel = KEYPOINT_NAMES.index("right_heel")
    assert uv[nose] == pytest.approx([210 - 0.5, 135 - 0.5])  # x = 0: left edge of the crop
    assert uv[heel, 0] == pytest.approx(210 + lm[30, 0] * 540 - 0.5)
    big, small = KEYPOINT_NAMES.index("left_big_toe"), KEYPOINT_NAMES.index("left_small_toe")
    assert uv[small] == pytest.approx(uv[big])  # same landmark ...
    assert conf[big] == pytest.approx(0.4) and conf[small] == pytest.approx(0.04)  # ... much less trusted


def test_world_landmarks_keep_axes_and_are_hip_centred():
    world = np.zeros((33, 3))
    world[23] = [0.1, 0.02, 0.01]  # MediaPipe's own origin is only near the hip midpoint
    world[24] = [-0.1, 0.0, -0.01]
    world[0] = [0.0, -0.6, 0.1]  # nose: up (-y) and away from the camera (+z), as for a walker seen from behind
    world[27] = [0.1, 0.8, 0.0]  # left ankle: down
    lm = world_to_camera(world)
    hips = lm[[KEYPOINT_NAMES.index("left_hip"), KEYPOINT_NAMES.index("right_hip")]]
    assert hips.mean(0) == pytest.approx(np.zeros(3), abs=1e-12)
    nose, ankle = lm[KEYPOINT_NAMES.index("nose")], lm[KEYPOINT_NAMES.index("left_ankle")]
    assert nose[1] < 0 < ankle[1] and nose[2] > 0  # y down, z forward: no flip
    assert nose - ankle == pytest.approx(world[0] - world[27])


def test_rotate_to_viewing_ray():
    rng = np.random.default_rng(1)
    lm = rng.normal(size=(2, 23, 3))
    kp = np.zeros((2, 23, 2))
    f, cx, cy = 500.0, 480.0, 270.0
    kp[0] = [cx, cy]  # on the optical axis: unchanged
    kp[1] = [cx + f, cy]  # 45 degrees to the right
    out = rotate_to_viewing_ray(lm, kp, f, cx, cy)
    assert out[0] == pytest.approx(lm[0])
    # a rotation: distances kept; the ray frame's z axis turns onto the ray (1, 0, 1)/sqrt(2)
    d_in = np.linalg.norm(lm[1][:, None] - lm[1][None], axis=-1)
    d_out = np.linalg.norm(out[1][:, None] - out[1][None], axis=-1)
    assert d_out == pytest.approx(d_in)
    probe = np.zeros((1, 23, 3))
    probe[0, 0] = [0, 0, 1]
    probe[0, 1] = [0, 1, 0]
    turned = rotate_to_viewing_ray(probe, kp[1:], f, cx, cy)[0]
    assert turned[0] == pytest.approx(np.array([1, 0, 1]) / np.sqrt(2))
    assert turned[1] == pytest.approx([0, 1, 0])  # rotation about the vertical axis only


def test_crop_layout_covers_the_frame_with_overlap():
    crops = crop_layout(960, 540, overlap=0.5, align=4)
    assert crops[0][0] == 0 and crops[-1][2] == 960
    assert all(c[1] == 0 and c[3] == 540 and c[2] - c[0] == 540 and c[0] % 4 == 0 for c in crops)
    overlaps = [a[2] - b[0] for a, b in zip(crops, crops[1:])]
    assert min(overlaps) >= 0.5 * 540
    assert crop_layout(400, 400, 0.5) == [(0, 0, 400, 400)]
    tall = crop_layout(540, 960, 0.3)
    assert tall[0] == (0, 0, 540, 540) and tall[-1][3] == 960


def test_mask_overlap_goes_to_the_nearest_skeleton():
    # two people side by side, each segmentation bleeding over the other's body
    u, v = mask_grid(200, 100, stride=4)
    conf = np.ones(23)
    people = []
    for x in (80.0, 120.0):
        kp = np.zeros((23, 2))
        kp[:, 0] = x
        kp[:, 1] = np.linspace(10, 90, 23)
        people.append(kp)
    bleed = (u > 60) & (u < 140)  # each segmentation covers both bodies
    claims = np.stack([bleed, bleed])
    dists = np.stack([skeleton_distance(kp, conf, u, v, 0.3) for kp in people])
    label = resolve_mask_overlaps(claims, dists)
    assert label.shape == u.shape
    assert np.all(label[bleed & (u < 100)] == 0) and np.all(label[bleed & (u > 100)] == 1)
    assert np.all(label[~bleed] == -1)
    # one person claiming alone keeps everything it claims, however far from its skeleton
    solo = resolve_mask_overlaps(np.stack([bleed, np.zeros_like(bleed)]), dists)
    assert np.all(solo[bleed] == 0)
    assert resolve_mask_overlaps(np.zeros((0, 3, 4), bool), np.zeros((0, 3, 4))).tolist() == [[-1] * 4] * 3


def test_skeleton_distance_ignores_unsure_keypoints():
    kp = np.array([[0.0, 0.0]] * 23)
    kp[5], kp[11] = [10, 0], [10, 100]  # left shoulder -> left hip limb
    conf = np.zeros(23)
    conf[[5, 11]] = 1.0
    d = skeleton_distance(kp, conf, np.array([0.0, 10.0, 30.0]), np.array([50.0, 50.0, 200.0]), 0.3)
    assert d == pytest.approx([10.0, 0.0, np.hypot(20, 100)])
    assert np.isinf(skeleton_distance(kp, np.zeros(23), np.zeros(2), np.zeros(2), 0.3)).all()


def test_shift_mask():
    m = np.zeros((5, 6), bool)
    m[1, 2] = True
    assert np.argwhere(shift_mask(m, 2, -1)).tolist() == [[3, 1]]
    assert not shift_mask(m, 10, 0).any()


# ------------------------------------------------------------------------------ with MediaPipe
def _require_pose_model():
    pytest.importorskip("mediapipe")
    from josh.perception.pose_models import PoseModelError, pose_bundle_path

    try:
        pose_bundle_path()
    except PoseModelError as exc:
        pytest.skip(f"pose model bundle not built (run `josh setup`): {exc}")


def test_empty_scene_and_bad_frames():
    _require_pose_model()
    from josh.perception.people import PeopleOptions, detect_people

    blank = np.full((120, 200, 3), 128, np.uint8)
    result = detect_people([(0, blank), (2, blank), (4, blank)])
    assert result.tracks == [] and result.frame_ids.tolist() == [0, 2, 4]
    assert result.union_masks.shape == (3, 30, 50) and not result.union_masks.any()
    assert set(result.masks_by_frame()) == {0, 2, 4}
    with pytest.raises(InputError, match="no frames"):
        detect_people([])
    with pytest.raises(InputError, match="RGB uint8"):
        detect_people([(0, blank.astype(np.float32))])
    with pytest.raises(InputError, match="earlier frames"):
        detect_people([(0, blank), (1, blank[:100])])
    with pytest.raises(SetupError, match="cannot load the pose model"):
        detect_people([(0, blank)], PeopleOptions(model_path=__file__))
    with pytest.raises(InputError, match="mask_stride"):
        PeopleOptions(mask_stride=0)


def _standing_keypoints(x0: float, x1: float, top: float, hip: float) -> tuple[np.ndarray, np.ndarray]:
    """23 keypoints with shoulders at row `top` and hips at row `hip`, between columns x0 and x1."""
    kp = np.zeros((23, 2))
    kp[[5, 11]] = [[x0, top], [x0, hip]]
    kp[[6, 12]] = [[x1, top], [x1, hip]]
    return kp, np.where(np.isin(np.arange(23), [5, 6, 11, 12]), 0.9, 0.0)


def test_torso_halves_distance_tells_one_shirt_from_two():
    rng = np.random.default_rng(0)
    frame = np.clip(rng.normal(120, 6, (200, 200, 3)), 0, 255).astype(np.uint8)
    kp, conf = _standing_keypoints(60, 140, 40, 140)
    one_shirt = torso_halves_distance(frame, kp, conf)
    assert one_shirt is not None and one_shirt < 0.3
    frame[:, :100] = [245, 245, 240]  # a white shirt on the image-left half, a black one on the right
    frame[:, 100:] = [20, 20, 25]
    assert torso_halves_distance(frame, kp, conf) > 0.9
    conf[[5, 6]] = 0.0  # shoulders unseen: no torso to judge
    assert torso_halves_distance(frame, kp, conf) is None


def test_a_one_coloured_pose_is_not_split():
    _require_pose_model()
    from josh.perception.people import PoseDetector, _CropPose
    from josh.perception.tracking import Detection

    frame = np.full((200, 200, 3), 90, np.uint8)
    kp, conf = _standing_keypoints(60, 140, 40, 140)
    pose = _CropPose(Detection(np.array([50.0, 20, 150, 190]), kp, conf, np.zeros((23, 3))), (0, 0, 200, 200), None, 1.0)
    with PoseDetector() as det:
        assert det.split_side_by_side(frame, pose) == [pose]


@pytest.mark.slow
def test_demo2_side_by_side_pair_becomes_two_poses():
    """On demo2 the woman and the man in white walk side by side, overlapping in the image; the
    landmarker returns one pose for the two, half white shirt, half black top. Split, each of the
    two poses found instead wears one colour. On frame 60 the left man, lit from the side, has
    torso halves 0.65 apart: re-detected he comes back as two halves of one shirt, which must not
    count as two people (only one pose more per frame). The person union (the mask SfM gets)
    stays that of the poses as first detected; both new poses own pixels of it."""
    _require_pose_model()
    if not DEMO.is_file():
        pytest.skip(f"demo video not found at {DEMO} (set JOSH_DEMO_VIDEO)")
    from josh.perception.people import PeopleOptions, PoseDetector
    from josh.perception.video import iter_frames

    frames = {f: np.asarray(x) for f, x in iter_frames(DEMO, long_side=960, max_frames=71) if f in (25, 60, 70)}
    counts, unions = {}, {}
    for split in (False, True):
        with PoseDetector(PeopleOptions(split_pairs=split)) as det:
            for f, frame in frames.items():
                found = det(frame)
                poses, unions[split, f] = found.detections, found.union
                owners = set(np.unique(found.labels[found.union]))
                assert owners >= set(range(len(poses))), (f, split, owners)
                halves = [torso_halves_distance(frame, p.keypoints2d, p.keypoints_conf) for p in poses]
                mixed = sum(h is not None and h >= 0.75 for h in halves)
                assert mixed == (0 if split else 1), (f, split, halves)
                counts[split, f] = len(poses)
    assert all(counts[True, f] == counts[False, f] + 1 for f in frames)
    assert all(np.array_equal(unions[True, f], unions[False, f]) for f in frames)


@pytest.mark.slow
def test_the_split_changes_the_tracks_but_not_the_person_union():
    """SfM's mask must not depend on the side-by-side split: on the test suite's 480-px cut of
    demo2 the split gives the pair two tracks with other gaps, and when the union took those
    gaps' masks SfM drifted on the difference (617 mask pixels over these 30 frames)."""
    _require_pose_model()
    if not DEMO.is_file():
        pytest.skip(f"demo video not found at {DEMO} (set JOSH_DEMO_VIDEO)")
    from josh.perception.people import PeopleOptions, detect_people
    from josh.perception.video import iter_frames

    frames = list(iter_frames(DEMO, long_side=480, stride=2, max_frames=30))
    plain, split = (detect_people(iter(frames), PeopleOptions(split_pairs=s)) for s in (False, True))
    assert len(split.tracks) == len(plain.tracks) + 1
    np.testing.assert_array_equal(split.union_masks, plain.union_masks)


@pytest.mark.slow
def test_demo2_first_frames_have_three_tracked_walkers():
    _require_pose_model()
    if not DEMO.is_file():
        pytest.skip(f"demo video not found at {DEMO} (set JOSH_DEMO_VIDEO)")
    from josh.perception.people import detect_people
    from josh.perception.video import iter_frames

    n = 20
    result = detect_people(iter_frames(DEMO, long_side=960, max_frames=n))
    W, H = result.image_size
    assert (W, H) == (960, 540) and len(result.frame_ids) == n
    long_tracks = [t for t in result.tracks if len(t.frames) >= 0.75 * n and t.detected.mean() >= 0.6]
    assert len(long_tracks) >= 3
    for t in long_tracks:
        T = len(t.frames)
        assert t.keypoints2d.shape == (T, 23, 2) and t.landmarks3d.shape == (T, 23, 3) and t.masks.shape[0] == T
        sure = t.keypoints_conf > 0.5
        kp = t.keypoints2d[sure]
        assert np.all((kp[:, 0] > -20) & (kp[:, 0] < W + 20) & (kp[:, 1] > -20) & (kp[:, 1] < H + 20))
        # upright walkers: shoulders above hips above ankles in the image and in the metric landmarks
        for pts in (t.keypoints2d, t.landmarks3d):
            y = pts[..., 1]
            assert np.median(y[:, [5, 6]].mean(1) - y[:, [11, 12]].mean(1)) < 0
            assert np.median(y[:, [11, 12]].mean(1) - y[:, [15, 16]].mean(1)) < 0
        # metric landmarks: a plausible adult hip width and shoulder-to-ankle height (metres)
        hip_width = np.linalg.norm(t.landmarks3d[:, 11] - t.landmarks3d[:, 12], axis=-1)
        assert 0.1 < np.median(hip_width) < 0.4
        stature = np.median(t.landmarks3d[:, [15, 16], 1].mean(1) - t.landmarks3d[:, [5, 6], 1].mean(1))
        assert 0.9 < stature < 1.7
        # masks lie on the person: most of the mask inside the box
        s = t.mask_stride
        k = np.flatnonzero(t.detected)[0]
        ij = np.argwhere(t.masks[k])
        assert len(ij) > 20
        u, v = (ij[:, 1] + 0.5) * s - 0.5, (ij[:, 0] + 0.5) * s - 0.5
        b = t.boxes[k]
        assert np.mean((u >= b[0]) & (u <= b[2]) & (v >= b[1]) & (v <= b[3])) > 0.8
    # the union covers every tracked person's mask
    for t in result.tracks:
        rows = np.searchsorted(result.frame_ids, t.frames)
        assert not np.any(t.masks & ~result.union_masks[rows])
