"""Contact probabilities of the body's contact candidates, per frame.

Three estimates (DESIGN §5):
- `initial_contacts`: from the local body alone. Along the body's own "up" axis, the candidates
  near the lowest foot point carry the weight (standing and walking: the stance foot);
- `contacts_from_reconstruction`: after a first joint optimisation, from the reconstruction
  itself: a candidate is in contact when it is close to the scene and nearly still in the world;
- `planted_feet` / `contacts_from_video`: after a first joint optimisation, from what the video
  shows: each foot's heel and toe keypoints cast through the reconstructed cameras onto the
  reconstructed ground; a foot part whose cast point stays put is planted. Unlike the two above,
  this does not depend on how the fitted legs are posed, which is what is least reliable on a
  monocular video (on demo2 the fitted stance foot slid 20-40 mm per frame while the heel
  keypoints cast on the ground stood still for 15-25 frames at a time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from scipy.spatial import cKDTree

from josh.body.protocol import foot_candidates
from josh.types import HumanTrack, Reconstruction

STANCE_MARGIN = 0.03  # m: foot candidates this close to the lowest foot point carry the weight
FOOT_PARTS = {"heel": ("heel",), "toes": ("big_toe", "small_toe")}  # keypoints of each part, per side
SIDES = ("left", "right")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def planted_sides(prob: np.ndarray, body, threshold: float = 0.5) -> dict[str, np.ndarray]:
    """Per side, (T,) bool: some contact candidate of that foot is in contact in `prob` (T, n_contact)."""
    prob = np.asarray(prob)
    return {side: (prob[:, foot_candidates(body, side)] > threshold).any(1) for side in SIDES}


@torch.no_grad()
def initial_contacts(track: HumanTrack, body, margin: float = STANCE_MARGIN, softness: float = 0.01) -> np.ndarray:
    """(T, n_contact) probabilities: foot candidates within `margin` of the lowest foot point."""
    T = len(track.frames)
    f32 = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
    out = body.forward(body.rest(f32(track.shape)[None]), torch.zeros(T, dtype=torch.long),
                       f32(track.root_rotmat), f32(track.root_transl), f32(track.body_pose))  # fmt: skip
    up = (f32(track.root_rotmat) @ f32(body.up_axis))[:, None, :]  # body up in the camera frame
    height = (out.contact_vertices * up).sum(-1).numpy()  # (T, n_contact)
    feet = foot_candidates(body)
    lowest = height[:, feet].min(1, keepdims=True)
    prob = np.zeros_like(height)
    prob[:, feet] = _sigmoid((margin - (height[:, feet] - lowest)) / softness)
    return prob


def contacts_from_reconstruction(
    recon: Reconstruction, body, max_distance: float = 0.08, max_speed: float = 0.35
) -> list[np.ndarray]:
    """Per person (T, n_contact) probabilities from world geometry: near the scene and still.

    Speed is measured over the neighbouring frames (m/s, real time steps); hands and buttocks
    are included, so sitting or leaning is picked up when the scene supports it.
    """
    tree = cKDTree(recon.scene_points) if len(recon.scene_points) else None
    result = []
    for person in recon.people:
        X = person.contact_vertices  # (T, C, 3)
        T = len(X)
        if tree is None or T < 2:
            result.append(person.contacts.copy())
            continue
        dist, _ = tree.query(X.reshape(-1, 3), k=1)
        dist = dist.reshape(T, -1)
        t = person.frames / recon.fps
        step = np.linalg.norm(np.diff(X, axis=0), axis=-1) / np.diff(t)[:, None]
        speed = np.empty_like(dist)
        speed[0], speed[-1] = step[0], step[-1]
        speed[1:-1] = np.minimum(step[:-1], step[1:])
        near = _sigmoid((max_distance - dist) / 0.02)
        still = _sigmoid((max_speed - speed) / 0.1)
        result.append(np.clip(near * still, 0.0, 1.0))
    return result


# ------------------------------------------------------------------------------- from the video
@dataclass
class PlantedOptions:
    """When a foot part counts as planted from its keypoints cast on the ground."""

    still_speed: float = 0.8
    """m/s: the cast point's speed (over two frames, after a 3-frame median) below which the part
    may be planted. A walker's swinging foot moves at 2.5-5 m/s; 1-2 px of keypoint noise cast
    on ground seen at a grazing angle is 0.3-0.6 m/s."""
    anchor_radius: float = 0.08
    """m: a planted run ends when the cast point leaves this radius around the run's median so
    far (a slow drift is a foot rolling forward or keypoints following the body, not a plant)."""
    min_frames: int = 3  # shorter runs are noise
    min_confidence: float = 0.3  # keypoints less visible than this say nothing
    ground_neighbours: int = 30  # scene points (nearest in the ground plane) giving the local ground height


def planted_feet(track: HumanTrack, recon: Reconstruction, body, options: PlantedOptions | None = None,
                 tree: cKDTree | None = None) -> dict[str, np.ndarray]:  # fmt: skip
    """Per foot part ("left_heel", "left_toes", "right_heel", "right_toes"), (T,) 1 where the video
    shows it planted, 0 where not, NaN where the video does not tell; for `track` (its frames are
    `track.frames`) in a reconstruction whose world is Z up (`josh.geometry.world_frame.align_world`).
    The keypoints must be in the reconstruction's pinhole image (undistorted working-resolution pixels)."""
    return {name: np.where(part.seen, part.planted.astype(float), np.nan)
            for name, part in cast_foot_parts(track, recon, body, options, tree).items()}  # fmt: skip


