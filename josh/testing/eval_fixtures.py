"""Tiny benchmark sequences in the published formats, written at test time (no licensed data).

Writers for EMDB (`*_data.pkl`), SLOPER4D (`*_labels.pkl`, lidar PLY / PCD), RICH (images + per-frame
`*_smpl.pkl`, `scan_camcoord.ply`) and for predictions in the official JOSH layout
(`<seq>/josh/scene.pkl` via joblib, `hps_track_0.npy` with torch tensors), plus small geometry
helpers to build cameras and bodies with known answers. Contents follow the key lists documented
in `josh.eval.datasets.*`.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from josh.eval.datasets.base import write_pcd_points
from josh.eval.sequence import rigid_inverse
from josh.eval.smpl_eval import SmplEvaluator, SmplParams


# ------------------------------------------------------------------------------------------------
# Geometry helpers
# ------------------------------------------------------------------------------------------------


def pose_matrix(rotation: np.ndarray, translation) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = rotation, translation
    return T


def yaw(angle: float) -> np.ndarray:
    """Rotation about the y axis (the vertical of OpenCV-style cameras) by `angle` radians."""
    return Rotation.from_rotvec([0.0, angle, 0.0]).as_matrix()


def camera_track(centres: np.ndarray, yaws: np.ndarray, base_rotation: np.ndarray | None = None) -> np.ndarray:
    """Camera-to-world (T,4,4): rotation base @ yaw(yaw_i), centre c_i."""
    base = np.eye(3) if base_rotation is None else base_rotation
    return np.stack([pose_matrix(base @ yaw(a), c) for c, a in zip(centres, yaws)])


def walking_body(n: int, seed: int = 0, speed: float = 0.03, still_frames: int = 0) -> dict:
    """Axis-angle SMPL parameters of a body walking along a gently curving path (world frame,
    y down like the cameras). The first `still_frames` frames stand still with a fixed pose."""
    rng = np.random.default_rng(seed)
    t = np.maximum(np.arange(n) - still_frames, 0).astype(np.float64)
    transl = np.stack([speed * t, 0.02 * np.sin(0.3 * t), 3.0 + 0.5 * np.sin(0.05 * t)], axis=1)
    root = np.stack([np.full(n, np.pi), 0.1 * np.sin(0.1 * t), np.zeros(n)], axis=1)  # upright in y-down
    body = 0.15 * np.sin(0.2 * t[:, None] + rng.uniform(0, 2 * np.pi, 69)[None]) * rng.uniform(0.2, 1.0, 69)
    return {"poses_root": root, "poses_body": body, "betas": rng.normal(0, 0.5, 10), "trans": transl}


def camera_frame_params(world: SmplParams, w2c: np.ndarray, smpl: SmplEvaluator) -> SmplParams:
    """The same bodies expressed in each frame's camera (exact, pivoting at J0)."""
    return world.transformed(w2c, smpl.rest_pelvis(world.betas[0], world.gender))


# ------------------------------------------------------------------------------------------------
# Dataset writers
# ------------------------------------------------------------------------------------------------


def _dump(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)
    return path


def write_emdb_sequence(root: Path, subject: str, sequence: str, body: dict, w2c: np.ndarray, K: np.ndarray,
                        good: np.ndarray | None = None, gender: str = "neutral", width: int = 64,
                        height: int = 48, emdb2: bool = True) -> Path:  # fmt: skip
    """`<root>/<subject>/<sequence>/<subject>_<sequence>_data.pkl` in the EMDB release layout."""
    n = len(body["trans"])
    name = f"{subject}_{sequence}"
    data = {
        "gender": gender,
        "name": name,
        "emdb1": not emdb2,
        "emdb2": emdb2,
        "n_frames": n,
        "good_frames_mask": np.ones(n, bool) if good is None else np.asarray(good, bool),
        "camera": {"intrinsics": np.asarray(K, np.float64), "extrinsics": np.asarray(w2c, np.float64),
                   "width": width, "height": height},  # fmt: skip
        "smpl": {k: np.asarray(body[k], np.float64) for k in ("poses_root", "poses_body", "trans", "betas")},
        "kp2d": np.zeros((n, 24, 2)),
        "bboxes": {"bboxes": np.zeros((n, 4)), "invalid_idxs": np.zeros(0, np.int64)},
    }
    return _dump(Path(root) / subject / sequence / f"{name}_data.pkl", data)


