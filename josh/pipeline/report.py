"""Plausibility figures of a reconstruction without ground truth, and the printed run summary.

A real video has no ground truth, but a metric, world-grounded result must look physically
plausible (DESIGN §6). Per person, on a reconstruction in the exported frame (Z up, metres):

- `height_m`: standing height of the fitted shape: the extent along the body's up axis of its
  rest-pose mesh (zero pose), independent of how the person happens to stand in the video;
- `speed_mps`: median horizontal speed of the root joint, each speed measured over `SPEED_WINDOW_S`
  of consecutive frames (over one frame, root jitter of a few millimetres would dominate);
- `stalled_share`: for a walker (median speed at least `WALKING_MPS`), the share of
  `STALL_WINDOW_S` windows in which the root moves under `STALL_FRACTION` of that median speed:
  a walker's pelvis never stops within a step, so this shows a body that halts on each planted
  foot and surges in the swing (None for people who do not walk);
- `fs_mm`: foot sliding: mean displacement (mm per frame) of the stance foot's candidates (within
  `STANCE_MARGIN` of the lowest foot point along the world's up axis) over two consecutive frames
  in which they are stance;
- `contact_far_005` / `contact_far_020`: share of frames whose lowest foot vertex is more than
  5 cm / 20 cm from the scene's surface: from the nearest scene point, or from the ground under
  the foot (`local_ground_height`: the median height of the scene points nearest in x, y, across
  holes up to `MAX_HOLE_M` wide), whichever is nearer. Why not the nearest point alone: the
  ground people walk on is hidden by them, so at the end of a clip their feet stand over holes
  in the cloud, and a foot exactly on the ground there is as far from every point as the hole
  is wide (demo2: 17-28 cm for the woman's last frames, whose feet lie 3-12 cm below the
  ground around the hole);
Why the stance foot and not the run's contact labels: after the contact re-estimate those labels
are the candidates the reconstruction puts near the scene and still, so sliding and distance
measured on them are small by construction (demo2: 3.5-5.8 mm on them, 23-29 mm on the stance
foot). The stance rule uses only the body's shape in each frame. Flight phases (running, jumps)
count as stance: the figures are meant for people who walk or stand.
- `fs_planted_mm` / `planted_frames`: foot sliding (mm per frame) of the foot parts the *video*
  shows planted (`josh.perception.contacts.planted_feet`: heel and toe keypoints cast through
  the final cameras onto the final ground stand still), and the share of frames with such a
  part; None without the person's 2D keypoints. It is the closest stand-in for the field's FS on
  ground-truth contact frames, but note that since the contact re-estimate the optimiser is asked
  to hold exactly these parts still: it checks that it did, on contacts that do not depend on
  the fitted legs. `fs_mm` checks the legs too (the lowest foot must not slide).
- `speed_footprints_mps`: the speed of the person's footprints (each planted run of a foot part,
  cast on the ground; `josh.perception.contacts.footprint_velocity`), over the whole track: a
  check of `speed_mps` that does not depend on the fitted body, only on the cameras and the
  ground. None without the 2D keypoints or with too few plants.
- `jitter`: the field's jitter of the world joints (`josh.eval.metrics.jitter`, 10 m/s^3), mean
  over runs of consecutive frames.
And for the camera: `path_m`, the length of its path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from josh.eval.metrics import jitter
from josh.body.protocol import foot_candidates, standing_height
from josh.perception.contacts import STANCE_MARGIN, PlantedOptions, local_ground_height
from josh.perception.tracking import runs
from josh.types import PersonResult, Reconstruction

SPEED_WINDOW_S = 0.5
STALL_WINDOW_S = 0.1  # three frames at 30 fps: short enough to see a stop within a step
STALL_FRACTION = 0.25
WALKING_MPS = 0.5
MAX_HOLE_M = 0.5  # a foot step: wider holes in the scene are not bridged by the ground around them
FAR_THRESHOLDS = {"contact_far_005": 0.05, "contact_far_020": 0.20}


@dataclass(frozen=True)
class SceneIndex:
    """The scene points with search trees in 3D and in the ground plane (x, y), built once per report."""

    points: np.ndarray  # (n, 3) Z up
    tree: cKDTree
    xy_tree: cKDTree

    @classmethod
    def of(cls, points: np.ndarray) -> "SceneIndex | None":
        points = np.asarray(points, np.float64).reshape(-1, 3)
        return cls(points, cKDTree(points), cKDTree(points[:, :2])) if len(points) else None


def window_speeds(root: np.ndarray, frames: np.ndarray, fps: float, window_s: float) -> np.ndarray:
    """Horizontal (xy) root speeds (m/s), each over `window_s` of consecutive frames (shorter runs
    of frames: their whole length); a gap in the frames is not motion."""
    speeds = [np.zeros(0)]
    for r in runs(frames):
        xy = np.asarray(root)[r, :2]
        w = min(max(1, int(round(window_s * fps))), len(xy) - 1)
        if w >= 1:
            speeds.append(np.linalg.norm(xy[w:] - xy[:-w], axis=1) * fps / w)
    return np.concatenate(speeds)


def walking_speed(root: np.ndarray, frames: np.ndarray, fps: float, window_s: float = SPEED_WINDOW_S) -> float:
    """Median of `window_speeds` over `window_s` windows, m/s."""
    speeds = window_speeds(root, frames, fps, window_s)
    return float(np.median(speeds)) if len(speeds) else math.nan


def stalled_share(root: np.ndarray, frames: np.ndarray, fps: float) -> float:
    """Share of a walker's `STALL_WINDOW_S` windows in which the root moves slower than
    `STALL_FRACTION` of the person's median speed (`walking_speed`); NaN for a person whose median
    speed is under `WALKING_MPS` (standing people stand still). A walker's pelvis speed varies
    by 10-20% within a step; a reconstruction that holds the body on each planted foot and makes
    up in the swing stops at every step (docs/demo2.md)."""
    median = walking_speed(root, frames, fps)
    if not median >= WALKING_MPS:  # NaN too: no two consecutive frames, so no window either
        return math.nan
    return float((window_speeds(root, frames, fps, STALL_WINDOW_S) < STALL_FRACTION * median).mean())


def stance_candidates(feet_xyz: np.ndarray, margin: float = STANCE_MARGIN) -> np.ndarray:
    """(T, n_feet) bool: of the foot candidates (T, n_feet, 3), those within `margin` of the
    frame's lowest one (world Z up), i.e. the foot that carries the weight."""
    z = feet_xyz[..., 2]
    return z - z.min(1, keepdims=True) < margin if len(z) else np.zeros(z.shape, bool)


