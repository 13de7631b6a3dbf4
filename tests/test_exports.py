"""Per-person motion files, scene PLY/GLB, the rerun recording, and write_outputs."""

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import roma
import torch
import trimesh

from josh.errors import InputError
from josh.geometry.world_frame import align_world
from josh.io import outputs as outputs_module
from josh.io.outputs import write_outputs
from josh.io.people_files import person_motion_arrays, write_person_files
from josh.io.rerun_recording import write_recording
from josh.io.scene_export import write_scene_glb, write_scene_ply
from josh.testing.reconstruction import synthetic_reconstruction

N_FRAMES = 6


@pytest.fixture(scope="module")
def exported(body):
    recon, _ = synthetic_reconstruction(body, n_frames=N_FRAMES)
    return align_world(recon, body)


def _rerun_cli() -> str | None:
    beside = Path(sys.executable).parent / "rerun"
    return str(beside) if beside.exists() else shutil.which("rerun")


def _rrd_rows(path: Path) -> Counter:
    """Rows per (entity, first data column) in a recording, from `rerun rrd print`."""
    out = subprocess.run([_rerun_cli(), "rrd", "print", str(path)], capture_output=True, text=True, check=True,
                         env={"RERUN_ANALYTICS": "0", "PATH": ""})  # fmt: skip
    rows = Counter()
    for n, entity, columns in re.findall(r"with (\d+) rows .* - (\S+) - data columns: \[([^\]]*)\]", out.stdout):
        rows[(entity, columns.split()[0])] += int(n)
    return rows


# ----------------------------------------------------------------------------------- person files
def test_person_file_layout_reproduces_the_body(body, exported, tmp_path):
    paths = write_person_files(exported, body, tmp_path / "people")
    assert sorted(paths) == [1, 4] and paths[4] == tmp_path / "people" / "4.npz"
    person = exported.people[1]
    with np.load(paths[4], allow_pickle=False) as f:
        T = len(person.frames)
        assert float(f["mocap_framerate"]) == exported.fps and np.array_equal(f["frame_ids"], person.frames)
        assert f["poses"].shape == (T, 3 + 3 * body.n_pose_bones) and len(f["pose_bone_names"]) == body.n_pose_bones
        assert np.array_equal(f["poses"][:, :3], f["root_orient"])
        assert f["joints"].shape == (T, 24, 3) and list(f["joint_names"]) == body.joint_names
        assert f["contacts"].shape == (T, len(body.contact_vertex_ids))
        assert str(f["up_axis"]) == "z" and str(f["body_model"]) == "anny" and np.array_equal(f["betas"], f["shape"])
        # the documented recipe gives back the joints in the file
        rest = body.rest(torch.as_tensor(f["betas"], dtype=torch.float32)[None])
        out = body.forward(rest, torch.zeros(T, dtype=torch.long),
                           roma.rotvec_to_rotmat(torch.as_tensor(f["root_orient"])).float(),
                           torch.as_tensor(f["trans"], dtype=torch.float32),
                           torch.as_tensor(f["poses"][:, 3:].reshape(T, -1, 3), dtype=torch.float32))  # fmt: skip
        assert np.abs(out.joints.numpy() - f["joints"]).max() < 1e-4
        # Z up, ground at 0: the lowest foot contact of each frame is on the floor, the head high above
        assert np.abs(np.median(person.contact_vertices[..., 2].min(1))) < 0.01
        assert f["joints"][:, 15, 2].min() > 1.2  # head joint of a standing adult
        left_heel = f["contact_set_left_heel"]
        assert np.isin(body.contact_vertex_ids[left_heel], f["contact_vertex_ids"]).all()


# ------------------------------------------------------------------------------------- PLY / GLB
def test_scene_ply_is_binary_and_reads_back(exported, tmp_path):
    path = write_scene_ply(exported, tmp_path / "scene.ply")
    assert b"format binary_little_endian 1.0" in path.read_bytes()[:200]
    cloud = trimesh.load(path)
    assert np.allclose(cloud.vertices, exported.scene_points, atol=1e-5)
    assert np.array_equal(np.asarray(cloud.colors)[:, :3], exported.scene_colors)


def test_scene_glb_has_points_bodies_and_cameras(body, exported, tmp_path):
    path = write_scene_glb(exported, body, tmp_path / "scene.glb", bodies_per_person=3, n_frustums=2)
    scene = trimesh.load(path)
    names = set(scene.geometry)
    bodies = sorted(n for n in names if n.startswith("person_"))
    assert bodies == ["person_1_frame_0", "person_1_frame_2", "person_1_frame_5",
                      "person_4_frame_2", "person_4_frame_4", "person_4_frame_5"]  # fmt: skip
    assert names - set(bodies) == {"scene_points", "camera_path", "camera_0", "camera_5"}
    mesh = scene.geometry["person_4_frame_4"]
    assert mesh.vertices.shape == (13718, 3) and len(mesh.faces) == len(body.faces)
    assert abs(mesh.vertices[:, 2].min()) < 0.02 and mesh.vertices[:, 2].max() > 1.4  # standing on z = 0
    assert isinstance(scene.geometry["scene_points"], trimesh.PointCloud)
    assert len(scene.geometry["scene_points"].vertices) == len(exported.scene_points)
    path_points = np.unique(np.round(scene.geometry["camera_path"].vertices, 5), axis=0)  # glTF stores segments
    assert np.allclose(path_points, np.unique(np.round(exported.T_wc[:, :3, 3], 5), axis=0), atol=1e-5)


