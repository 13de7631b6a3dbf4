"""A ground-truth world for the official round trip (tests/test_roundtrip.py), written to disk.

    official folder ──josh run --official──▶ <folder>/josh/ ──josh eval──▶ errors vs the truth

The world: an SMPL person (the generated model of `josh.testing.fake_smpl`) walking with planted
feet on the textured ground of `PlaneAndBox`, filmed by a camera with known intrinsics that
travels and turns with them. What is written, and what is wrong in it on purpose:

- `<seq>/rgb/%06d.jpg`: the scene rendered by every camera (the person is not drawn: nothing
  reads the pixels for people, and the point maps carry the geometry);
- `<seq>/mask/`: SAM3-style person masks (union PNG + json with box and COCO RLE), from the
  projected true mesh;
- `<seq>/tram/hps_track_0.npy`: the person in each camera frame as TRAM stores it, with
  **TRAM's focal convention** (root depth for the image diagonal, sqrt(W² + H²), instead of the
  true focal) and **injected noise**: per-frame root position, root orientation, body pose and
  shape (`Noise`);
- `<seq>/deco/hps_track_0.npy`: DECO-style contacts, the stance foot's sole on stance frames;
- `pointmaps.npz`: camera-frame point maps and poses of the keyframes, multiplied by a **global
  scale error** (`Noise.scene_scale`): metric scale must come from the person;
- `emdb/P0/<name>/P0_<name>_data.pkl`: the EMDB-format ground truth of the same sequence.

The walk: each stance leg is straight and pivots about its planted ankle (a compass gait), the
swing leg bends its knee to clear the ground, and the ankles keep the feet level, so a stance
foot does not move (up to the model's pose blend shapes, about a millimetre). The ground is put
where the feet's contact candidates (`SMPLBody.contact_sets`) rest, so DECO's contacts are true.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from josh.eval.smpl_eval import SmplEvaluator, SmplParams
from josh.synth.motion import rot_x
from josh.testing.pointmap_scene import PlaneAndBox

LEGS = {"left": (1, 4, 7, 10), "right": (2, 5, 8, 11)}  # SMPL hip, knee, ankle, foot joints
SHOULDERS, ELBOWS = (16, 17), (18, 19)
GROUND_Y = 1.5  # PlaneAndBox's ground (world y points down)


@dataclass
class Noise:
    """What is injected into the front-end outputs (standard deviations, per frame, i.i.d.)."""

    transl_m: float = 0.03  # root joint position, camera frame, per axis
    pose_rad: float = 0.05  # body pose, per joint, per axis-angle component
    orient_rad: float = 0.02  # root orientation, per axis-angle component
    betas: float = 0.1  # shape, per component (the TRAM reader averages over the track)
    scene_scale: float = 1.7  # point maps and their camera positions x this (metric: 1)
    seed: int = 0


@dataclass
class RoundTripWorld:
    seq_dir: Path  # the official input folder
    pointmaps: Path
    emdb_root: Path  # the ground truth, EMDB layout
    pred_root: Path  # where `josh eval --pred` looks: `<pred_root>/P0/<name>/josh/`
    truth: SmplParams  # world frame (y down), one row per frame
    w2c: np.ndarray  # (T, 4, 4) true world-to-camera
    K: np.ndarray  # (3, 3) true intrinsics
    size: tuple[int, int]
    stance: np.ndarray  # (T, 2) bool: left, right foot planted
    tram_focal: float  # the focal TRAM's depths assume (image diagonal)
    noise: Noise
    keyframes: np.ndarray = field(default_factory=lambda: np.zeros(0, int))


# ------------------------------------------------------------------------------------------ walk
def _sagittal(v: np.ndarray) -> float:
    """Forward angle of a leg vector (canonical SMPL: y up, z forward) from straight down; a
    rotation by a about x lowers it by a."""
    return math.atan2(v[2], -v[1])


def body_orientation(forward: np.ndarray) -> np.ndarray:
    """World rotation of an upright SMPL body (canonical y up, z forward) walking along the
    horizontal `forward`, in the y-down world."""
    up = np.array([0.0, -1.0, 0.0])
    f = np.asarray(forward, float) / np.linalg.norm(forward)
    return np.stack([np.cross(up, f), up, f], 1)


def walking_gait(smpl: SmplEvaluator, betas: np.ndarray, n_frames: int, first_ankle: np.ndarray,
                 forward=(1.0, 0.0, 0.0), step_frames: int = 15, swing: float = 0.3, knee: float = 0.6):  # fmt: skip
    """World SMPL parameters of a compass-gait walk (module doc) and the planted feet (T, 2).

    The left foot is planted first, its ankle at `first_ankle`; legs swing +-`swing` rad about the
    hip; each step lasts `step_frames` frames.
    """
    rest = smpl.run(SmplParams(np.eye(3)[None], np.broadcast_to(np.eye(3), (1, 23, 3, 3)), betas[None],
                               np.zeros((1, 3))), with_vertices=False).joints[0]  # fmt: skip
    R0 = body_orientation(np.asarray(forward, float))
    leg = {s: rest[a] - rest[h] for s, (h, _, a, _) in LEGS.items()}
    hip = {s: rest[h] - rest[0] for s, (h, _, _, _) in LEGS.items()}
    pose = np.broadcast_to(np.eye(3), (n_frames, 23, 3, 3)).copy()
    root = np.zeros((n_frames, 3))
    stance = np.zeros((n_frames, 2), bool)
    ankle = np.asarray(first_ankle, float)
    for t in range(n_frames):
        k, s = divmod(t, step_frames)
        s = s / step_frames
        plant, lift = ("left", "right") if k % 2 == 0 else ("right", "left")
        a_plant = _sagittal(leg[plant]) - (swing - 2 * swing * s)  # leg ahead -> behind
        a_lift = _sagittal(leg[lift]) - (-swing + 2 * swing * s)  # behind -> ahead
        bend = knee * math.sin(math.pi * s)
        root[t] = ankle - R0 @ (hip[plant] + rot_x(a_plant) @ leg[plant])
        for side, a, b in ((plant, a_plant, 0.0), (lift, a_lift, bend)):
            h, kn, an, _ = LEGS[side]
            pose[t, h - 1], pose[t, kn - 1], pose[t, an - 1] = rot_x(a), rot_x(b), rot_x(-a - b)  # feet level
        stance[t, 0 if plant == "left" else 1] = True
        if s == 0 and t > 0:  # double support: the foot about to lift is still where it was planted
            stance[t, 0 if lift == "left" else 1] = True
        arm = 0.35 * math.sin(math.pi * (k + s))
        pose[t, SHOULDERS[0] - 1], pose[t, SHOULDERS[1] - 1] = rot_x(arm), rot_x(-arm)
        pose[t, ELBOWS[0] - 1] = pose[t, ELBOWS[1] - 1] = rot_x(-0.3)
        if (t + 1) % step_frames == 0:  # the swing foot lands: its ankle is the next pivot
            a_end = _sagittal(leg[lift]) - swing
            root_end = ankle - R0 @ (hip[plant] + rot_x(_sagittal(leg[plant]) + swing) @ leg[plant])
            ankle = root_end + R0 @ (hip[lift] + rot_x(a_end) @ leg[lift])
    J0 = rest[0]
    params = SmplParams(np.repeat(R0[None], n_frames, 0), pose, np.repeat(betas[None], n_frames, 0), root - J0)
    return params, stance


# ---------------------------------------------------------------------------------------- camera
def follow_camera(n_frames: int, start=(-0.6, 0.0, 0.0), end=(0.6, 0.05, 0.4), yaw=(-0.12, 0.12),
                  pitch: float = 0.15) -> np.ndarray:  # fmt: skip
    """Camera-to-world (T, 4, 4): a camera 1.5 m above the ground, moving sideways and forward
    while panning to follow the walker, pitched down."""
    from josh.testing.pointmap_scene import look

    s = np.linspace(0, 1, n_frames)
    centres = (1 - s)[:, None] * np.asarray(start) + s[:, None] * np.asarray(end)
    yaws = (1 - s) * yaw[0] + s * yaw[1]
    return np.stack([look(-y, pitch, c) for y, c in zip(yaws, centres)])


# --------------------------------------------------------------------------------------- writing
def write_round_trip(root, smpl_dir, noise: Noise | None = None, n_frames: int = 60, size=(320, 240),
                     focal: float = 300.0, keyframe_every: int = 5, name: str = "walk",
                     contacts: bool = True) -> RoundTripWorld:  # fmt: skip
    """Write the world of the module doc under `root`; returns where everything is and the truth.

    `contacts=False` writes DECO files that mark nothing: a control without the metric anchor.
    """
    from josh.body import load_body_model
    from josh.interop.pointmaps import write_pointmaps
    from josh.testing.eval_fixtures import camera_frame_params, write_emdb_sequence

    noise = noise or Noise()
    root = Path(root)
    smpl = SmplEvaluator(smpl_dir)
    body = load_body_model("smpl", model_path=smpl_dir)
    betas = np.array([0.4, -0.3] + [0.0] * 8)  # stature and width: the generated model's symmetric shape axes
    R0 = body_orientation(np.array([1.0, 0.0, 0.0]))
    sole = _sole_offset(smpl, body, betas, R0)  # ankle -> resting contact candidates, world
    truth, stance = walking_gait(smpl, betas, n_frames, first_ankle=np.array([-1.0, GROUND_Y - sole, 4.2]))
    c2w = follow_camera(n_frames)
    w2c = np.linalg.inv(c2w)
    K = np.array([[focal, 0, (size[0] - 1) / 2], [0, focal, (size[1] - 1) / 2], [0, 0, 1.0]])
    scene = PlaneAndBox(ground_y=GROUND_Y, box_min=(-1.6, 0.6, 6.5), box_max=(-0.4, 1.5, 7.3), seed=3)

    seq = root / "pred" / "P0" / name
    cam = camera_frame_params(truth, w2c, smpl)
    verts = smpl.run(cam, with_vertices=True).vertices
    boxes = _write_frames_and_masks(seq, scene, c2w, K, size, verts)
    tram_focal = math.hypot(*size)
    _write_tram(seq, smpl, cam, boxes, focal, tram_focal, size, noise)
    _write_deco(seq, body, stance if contacts else np.zeros_like(stance))
    keyframes = np.arange(0, n_frames, keyframe_every)
    if keyframes[-1] != n_frames - 1:
        keyframes = np.append(keyframes, n_frames - 1)
    maps = [scene.render(c2w[k], focal / 2, (size[0] // 2, size[1] // 2)) for k in keyframes]
    T_file = c2w[keyframes].copy()
    T_file[:, :3, 3] *= noise.scene_scale
    pointmaps = write_pointmaps(root / "pointmaps.npz", np.stack([m[0] for m in maps]) * noise.scene_scale,
                                np.stack([m[1] for m in maps]), T_wc=T_file, frame_ids=keyframes,
                                image_size=np.array(size))  # fmt: skip
    emdb = root / "emdb"
    write_emdb_sequence(emdb, "P0", name, _axis_angle(truth), w2c, K, width=size[0], height=size[1])
    return RoundTripWorld(seq, pointmaps, emdb, root / "pred", truth, w2c, K, tuple(size), stance, tram_focal, noise,
                          keyframes)  # fmt: skip


def _axis_angle(p: SmplParams) -> dict:
    from scipy.spatial.transform import Rotation

    n = len(p)
    return {"poses_root": Rotation.from_matrix(p.global_orient).as_rotvec(),
            "poses_body": Rotation.from_matrix(p.body_pose.reshape(-1, 3, 3)).as_rotvec().reshape(n, 69),
            "betas": p.betas[0], "trans": p.transl}  # fmt: skip


def contact_candidates(body, side: str) -> np.ndarray:
    """SMPL vertex ids of one foot's contact candidates (heel, toes, sole)."""
    sets = [body.contact_sets[f"{side}_{part}"] for part in ("heel", "toes", "sole")]
    return np.unique(body.contact_vertex_ids[np.concatenate(sets)])