def stance_foot_sliding(feet_xyz: np.ndarray, frames: np.ndarray) -> float:
    """Mean displacement (mm/frame) of stance-foot candidates that are stance in two consecutive frames."""
    c = stance_candidates(feet_xyz)
    steps = []
    for r in runs(frames):
        both = c[r][1:] & c[r][:-1]
        if both.any():
            steps.append(np.linalg.norm(np.diff(feet_xyz[r], axis=0), axis=-1)[both])
    steps = np.concatenate(steps) if steps else np.zeros(0)
    return float(steps.mean() * 1000.0) if len(steps) else math.nan


def foot_distances(feet_xyz: np.ndarray, scene: SceneIndex | None) -> np.ndarray:
    """Per frame, distance (m) from the lowest foot candidate to the scene's surface: the nearest
    scene point or the ground under the foot, whichever is nearer (inf without a scene)."""
    if len(feet_xyz) == 0:
        return np.zeros(0)
    if scene is None:
        return np.full(len(feet_xyz), np.inf)
    lowest = feet_xyz[np.arange(len(feet_xyz)), np.argmin(feet_xyz[..., 2], axis=1)]
    ground = local_ground_height(lowest[:, :2], scene.points, scene.xy_tree, PlantedOptions.ground_neighbours, MAX_HOLE_M)
    vertical = np.abs(lowest[:, 2] - ground)
    return np.fmin(scene.tree.query(lowest, k=1)[0], vertical)  # fmin: a NaN ground leaves the point distance


def mean_jitter(joints: np.ndarray, frames: np.ndarray, fps: float) -> float:
    values = [jitter(np.asarray(joints)[r], fps) for r in runs(frames) if r.stop - r.start >= 4]
    values = np.concatenate(values) if values else np.zeros(0)
    return float(values.mean()) if len(values) else math.nan


def video_feet_figures(person: PersonResult, track, recon: Reconstruction, body,
                       ground_tree: cKDTree | None = None) -> dict:  # fmt: skip
    """The figures of the feet the video shows planted, for a person and its 2D track (same
    frames); `ground_tree`: the scene points' x, y (built here when not given):
    - `fs_planted_mm`: mean mm per frame of the planted parts' candidates over consecutive
      planted frames, and `planted_frames`: the share of frames with a planted part;
    - `speed_footprints_mps`: the speed of the footprints (`footprint_velocity`)."""
    from josh.perception.contacts import cast_foot_parts, footprint_velocity

    X = np.asarray(person.contact_vertices, np.float64)
    parts = cast_foot_parts(track, recon, body, tree=ground_tree)
    consecutive = runs(person.frames)
    steps, any_planted = [], np.zeros(len(X), bool)
    for name, part in parts.items():
        any_planted |= part.planted
        cols = np.asarray(body.contact_sets[name])
        for r in consecutive:
            both = part.planted[r][1:] & part.planted[r][:-1]
            steps.append(np.linalg.norm(np.diff(X[r][:, cols], axis=0), axis=-1)[both].ravel())
    steps = np.concatenate(steps) if steps else np.zeros(0)
    velocity = footprint_velocity(parts)
    return {
        "fs_planted_mm": float(steps.mean() * 1000.0) if len(steps) else math.nan,
        "planted_frames": float(any_planted.mean()) if len(X) else math.nan,
        "speed_footprints_mps": float(np.linalg.norm(velocity)) if velocity is not None else math.nan,
    }