# ------------------------------------------------------------------------------------------- rerun
def test_recording_is_valid_and_complete(body, exported, tmp_path):
    cli = _rerun_cli()
    if cli is None:
        pytest.skip("the rerun CLI (installed with rerun-sdk) is not on this machine")
    width, height = exported.intrinsics.width, exported.intrinsics.height
    video = ((i, np.full((2 * height, 2 * width, 3), 20 * i, np.uint8)) for i in range(N_FRAMES + 2))
    path = write_recording(exported, body, tmp_path / "recording.rrd", frames=video)
    verify = subprocess.run([cli, "rrd", "verify", str(path)], capture_output=True, text=True,
                            env={"RERUN_ANALYTICS": "0", "PATH": ""})  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    rows = _rrd_rows(path)
    assert rows[("/world/camera", "Transform3D:mat3x3")] == N_FRAMES
    assert rows[("/world/camera/image", "EncodedImage:blob")] == N_FRAMES  # frames past the end skipped
    assert rows[("/world/camera/image", "Pinhole:camera_xyz")] == 1
    assert rows[("/world/people/1/body", "Mesh3D:albedo_factor")] == 1  # triangles once, static
    assert rows[("/world/people/1/body", "Mesh3D:vertex_positions")] == N_FRAMES
    assert rows[("/world/people/4/body", "Mesh3D:vertex_positions")] == N_FRAMES - 2  # appears at frame 2
    assert rows[("/world/people/4/contacts", "Points3D:colors")] == N_FRAMES - 2
    assert rows[("/world/scene", "Points3D:colors")] == 1
    assert [f.name for f in tmp_path.iterdir()] == ["recording.rrd"]


def test_recording_refuses_frames_of_another_shape(body, exported, tmp_path):
    with pytest.raises(InputError, match="aspect ratio"):
        write_recording(exported, body, tmp_path / "r.rrd", frames=[(0, np.zeros((100, 100, 3), np.uint8))])
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------- write_outputs
def test_write_outputs_writes_everything(body, exported, tmp_path):
    recon_internal, _ = synthetic_reconstruction(body, n_frames=N_FRAMES)
    timings = {}
    written = write_outputs(recon_internal, body, tmp_path / "out", report={"video": "clip.mp4"}, timings=timings,
                            bodies_per_person=2)  # fmt: skip
    out = tmp_path / "out"
    assert {k: v.relative_to(out).as_posix() for k, v in written.items()} == {
        "reconstruction": "reconstruction.npz", "person_1": "people/1.npz", "person_4": "people/4.npz",
        "scene_ply": "scene.ply", "scene_glb": "scene.glb", "recording": "recording.rrd", "report": "report.json",
    }  # fmt: skip
    assert not [p for p in out.rglob(".*")]  # no temporary files
    report = json.loads((out / "report.json").read_text())
    assert report["video"] == "clip.mp4" and report["export"]["files"]["scene_glb"]["bytes"] > 0
    assert set(timings) == {"align", "reconstruction", "people", "scene_ply", "scene_glb", "recording"}
    assert report["export"]["world_frame"]["up_axis"] == "z"
    from josh.io.reconstruction_file import load_reconstruction

    saved = load_reconstruction(written["reconstruction"])
    assert np.allclose(saved.world_align, exported.world_align, atol=1e-9)  # aligned the same way


def test_failed_run_leaves_no_report(body, exported, tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_outputs(exported, body, out, report={}, bodies_per_person=1)
    assert (out / "report.json").exists()

    def broken(*args, **kwargs):
        raise RuntimeError("rerun crashed")

    monkeypatch.setattr(outputs_module, "write_recording", broken)
    with pytest.raises(RuntimeError):
        write_outputs(exported, body, out, report={}, bodies_per_person=1)
    assert not (out / "report.json").exists()  # the old report would claim a complete set
    assert not [p for p in out.rglob(".*")]


def test_write_outputs_without_people(body, tmp_path):
    recon, _ = synthetic_reconstruction(body, n_frames=4, n_people=0)
    written = write_outputs(recon, body, tmp_path, report={})
    assert not any(name.startswith("person_") for name in written)
    assert set(trimesh.load(written["scene_glb"]).geometry) == {"scene_points", "camera_path", "camera_0", "camera_1",
                                                                "camera_2", "camera_3"}  # fmt: skip
    assert json.loads(written["report"].read_text())["export"]["world_frame"]["up_source"] == "scene plane"
