"""The official JOSH folder layout: read (rgb/, mask/, tram/, deco/), write (scene.pkl, hps tracks),
read back. Every fixture is generated at test time (josh.testing.fake_official / fake_smpl)."""

import math
import pickle
import shutil

import numpy as np
import pytest
import roma
import torch

from josh.body import load_body_model
from josh.errors import InputError, OutputError
from josh.interop.official_inputs import (
    box_iou,
    deco_pooling,
    load_track_dict,
    read_official_folder,
    read_tram,
    transl_from_weak_perspective,
)
from josh.interop.official_results import (
    find_result_dir,
    load_scene_pkl,
    official_size,
    people_in_world,
    read_official_result,
    write_official_layout,
)
from josh.interop.rle import counts_from_string, counts_to_string, decode_rle, encode_rle
from josh.perception.contacts import initial_contacts
from josh.testing.fake_official import write_fake_official_folder
from josh.testing.fake_smpl import write_fake_smpl_folder
from josh.types import Intrinsics, Reconstruction

SIZE = (96, 54)


@pytest.fixture(scope="module")
def smpl(tmp_path_factory):
    return load_body_model("smpl", model_path=write_fake_smpl_folder(tmp_path_factory.mktemp("smpl")))


@pytest.fixture(scope="module")
def folder(tmp_path_factory, smpl):
    """A 60-frame official input folder; DECO marks a patch around person 0's left sole."""
    rest = smpl._v_template.numpy()
    sole = rest[smpl.contact_vertex_ids[smpl.contact_sets["left_sole"]]]
    near_sole = np.flatnonzero(np.linalg.norm(rest[:, None] - sole[None], axis=-1).min(1) < 0.04)
    root = tmp_path_factory.mktemp("official") / "seq"
    return write_fake_official_folder(root, n_frames=60, size=SIZE, contact_patches=[near_sole, [6787, 6617]])


