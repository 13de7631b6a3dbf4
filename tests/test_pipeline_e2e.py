"""`josh run` end to end on a short cut of the real clip demo2 (made here, never committed).

Skipped, with the reason, where the clip is absent: `JOSH_DEMO_VIDEO`, else `../shared/data/demo2.mp4`
next to the repository, else `/work/shared/data/demo2.mp4`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
CANDIDATES = [os.environ.get("JOSH_DEMO_VIDEO"), REPO.parent / "shared" / "data" / "demo2.mp4", "/work/shared/data/demo2.mp4"]
DEMO = next((Path(p) for p in CANDIDATES if p and Path(p).is_file()), None)
# 2 s of the clip at 15 fps: 60 video frames, every second one. A sub-second cut (24 frames) does
# not determine the scene: over eight SfM seeds its focal ranged 154-594 px and the people's speeds
# 0.2-1.4 m/s here, and a CI run once made a walker 6 m/s. On this cut six seeds gave focals of
# 268-271 px (the full clip at 960 px: 513-524 px, i.e. 256-262 at 480) and camera paths of
# 2.6-2.8 m (2026-11-23); with the skeleton grown from the focal search's model, 265-271 px and
# 2.69-2.83 m (2026-11-25). The cut is the same file on every run (`cut_video`).
VIDEO_FRAMES, STRIDE, LONG_SIDE = 60, 2, 480
FRAMES = VIDEO_FRAMES // STRIDE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(DEMO is None, reason="demo clip not found (set JOSH_DEMO_VIDEO or put demo2.mp4 in ../shared/data/)"),
]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    from josh.testing.videos import cut_video

    root = tmp_path_factory.mktemp("demo2")
    clip = cut_video(DEMO, root / "demo2_cut.mp4", VIDEO_FRAMES, LONG_SIDE)
    out = root / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "josh.cli", "run", str(clip), "-o", str(out), "--stride", str(STRIDE), "--keyframe-every", "3"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    return clip, out, cmd, env, done


def test_demo_cut_reconstructs_people_and_writes_every_output(demo_run, body):
    from josh.io.reconstruction_file import load_reconstruction

    clip, out, _, _, done = demo_run
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["frames"] == FRAMES and report["working_size"] == [480, 270]
    assert report["cached_stages"] == []
    assert set(report["stages"]) == {"decode", "people", "scene", "bodies", "contacts", "optimise", "refine", "outputs"}
    assert report["fps"] == 15.0
    assert report["scene"]["source"] == "sfm" and report["scene"]["registered_frames"] == FRAMES
    assert 180 < report["focal_px"] < 360  # within 0.7x-1.4x of the full clip's focal (256 px at this size)
    assert 1.0 < report["camera"]["path_m"] < 6.0  # a person walking behind the others for 2 s
    assert len(report["people"]) >= 3  # three walkers are in full view from the first frame
    for p in report["people"]:
        assert p["frames"] >= 8
        assert 1.4 < p["height_m"] < 2.0  # adult-sized bodies
        # walking, not flying away. The walkers in clear view (the issue's: >= 70% of the frames) at
        # a walker's pace; a short track of the overlapping pair, whom the detector often gives one
        # pose (the people front-end's known limit), came out at 2.75-4.2 m/s on some encodings of
        # this cut (2 of 6 runs, 2026-11-24, when x264's bytes still varied from run to run), with
        # the scene phase's focal free as well as held.
        limit = 2.5 if p["frames"] >= 0.7 * FRAMES else 5.0
        assert p["speed_mps"] is not None and p["speed_mps"] < limit, p
        assert p["jitter"] is not None and np.isfinite(p["jitter"])
    assert report["peak_mem_mb"] > 0 and report["total_s"] > 0

    recon = load_reconstruction(out / "reconstruction.npz")
    assert recon.T_wc.shape == (FRAMES, 4, 4) and np.isfinite(recon.T_wc).all()
    assert len(recon.people) == len(report["people"])
    # exported frame: Z up, ground at z = 0 -> the people's feet are near the ground, heads above.
    feet_z = [np.median(p.foot_vertices[..., 2].min(1)) for p in recon.people]
    assert abs(np.median(feet_z)) < 0.15 and max(map(abs, feet_z)) < 0.5, feet_z
    for person, z in zip(recon.people, feet_z):
        assert 1.2 < np.median(person.joints[:, 15, 2]) - z < 1.9  # head above the feet: upright
        assert (out / "people" / f"{person.person_id}.npz").is_file()
    for name in ("scene.ply", "scene.glb", "recording.rrd"):
        assert (out / name).stat().st_size > 1000
    standalone = subprocess.run([sys.executable, "load_reconstruction.py"], cwd=out, capture_output=True, text=True)
    assert standalone.returncode == 0 and f"{FRAMES} frames" in standalone.stdout


def test_demo_cut_second_run_reuses_every_stage(demo_run):
    _, out, cmd, env, first = demo_run
    assert first.returncode == 0
    before = json.loads((out / "report.json").read_text())
    again = subprocess.run(cmd + ["-q"], capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["cached_stages"] == ["decode", "people", "scene", "bodies", "contacts", "optimise", "refine"]
    assert report["focal_px"] == before["focal_px"] and report["people"] == before["people"]
    assert report["total_s"] < before["total_s"]


def test_demo_cut_with_every_frame_shown_twice_keeps_its_camera(demo_run, tmp_path):
    """Repeated frames (frame-rate conversion, slow motion by repetition) make every other camera
    step zero; the camera-path check once took every real step for a jump and threw SfM out."""
    from josh.testing.videos import cut_video

    _, out, _, env, done = demo_run
    assert done.returncode == 0
    plain = json.loads((out / "report.json").read_text())
    clip = cut_video(DEMO, tmp_path / "held.mp4", VIDEO_FRAMES, LONG_SIDE, hold=STRIDE)
    held = tmp_path / "out"
    cmd = [sys.executable, "-m", "josh.cli", "run", str(clip), "-o", str(held), "--keyframe-every", str(3 * STRIDE), "-q"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads((held / "report.json").read_text())
    assert report["frames"] == VIDEO_FRAMES and report["fps"] == 30.0
    assert report["scene"]["source"] == "sfm" and report["scene"]["registered_frames"] == VIDEO_FRAMES
    assert not any("apart from the camera's path" in w for w in report.get("warnings", [])), report.get("warnings")
    # the same frames at the same times as the plain cut: the same camera path, within SfM's spread
    assert 0.7 < report["camera"]["path_m"] / plain["camera"]["path_m"] < 1.4


def test_demo_cut_repeats_bit_for_bit_when_deterministic(demo_run, tmp_path):
    """`--deterministic`: a second run from the same decoded frames and people gives the same
    cameras, scene and bodies to the bit (SfM on several threads does not: demo2 gave 53,057 or
    52,884 dense points and camera paths of 4.92 or 4.83 m)."""
    import shutil

    clip, out, _, env, done = demo_run
    assert done.returncode == 0
    runs = [tmp_path / "first", tmp_path / "second"]
    for folder in runs:
        if folder == runs[1]:  # the second starts from the first's decoded frames and people
            (folder / ".josh-cache").mkdir(parents=True)
            for entry in (runs[0] / ".josh-cache").glob("*.npz"):
                if entry.name.split("-")[0] in ("decode", "people"):
                    shutil.copy(entry, folder / ".josh-cache")
        cmd = [sys.executable, "-m", "josh.cli", "run", str(clip), "-o", str(folder), "--stride", str(STRIDE),
               "--keyframe-every", "3", "--deterministic", "-q"]  # fmt: skip
        run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        assert run.returncode == 0, run.stderr[-3000:]
    second = json.loads((runs[1] / "report.json").read_text())
    assert second["cached_stages"] == ["decode", "people"]
    first_npz, second_npz = (np.load(folder / "reconstruction.npz") for folder in runs)
    arrays = [k for k in first_npz.files if first_npz[k].dtype.kind in "fiub"]
    assert {"T_wc", "scene_points"} <= set(arrays) and any(k.endswith("/joints") for k in arrays), arrays
    for key in arrays:
        np.testing.assert_array_equal(first_npz[key], second_npz[key], err_msg=key)
    assert json.loads((runs[0] / "report.json").read_text())["people"] == second["people"]


def test_a_frozen_frame_gets_a_still_camera_over_a_level_ground(tmp_path):
    """A clip that differs in kind: demo2's first frame held for 1.6 s (a tripod shot of people
    standing). SfM sees no motion and falls back to a ground plane; the camera must stay put and
    above that ground, and the people must stand on it. Before the fallback took its ground from
    the bodies' up, a plane through three people's contacts tilted by 8 degrees, passed 8 cm from
    the camera, and the camera drifted 0.4 m."""
    from josh.io.reconstruction_file import load_reconstruction
    from josh.testing.videos import cut_video

    clip = cut_video(DEMO, tmp_path / "frozen.mp4", 24, LONG_SIDE, hold=24)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "josh.cli", "run", str(clip), "-o", str(out), "-q"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "still camera" in done.stderr and "Traceback" not in done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["scene"]["source"] == "ground_plane" and report["camera"]["path_m"] == 0.0
    assert len(report["people"]) >= 3
    recon = load_reconstruction(out / "reconstruction.npz")
    camera_height = recon.T_wc[:, 2, 3]  # exported frame: Z up, ground at z = 0
    assert np.ptp(camera_height) < 1e-6 and 1.0 < camera_height[0] < 3.0, camera_height[0]
    ground = recon.scene_points - recon.scene_points.mean(0)
    normal = np.linalg.svd(ground, full_matrices=False)[2][2]
    assert np.degrees(np.arccos(abs(normal[2]))) < 3.0  # a level plane in the exported frame
    # everyone on that ground: sized by where their feet meet it (`josh.perception.one_ground`);
    # sized alike by the body fit, the man in white floated 25 cm over it
    feet = [float(np.median(p.foot_vertices[..., 2].min(1))) for p in recon.people]
    assert max(map(abs, feet)) < 0.10, feet


def test_demo_cut_with_locked_feet_reruns_the_refine_only_and_the_feet_slide_less(demo_run, tmp_path):
    """`--lock-feet`: the second optimisation alone changes (its key holds the lowest-foot weight),
    and the lowest feet slide less than in the plain run."""
    import shutil

    clip, out, _, env, done = demo_run
    assert done.returncode == 0
    locked = tmp_path / "locked"
    (locked / ".josh-cache").mkdir(parents=True)
    for entry in (out / ".josh-cache").glob("*.npz"):
        if entry.name.split("-")[0] != "refine":
            shutil.copy(entry, locked / ".josh-cache")
    cmd = [sys.executable, "-m", "josh.cli", "run", str(clip), "-o", str(locked), "--stride", str(STRIDE),
           "--keyframe-every", "3", "--lock-feet", "-q"]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    plain, held = (json.loads((folder / "report.json").read_text()) for folder in (out, locked))
    assert held["cached_stages"] == ["decode", "people", "scene", "bodies", "contacts", "optimise"]
    fs = lambda report: np.mean([p["fs_mm"] for p in report["people"] if p["fs_mm"] is not None])  # noqa: E731
    assert [p["id"] for p in held["people"]] == [p["id"] for p in plain["people"]]
    assert fs(held) < fs(plain), (fs(held), fs(plain))