def deco_vertices(body, side: str) -> np.ndarray:
    """The vertices DECO marks for a planted foot: those within 3 cm of the foot's candidates on
    the rest mesh that the foot bone carries (they stay put while the shank turns over the foot)."""
    from scipy.spatial import cKDTree

    foot = LEGS[side][3]
    rest = _rest_mesh(body)
    bone = body.smplx_model.lbs_weights.detach().numpy().argmax(1)
    cand = contact_candidates(body, side)
    cand = cand[bone[cand] == foot]
    near = np.unique(np.concatenate(cKDTree(rest).query_ball_point(rest[cand], 0.03)))
    return near[bone[near] == foot]


def resting_candidates(body) -> np.ndarray:
    """Contact candidates the reader finds in contact when a foot's `deco_vertices` are marked."""
    from josh.interop.official_inputs import deco_pooling

    pool = deco_pooling(body)
    out = []
    for side in LEGS:
        marks = np.zeros(pool.shape[1])
        marks[deco_vertices(body, side)] = 1.0
        out.append(body.contact_vertex_ids[np.asarray(pool @ marks).ravel() > 0.5])
    return np.concatenate(out)


def _rest_mesh(body) -> np.ndarray:
    return body.mesh(np.zeros((1, body.shape_dim)), np.eye(3)[None], np.zeros((1, 3)),
                     np.zeros((1, body.n_pose_bones, 3)))[0].double().numpy()  # fmt: skip