@dataclass
class CastPart:
    """One foot part of one track, cast through the cameras onto the ground, per frame."""

    ground: np.ndarray  # (T, 3) world point (NaN where the ray misses the ground)
    seen: np.ndarray  # (T,) bool: visible enough and on the ground
    planted: np.ndarray  # (T,) bool: in a planted run (`planted_runs`)
    seconds: np.ndarray  # (T,) time of each frame


def cast_foot_parts(track: HumanTrack, recon: Reconstruction, body, options: PlantedOptions | None = None,
                    tree: cKDTree | None = None) -> dict[str, CastPart]:  # fmt: skip
    """The foot parts of `planted_feet` with their cast ground points (same arguments)."""
    o = options or PlantedOptions()
    names = list(body.keypoint_names)
    pts = np.asarray(recon.scene_points, np.float64).reshape(-1, 3)
    tree = tree if tree is not None else (cKDTree(pts[:, :2]) if len(pts) else None)
    T_wc = np.asarray(recon.T_wc, np.float64)[track.frames]
    seconds = np.asarray(track.frames, np.float64) / recon.fps
    keypoints2d, confidence = np.asarray(track.keypoints2d, np.float64), np.asarray(track.keypoints_conf)
    parts = {}
    for side in SIDES:
        for part, keypoints in FOOT_PARTS.items():
            cols = [names.index(f"{side}_{k}") for k in keypoints]
            uv, visible = _visible_mean(keypoints2d[:, cols], confidence[:, cols], o.min_confidence)
            g = cast_on_ground(uv, T_wc, recon.intrinsics, pts, tree, o.ground_neighbours)
            seen = visible & np.isfinite(g).all(1)
            parts[f"{side}_{part}"] = CastPart(g, seen, planted_runs(g, seconds, seen, o), seconds)
    return parts


