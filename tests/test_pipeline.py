"""`josh run`: bad input, the output folder's safety, the stage cache, sources, and the report.

Videos are generated here with PyAV (a sliding colour pattern: no person in it), never committed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from josh.cli import main as josh_main
from josh.errors import InputError, OutputError
from josh.pipeline import run as run_module
from josh.pipeline import stages
from josh.pipeline.cache import StageCache, decode, encode, stage_key
from josh.pipeline.options import RunOptions, Sources, parse_source
from josh.optimize import OptimConfig, Phase
from josh.perception.scene import SceneConfig
from josh.pipeline.run import Settings, run_pipeline
from josh.testing.videos import pattern_video, truncated_copy, write_video, pattern_frames

W, H = 160, 120
# small settings: these tests check the pipeline's behaviour, not the quality of its stages
FAST = Settings(scene=SceneConfig(max_features=512),
                optim=OptimConfig(scene_phase=Phase(30, 0.02, True, True), coarse=Phase(30, 0.02, False, False),
                                  fine=Phase(30, 0.005, True, True)))  # fmt: skip
COMPUTED = ["decode", "people", "scene", "bodies", "contacts", "optimise"]  # no people: no refine stage


def josh(argv, capsys) -> tuple[int, str, str]:
    code = josh_main(["run", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("josh run: error: ") and "Traceback" not in err
    for w in words:
        assert w.lower() in lines[0].lower(), lines[0]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    good = pattern_video(root / "pattern.avi", 10)
    return {
        "good": good,
        "truncated": truncated_copy(pattern_video(root / "long.avi", 40), root / "truncated.avi", 0.6),
        "truncated_mp4": truncated_copy(pattern_video(root / "whole.mp4", 20), root / "truncated.mp4", 0.6),
        "two": pattern_video(root / "two.mp4", 2),
        "zero": write_video(root / "zero.mkv", []),
        "text": _write(root / "notes.mp4", b"this is not a video\n" * 50),
        "empty": _write(root / "empty.mp4", b""),
    }


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def good_run(videos, tmp_path_factory) -> Path:
    """A finished run on the pattern video (no person): a previous good output folder."""
    out = tmp_path_factory.mktemp("good") / "out"
    run_pipeline(RunOptions(videos["good"], out, progress=False), FAST)
    assert (out / "report.json").is_file()
    return out


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every result file (not the cache) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".josh-cache" not in p.parts}  # fmt: skip


# ------------------------------------------------------------------------------------------ bad input
def test_missing_file(tmp_path, capsys):
    code, _, err = josh([tmp_path / "nope.mp4", "-o", tmp_path / "out"], capsys)
    assert_one_line_error(code, err, "not found")
    assert not (tmp_path / "out").exists()  # nothing created for a run that cannot start


@pytest.mark.parametrize("name", ["text", "empty"])
def test_not_a_video(videos, tmp_path, capsys, name):
    code, _, err = josh([videos[name], "-o", tmp_path / "out"], capsys)
    assert_one_line_error(code, err, "video")


@pytest.mark.parametrize("name", ["truncated", "truncated_mp4"])
def test_truncated_or_corrupt_video(videos, tmp_path, capsys, name):
    code, _, err = josh([videos[name], "-o", tmp_path / "out"], capsys)
    assert_one_line_error(code, err)
    assert "truncated" in err or "corrupt" in err


@pytest.mark.parametrize("name", ["two", "zero"])
def test_too_few_frames(videos, tmp_path, capsys, name):
    code, _, err = josh([videos[name], "-o", tmp_path / "out"], capsys)
    assert_one_line_error(code, err)
    assert "frame" in err or "video" in err


def test_selection_with_too_few_frames(videos, tmp_path, capsys):
    code, _, err = josh([videos["good"], "-o", tmp_path / "out", "--start", 8], capsys)
    assert_one_line_error(code, err, "2 frame")
    code, _, err = josh([videos["good"], "-o", tmp_path / "out", "--start", 50], capsys)
    assert_one_line_error(code, err, "beyond")


def test_longer_than_the_limit(videos, tmp_path, capsys):
    code, _, err = josh([videos["good"], "-o", tmp_path / "out", "--frame-limit", 5], capsys)
    assert_one_line_error(code, err, "limit of 5")
    report = run_pipeline(RunOptions(videos["good"], tmp_path / "out", frame_limit=5, stride=2, progress=False), FAST)
    assert report["frames"] == 5  # 5 frames after striding: within the limit
    with pytest.raises(InputError, match="limit of 4"):  # checked again when the clip comes from the cache
        run_pipeline(RunOptions(videos["good"], tmp_path / "out", frame_limit=4, stride=2, progress=False), FAST)


def test_bad_numbers(videos, tmp_path, capsys):
    code, _, err = josh([videos["good"], "-o", tmp_path / "out", "--stride", 0], capsys)
    assert_one_line_error(code, err, "--stride")
    for focal in (0, -300, "nan"):
        code, _, err = josh([videos["good"], "-o", tmp_path / "out", "--focal", focal], capsys)
        assert_one_line_error(code, err, "--focal")
    maps = _write(tmp_path / "maps.npz", b"x")
    code, _, err = josh([videos["good"], "-o", tmp_path / "out", "--focal", 500, "--scene", f"pointmaps:{maps}"], capsys)
    assert_one_line_error(code, err, "--focal", "point maps")
    assert not (tmp_path / "out").exists()


def test_a_given_focal_is_held_at_working_resolution_and_reported(videos, tmp_path, capsys):
    """--focal is in full-resolution pixels: at half resolution the run's focal is half of it,
    held exactly through SfM (or its fallback) and the optimiser; only the scene and later
    stages rerun."""
    out = tmp_path / "out"
    first = _run(videos["good"], out, long_side=80)
    assert first["focal_source"] in ("sfm", "guess")
    given = _run(videos["good"], out, long_side=80, focal=230.0)
    assert given["working_size"] == [W // 2, H // 2]
    assert given["focal_px"] == pytest.approx(115.0, abs=1e-3) and given["focal_source"] == "given"
    assert given["cached_stages"] == ["decode", "people"]
    code, stdout, err = josh([videos["good"], "-o", out, "--long-side", 80, "--focal", 230], capsys)
    assert code == 0 and "focal 115.0 px (given)" in stdout


def test_unwritable_output(videos, tmp_path, capsys):
    blocker = _write(tmp_path / "a_file", b"x")
    for out in (blocker, blocker / "sub"):
        code, _, err = josh([videos["good"], "-o", out], capsys)
        assert_one_line_error(code, err, "output folder")
    assert blocker.read_bytes() == b"x"


def test_no_person_gives_a_scene_and_camera_with_a_warning(good_run, capsys):
    report = json.loads((good_run / "report.json").read_text())
    assert report["people"] == [] and report["frames"] == 10
    assert any("no person" in w for w in report["warnings"])
    for name in ("reconstruction.npz", "scene.ply", "scene.glb", "recording.rrd", "load_reconstruction.py"):
        assert (good_run / name).stat().st_size > 0
    from josh.io.reconstruction_file import load_reconstruction

    recon = load_reconstruction(good_run / "reconstruction.npz")
    assert recon.T_wc.shape == (10, 4, 4) and np.isfinite(recon.T_wc).all() and recon.people == []
    import importlib.util  # the loader copied into the folder reads the same with numpy alone

    spec = importlib.util.spec_from_file_location("standalone", good_run / "load_reconstruction.py")
    standalone = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(standalone)
    plain = standalone.load(str(good_run / "reconstruction.npz"))
    assert np.array_equal(plain["T_wc"], recon.T_wc) and plain["people"] == []
    assert plain["metadata"]["video_frames"] == list(range(10))
    assert report["stages"].keys() == set(COMPUTED + ["outputs"])
    assert report["stage_peak_mem_mb"].keys() == set(COMPUTED + ["outputs"])
    assert all(50 < mb <= 1.1 * report["peak_mem_mb"] for mb in report["stage_peak_mem_mb"].values())


def test_no_person_cli_warns_on_stderr_and_exits_zero(videos, tmp_path, capsys):
    code, out, err = josh([videos["good"], "-o", tmp_path / "out", "--max-frames", 4], capsys)
    assert code == 0, err
    assert "warning: no person reconstructed (no person found)" in err and "Traceback" not in err
    assert "4 frames" in out  # the printed summary


def test_failed_run_keeps_an_earlier_good_output(good_run, videos, capsys):
    before = snapshot(good_run)
    for name in ("truncated", "text", "two"):
        code, _, err = josh([videos[name], "-o", good_run], capsys)
        assert code == 2, err
    assert snapshot(good_run) == before


def test_failure_while_writing_outputs_keeps_the_earlier_set(good_run, videos, monkeypatch):
    before = snapshot(good_run)

    def broken_export(*args, **kwargs):
        staging = Path(args[2])
        staging.mkdir(parents=True, exist_ok=True)
        (staging / "reconstruction.npz").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr("josh.io.outputs.write_outputs", broken_export)
    with pytest.raises(OSError):
        run_pipeline(RunOptions(videos["good"], good_run, keyframe_every=3, progress=False), FAST)
    assert snapshot(good_run) == before  # old files intact, no staging folder left
    assert not list(good_run.glob(".josh-staging-*"))


def test_a_second_concurrent_run_is_refused(videos, tmp_path):
    out = tmp_path / "out"
    with StageCache(out):
        with pytest.raises(OutputError, match="another `josh run`"):
            run_pipeline(RunOptions(videos["good"], out, progress=False), FAST)
    assert not (out / "report.json").exists()


# ------------------------------------------------------------------------------------------ cache
def _run(video, out, **kw) -> dict:
    return run_pipeline(RunOptions(video, out, progress=False, **kw), FAST)


def test_second_run_reuses_every_stage_and_a_changed_setting_reruns_from_its_stage(videos, tmp_path):
    out = tmp_path / "out"
    first = _run(videos["good"], out, keyframe_every=4)
    assert first["cached_stages"] == []
    second = _run(videos["good"], out, keyframe_every=4)
    assert second["cached_stages"] == COMPUTED
    assert np.isclose(first["focal_px"], second["focal_px"])
    third = _run(videos["good"], out, keyframe_every=3)  # a scene setting
    assert third["cached_stages"] == ["decode", "people"]
    assert set(third["stage_peak_mem_mb"]) == set(COMPUTED[2:] + ["outputs"])  # measured where computed
    fourth = _run(videos["good"], out, keyframe_every=3, people_max=2)  # a people setting
    assert fourth["cached_stages"] == ["decode"]
    fifth = _run(videos["good"], out, keyframe_every=3, people_max=2, max_frames=8)  # the clip itself
    assert fifth["cached_stages"] == [] and fifth["frames"] == 8
    # only the entries of the last settings are kept
    names = sorted(p.name.split("-")[0] for p in (out / ".josh-cache").glob("*.npz"))
    assert names == sorted(COMPUTED)


def test_interrupted_stage_leaves_no_entry_and_the_next_run_resumes(videos, tmp_path, monkeypatch):
    out = tmp_path / "out"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(stages, "scene_builtin", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run(videos["good"], out)
    monkeypatch.undo()
    entries = sorted(p.name.split("-")[0] for p in (out / ".josh-cache").glob("*.npz"))
    assert entries == ["decode", "people"]
    assert not (out / "report.json").exists()
    resumed = _run(videos["good"], out)
    assert resumed["cached_stages"] == ["decode", "people"]


def test_interrupted_cache_write_leaves_no_half_written_entry(videos, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real = np.savez_compressed

    def interrupted_write(fh, **arrays):
        fh.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", interrupted_write)
    with pytest.raises(KeyboardInterrupt):
        _run(videos["good"], out)
    monkeypatch.setattr(np, "savez_compressed", real)
    assert [p.name for p in (out / ".josh-cache").iterdir()] == ["lock"]  # no entry, no temporary file


def test_damaged_or_foreign_cache_entries_are_recomputed(videos, tmp_path):
    out = tmp_path / "out"
    _run(videos["good"], out, max_frames=6)
    cache_dir = out / ".josh-cache"
    people = next(cache_dir.glob("people-*.npz"))
    scene = next(cache_dir.glob("scene-*.npz"))
    people.write_bytes(b"garbage")  # damaged
    scene.write_bytes(next(cache_dir.glob("decode-*.npz")).read_bytes())  # another stage's entry
    again = _run(videos["good"], out, max_frames=6)
    assert "people" not in again["cached_stages"] and "scene" not in again["cached_stages"]
    assert again["cached_stages"][0] == "decode"


def test_codec_round_trip_of_stage_results():
    from josh.types import HumanTrack

    h = HumanTrack(person_id=3, frames=np.arange(4), root_rotmat=np.eye(3)[None].repeat(4, 0),
                   root_transl=np.ones((4, 3)), body_pose=np.zeros((4, 2, 3)), shape=np.full(6, 0.5),
                   keypoints2d=np.zeros((4, 23, 2), np.float32), keypoints_conf=np.ones((4, 23), np.float32),
                   contact_prob=np.zeros((4, 5)), focal_assumed=500.0)  # fmt: skip
    value = {"humans": [h], "notes": ["a"], "pair": (1, 2.5), "by_frame": {3: np.ones(2)}}
    tree, arrays = encode(value)
    back = decode(json.loads(json.dumps(tree)), arrays)
    assert back["notes"] == ["a"] and back["pair"] == (1, 2.5) and np.array_equal(back["by_frame"][3], np.ones(2))
    g = back["humans"][0]
    assert isinstance(g, HumanTrack) and g.person_id == 3 and g.focal_assumed == 500.0
    for f in dataclasses.fields(h):
        a, b = getattr(h, f.name), getattr(g, f.name)
        assert np.array_equal(a, b) and np.asarray(a).dtype == np.asarray(b).dtype


def test_codec_refuses_unknown_types():
    @dataclasses.dataclass
    class Unregistered:
        x: int = 1

    with pytest.raises(TypeError, match="not registered"):
        encode(Unregistered())
    with pytest.raises(ValueError, match="unknown type"):
        decode({"__type__": "os.system", "fields": {}}, {})


def test_stage_keys_follow_settings_and_upstream():
    a = stage_key("scene", {"k": 5}, ["u1"])
    assert a == stage_key("scene", {"k": 5}, ["u1"])
    assert a != stage_key("scene", {"k": 6}, ["u1"])
    assert a != stage_key("scene", {"k": 5}, ["u2"])
    assert a != stage_key("bodies", {"k": 5}, ["u1"])


def test_an_sfm_scene_keeps_its_focal_through_the_scene_phase():
    """SfM's bundle-adjusted focal is held in the scene-only phase and freed with the people; other
    scenes (point maps, the ground-plane guess) keep the optimiser's own settings. The refine gets
    the same phases."""
    settings = Settings()
    for optim in (settings.optim_for("sfm"), settings.refine_optim("sfm")):
        assert not optim.scene_phase.focal_free and optim.fine.focal_free
    for source in ("pointmaps", "ground_plane"):
        assert settings.optim_for(source) == settings.optim
        assert settings.refine_optim(source).scene_phase == settings.optim.scene_phase
    assert settings.refine_optim("sfm").w_c2 == settings.refine_still_weight


# ------------------------------------------------------------------------------------------ sources
def test_source_parsing(tmp_path):
    folder = tmp_path / "tram_out"
    folder.mkdir()
    file = _write(tmp_path / "maps.npz", b"")
    assert parse_source("people", None).builtin
    assert parse_source("people", "builtin").builtin
    spec = parse_source("people", f"tram:{folder}")
    assert spec.kind == "tram" and spec.path == folder.resolve()
    assert parse_source("scene", f"pointmaps:{file}").path == file.resolve()
    assert parse_source("contacts", f"DECO:{folder}").kind == "deco"
    sources = Sources.parse(f"tram:{folder}", f"deco:{folder}", None)
    assert sources.body_model == "smpl" and Sources.parse().body_model == "anny"


@pytest.mark.parametrize("component, text, words", [
    ("people", "vibe:/x", ["unknown source", "tram:PATH"]),
    ("people", "tram", ["needs a path"]),
    ("people", "tram:", ["needs a path"]),
    ("people", "tram:/definitely/not/here", ["does not exist"]),
    ("scene", "pointmaps:{folder}", ["not a file"]),
    ("contacts", "deco:{file}", ["not a folder"]),
    ("scene", "builtin:/x", ["takes no path"]),
])  # fmt: skip
def test_bad_source_specs(tmp_path, component, text, words):
    (tmp_path / "f").mkdir()
    text = text.format(folder=tmp_path / "f", file=_write(tmp_path / "x.npz", b""))
    with pytest.raises(InputError) as info:
        parse_source(component, text)
    message = str(info.value)
    assert "\n" not in message and f"--{component}" in message
    for w in words:
        assert w in message


def test_bad_source_on_the_command_line(videos, tmp_path, capsys):
    code, _, err = josh([videos["good"], "-o", tmp_path / "out", "--scene", "colmap:x"], capsys)
    assert_one_line_error(code, err, "--scene", "unknown source")
    code, _, err = josh([videos["good"], "-o", tmp_path / "out", "--contacts", f"deco:{tmp_path}"], capsys)
    assert_one_line_error(code, err, "needs --people tram:")
    assert not (tmp_path / "out").exists()


def test_tram_people_are_reindexed_to_clip_frames(body):
    from josh.types import HumanTrack

    clip = stages.Clip(video="v", video_info={"width": 320, "height": 240, "frames": 40, "fps": 30.0},
                       video_frames=np.arange(10, 30, 2), fps=15.0, stride=2, width=160, height=120, long_side=160)  # fmt: skip
    T = 30
    h = HumanTrack(person_id=7, frames=np.arange(5, 35), root_rotmat=np.eye(3)[None].repeat(T, 0),
                   root_transl=np.arange(T * 3, dtype=float).reshape(T, 3), body_pose=np.zeros((T, 23, 3)),
                   shape=np.zeros(10), keypoints2d=np.zeros((T, 23, 2)), keypoints_conf=np.zeros((T, 23)),
                   contact_prob=np.zeros((T, 4)), focal_assumed=200.0)  # fmt: skip
    g = stages.to_clip_frames(h, clip)
    # video frames 10, 12, ..., 28 are clip frames 0..9; the track covers video frames 5..34
    assert g.frames.tolist() == list(range(10))
    assert np.array_equal(g.root_transl, h.root_transl[np.arange(10, 30, 2) - 5])


# ------------------------------------------------------------------------------------------ report
def _world_walkers(body, n_frames=30):
    from josh.geometry.world_frame import apply_world_transform, rigid_inverse
    from josh.testing.reconstruction import synthetic_reconstruction

    internal, world_to_internal = synthetic_reconstruction(body, n_frames=n_frames, n_people=2)
    world = apply_world_transform(internal, rigid_inverse(world_to_internal))
    # a dense ground (2 cm grid) where the people walk: contact feet are on it
    g = np.arange(-2.0, 6.0, 0.02)
    gx, gy = np.meshgrid(g, g)
    ground = np.c_[gx.ravel(), gy.ravel(), np.zeros(gx.size)]
    return dataclasses.replace(world, scene_points=ground, scene_colors=np.zeros((len(ground), 3), np.uint8))


def _lift(person, dz):
    up = np.array([0.0, 0.0, dz])
    return dataclasses.replace(person, root_transl=person.root_transl + up, joints=person.joints + up,
                               foot_vertices=person.foot_vertices + up, contact_vertices=person.contact_vertices + up)  # fmt: skip


def test_report_figures_on_a_hand_built_reconstruction(body):
    from josh.eval.metrics import jitter
    from josh.pipeline.report import plausibility

    world = _world_walkers(body)
    figures = plausibility(world, body)
    # the camera walks 1.2 m/s forward and 0.5 m/s sideways for 29 frame steps at 30 fps
    assert figures["camera"]["path_m"] == pytest.approx(29 / 30 * np.hypot(1.2, 0.5), rel=1e-6)
    first, second = figures["people"]
    assert first["id"] == 1 and first["frames"] == 30 and second["frames"] == 28
    for p in figures["people"]:
        assert p["speed_mps"] == pytest.approx(1.2, rel=1e-3)  # the walkers glide at 1.2 m/s
        # gliding stance feet slide 1.2 m/s / 30 fps = 40 mm per frame
        assert p["fs_mm"] == pytest.approx(40.0, rel=1e-3)
        assert p["contact_far_005"] == 0.0 and p["contact_far_020"] == 0.0
        assert p["jitter"] == pytest.approx(0.0, abs=0.01)  # constant velocity: no jerk (float32 round-off)
    # Anny's default phenotype (every parameter 0.5) is ~1.625 m tall; other shapes differ
    assert first["height_m"] == pytest.approx(1.625, abs=0.03)
    assert second["height_m"] != pytest.approx(first["height_m"], abs=1e-4)

    lifted = dataclasses.replace(world, people=[_lift(world.people[0], 0.10), _lift(world.people[1], 0.30)])
    p0, p1 = plausibility(lifted, body)["people"]
    assert (p0["contact_far_005"], p0["contact_far_020"]) == (1.0, 0.0)
    assert (p1["contact_far_005"], p1["contact_far_020"]) == (1.0, 1.0)

    rng = np.random.default_rng(0)
    shaky = world.people[0]
    noisy = dataclasses.replace(shaky, joints=shaky.joints + rng.normal(0, 0.005, shaky.joints.shape))
    p = plausibility(dataclasses.replace(world, people=[noisy]), body)["people"][0]
    assert p["jitter"] == pytest.approx(float(jitter(noisy.joints, world.fps).mean()), rel=1e-9) and p["jitter"] > 10


def test_lowest_foot_sliding_of_walkers_with_planted_feet_is_small(body):
    """The stance rule behind `fs_mm` (feet within 3 cm of the lowest point) also catches a swing
    foot passing low, so a perfect walker does not score zero: the synthetic ground-truth walkers
    (stance feet that roll without sliding, swing feet lifted at least 2.5 cm) must stay far below
    the 15 mm target, or the figure would blame the reconstruction for what walking does."""
    from josh.body.protocol import foot_candidates
    from josh.pipeline.report import stance_foot_sliding
    from josh.synth.config import SynthConfig
    from josh.synth.generate import generate_world

    gt = generate_world(SynthConfig(people=3, frames=60, keyframes=4, width=320, height=180, focal=256.0, seed=1), body)
    feet = foot_candidates(body)
    figures = [stance_foot_sliding(p.contact_vertices[:, feet], p.frames) for p in gt.people]
    assert max(figures) < 5.0, figures
    gliding = gt.people[0].contact_vertices[:, feet] + np.arange(60)[:, None, None] * np.array([0.02, 0.0, 0.0])
    assert stance_foot_sliding(gliding, gt.people[0].frames) > 15.0  # 2 cm per frame more: it does count


def test_far_figures_measure_the_gap_to_the_ground_across_a_hole_in_the_cloud():
    """Feet over a hole in the cloud (the ground people hide) are as far from the scene as from the
    ground around the hole, not from its nearest point; holes wider than a step are not bridged."""
    from josh.pipeline.report import MAX_HOLE_M, SceneIndex, foot_distances

    g = np.arange(-2, 2, 0.05)
    gx, gy = np.meshgrid(g, g)
    ground = np.c_[gx.ravel(), gy.ravel(), 0.01 * gx.ravel()]  # gently sloped: 1 cm per m
    hole = np.hypot(ground[:, 0], ground[:, 1]) < 0.3
    scene = SceneIndex.of(ground[~hole])
    # per frame two candidates; the lowest one counts
    feet = np.array([[[0.0, 0.0, 0.03], [0.1, 0.0, 0.2]],  # 3 cm above the ground, 30 cm from any point
                     [[0.0, 0.1, -0.12], [0.0, 0.2, 0.0]],  # 12 cm below the ground in the hole
                     [[0.0, 0.0, 0.40], [0.0, 0.0, 0.5]],  # 40 cm above it
                     [[1.95, 1.95, 0.06], [1.95, 1.9, 0.2]]])  # over the cloud: its nearest point is nearer
    dist = foot_distances(feet, scene)
    np.testing.assert_allclose(dist[:3], [0.03, 0.12, 0.40], atol=0.005)
    assert dist[3] == pytest.approx(0.06 - 0.0195, abs=0.005)
    # outside the cloud, more than a step from any point: only the nearest point counts
    beyond = np.array([[[2.0 + MAX_HOLE_M + 0.1, 0.0, 0.0], [2.7, 0.0, 0.1]]])
    assert foot_distances(beyond, scene)[0] == pytest.approx(0.05 + MAX_HOLE_M + 0.1, abs=0.005)
    assert np.isinf(foot_distances(feet, None)).all()


def test_report_handles_gaps_and_no_contacts(body):
    from josh.pipeline.report import plausibility, runs, walking_speed

    assert runs(np.array([0, 1, 2, 5, 6, 9])) == [slice(0, 3), slice(3, 5), slice(5, 6)]
    root = np.c_[np.arange(20) * 0.05, np.zeros(20), np.ones(20)]
    frames = np.r_[np.arange(10), np.arange(20, 30)]  # a jump of 10 frames is not motion
    assert walking_speed(root, frames, fps=30.0) == pytest.approx(1.5)  # runs shorter than the window
    frames = np.r_[np.arange(10), np.arange(11, 21)]
    root[10:] += [0.5, 0, 0]  # 0.55 m in 2 frames: a jump across a gap
    assert walking_speed(root, frames, fps=30.0) == pytest.approx(1.5)
    world = _world_walkers(body, n_frames=12)
    walker = world.people[0]
    # the run's contact labels play no part (after the contact re-estimate they are the still
    # candidates near the scene: sliding measured on them would be small by construction)
    unlabelled = dataclasses.replace(walker, contacts=np.zeros_like(walker.contacts))
    p = plausibility(dataclasses.replace(world, people=[unlabelled]), body)["people"][0]
    assert p["fs_mm"] == pytest.approx(40.0, rel=1e-3) and p["contact_far_020"] == 0.0
    one = dataclasses.replace(walker, **{k: getattr(walker, k)[:1] for k in (
        "frames", "root_rotmat", "root_transl", "body_pose", "joints", "foot_vertices", "contact_vertices", "contacts")})
    p = plausibility(dataclasses.replace(world, people=[one], scene_points=np.zeros((0, 3))), body)["people"][0]
    assert p["fs_mm"] is None and p["speed_mps"] is None and p["contact_far_005"] == 1.0  # no scene: far
    json.dumps(p)  # no NaN in the report


def test_stalled_share_sees_a_walker_who_stops_at_every_step():
    from josh.pipeline.report import stalled_share

    fps, t = 30.0, np.arange(90) / 30.0
    steady = np.c_[1.2 * t + 0.02 * np.sin(2 * np.pi * 2 * t), np.zeros(90), np.ones(90)]  # a 2 Hz sway
    assert stalled_share(steady, np.arange(90), fps) == 0.0
    # the same distance in stop-and-go: still for 10 frames, then 2.4 m/s for 10, every step
    speed = np.where((np.arange(90) // 10) % 2 == 0, 0.0, 2.4)
    surging = np.c_[np.r_[0.0, np.cumsum(speed[1:]) / fps], np.zeros(90), np.ones(90)]
    assert 0.3 < stalled_share(surging, np.arange(90), fps) < 0.6
    standing = np.c_[0.003 * np.sin(t * 7), np.zeros(90), np.ones(90)]
    assert math.isnan(stalled_share(standing, np.arange(90), fps))  # people who stand are not stalled walkers


def test_the_split_pairs_switch_overrides_the_settings_only_when_given(tmp_path):
    from josh.pipeline.run import settings_for

    base = Settings()
    assert base.people.split_pairs  # on by default
    unset = settings_for(RunOptions(tmp_path / "v.mp4", tmp_path / "out"), base.with_split_pairs(False))
    assert not unset.people.split_pairs
    off = settings_for(RunOptions(tmp_path / "v.mp4", tmp_path / "out", split_pairs=False), base)
    on = settings_for(RunOptions(tmp_path / "v.mp4", tmp_path / "out", split_pairs=True), base.with_split_pairs(False))
    assert not off.people.split_pairs and on.people.split_pairs