@pytest.fixture(scope="module")
def inputs(folder, smpl):
    return read_official_folder(folder.root, smpl, working_size=(SIZE[0] // 2, SIZE[1] // 2))


# ---------------------------------------------------------------------------------------- RLE
def test_rle_strings_follow_the_coco_scheme():
    assert counts_to_string([5, 3, 2, 7]) == "5324"  # small runs, 4th stored as 7 - 3
    assert counts_to_string([5, 10, 2, 3]) == "5:2I"  # 3 - 10 = -7: one group with the sign bit
    assert counts_to_string([100]) == "T3"  # 100 = 4 + 3 * 32: two 5-bit groups
    for runs in ([5, 3, 2, 7], [5, 10, 2, 3], [100], [0, 70000, 1, 12345]):
        assert counts_from_string(counts_to_string(runs)) == runs


def test_rle_masks_round_trip():
    rng = np.random.default_rng(0)
    for h, w in ((1, 1), (7, 5), (40, 64)):
        mask = rng.random((h, w)) < 0.3
        rle = encode_rle(mask)
        assert rle["size"] == [h, w] and isinstance(rle["counts"], str)
        assert (decode_rle(rle) == mask).all()
    # column-major runs 0 | 1 1 | 0 0 0 -> columns (0,1), (1,0), (0,0)
    assert (decode_rle({"size": [2, 3], "counts": [1, 2, 3]}) == np.array([[0, 1, 0], [1, 0, 0]], bool)).all()
    with pytest.raises(InputError, match="pixels"):
        decode_rle({"size": [4, 4], "counts": [3, 2]})


# ------------------------------------------------------------------------------------ reading
def test_tram_tracks_become_root_joint_tracks(folder, inputs, smpl):
    assert len(inputs.tracks) == 2 and inputs.n_frames == 60 and inputs.image_size == SIZE
    for track, truth in zip(inputs.tracks, folder.people):
        h = track.human
        assert h.person_id == truth.track_id and (h.frames == truth.frames).all()
        assert np.allclose(h.root_rotmat, truth.rotmat[:, 0], atol=1e-6)
        pose = roma.rotvec_to_rotmat(torch.as_tensor(h.body_pose)).numpy()
        assert np.allclose(pose, truth.rotmat[:, 1:], atol=1e-5)
        assert np.allclose(h.shape, truth.betas.mean(0), atol=1e-6)
        # the root joint of smplx's own forward with TRAM's transl is where the track says
        with torch.no_grad():
            out = smpl.smplx_model(
                betas=torch.as_tensor(h.shape)[None].expand(5, -1), global_orient=torch.as_tensor(truth.rotmat[:5, :1]).double(),
                body_pose=torch.as_tensor(truth.rotmat[:5, 1:]).double(), transl=torch.as_tensor(truth.transl[:5]).double(),
                pose2rot=False,
            )  # fmt: skip
        assert np.allclose(out.joints[:, 0].numpy(), h.root_transl[:5], atol=1e-6)
        assert math.isclose(h.focal_assumed, math.hypot(*SIZE) / 2)  # diagonal focal, at half size
        assert h.keypoints2d.shape == (len(h.frames), 23, 2) and not h.keypoints_conf.any()


def test_tram_crop_cameras_give_tram_translations(folder):
    """pred_trans is TRAM's get_trans of pred_cam and the frame's box (diagonal focal)."""
    truth = folder.people[0]
    data = load_track_dict(folder.root / "tram" / f"hps_track_{truth.track_id}.npy")
    boxes = truth.det_boxes[np.searchsorted(truth.det_frames, truth.frames)]
    t = transl_from_weak_perspective(data["pred_cam"], boxes, math.hypot(*SIZE), SIZE)
    assert np.allclose(t, truth.transl, rtol=1e-4, atol=1e-5)


def test_short_runs_dropped_by_tram_are_realigned(folder, inputs, smpl):
    """Official defect: DECO cropped row i with boxes[i] although TRAM dropped a short run."""
    for track, truth in zip(inputs.tracks, folder.people):
        assert track.dropped_detections == 9
        true_boxes = truth.det_boxes[np.searchsorted(truth.det_frames, truth.frames)]
        assert np.allclose(track.boxes, true_boxes)
        assert ((track.deco_box_iou >= 0.5) == truth.deco_crop_ok).all()
        assert (track.contact_from_deco == truth.deco_crop_ok).all()
        assert truth.deco_crop_ok.any() and (~truth.deco_crop_ok).any()
        body_estimate = initial_contacts(track.human, smpl)
        bad = ~truth.deco_crop_ok
        assert np.allclose(track.human.contact_prob[bad], body_estimate[bad])
        good = truth.deco_crop_ok
        assert np.allclose(track.human.contact_prob[good], (deco_pooling(smpl) @ truth.deco[good].T).T)


def test_deco_contacts_land_on_the_right_candidates(inputs, smpl, folder):
    track, truth = inputs.tracks[0], folder.people[0]
    prob = track.human.contact_prob[truth.deco_crop_ok]
    assert np.allclose(prob[:, smpl.contact_sets["left_sole"]], 1.0)  # inside the marked patch
    for far in ("right_hand", "left_hand", "buttocks"):
        assert np.allclose(prob[:, smpl.contact_sets[far]], 0.0)


def test_person_masks_from_png_and_rle(folder, inputs, tmp_path):
    masks = inputs.masks
    assert len(masks) == 60
    for i in (0, 7, 50):
        union = masks[i]
        assert union.shape == (SIZE[1] // 2, SIZE[0] // 2) and union.dtype == bool
        inst = masks.instances(i)
        detected = {p.track_id for p in folder.people if i in p.det_frames}
        assert set(inst) - {99} == detected and union.any() == bool(inst)
        if inst:
            assert (np.logical_or.reduce(list(inst.values())) == union).all()
    # without the png, the union comes from the RLEs
    copy = tmp_path / "seq"
    shutil.copytree(folder.root / "mask", copy / "mask")
    (copy / "mask" / "000007.png").unlink()
    from josh.interop.official_inputs import PersonMasks

    assert (PersonMasks(copy / "mask", masks.names, masks.size)[7] == masks[7]).all()


def test_box_iou():
    a = np.array([[0, 0, 2, 2], [0, 0, 1, 1], [0, 0, 1, 1]], float)
    b = np.array([[1, 0, 3, 2], [0, 0, 1, 1], [np.nan] * 4])
    iou = box_iou(a, b)
    assert np.isclose(iou[0], 1 / 3) and iou[1] == 1.0 and np.isnan(iou[2])


# ------------------------------------------------------------------------------------ writing
def _reconstruction(inputs, smpl, seed=0):
    """A reconstruction of the fixture: random cameras, TRAM bodies placed by them, random depth."""
    N = inputs.n_frames
    rng = np.random.default_rng(seed)
    T = np.repeat(np.eye(4)[None], N, 0)
    T[:, :3, :3] = roma.rotvec_to_rotmat(torch.as_tensor(rng.normal(0, 0.3, (N, 3)))).numpy()
    T[:, :3, 3] = rng.normal(0, 2, (N, 3))
    W, H = inputs.working_size
    keyframes = np.arange(0, N, 5)
    depth = rng.uniform(1, 5, (len(keyframes), math.ceil(H / 3), math.ceil(W / 3))).astype(np.float32)
    depth[:, 0, 0] = 0.0  # unknown
    return Reconstruction(
        fps=30.0, intrinsics=Intrinsics.centred(inputs.humans[0].focal_assumed, W, H), T_wc=T,
        keyframe_ids=keyframes, keyframe_scales=np.ones(len(keyframes)), keyframe_depth=depth,
        keyframe_background=depth > 2.0, depth_stride=3.0, scene_points=np.zeros((0, 3)),
        scene_colors=np.zeros((0, 3), np.uint8), people=people_in_world(inputs.humans, T, smpl), body_model="smpl",
    )  # fmt: skip


def test_write_official_layout_keeps_tram_values(folder, inputs, smpl, tmp_path):
    recon = _reconstruction(inputs, smpl)
    out = tmp_path / "josh"
    written = write_official_layout(recon, out, smpl, source=inputs)
    assert sorted(p.name for p in written) == ["hps_track_1.npy", "hps_track_3.npy", "scene.pkl"]
    for truth in folder.people:
        src = load_track_dict(folder.root / "tram" / f"hps_track_{truth.track_id}.npy")
        raw = np.load(out / f"hps_track_{truth.track_id}.npy", allow_pickle=True).item()
        assert torch.is_tensor(raw["pred_rotmat"]) and raw["frame"].dtype == torch.int64
        got = load_track_dict(out / f"hps_track_{truth.track_id}.npy")
        assert set(got) == set(src)
        assert (got["frame"] == src["frame"]).all() and got["id"] == truth.track_id
        assert np.allclose(got["pred_rotmat"], src["pred_rotmat"], atol=2e-6)
        assert got["pred_trans"].shape == src["pred_trans"].shape
        # transl -> root joint (mean betas) -> world -> camera -> transl
        assert np.allclose(got["pred_trans"], src["pred_trans"], atol=2e-6)
        assert np.allclose(got["pred_shape"], src["pred_shape"].mean(0), atol=1e-6)
        assert np.allclose(got["pred_pose"], src["pred_pose"], atol=2e-6)
        assert np.allclose(got["pred_cam"], src["pred_cam"], rtol=1e-4, atol=1e-5)
        true_boxes = truth.det_boxes[np.searchsorted(truth.det_frames, truth.frames)]
        assert got["boxes"].shape == (len(truth.frames), 4) and np.allclose(got["boxes"], true_boxes)


def test_scene_pkl_follows_the_official_conventions(inputs, smpl, tmp_path):
    recon = _reconstruction(inputs, smpl)
    write_official_layout(recon, tmp_path, smpl, source=inputs)
    with open(tmp_path / "scene.pkl", "rb") as fh:
        scene = pickle.load(fh)  # a plain pickle: joblib.load reads it too
    T = recon.T_wc
    assert scene["pred_cam"].dtype == np.float64 and np.allclose(scene["pred_cam"][0], np.eye(4))
    assert np.allclose(scene["pred_cam"], np.linalg.inv(T[0]) @ T)
    W2, H2 = official_size(*inputs.working_size)
    assert max(W2, H2) == 512 and scene["depth_hw"].shape == (len(recon.keyframe_ids), H2, W2)
    K = scene["intrinsics"]
    assert K.shape == (3, 3) and K.dtype == np.float32
    assert np.isclose(K[0, 0], recon.intrinsics.focal * 512 / inputs.working_size[0])
    assert np.isclose(K[0, 2], (W2 - 1) / 2, atol=0.5) and np.isclose(K[1, 2], (H2 - 1) / 2, atol=0.5)
    assert scene["img_idx"] == recon.keyframe_ids.tolist()
    # nearest resampling: output pixel (v, u) shows the depth pixel covering its centre
    s = recon.intrinsics.width / W2
    for v, u in ((0, 0), (100, 300), (H2 - 1, W2 - 1)):
        i = min(int(round(((v + 0.5) * s) / 3 - 0.5)), recon.keyframe_depth.shape[1] - 1)
        j = min(int(round(((u + 0.5) * s) / 3 - 0.5)), recon.keyframe_depth.shape[2] - 1)
        assert scene["depth_hw"][2, v, u] == recon.keyframe_depth[2, i, j]
    conf, depth = scene["conf_hw"], scene["depth_hw"]
    assert ((conf > 0.1) == (depth > 2.0)).all() and (conf[depth == 0] == 0).all()
    assert scene["rgb_hw3"].shape == depth.shape + (3,) and scene["rgb_hw3"].max() <= 1.0
    assert scene["eval_metrics"] == {"w_jpe": 0.0, "wa_jpe": 0.0}


def test_joblib_reads_our_scene_pkl(inputs, smpl, tmp_path):
    """The official scripts load scene.pkl with joblib (not a dependency here: skipped without it)."""
    joblib = pytest.importorskip("joblib")
    write_official_layout(_reconstruction(inputs, smpl), tmp_path, smpl, source=inputs)
    ours = load_scene_pkl(tmp_path / "scene.pkl")
    assert np.array_equal(joblib.load(tmp_path / "scene.pkl")["pred_cam"], ours["pred_cam"])
    # ... and we read what the official code writes: joblib.dump, (1, 3, 3) intrinsics as some scripts expect
    official = tmp_path / "official" / "josh"
    official.mkdir(parents=True)
    joblib.dump({**ours, "intrinsics": ours["intrinsics"][None]}, official / "scene.pkl")
    back = read_official_result(official.parent)
    assert np.allclose(back.T_wc, ours["pred_cam"]) and np.isclose(back.intrinsics.focal, ours["intrinsics"][0, 0])


def test_official_round_trip_is_lossless(inputs, smpl, tmp_path):
    """official layout -> Reconstruction -> official layout: identical where the formats overlap."""
    recon = _reconstruction(inputs, smpl)
    write_official_layout(recon, tmp_path / "a" / "josh", smpl, source=inputs)
    back = read_official_result(tmp_path / "a", smpl, fps=30.0)
    T0 = np.linalg.inv(recon.T_wc[0])
    assert np.allclose(back.T_wc, T0 @ recon.T_wc)
    for a, b in zip(recon.people, back.people):
        joints = a.joints @ T0[:3, :3].T + T0[:3, 3]
        assert (a.frames == b.frames).all() and np.allclose(joints, b.joints, atol=1e-4)
    write_official_layout(back, tmp_path / "b", smpl, source=inputs)
    first, second = load_scene_pkl(tmp_path / "a" / "josh" / "scene.pkl"), load_scene_pkl(tmp_path / "b" / "scene.pkl")
    for key in ("pred_cam", "intrinsics", "depth_hw", "conf_hw", "rgb_hw3"):
        assert np.allclose(first[key], second[key], atol=1e-6), key
    assert first["img_idx"] == second["img_idx"]
    for pid in (1, 3):
        x = load_track_dict(tmp_path / "a" / "josh" / f"hps_track_{pid}.npy")
        y = load_track_dict(tmp_path / "b" / f"hps_track_{pid}.npy")
        for key in ("pred_rotmat", "pred_trans", "pred_shape", "frame", "boxes", "pred_cam", "pred_pose"):
            assert np.allclose(x[key], y[key], atol=2e-6), key


def test_anny_reconstructions_write_the_scene_only(inputs, smpl, tmp_path):
    recon = _reconstruction(inputs, smpl)
    recon.body_model = "anny"
    with pytest.raises(OutputError, match="scene_only"):
        write_official_layout(recon, tmp_path, smpl)
    assert [p.name for p in write_official_layout(recon, tmp_path, scene_only=True)] == ["scene.pkl"]
    back = read_official_result(tmp_path)
    assert back.people == [] and back.keyframe_depth.shape[0] == len(recon.keyframe_ids)


def test_boxes_without_sam3_come_from_the_projected_mesh(inputs, smpl, tmp_path):
    recon = _reconstruction(inputs, smpl)
    write_official_layout(recon, tmp_path, smpl, original_size=SIZE)
    got = load_track_dict(tmp_path / "hps_track_1.npy")
    truth = inputs.tracks[0].boxes  # the SAM3 boxes (the fake bodies are placed inside them)
    centre = lambda b: (b[:, :2] + b[:, 2:]) / 2  # noqa: E731
    assert np.isfinite(got["boxes"]).all()
    assert np.median(np.linalg.norm(centre(got["boxes"]) - centre(truth), axis=1)) < 0.15 * SIZE[1]


# ------------------------------------------------------------------------------------ errors
def test_bad_official_inputs_are_explained(folder, smpl, tmp_path):
    with pytest.raises(InputError, match="SMPL"):
        read_tram(folder.root, body=type("Anny", (), {"name": "anny"})())
    with pytest.raises(InputError, match="no TRAM tracks"):
        read_tram(tmp_path, smpl, original_size=SIZE)
    bad = tmp_path / "tram"
    bad.mkdir()
    np.save(bad / "hps_track_0.npy", {"pred_rotmat": torch.zeros(3, 24, 3, 3), "pred_trans": torch.zeros(3, 1, 3),
                                      "pred_shape": torch.zeros(4, 10), "frame": torch.arange(3)}, allow_pickle=True)  # fmt: skip
    with pytest.raises(InputError, match="pred_shape"):
        read_tram(bad, smpl, original_size=SIZE)
    with pytest.raises(InputError, match="original image size"):
        read_tram(bad, smpl)
    seq = tmp_path / "seq"
    shutil.copytree(folder.root, seq)
    np.save(seq / "deco" / "hps_track_1.npy", np.zeros((3, 6890)))
    with pytest.raises(InputError, match="DECO"):
        read_official_folder(seq, smpl)
    with pytest.raises(InputError, match="not a folder"):
        read_official_folder(tmp_path / "missing", smpl)


def test_result_folder_names(inputs, smpl, tmp_path):
    recon = _reconstruction(inputs, smpl)
    write_official_layout(recon, tmp_path / "josh_0-59", scene_only=True)
    assert find_result_dir(tmp_path) == tmp_path / "josh_0-59"
    write_official_layout(recon, tmp_path / "josh_59-118", scene_only=True)
    with pytest.raises(InputError, match="chunk"):
        find_result_dir(tmp_path)
    write_official_layout(recon, tmp_path / "josh", scene_only=True)
    assert find_result_dir(tmp_path) == tmp_path / "josh"  # the stitched result wins