def footprint_velocity(parts: dict[str, CastPart]) -> np.ndarray | None:
    """(2,) mean ground velocity (m/s, x y) of a walker's footprints, or None when they do not tell.

    A footprint is one planted run of one foot part, seen before and after it: the median of its
    cast points, at its mean time. One velocity is fitted to all footprints with a separate
    offset per part (least squares), so the fixed gaps between a heel's and a toe's prints, and
    between the left and right feet, do not count as motion. It does not depend on the fitted
    bodies: an independent check of the body's speed, given the cameras and the ground."""
    rows = []
    for g, part in enumerate(parts.values()):
        T = len(part.planted)
        for (r,) in ndimage.find_objects(ndimage.label(part.planted)[0]):
            # a plant cut short by the track's ends or by an occlusion has a biased mean time
            if r.start > 0 and r.stop < T and part.seen[r.start - 1] and part.seen[r.stop]:
                rows.append((g, part.seconds[r].mean(), *np.median(part.ground[r, :2], axis=0)))
    if not rows:
        return None
    rows = np.asarray(rows)
    groups, counts = np.unique(rows[:, 0], return_counts=True)
    if counts.max() < 2:  # no part planted twice: offsets and motion cannot be told apart
        return None
    A = np.c_[rows[:, 1:2], (rows[:, :1] == groups[None]).astype(float)]
    solution, *_ = np.linalg.lstsq(A, rows[:, 2:4], rcond=None)
    return solution[0]


def _visible_mean(keypoints2d: np.ndarray, confidence: np.ndarray, min_confidence: float):
    """Per frame, the mean pixel (T, 2) of a part's keypoints (T, k, 2) that are visible enough, and
    whether any is. Any, not all: a part is seen when one of its keypoints is (the small toe is a
    low-confidence copy of the big toe when the detector has only one toe point)."""
    use = confidence >= min_confidence
    n = use.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        uv = (keypoints2d * use[..., None]).sum(1) / n[:, None]
    return uv, n > 0


def cast_on_ground(uv: np.ndarray, T_wc: np.ndarray, intrinsics, scene_points: np.ndarray, tree: cKDTree | None,
                   neighbours: int) -> np.ndarray:  # fmt: skip
    """World points (T, 3) where the rays through pixels `uv` (T, 2) of cameras `T_wc` (T, 4, 4)
    meet the ground: z = 0, then (twice) the local height of the scene points nearest in x, y.
    NaN where a ray does not reach the ground in front of the camera."""
    d = np.stack([(uv[:, 0] - intrinsics.cx) / intrinsics.focal, (uv[:, 1] - intrinsics.cy) / intrinsics.focal,
                  np.ones(len(uv))], -1)  # fmt: skip
    d = (T_wc[:, :3, :3] @ d[..., None])[..., 0]
    c = T_wc[:, :3, 3]
    height = np.zeros(len(uv))
    for step in range(3):
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (height - c[:, 2]) / d[:, 2]
        s = np.where(np.isfinite(s) & (s > 0), s, np.nan)
        g = c + s[:, None] * d
        if tree is None or step == 2 or len(scene_points) < neighbours:
            break
        ok = np.isfinite(g).all(1)
        if ok.any():
            height[ok] = local_ground_height(g[ok, :2], scene_points, tree, neighbours)
    return g


def local_ground_height(xy: np.ndarray, scene_points: np.ndarray, tree: cKDTree, neighbours: int,
                        max_gap: float = np.inf) -> np.ndarray:  # fmt: skip
    """(n,) height of the ground under points `xy` (n, 2) of a Z-up world: the median height of the
    `neighbours` scene points nearest in x, y (`tree` holds the scene points' x, y). NaN where no
    scene point lies within `max_gap` (m) in x, y: a hole too wide to bridge.

    Why a median of neighbours and not the nearest point: the ground where people walk is hidden
    by them, so their feet often stand over a hole in the cloud whose rim says how high it lies."""
    k = min(neighbours, len(scene_points))
    if len(xy) == 0 or k == 0:
        return np.full(len(xy), np.nan)
    dist, idx = tree.query(np.asarray(xy, np.float64), k=k)
    dist, idx = dist.reshape(len(xy), k), idx.reshape(len(xy), k)
    height = np.median(np.asarray(scene_points)[idx, 2], axis=1)
    return np.where(dist[:, 0] <= max_gap, height, np.nan)