def _sole_offset(smpl: SmplEvaluator, body, betas, R0) -> float:
    """World height (y, down) of a level foot's resting contact candidates below its ankle joint:
    their median, where the ground must be for DECO's contacts to be true."""
    out = smpl.run(SmplParams(np.eye(3)[None], np.broadcast_to(np.eye(3), (1, 23, 3, 3)), betas[None],
                              np.zeros((1, 3))), with_vertices=True)  # fmt: skip
    ids = resting_candidates(body)
    ankle = out.joints[0, LEGS["left"][2]]  # both ankles at one height (symmetric shape)
    return float(np.median(((out.vertices[0, ids] - ankle) @ R0.T)[:, 1]))


def _write_frames_and_masks(seq: Path, scene, c2w, K, size, verts_cam) -> np.ndarray:
    """rgb/ and mask/ (PNG union + SAM3 json); returns the person's box (T, 4) per frame."""
    from PIL import Image
    from scipy.ndimage import binary_closing, binary_dilation

    from josh.interop.rle import encode_rle

    W, H = size
    for sub in ("rgb", "mask"):
        (seq / sub).mkdir(parents=True, exist_ok=True)
    boxes = np.zeros((len(c2w), 4))
    for t in range(len(c2w)):
        _, _, rgb = scene.render(c2w[t], K[0, 0], size)
        Image.fromarray(rgb).save(seq / "rgb" / f"{t:06d}.jpg", quality=92)
        v = verts_cam[t]
        u = np.rint(K[0, 0] * v[:, 0] / v[:, 2] + K[0, 2]).astype(int)
        w = np.rint(K[1, 1] * v[:, 1] / v[:, 2] + K[1, 2]).astype(int)
        inside = (u >= 0) & (u < W) & (w >= 0) & (w < H)
        mask = np.zeros((H, W), bool)
        mask[w[inside], u[inside]] = True
        mask = binary_dilation(binary_closing(mask, iterations=2), iterations=2)
        rows, cols = np.nonzero(mask)
        boxes[t] = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
        Image.fromarray((mask * 255).astype(np.uint8)).save(seq / "mask" / f"{t:06d}.png")
        det = {"id": 0, "xyxy": boxes[t].tolist(), "label": "person", "score": 0.95, "mask": encode_rle(mask)}
        (seq / "mask" / f"{t:06d}.json").write_text(json.dumps([det]))
    return boxes


