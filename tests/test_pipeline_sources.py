"""`josh run` with learned front-ends' outputs in place of built-in stages (generated here):
`--scene pointmaps:FILE` and `--people tram:DIR --contacts deco:DIR` with a generated SMPL model.
Clips start late and are strided, so the mapping between video frames and clip frames is tested.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from josh.optimize import OptimConfig, Phase
from josh.perception.scene import SceneConfig
from josh.pipeline.options import RunOptions, Sources
from josh.pipeline.run import Settings, run_pipeline
from josh.testing.videos import write_video

FAST = Settings(scene=SceneConfig(max_features=512),
                optim=OptimConfig(scene_phase=Phase(30, 0.02, True, True), coarse=Phase(30, 0.02, False, False),
                                  fine=Phase(30, 0.005, True, True)))  # fmt: skip


def test_scene_from_a_point_map_file(tmp_path):
    from josh.interop.pointmaps import write_pointmaps
    from josh.testing.pointmap_scene import PlaneAndBox, look

    world = PlaneAndBox()
    n, size, focal = 12, (160, 120), 150.0
    poses = [look(0.02 * i, 0.25, [0.1 * i, 0.0, 0.0]) for i in range(n)]
    views = [world.render(T, focal, size) for T in poses]
    video = write_video(tmp_path / "box.avi", [rgb for _, _, rgb in views])
    # half-resolution maps of every other frame (video frames 0, 2, ..., 10), poses in the file
    maps = [world.render(T, focal / 2, (80, 60)) for T in poses[::2]]
    file = write_pointmaps(tmp_path / "maps.npz", np.stack([m[0] for m in maps]), np.stack([m[1] for m in maps]),
                           T_wc=np.stack(poses[::2]), frame_ids=np.arange(0, n, 2), image_size=np.array(size))  # fmt: skip
    opts = RunOptions(video, tmp_path / "out", start=2, stride=2, sources=Sources.parse(scene=f"pointmaps:{file}"),
                      progress=False)  # fmt: skip
    report = run_pipeline(opts, FAST)
    # clip frames 0..4 = video frames 2, 4, ..., 10: every clip frame has a map, so each is a keyframe
    assert report["frames"] == 5 and report["sources"]["scene"].startswith("pointmaps:")
    assert report["scene"]["source"] == "pointmaps" and report["scene"]["keyframes"] == 5
    assert report["scene"]["focal_init_px"] == pytest.approx(focal, rel=0.01)  # map focal x 2
    assert report["scene"]["points"] > 100
    from josh.io.reconstruction_file import load_reconstruction

    recon = load_reconstruction(tmp_path / "out" / "reconstruction.npz")
    assert recon.keyframe_ids.tolist() == [0, 1, 2, 3, 4]
    # the cameras move 0.2 m per clip frame along x in the file's world; relative steps keep their ratio
    steps = np.linalg.norm(np.diff(recon.T_wc[:, :3, 3], axis=0), axis=1)
    assert steps.std() < 0.05 * steps.mean()

    with pytest.raises(Exception, match="point maps fall on the selected frames"):
        run_pipeline(RunOptions(video, tmp_path / "out2", start=1, stride=2,
                                sources=Sources.parse(scene=f"pointmaps:{file}"), progress=False), FAST)  # fmt: skip


@pytest.fixture(scope="module")
def smpl_dir(tmp_path_factory):
    from josh.testing.fake_smpl import write_fake_smpl_folder

    return write_fake_smpl_folder(tmp_path_factory.mktemp("smpl"))


def test_people_and_contacts_from_tram_and_deco(tmp_path, smpl_dir):
    from PIL import Image

    from josh.body import load_body_model
    from josh.io.reconstruction_file import load_reconstruction
    from josh.testing.fake_official import write_fake_official_folder

    smpl = load_body_model("smpl", model_path=smpl_dir)
    heels = [smpl.contact_vertex_ids[smpl.contact_sets[f"{side}_heel"]] for side in ("left", "right")]
    fake = write_fake_official_folder(tmp_path / "seq", n_frames=40, n_people=2, size=(160, 90), short_run=False,
                                      contact_patches=heels)  # fmt: skip
    frames = [np.asarray(Image.open(p)) for p in sorted((fake.root / "rgb").iterdir())]
    video = write_video(tmp_path / "seq.avi", frames)
    sources = Sources.parse(f"tram:{fake.root}", f"deco:{fake.root}", None)
    opts = RunOptions(video, tmp_path / "out", start=4, stride=2, max_frames=12, sources=sources, smpl_path=smpl_dir,
                      progress=False)  # fmt: skip
    report = run_pipeline(opts, FAST)
    assert report["body_model"] == "smpl" and report["frames"] == 12
    assert "refine" not in report["stages"]  # DECO's contacts are used as they are
    clip_video_frames = np.arange(4, 28, 2)
    recon = load_reconstruction(tmp_path / "out" / "reconstruction.npz")
    assert sorted(p.person_id for p in recon.people) == sorted(p.track_id for p in fake.people)
    from josh.interop.official_inputs import tram_people

    direct = {h.person_id: h for h in tram_people(fake.root, smpl, (160, 90), deco=fake.root, original_size=(160, 90))}
    for person in recon.people:
        truth = next(p for p in fake.people if p.track_id == person.person_id)
        expected = [i for i, v in enumerate(clip_video_frames) if v in set(truth.frames.tolist())]
        assert person.frames.tolist() == expected
        assert person.joints.shape == (len(expected), 24, 3)
        # the contacts used are DECO's (pooled onto the candidates), on the right rows
        rows = np.searchsorted(direct[person.person_id].frames, clip_video_frames[person.frames])
        assert np.allclose(person.contacts, direct[person.person_id].contact_prob[rows])
        assert person.contacts.max() > 0.5
        assert (tmp_path / "out" / "people" / f"{person.person_id}.npz").is_file()
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [p["id"] for p in saved["people"]] == [p.person_id for p in recon.people]
