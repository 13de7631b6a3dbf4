"""Official TRAM / DECO people + a point-map scene -> FrontEndInputs the optimiser accepts."""

import numpy as np

from josh.body import load_body_model
from josh.interop.official_inputs import read_official_folder
from josh.interop.pointmaps import front_end_inputs, scene_from_pointmaps, validate_pointmaps
from josh.optimize.config import OptimConfig
from josh.optimize.problem import build_problem
from josh.testing.fake_official import write_fake_official_folder
from josh.testing.fake_smpl import write_fake_smpl_folder
from josh.testing.pointmap_scene import PlaneAndBox, look


def test_people_and_point_maps_make_optimiser_inputs(tmp_path):
    smpl = load_body_model("smpl", model_path=write_fake_smpl_folder(tmp_path / "smpl"))
    write_fake_official_folder(tmp_path / "seq", n_frames=50, size=(160, 90))
    work = (80, 45)
    people = read_official_folder(tmp_path / "seq", smpl, working_size=work)
    keyframes = np.arange(0, 50, 5)
    focal = people.humans[0].focal_assumed  # point maps made with the same (working-size) focal
    poses = np.stack([look(0.0, 0.25, [0.02 * k, 0.0, 0.05 * k]) for k in keyframes])
    points, conf, _ = (np.stack(x) for x in zip(*[PlaneAndBox().render(T, focal, work) for T in poses]))
    scene = scene_from_pointmaps(
        validate_pointmaps({"points": points, "conf": conf, "T_wc": poses, "frame_ids": keyframes}),
        person_masks=people.masks, n_frames=people.n_frames,
    )  # fmt: skip
    inputs = front_end_inputs(scene, people.humans, fps=30.0, body_model="smpl")
    assert inputs.n_frames == 50 and inputs.intrinsics.width == work[0]
    assert abs(inputs.intrinsics.focal - focal) < 1e-3
    problem = build_problem(inputs, OptimConfig())
    rows = sum(len(h.frames) for h in people.humans)
    assert problem.n_rows == rows and problem.pose_init.shape == (rows, 23, 3)
    assert problem.contact_prob.shape == (rows, len(smpl.contact_vertex_ids))
    assert np.allclose(problem.row_f_assumed.numpy(), focal)
    # people are masked out of the scene: no background where SAM3 saw a person at a keyframe
    mask = people.masks[int(keyframes[1])]
    obs = scene.keyframes
    grid_v = np.clip(((np.arange(obs.depth.shape[1]) + 0.5) * obs.stride - 0.5).round().astype(int), 0, work[1] - 1)
    grid_u = np.clip(((np.arange(obs.depth.shape[2]) + 0.5) * obs.stride - 0.5).round().astype(int), 0, work[0] - 1)
    on_person = mask[grid_v[:, None], grid_u[None, :]]
    assert on_person.any() and not obs.background[1][on_person].any()


def test_tram_people_with_and_without_deco(tmp_path):
    from josh.interop.official_inputs import tram_people

    smpl = load_body_model("smpl", model_path=write_fake_smpl_folder(tmp_path / "smpl"))
    fake = write_fake_official_folder(tmp_path / "seq", n_frames=60, size=(64, 36))
    plain = tram_people(tmp_path / "seq" / "tram", smpl, working_size=(32, 18))
    with_deco = tram_people(tmp_path / "seq", smpl, working_size=(32, 18), deco=tmp_path / "seq" / "deco")
    assert [h.person_id for h in plain] == [p.track_id for p in fake.people]
    ok = fake.people[0].deco_crop_ok
    assert ok.any() and (~ok).any()
    assert not np.allclose(plain[0].contact_prob[ok], with_deco[0].contact_prob[ok])  # DECO rows used
    assert np.allclose(plain[0].contact_prob[~ok], with_deco[0].contact_prob[~ok])  # misaligned rows: body estimate