def _write_tram(seq: Path, smpl: SmplEvaluator, cam: SmplParams, boxes, focal: float, tram_focal: float, size,
                noise: Noise) -> None:  # fmt: skip
    """TRAM's file: the true camera-frame bodies with TRAM's focal convention and the noise."""
    import torch
    from scipy.spatial.transform import Rotation

    from josh.interop.official_inputs import rotmat_to_6d, weak_perspective_from_transl

    rng = np.random.default_rng(noise.seed)
    n = len(cam)
    J0 = smpl.rest_pelvis(cam.betas[0])
    root = cam.transl + J0  # the root joint, camera frame
    root = root * np.array([1.0, 1.0, tram_focal / focal])  # TRAM's depth assumes the diagonal focal
    root = root + rng.normal(0, noise.transl_m, (n, 3))
    betas = cam.betas + rng.normal(0, noise.betas, cam.betas.shape)
    transl = root - np.stack([smpl.rest_pelvis(b) for b in betas])  # smplx transl for each row's own betas

    def jitter(R, std):  # a random rotation of `std` rad per axis-angle component applied to each
        turn = Rotation.from_rotvec(rng.normal(0, std, (R.size // 9, 3))).as_matrix()
        return turn.reshape(R.shape) @ R

    rotmat = np.concatenate([jitter(cam.global_orient, noise.orient_rad)[:, None], jitter(cam.body_pose, noise.pose_rad)], 1)
    f32 = lambda x: torch.as_tensor(np.asarray(x, np.float32))  # noqa: E731
    track = {
        "pred_cam": f32(weak_perspective_from_transl(transl, boxes, tram_focal, size)),
        "pred_pose": f32(rotmat_to_6d(rotmat)),
        "pred_shape": f32(betas),
        "pred_rotmat": f32(rotmat),
        "pred_trans": f32(transl[:, None]),
        "frame": torch.arange(n, dtype=torch.int64),
        "boxes": boxes.astype(np.float32),
        "id": 0,
    }
    (seq / "tram").mkdir(parents=True, exist_ok=True)
    np.save(seq / "tram" / "hps_track_0.npy", track, allow_pickle=True)


def _write_deco(seq: Path, body, stance: np.ndarray) -> None:
    """DECO's file: on each frame, the planted feet's `deco_vertices`."""
    deco = np.zeros((len(stance), 6890))
    for j, side in enumerate(LEGS):
        deco[np.ix_(stance[:, j], deco_vertices(body, side))] = 1.0
    (seq / "deco").mkdir(parents=True, exist_ok=True)
    np.save(seq / "deco" / "hps_track_0.npy", deco)


def write_input_as_prediction(world: RoundTripWorld, smpl_dir, pred_root) -> Path:
    """The TRAM input itself as an official result, placed by the *true* cameras at the *true*
    focal (`pred_root/P0/<name>/josh/`): what the protocol measures of the injected noise alone."""
    from josh.interop.official_inputs import load_track_dict
    from josh.testing.eval_fixtures import write_official_prediction

    smpl = SmplEvaluator(smpl_dir)
    d = load_track_dict(world.seq_dir / "tram" / "hps_track_0.npy")
    n = len(d["frame"])
    rows = np.asarray(d["pred_shape"], np.float64)
    root = np.asarray(d["pred_trans"], np.float64).reshape(n, 3) + np.stack([smpl.rest_pelvis(b) for b in rows])
    root[:, 2] *= world.K[0, 0] / world.tram_focal  # undo TRAM's focal convention (not noise)
    betas = rows.mean(0)
    params = SmplParams(d["pred_rotmat"][:, 0], d["pred_rotmat"][:, 1:], np.repeat(betas[None], n, 0),
                        root - smpl.rest_pelvis(betas))  # fmt: skip
    seq = Path(pred_root) / world.seq_dir.relative_to(world.pred_root)
    return write_official_prediction(seq, np.linalg.inv(world.w2c), params, d["frame"])
