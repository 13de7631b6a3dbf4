"""Prediction loaders: the official JOSH result layout, and an adapter for non-SMPL bodies.

Official layout (reference/official-josh.md §2.6-2.7), per sequence folder `<seq>/josh/`:
  - `scene.pkl` (joblib): `pred_cam` (T,4,4) camera-to-world of every frame, world = first camera,
    metric; `depth_hw` (K,H,W) z-depth and `conf_hw` (K,H,W) at keyframes `img_idx` (absolute
    frame indices); `intrinsics` (3,3) or (B,3,3) of the depth-map resolution. The evaluation
    scripts index `intrinsics[0]` when it is batched; so do we.
  - `hps_track_<id>.npy` (np.save of a dict, torch tensors or arrays): `pred_rotmat` (N,24,3,3)
    with [0] the root orientation in the OpenCV camera frame, `pred_shape` (N,10), `pred_trans`
    (N,1,3) the smplx `transl` in the camera frame, `frame` (N,) 0-based frame indices. Like the
    official scripts we evaluate the first track in sorted file order.
Both files are pickles: only load results you trust.

Non-SMPL bodies (Anny): `prediction_from_world_arrays` takes per-frame world joints (24, SMPL
order), optional foot vertices and root trajectory, and the camera-to-world track; see
`PredictedSequence` for what the metrics then do with them.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from josh.errors import InputError
from josh.eval.sequence import PredictedScene, PredictedSequence, rigid_inverse, transform_points
from josh.eval.smpl_eval import SmplEvaluator, SmplParams


def _array(value, name: str, source: Path, dtype=np.float64) -> np.ndarray:
    """A numpy array (float64 by default) from an array, a list or a (CPU) torch tensor."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{source}: '{name}' is not numeric: {exc}") from exc


def _require(mapping: dict, keys, source: Path) -> None:
    missing = [k for k in keys if k not in mapping]
    if missing:
        raise InputError(f"{source}: missing key(s) {', '.join(missing)}")


def load_scene_pkl(path: Path) -> dict:
    """The official `scene.pkl` (joblib, or a plain pickle) as a dict."""
    try:
        import joblib

        data = joblib.load(path)
    except ImportError:  # pragma: no cover - joblib is a dependency
        with open(path, "rb") as fh:
            data = pickle.load(fh)
    except Exception as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a dict, got {type(data).__name__}")
    return data


def load_hps_track(path: Path) -> dict:
    try:
        data = np.load(path, allow_pickle=True)
        data = data.item() if data.dtype == object and data.shape == () else None
    except Exception as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a pickled dict (np.save of a dict)")
    return data


def scene_from_pkl(data: dict, source: Path) -> PredictedScene | None:
    """The dense scene of a `scene.pkl`, or None when it has no depth maps."""
    if not all(k in data for k in ("depth_hw", "conf_hw", "intrinsics", "img_idx")):
        return None
    depth = _array(data["depth_hw"], "depth_hw", source, dtype=np.float32)
    conf = _array(data["conf_hw"], "conf_hw", source, dtype=np.float32)
    K = _array(data["intrinsics"], "intrinsics", source)
    K = K[0] if K.ndim == 3 else K
    keyframes = np.asarray(_array(data["img_idx"], "img_idx", source), dtype=np.int64).reshape(-1)
    if depth.ndim != 3 or conf.shape != depth.shape or K.shape != (3, 3) or len(keyframes) != len(depth):
        raise InputError(f"{source}: inconsistent scene arrays (depth_hw {depth.shape}, conf_hw {conf.shape}, "
                         f"intrinsics {K.shape}, img_idx {len(keyframes)})")  # fmt: skip
    return PredictedScene(depth=depth, conf=conf, K=K, keyframes=keyframes)


