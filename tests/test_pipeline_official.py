"""`josh run` on image folders (`--fps`) and with `--official [DIR]`: the official layout written
from a run, indexed by the input's frames, atomically, never over the user's files; the cache
unaffected by results written into the input folder. The accuracy of the whole round trip is
tests/test_roundtrip.py."""

from __future__ import annotations

import json
import pickle
import types

import numpy as np
import pytest
from PIL import Image

from josh.cli import main as josh_main
from josh.errors import InputError, OutputError
from josh.interop.official_inputs import load_track_dict
from josh.optimize import OptimConfig, Phase
from josh.perception.scene import SceneConfig
from josh.pipeline.options import RunOptions, Sources
from josh.pipeline.run import Settings, run_pipeline
from josh.testing.videos import pattern_frames

FAST = Settings(scene=SceneConfig(max_features=512),
                optim=OptimConfig(scene_phase=Phase(30, 0.02, True, True), coarse=Phase(30, 0.02, False, False),
                                  fine=Phase(30, 0.005, True, True)))  # fmt: skip
CLIP = dict(start=4, stride=2, max_frames=12)  # video frames 4, 6, ..., 26
CLIP_VIDEO_FRAMES = np.arange(4, 28, 2)


@pytest.fixture(scope="module")
def smpl_dir(tmp_path_factory):
    from josh.testing.fake_smpl import write_fake_smpl_folder

    return write_fake_smpl_folder(tmp_path_factory.mktemp("smpl"))


@pytest.fixture()
def official(tmp_path, smpl_dir):
    """A generated official folder (40 frames, two people; DECO marks the heels)."""
    from josh.body import load_body_model
    from josh.testing.fake_official import write_fake_official_folder

    smpl = load_body_model("smpl", model_path=smpl_dir)
    heels = [smpl.contact_vertex_ids[smpl.contact_sets[f"{side}_heel"]] for side in ("left", "right")]
    return write_fake_official_folder(tmp_path / "seq", n_frames=40, n_people=2, size=(160, 90), short_run=False,
                                      contact_patches=heels)  # fmt: skip


def _tram_options(fake, smpl_dir, out, official=None, **clip) -> RunOptions:
    sources = Sources.parse(f"tram:{fake.root}", f"deco:{fake.root}", None)
    return RunOptions(fake.root, out, sources=sources, smpl_path=smpl_dir, official=official, progress=False, **clip)


def _josh(argv, capsys):
    code = josh_main(["run", *map(str, argv)])
    return code, capsys.readouterr().err


# --------------------------------------------------------------------------------- the layout
def test_official_folder_in_official_layout_out(official, smpl_dir, tmp_path):
    from josh.io.reconstruction_file import load_reconstruction

    target = official.root / "josh"
    report = run_pipeline(_tram_options(official, smpl_dir, tmp_path / "out", target, **CLIP), FAST)
    assert report["official"]["path"] == str(target.resolve()) and report["official"]["tracks"] == 2
    assert sorted(p.name for p in target.iterdir()) == ["hps_track_1.npy", "hps_track_3.npy", "scene.pkl"]
    assert not [p for p in official.root.iterdir() if p.name.startswith(".")]  # no staging folder left
    recon = load_reconstruction(tmp_path / "out" / "reconstruction.npz")
    with open(target / "scene.pkl", "rb") as fh:
        scene = pickle.load(fh)

    # every input frame has a camera; clip frames exactly, the others interpolated / held
    cams = scene["pred_cam"]
    assert cams.shape == (official.n_frames, 4, 4) and np.allclose(cams[0], np.eye(4))
    expected = np.linalg.inv(recon.T_wc[0]) @ recon.T_wc
    assert np.allclose(cams[CLIP_VIDEO_FRAMES], expected, atol=1e-6)
    assert np.allclose(cams[:4], np.eye(4)) and np.allclose(cams[27:], cams[26])
    assert np.allclose(cams[5, :3, 3], (cams[4, :3, 3] + cams[6, :3, 3]) / 2)
    assert scene["img_idx"] == CLIP_VIDEO_FRAMES[recon.keyframe_ids].tolist()
    assert scene["depth_hw"].shape[0] == len(scene["img_idx"]) == len(scene["rgb_hw3"])

    # tracks: the people's frames as input frames, with the SAM3 boxes of those frames
    for person in recon.people:
        track = load_track_dict(target / f"hps_track_{person.person_id}.npy")
        truth = next(p for p in official.people if p.track_id == person.person_id)
        assert track["frame"].tolist() == CLIP_VIDEO_FRAMES[person.frames].tolist()
        rows = np.searchsorted(truth.det_frames, track["frame"])
        assert np.allclose(track["boxes"], truth.det_boxes[rows], atol=1e-4)
    assert any("interpolated" in n for n in report["notes"])