def person_figures(person: PersonResult, recon: Reconstruction, body, scene: SceneIndex | None, track=None) -> dict:
    feet_xyz = np.asarray(person.contact_vertices, np.float64)[:, foot_candidates(body)]
    dist = foot_distances(feet_xyz, scene)
    figures = {
        "id": int(person.person_id),
        "frames": int(len(person.frames)),
        "first_frame": int(person.frames[0]) if len(person.frames) else None,
        "last_frame": int(person.frames[-1]) if len(person.frames) else None,
        "height_m": standing_height(body, person.shape),
        "speed_mps": walking_speed(person.root_transl, person.frames, recon.fps),
        "stalled_share": stalled_share(person.root_transl, person.frames, recon.fps),
        "fs_mm": stance_foot_sliding(feet_xyz, person.frames),
    }
    for name, threshold in FAR_THRESHOLDS.items():
        figures[name] = float((dist > threshold).mean()) if len(dist) else math.nan
    figures.update(fs_planted_mm=math.nan, planted_frames=math.nan, speed_footprints_mps=math.nan)
    if track is not None and np.array_equal(track.frames, person.frames):
        figures.update(video_feet_figures(person, track, recon, body, scene.xy_tree if scene else None))
    figures["jitter"] = mean_jitter(person.joints, person.frames, recon.fps)
    return {k: _finite_or_none(v) for k, v in figures.items()}


def camera_path_length(T_wc: np.ndarray) -> float:
    c = np.asarray(T_wc, np.float64)[:, :3, 3]
    c = c[np.isfinite(c).all(1)]
    return float(np.linalg.norm(np.diff(c, axis=0), axis=1).sum()) if len(c) > 1 else 0.0


def plausibility(recon: Reconstruction, body, tracks=None) -> dict:
    """{"camera": {"path_m"}, "people": [per-person figures]} of a reconstruction in the exported
    frame; `tracks`: the people's `HumanTrack`s (2D keypoints in the reconstruction's image), for
    the planted-foot figures."""
    by_id = {t.person_id: t for t in tracks or []}
    scene = SceneIndex.of(recon.scene_points)
    return {
        "camera": {"path_m": camera_path_length(recon.T_wc)},
        "people": [person_figures(p, recon, body, scene, by_id.get(p.person_id))
                   for p in recon.people if len(p.frames)],
    }


def _finite_or_none(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


# ------------------------------------------------------------------------------------------ summary
def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def print_summary(report: dict, console) -> None:
    """The run's report as a few readable lines and a per-person table (rich)."""
    from rich.table import Table

    stages = ", ".join(f"{k} {v:.1f} s" + (" (cached)" if k in report.get("cached_stages", []) else "")
                       for k, v in report["stages"].items())  # fmt: skip
    scene = report["scene"]
    sfm = (f"{scene.get('registered_frames', '-')} frames registered, {scene['points']} points, "
           f"reprojection {_fmt(scene.get('reprojection_error'), '.2f')} px") if scene["source"] == "sfm" else ""  # fmt: skip
    if scene["source"] == "ground_plane":
        sfm = f"SfM failed ({scene.get('sfm_failure', 'unknown')}): ground plane under the people's contacts"
    console.print(f"[bold]josh run[/bold]: {report['frames']} frames at {report['fps']:.2f} fps, "
                  f"{report['total_s']:.1f} s, peak memory {report['peak_mem_mb']:.0f} MB")  # fmt: skip
    console.print(f"  stages: {stages}")
    given = " (given)" if report.get("focal_source") == "given" else ""
    console.print(f"  focal {report['focal_px']:.1f} px{given}; scene: {scene['source']}" + (f" ({sfm})" if sfm else ""))
    console.print(f"  camera path {report['camera']['path_m']:.2f} m")
    if report["people"]:
        table = Table(title=None, show_edge=False, pad_edge=False)
        # FS: the stance (lowest) foot; planted: the feet the video shows planted (mm per frame)
        for col in ("person", "frames", "height m", "m/s", "stall", "FS mm", "planted", ">5cm", ">20cm", "jitter"):
            table.add_column(col, justify="right")
        for p in report["people"]:
            table.add_row(str(p["id"]), str(p["frames"]), _fmt(p["height_m"], ".2f"), _fmt(p["speed_mps"], ".2f"),
                          _fmt(p.get("stalled_share"), ".0%"), _fmt(p["fs_mm"], ".1f"), _fmt(p.get("fs_planted_mm"), ".1f"), _fmt(p["contact_far_005"], ".0%"), _fmt(p["contact_far_020"], ".0%"),
                          _fmt(p["jitter"], ".1f"))  # fmt: skip
        console.print(table)
        console.print("  stall: a walker's 0.1 s windows under a quarter of the median speed; FS: sliding of the lowest foot; "
                      "planted: of the feet the video shows planted (mm/frame); "
                      ">5cm, >20cm: frames whose lowest foot is that far from the scene")  # fmt: skip
    console.print(f"  outputs in {report['out']}")