def write_sloper4d_sequence(root: Path, name: str, body: dict, w2c: np.ndarray | None, gender: str = "male",
                            intrinsics=(40.0, 40.0, 32.0, 24.0), dist=(0.0,) * 5, width: int = 64,
                            height: int = 48, lidar_traj: np.ndarray | None = None,
                            scene_points: np.ndarray | None = None, scans: dict | None = None,
                            timestamps: np.ndarray | None = None) -> Path:  # fmt: skip
    """`<root>/<name>/<name>_labels.pkl` (+ `lidar_data/`) in the SLOPER4D toolkit layout."""
    n = len(body["trans"])
    folder = Path(root) / name
    timestamps = np.round(1000.0 + np.arange(n) * 0.05, 3) if timestamps is None else timestamps
    data = {
        "framerate": 20,
        "total_frames": n,
        "frame_num": list(range(n)),
        "second_person": {
            "opt_pose": np.concatenate([body["poses_root"], body["poses_body"]], axis=1).astype(np.float32),
            "opt_trans": np.asarray(body["trans"], np.float32),
            "beta": np.asarray(body["betas"], np.float64),
            "gender": gender,
        },
        "first_person": {} if lidar_traj is None else {"lidar_traj": lidar_traj},
        "RGB_info": {"fps": 20, "width": width, "height": height, "intrinsics": list(intrinsics),
                     "dist": list(dist), "lidar2cam": np.eye(4).tolist()},  # fmt: skip
    }
    if w2c is not None:
        data["RGB_frames"] = {"file_basename": [f"{i:06d}.jpg" for i in range(n)], "lidar_tstamps": timestamps,
                              "bbox": [[]] * n, "skel_2d": [[]] * n, "cam_pose": np.asarray(w2c)}  # fmt: skip
    path = _dump(folder / f"{name}_labels.pkl", data)
    if scene_points is not None:
        write_ply_points(folder / "lidar_data" / f"{name}_frames.ply", scene_points)
    for frame, points in (scans or {}).items():
        stem = f"{timestamps[frame]:.3f}".replace(".", "_")
        target = folder / "lidar_data" / "lidar_frames_rot" / f"{stem}.pcd"
        target.parent.mkdir(parents=True, exist_ok=True)
        write_pcd_points(target, points)
    return path


def write_rich_sequence(root: Path, name: str, n_images: int, gt_frames, body: dict,
                        scan_points: np.ndarray | None = None) -> Path:  # fmt: skip
    """`<root>/<name>/images/<frame:05d>_00.png` and `<root>/<name>/<frame:05d>/000_smpl.pkl` for the
    GT frames (rows of `body`, one per GT frame); `<root>/scan_calibration/<scene>/scan_camcoord.ply`."""
    folder = Path(root) / name
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for i in range(n_images):
        (folder / "images" / f"{i:05d}_00.png").write_bytes(b"")
    for row, frame in enumerate(gt_frames):
        _dump(folder / f"{frame:05d}" / "000_smpl.pkl", {
            "global_orient": np.asarray(body["poses_root"][row], np.float32).reshape(1, 3),
            "body_pose": np.asarray(body["poses_body"][row], np.float32).reshape(1, 69),
            "betas": np.asarray(body["betas"], np.float32).reshape(1, -1),
            "transl": np.asarray(body["trans"][row], np.float32).reshape(1, 3),
        })  # fmt: skip
    if scan_points is not None:
        write_ply_points(Path(root) / "scan_calibration" / name.split("_")[0] / "scan_camcoord.ply", scan_points)
    return folder


def write_ply_points(path: Path, points: np.ndarray) -> Path:
    import trimesh

    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.PointCloud(np.asarray(points, np.float64)).export(str(path))
    return path


# ------------------------------------------------------------------------------------------------
# Predictions in the official layout
# ------------------------------------------------------------------------------------------------


def write_official_prediction(seq_dir: Path, cam_c2w: np.ndarray, params: SmplParams, frames,
                              scene: dict | None = None) -> Path:  # fmt: skip
    """`<seq_dir>/josh/scene.pkl` (joblib) and `<seq_dir>/josh/hps_track_0.npy` (torch tensors).

    `scene` may hold `depth_hw` (K,H,W), `conf_hw`, `intrinsics`, `img_idx`.
    """
    import joblib
    import torch

    josh_dir = Path(seq_dir) / "josh"
    josh_dir.mkdir(parents=True, exist_ok=True)
    payload = {"pred_cam": np.asarray(cam_c2w, np.float64), "eval_metrics": {"w_jpe": 0.0, "wa_jpe": 0.0}}
    payload.update(scene or {})
    joblib.dump(payload, josh_dir / "scene.pkl")
    rotmat = np.concatenate([params.global_orient[:, None], params.body_pose], axis=1)
    track = {
        "pred_rotmat": torch.from_numpy(rotmat.astype(np.float64)),
        "pred_shape": torch.from_numpy(params.betas.astype(np.float64)),
        "pred_trans": torch.from_numpy(params.transl[:, None].astype(np.float64)),
        "frame": torch.as_tensor(np.asarray(frames, np.int64)),
        "id": 0,
    }
    np.save(josh_dir / "hps_track_0.npy", track, allow_pickle=True)
    return josh_dir


def w2c_from_c2w(c2w: np.ndarray) -> np.ndarray:
    return rigid_inverse(c2w)