def test_a_rerun_is_cached_although_the_result_was_written_into_the_input(official, smpl_dir, tmp_path):
    opts = _tram_options(official, smpl_dir, tmp_path / "out", official.root / "josh", **CLIP)
    run_pipeline(opts, FAST)
    first = (official.root / "josh" / "scene.pkl").read_bytes()
    again = run_pipeline(opts, FAST)
    assert set(again["cached_stages"]) == {"decode", "people", "scene", "bodies", "contacts", "optimise"}
    assert (official.root / "josh" / "scene.pkl").read_bytes() == first


def test_default_official_folder_and_output_folder_of_a_folder_input(official, smpl_dir, capsys):
    code, err = _josh([official.root, "--people", f"tram:{official.root}", "--contacts", f"deco:{official.root}",
                       "--smpl", smpl_dir, "--max-frames", 8, "-q", "--official"], capsys)  # fmt: skip
    assert code == 0, err
    assert (official.root / "josh" / "scene.pkl").is_file() and (official.root / "josh" / "hps_track_1.npy").is_file()
    report = json.loads((official.root.with_name("seq_josh") / "report.json").read_text())
    assert report["fps"] == 30.0 and any("30 fps assumed" in n for n in report["notes"])


# ------------------------------------------------------------------------------------- safety
def test_official_folder_never_replaces_user_files(official, smpl_dir, tmp_path, capsys):
    base = ["--people", f"tram:{official.root}", "--contacts", f"deco:{official.root}", "--smpl", smpl_dir, "-q"]
    out = tmp_path / "out"
    for target, words in ((official.root, "replace the input"), (official.root.parent, "would replace"),
                          (out, "replace the output folder")):  # fmt: skip
        code, err = _josh([official.root, "-o", out, *base, f"--official={target}"], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1 and words in err, err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    code, err = _josh([official.root, "-o", out, *base, f"--official={mine}"], capsys)
    assert code == 2 and "not an official result" in err
    assert (mine / "thesis.tex").read_text() == "precious"
    assert not (out / "report.json").exists()  # refused before any stage ran


def test_a_failed_write_leaves_the_earlier_official_folder(official, smpl_dir, tmp_path, monkeypatch):
    from josh.interop import official_results

    target = tmp_path / "result"
    opts = _tram_options(official, smpl_dir, tmp_path / "out", target, **CLIP)
    run_pipeline(opts, FAST)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def broken(recon, out_dir, *args, **kwargs):
        (out_dir / "scene.pkl").parent.mkdir(parents=True, exist_ok=True)
        (out_dir / "scene.pkl").write_bytes(b"half")
        raise OutputError("disk full")

    monkeypatch.setattr(official_results, "write_official_layout", broken)
    with pytest.raises(OutputError, match="disk full"):
        run_pipeline(opts, FAST)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "result", "seq"]  # no staging folder left


# ------------------------------------------------------------------------------ image folders
def test_pattern_folder_with_fps_and_a_scene_only_official_layout(tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(pattern_frames(10, 160, 120)):
        Image.fromarray(frame).save(folder / f"{i:06d}.png")
    code, err = _josh([folder, "-o", tmp_path / "out", "--fps", 0], capsys)
    assert code == 2 and "--fps" in err
    report = run_pipeline(RunOptions(folder, tmp_path / "out", fps=12.5, stride=2, official=tmp_path / "out" / "josh",
                                     progress=False), FAST)  # fmt: skip
    assert report["fps"] == 6.25 and report["video_frames"]["video_fps"] == 12.5
    assert not any("fps assumed" in n for n in report["notes"])
    assert [p.name for p in (tmp_path / "out" / "josh").iterdir()] == ["scene.pkl"]  # nobody: no tracks
    with open(tmp_path / "out" / "josh" / "scene.pkl", "rb") as fh:
        scene = pickle.load(fh)
    assert scene["pred_cam"].shape == (10, 4, 4) and scene["img_idx"][0] == 0


def test_anny_bodies_give_the_scene_only_with_a_warning(body, tmp_path):
    from josh.pipeline.official import write_official
    from josh.pipeline.stages import Clip
    from josh.testing.reconstruction import HEIGHT, WIDTH, synthetic_reconstruction

    recon, _ = synthetic_reconstruction(body, n_frames=6)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(6):
        Image.fromarray(np.full((HEIGHT, WIDTH, 3), 40 * i, np.uint8)).save(folder / f"{i:06d}.png")
    clip = Clip(str(folder), {"frames": 6, "width": WIDTH, "height": HEIGHT, "fps": 30.0}, np.arange(6), 30.0, 1,
                WIDTH, HEIGHT, 960)  # fmt: skip
    run = types.SimpleNamespace(opts=types.SimpleNamespace(official=tmp_path / "josh", sources=Sources()), warnings=[],
                                notes=[], body=body)  # fmt: skip
    info = write_official(run, recon, clip, tmp_path / "josh")
    assert info["files"] == ["scene.pkl"] and info["tracks"] == 0
    assert len(run.warnings) == 1 and "SMPL" in run.warnings[0]
    with open(tmp_path / "josh" / "scene.pkl", "rb") as fh:
        scene = pickle.load(fh)
    assert np.allclose(scene["rgb_hw3"][1], 40 * 3 / 255, atol=1e-6)  # keyframe 3's colour, from the clip