def planted_runs(ground: np.ndarray, seconds: np.ndarray, seen: np.ndarray, o: PlantedOptions) -> np.ndarray:
    """(T,) bool: frames in runs where the cast point is slow (`still_speed`), stays within
    `anchor_radius` of the run's running median, and lasts `min_frames`. The frame that leaves
    the anchor belongs to no run, so a slow drift becomes short runs with gaps, never one plant."""
    T = len(ground)
    if T < 3:
        return np.zeros(T, bool)
    g = ndimage.median_filter(_fill_unseen(ground, seen), size=(3, 1), mode="nearest")
    speed = np.full(T, np.inf)
    speed[1:-1] = np.linalg.norm(g[2:] - g[:-2], axis=1) / np.maximum(seconds[2:] - seconds[:-2], 1e-9)
    speed[0], speed[-1] = speed[1], speed[-2]
    slow = (speed < o.still_speed) & seen
    slow |= ndimage.binary_closing(slow, np.ones(3, bool)) & seen  # one noisy frame does not end a plant
    out = np.zeros(T, bool)
    t = 0
    while t < T:
        if not slow[t]:
            t += 1
            continue
        start, members = t, [g[t]]
        t += 1
        while t < T and slow[t] and np.linalg.norm((g[t] - np.median(members, axis=0))[:2]) <= o.anchor_radius:
            members.append(g[t])
            t += 1
        if t - start >= o.min_frames:
            out[start:t] = True
        if t < T and slow[t]:  # left the anchor: that frame is the foot moving, not a new plant yet
            t += 1
    return out


def _fill_unseen(ground: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """`ground` (T, 3) with the frames not `seen` (or not finite) filled by linear interpolation in
    time from the seen ones (the nearest at the ends). Why: a zero or NaN there would look like a
    jump of metres to the speed of the frames next to it and end every plant at an occlusion."""
    ok = seen & np.isfinite(ground).all(1)
    if not ok.any():
        return np.zeros_like(ground)
    t = np.arange(len(ground))
    return np.stack([np.interp(t, t[ok], ground[ok, i]) for i in range(ground.shape[1])], 1)


def contacts_from_video(tracks: list[HumanTrack], recon: Reconstruction, body,
                        options: PlantedOptions | None = None) -> list[np.ndarray]:  # fmt: skip
    """Per track (T, n_contact) contact probabilities: the feet from what the video shows
    (`planted_feet`: heel candidates follow the heel, toe candidates the toes, sole candidates
    both; a part the video does not see falls back to the other part of that foot), everything
    else, and feet the video never sees, from `contacts_from_reconstruction`.

    `recon` is the reconstruction in its optimiser frame; it is aligned to gravity here."""
    from josh.geometry.world_frame import align_world

    aligned = align_world(recon, body)
    geometric = {p.person_id: c for p, c in zip(recon.people, contacts_from_reconstruction(recon, body))}
    people = {p.person_id: p for p in aligned.people}
    pts = np.asarray(aligned.scene_points, np.float64).reshape(-1, 3)
    tree = cKDTree(pts[:, :2]) if len(pts) else None
    out = []
    for track in tracks:
        person = people.get(track.person_id)
        if person is None or not np.array_equal(person.frames, track.frames):  # not this reconstruction's person
            out.append(np.asarray(track.contact_prob).copy())
            continue
        prob = geometric[track.person_id].copy()
        parts = planted_feet(track, aligned, body, options, tree)
        for side in SIDES:
            heel, toes = parts[f"{side}_heel"], parts[f"{side}_toes"]
            heel, toes = np.where(np.isnan(heel), toes, heel), np.where(np.isnan(toes), heel, toes)
            for name, value in (("heel", heel), ("toes", toes), ("sole", heel * toes)):
                cols = np.asarray(body.contact_sets[f"{side}_{name}"])
                seen = np.isfinite(value)
                prob[np.ix_(seen, cols)] = value[seen, None]
        out.append(prob)
    return out