def load_official_prediction(seq_dir: Path, smpl: SmplEvaluator) -> PredictedSequence:
    """Read `<seq_dir>/josh/scene.pkl` and the first `<seq_dir>/josh/*.npy` track (SMPL, neutral)."""
    josh_dir = Path(seq_dir) / "josh"
    scene_path = josh_dir / "scene.pkl"
    tracks = sorted(josh_dir.glob("*.npy"))
    if not scene_path.is_file():
        raise InputError(f"no prediction: {scene_path} is missing")
    if not tracks:
        raise InputError(f"no prediction: no hps_track_*.npy in {josh_dir}")
    scene = load_scene_pkl(scene_path)
    _require(scene, ["pred_cam"], scene_path)
    cam_c2w = _array(scene["pred_cam"], "pred_cam", scene_path)
    if cam_c2w.ndim != 3 or cam_c2w.shape[1:] != (4, 4):
        raise InputError(f"{scene_path}: pred_cam must be (T,4,4), got {cam_c2w.shape}")

    track = load_hps_track(tracks[0])
    _require(track, ["pred_rotmat", "pred_shape", "pred_trans", "frame"], tracks[0])
    rotmat = _array(track["pred_rotmat"], "pred_rotmat", tracks[0])
    n = len(rotmat)
    frames = np.asarray(_array(track["frame"], "frame", tracks[0]), dtype=np.int64).reshape(-1)
    shape = _array(track["pred_shape"], "pred_shape", tracks[0]).reshape(n, -1)
    transl = _array(track["pred_trans"], "pred_trans", tracks[0]).reshape(n, 3)
    if rotmat.shape[1:] != (24, 3, 3) or len(frames) != n:
        raise InputError(f"{tracks[0]}: pred_rotmat must be (N,24,3,3) with N = len(frame)")
    order = np.argsort(frames, kind="stable")  # the protocol walks frames in increasing order
    frames, rotmat, shape, transl = frames[order], rotmat[order], shape[order], transl[order]
    params = SmplParams(rotmat[:, 0], rotmat[:, 1:], shape, transl, "neutral").with_mean_betas()
    out = smpl.run(params)
    return PredictedSequence(
        frames=frames,
        cam_c2w=cam_c2w,
        joints_cam=out.joints,
        transl_cam=params.transl,
        feet_cam=out.feet,
        smpl=params,
        body_model="smpl",
        scene=scene_from_pkl(scene, scene_path),
        source=f"{scene_path.parent} ({tracks[0].name})",
    )


def prediction_from_world_arrays(
    frames: np.ndarray,
    joints_world: np.ndarray,
    cam_c2w: np.ndarray,
    feet_world: np.ndarray | None = None,
    root_world: np.ndarray | None = None,
    scene: PredictedScene | None = None,
    body_model: str = "anny",
    source: str = "",
) -> PredictedSequence:
    """Adapter for results that carry world-frame joints of a non-SMPL body (e.g. Anny).

    frames (N,) video frame indices; joints_world (N,24,3) skeleton joints in SMPL order (Anny's
    `JOINT_BONES`: pelvis, hips at 1 and 2, ...), used as an approximate SMPL-joint conversion;
    cam_c2w (T,4,4) camera-to-world of every video frame in the same world; feet_world (N,4,3)
    the body's own foot vertices (L heel, L toe, R heel, R toe) for FS/FFR; root_world (N,3) the
    RTE trajectory point, default the root joint (for SMPL `transl` = root joint - J0, a constant
    offset the rigid RTE fit absorbs). Everything is expressed in each frame's camera, as the
    official layout stores it.
    """
    frames = np.asarray(frames, dtype=np.int64).reshape(-1)
    joints_world = np.asarray(joints_world, np.float64)
    cam_c2w = np.asarray(cam_c2w, np.float64)
    if joints_world.shape != (len(frames), 24, 3):
        raise InputError(f"joints_world must be (N,24,3) with N = len(frames), got {joints_world.shape}")
    if cam_c2w.ndim != 3 or cam_c2w.shape[1:] != (4, 4) or frames.max(initial=-1) >= len(cam_c2w):
        raise InputError("cam_c2w must be (T,4,4) and cover every frame")
    w2c = rigid_inverse(cam_c2w[frames])
    root = joints_world[:, 0] if root_world is None else np.asarray(root_world, np.float64)
    return PredictedSequence(
        frames=frames,
        cam_c2w=cam_c2w,
        joints_cam=transform_points(w2c, joints_world),
        transl_cam=transform_points(w2c, root[:, None])[:, 0],
        feet_cam=None if feet_world is None else transform_points(w2c, np.asarray(feet_world, np.float64)),
        smpl=None,
        body_model=body_model,
        scene=scene,
        source=source,
    )
