"""SLOPER4D reader (Dai et al. 2023; facts from the dataset toolkit's `src/readme.md` and its
`src/data_loader.py`, which the official JOSH evaluation uses unchanged).

Layout per sequence folder `<root>/<seq>/`: `<seq>_labels.pkl`, `lidar_data/*frames.ply` (the
scene map), `lidar_data/lidar_frames_rot/<timestamp>.pcd` (per-frame scans, world frame; the name is
the timestamp with 3 decimals and '.' replaced by '_'). Keys relied on in the labels pickle:
  - `second_person`: `opt_pose` (n,72) axis-angle (root first), `opt_trans` (n,3), `beta` (10,),
    `gender` - the GT body, world frame;
  - `RGB_frames`: `cam_pose` (n,4,4) world-to-camera per frame, `lidar_tstamps` (n,);
  - `RGB_info`: `intrinsics` [fx, fy, cx, cy], `width`, `height`, `dist` (k1, k2, p1, p2, k3);
  - `total_frames` (else `len(frame_num)`): the number of annotated (= video) frames.
When `RGB_frames` is absent the toolkit derives `cam_pose = lidar2cam @ world2lidar` from
`first_person/lidar_traj` (columns: frame, x, y, z, qx, qy, qz, qw, timestamp); we do the same. When
`RGB_info` is absent the toolkit falls back to fixed calibration values (below, as published there).
Not verified against a real file here (the data are licensed).

The benchmark runs at 20 fps; `seq009` is excluded from ATE and the reconstruction metrics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from josh.errors import InputError
from josh.eval.datasets.base import (DatasetRules, SequenceRef, read_pcd_points, read_pickle, read_ply_points,
                                     require_keys)  # fmt: skip
from josh.eval.sequence import CameraModel, GroundTruthSequence
from josh.eval.smpl_eval import SmplEvaluator, SmplParams

RULES = DatasetRules(
    name="sloper4d",
    fps=20.0,
    local_metrics=True,
    accel_on="camera",
    rte_uses_gt_camera_transl=True,
    ate_stat="rmse",
    skip_if_camera_track_incomplete=False,
    recon="sloper4d",
)
EXCLUDED_FROM_ATE_AND_RECON = "seq009"

# The toolkit's default RGB calibration, used only when a labels file has no RGB_info.
DEFAULT_RGB_INFO = {
    "width": 1920,
    "height": 1080,
    "intrinsics": [599.628, 599.466, 971.613, 540.258],
    "dist": [0.003, -0.003, -0.001, 0.004, 0.0],
    "lidar2cam": [[-0.0355545576, -0.999323133, -0.0094419378, -0.00330376451],
                  [0.00117895777, 0.00940596282, -0.999955068, -0.0498469479],
                  [0.999367041, -0.0355640917, 0.00084373493, -0.0994979365],
                  [0.0, 0.0, 0.0, 1.0]],
}  # fmt: skip


def find_sequences(root: Path) -> list[SequenceRef]:
    refs = []
    for pkl in sorted(Path(root).rglob("*_labels.pkl")):
        name = pkl.parent.name
        rel = pkl.parent.relative_to(root).as_posix()
        candidates = [c for c in dict.fromkeys([rel, name, pkl.name[: -len("_labels.pkl")]]) if c and c != "."]
        refs.append(SequenceRef(name=name, path=pkl, prediction_dirs=candidates))
    return refs


def _world_to_camera_from_lidar(data: dict, n: int, lidar2cam: np.ndarray) -> np.ndarray:
    traj = np.asarray(data["first_person"]["lidar_traj"], dtype=np.float64)[:n]
    w2l = np.tile(np.eye(4), (len(traj), 1, 1))
    w2l[:, :3, :3] = Rotation.from_quat(traj[:, 4:8]).inv().as_matrix()
    w2l[:, :3, 3] = -np.einsum("nij,nj->ni", w2l[:, :3, :3], traj[:, 1:4])
    return lidar2cam @ w2l


def load_sequence(ref: SequenceRef, smpl: SmplEvaluator) -> GroundTruthSequence:
    data = read_pickle(ref.path)
    where = str(ref.path)
    require_keys(data, ["second_person"], where)
    person = data["second_person"]
    require_keys(person, ["opt_pose", "opt_trans", "beta", "gender"], f"{where} ['second_person']")
    n = int(data["total_frames"]) if "total_frames" in data else len(data.get("frame_num", person["opt_trans"]))
    pose = np.asarray(person["opt_pose"], dtype=np.float64)[:n]
    transl = np.asarray(person["opt_trans"], dtype=np.float64)[:n]
    body = SmplParams.from_axis_angle(pose[:, :3], pose[:, 3:], np.asarray(person["beta"]).reshape(-1), transl,
                                      person["gender"])  # fmt: skip
    info = dict(DEFAULT_RGB_INFO, **data.get("RGB_info", {}))
    notes = [] if "RGB_info" in data else ["labels file has no RGB_info: the toolkit's default calibration is used"]
    frames = data.get("RGB_frames", {})
    if "cam_pose" in frames:
        w2c = np.asarray(frames["cam_pose"], dtype=np.float64)[:n]
    elif "lidar_traj" in data.get("first_person", {}):
        w2c = _world_to_camera_from_lidar(data, n, np.asarray(info["lidar2cam"], dtype=np.float64).reshape(4, 4))
    else:
        raise InputError(f"{where}: neither RGB_frames/cam_pose nor first_person/lidar_traj (no GT cameras)")
    if len(body) != n or w2c.shape != (n, 4, 4):
        raise InputError(f"{where}: {n} frames but SMPL has {len(body)} and cam_pose {w2c.shape}")
    fx, fy, cx, cy = (float(v) for v in info["intrinsics"])
    camera = CameraModel(np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]]), int(info["width"]), int(info["height"]),
                         np.asarray(info.get("dist", [0.0] * 5), dtype=np.float64))  # fmt: skip
    timestamps = frames.get("lidar_tstamps")
    if timestamps is None and "lidar_traj" in data.get("first_person", {}):
        timestamps = np.asarray(data["first_person"]["lidar_traj"])[:n, -1]
    out = smpl.run(body)
    excluded = EXCLUDED_FROM_ATE_AND_RECON in ref.name
    return GroundTruthSequence(
        dataset=RULES.name,
        name=ref.name,
        fps=RULES.fps,
        frame_ids=np.arange(n),
        body=body,
        joints=out.joints,
        feet=out.feet,
        valid=np.ones(n, dtype=bool),
        w2c=w2c,
        n_video_frames=n,
        camera=camera,
        scene_points=_scene_reader(ref.path.parent),
        depth_scan=_depth_scan_reader(ref.path.parent, timestamps),
        evaluate_ate=not excluded,
        evaluate_recon=not excluded,
        notes=notes + ([f"{EXCLUDED_FROM_ATE_AND_RECON}: excluded from ATE and reconstruction (official)"]
                       if excluded else []),  # fmt: skip
        source=ref.path,
    )


def _scene_reader(folder: Path):
    scans = sorted((folder / "lidar_data").glob("*frames.ply"))
    if not scans:
        return None
    return lambda: read_ply_points(scans[0])


def _depth_scan_reader(folder: Path, timestamps):
    """Frame -> the lidar scan of that frame (N,3) world points, or None when the file is absent."""
    if timestamps is None:
        return None
    timestamps = np.asarray(timestamps, dtype=np.float64).reshape(-1)

    def read(frame: int):
        if not 0 <= frame < len(timestamps):
            return None
        path = folder / "lidar_data" / "lidar_frames_rot" / (f"{timestamps[frame]:.3f}".replace(".", "_") + ".pcd")
        return read_pcd_points(path) if path.is_file() else None

    return read
