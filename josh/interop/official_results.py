"""Write a `Reconstruction` in the official JOSH result layout, and read such results back.

    <out>/scene.pkl               pickled dict (joblib.load reads it; official-josh.md §2.6):
        pred_cam    float64 (N, 4, 4) camera-to-world of every frame, world = frame 0's camera
        intrinsics  float32 (3, 3) K of the 512-long-edge image (`batched_intrinsics`: (1, 3, 3))
        depth_hw    float32 (K, H', W') metric camera z at keyframes, 512-long-edge resolution
        conf_hw     float32 (K, H', W') 1.0 = static scene, 0.001 = person / not scene, 0 = no depth
        img_idx     list[int] keyframe frame indices
        rgb_hw3     float32 (K, H', W', 3) in [0, 1], when keyframe images are available
        eval_metrics {"w_jpe": 0.0, "wa_jpe": 0.0} (the official placeholder)
    <out>/hps_track_<id>.npy      per person, the TRAM dict layout (np.save of a dict):
        pred_rotmat torch (T, 24, 3, 3) [0] = root orientation in the camera frame of its frame
        pred_trans  torch (T, 1, 3) smplx `transl` in that camera frame (metres)
        pred_shape  torch (T, 10) the person's betas, repeated
        frame       torch int64 (T,)
        pred_pose   torch (T, 144) the same rotations in VIMO's 6D layout
        boxes       numpy (T, 4) xyxy in original-image pixels, aligned with `frame`
        pred_cam    torch (T, 3) TRAM's crop camera [s, tx, ty] for these boxes and `pred_trans`
        id          int

The default output folder is `<input>/josh/`, the name the official evaluation scripts read (the
official single-chunk run writes `josh_0-<T-1>/` instead, §6.9). SMPL parameters are written in the
camera frame of their own frame; `pred_trans` = root joint - J0(betas) (§6.3). Only SMPL-bodied
reconstructions have tracks to write: for Anny bodies `scene_only=True` writes `scene.pkl` alone,
anything else is refused with an `OutputError`.

Deliberate differences from the official writer: `boxes` is aligned with `frame` (the official
file keeps detections of dropped runs, the root of the run_deco defect); `pred_pose` and `pred_cam`
are recomputed so that they agree with the written rotations and translations (the official writer
leaves them stale); depth is nearest-neighbour resampled from this project's depth maps, and `conf_hw`
encodes the background mask (this project keeps no per-pixel confidence in a `Reconstruction`).
"""

from __future__ import annotations

import dataclasses
import math
import pickle
from pathlib import Path

import numpy as np
import roma
import torch

from josh.errors import InputError, OutputError, SetupError
from josh.interop.official_inputs import (
    OfficialInputs,
    check_track_dict,
    load_track_dict,
    nearest_rotation,
    rotmat_to_6d,
    rotmat_to_axis_angle,
    track_id,
    weak_perspective_from_transl,
)
from josh.io.atomic import atomic_path, ensure_writable_dir
from josh.types import HumanTrack, Intrinsics, PersonResult, Reconstruction

LONG_EDGE = 512
RESULT_DIR = "josh"
CONF_SCENE, CONF_NOT_SCENE, CONF_THRESHOLD = 1.0, 0.001, 0.1
SCENE_VOXEL = 0.02  # m: thinning of the scene points of a result read back


# --------------------------------------------------------------------------------- resolution
def official_size(width: int, height: int, long_edge: int = LONG_EDGE) -> tuple[int, int]:
    """(W', H') of the official working image: long edge 512, each side rounded (§3.2)."""
    s = long_edge / max(width, height)
    return int(round(width * s)), int(round(height * s))


def official_intrinsics(intr: Intrinsics, long_edge: int = LONG_EDGE) -> np.ndarray:
    """K (3, 3) of `intr` rescaled to the official resolution (pixel centres at integers)."""
    W2, H2 = official_size(intr.width, intr.height, long_edge)
    f = intr.focal * long_edge / max(intr.width, intr.height)
    cx = (intr.cx + 0.5) * W2 / intr.width - 0.5
    cy = (intr.cy + 0.5) * H2 / intr.height - 0.5
    return np.array([[f, 0, cx], [0, f, cy], [0, 0, 1]], np.float32)


def _resample_nearest(maps: np.ndarray, stride: float, src_size, dst_size) -> np.ndarray:
    """(K, h, w, ...) maps of a `stride`-px grid over a `src_size` image -> (K, H', W', ...) at
    `dst_size`, nearest neighbour (unknown pixels stay unknown, no depths mixed across edges)."""
    (W, H), (W2, H2) = src_size, dst_size
    h, w = maps.shape[1:3]
    cols = np.clip(np.rint(((np.arange(W2) + 0.5) * W / W2) / stride - 0.5), 0, w - 1).astype(int)
    rows = np.clip(np.rint(((np.arange(H2) + 0.5) * H / H2) / stride - 0.5), 0, h - 1).astype(int)
    return maps[:, rows[:, None], cols[None, :]]


# ------------------------------------------------------------------------------- frame indices
def on_video_frames(recon: Reconstruction, video_frames, n_video_frames: int) -> Reconstruction:
    """`recon`, whose frames are a clip's (0..N-1, taken at `video_frames` of the input), indexed
    by input frames instead, with a camera for each of the `n_video_frames` input frames.

    Why: the official layout indexes the input's frames (`frame`, `img_idx` count `rgb/` images),
    and the evaluation reads `pred_cam[frame]` and skips a sequence whose `pred_cam` does not cover
    every frame. Cameras between clip frames are interpolated (slerp, centre linearly: what the
    official code does between its keyframes); before the first and after the last clip frame they
    are held. Bodies are only where they were reconstructed.
    """
    from josh.geometry.camera import homogeneous, interpolate_poses, interpolation_weights

    video_frames = np.asarray(video_frames, np.int64)
    T = np.asarray(recon.T_wc, np.float64)
    if len(video_frames) != len(T) or (np.diff(video_frames) <= 0).any():
        raise ValueError("on_video_frames: need one increasing video frame per reconstruction frame")
    n = max(int(n_video_frames), int(video_frames[-1]) + 1)
    left, alpha = interpolation_weights(video_frames, np.arange(n))
    R, c = interpolate_poses(torch.as_tensor(T[:, :3, :3]), torch.as_tensor(T[:, :3, 3]), torch.as_tensor(left),
                             torch.as_tensor(alpha))  # fmt: skip
    T_all = homogeneous(R, c)
    T_all[video_frames] = T  # exact where the clip has the frame
    people = [dataclasses.replace(p, frames=video_frames[np.asarray(p.frames, np.int64)]) for p in recon.people]
    return dataclasses.replace(recon, T_wc=T_all, keyframe_ids=video_frames[np.asarray(recon.keyframe_ids, np.int64)],
                               people=people)  # fmt: skip


# ------------------------------------------------------------------------------------ writing
def write_official_layout(recon: Reconstruction, out_dir, body=None, *, source: OfficialInputs | None = None,
                          original_size: tuple[int, int] | None = None, keyframe_rgb: np.ndarray | None = None,
                          scene_only: bool = False, batched_intrinsics: bool = False) -> list[Path]:  # fmt: skip
    """Write `scene.pkl` and one `hps_track_<id>.npy` per person into `out_dir` (see module doc).

    body: the SMPL body the reconstruction used (needed for the tracks). source: the official
    input folder read with `read_official_folder`, for the original image size, the SAM3 boxes and
    keyframe colours. original_size: (W, H) of the original video when there is no `source`
    (default: the reconstruction's image size); boxes and `pred_cam` refer to it.
    """
    people = [] if scene_only else recon.people
    if people:
        _check_smpl(recon, body)
    out = ensure_writable_dir(out_dir)
    if keyframe_rgb is None and source is not None:
        keyframe_rgb = _read_keyframes(source, recon.keyframe_ids)
    scene = scene_dict(recon, keyframe_rgb, batched_intrinsics)
    written = [_write_pickle(out / "scene.pkl", scene)]
    size = source.image_size if source is not None else (original_size or (recon.intrinsics.width, recon.intrinsics.height))
    boxes = {t.human.person_id: (t.human.frames, t.boxes) for t in source.tracks} if source is not None else {}
    for person in people:
        data = track_dict(person, recon, body, size, boxes.get(person.person_id))
        written.append(_write_npy(out / f"hps_track_{person.person_id}.npy", data))
    return written


def _check_smpl(recon: Reconstruction, body) -> None:
    if recon.body_model != "smpl":
        raise OutputError(
            f"the official layout stores SMPL parameters and this reconstruction's bodies are "
            f"{recon.body_model!r}: write the cameras and scene only (scene_only=True), or reconstruct with SMPL"
        )
    if getattr(body, "name", None) != "smpl":
        raise OutputError("writing SMPL tracks needs the SMPL body model the reconstruction used")


def scene_dict(recon: Reconstruction, keyframe_rgb=None, batched_intrinsics: bool = False) -> dict:
    """The `scene.pkl` dict of a reconstruction (module doc)."""
    intr = recon.intrinsics
    src, dst = (intr.width, intr.height), official_size(intr.width, intr.height)
    depth = _resample_nearest(np.asarray(recon.keyframe_depth, np.float32), recon.depth_stride, src, dst)
    background = _resample_nearest(np.asarray(recon.keyframe_background, bool), recon.depth_stride, src, dst)
    conf = np.where(depth > 0, np.where(background, CONF_SCENE, CONF_NOT_SCENE), 0.0).astype(np.float32)
    T = np.asarray(recon.T_wc, np.float64)
    K = official_intrinsics(intr)
    scene = {
        "pred_cam": np.linalg.inv(T[0]) @ T,
        "intrinsics": K[None] if batched_intrinsics else K,
        "depth_hw": depth.astype(np.float32),
        "conf_hw": conf,
        "img_idx": [int(k) for k in recon.keyframe_ids],
        "eval_metrics": {"w_jpe": 0.0, "wa_jpe": 0.0},
    }
    if keyframe_rgb is not None:
        scene["rgb_hw3"] = _resize_images(keyframe_rgb, dst)
    return scene


def _resize_images(images, size) -> np.ndarray:
    from PIL import Image

    out = [np.asarray(Image.fromarray(np.asarray(im, np.uint8)).resize(size, Image.BILINEAR)) for im in images]
    return (np.stack(out).astype(np.float32) / 255.0)[..., :3]


def _read_keyframes(source: OfficialInputs, keyframe_ids) -> np.ndarray | None:
    from PIL import Image

    paths = source.frame_paths
    if any(int(k) >= len(paths) for k in keyframe_ids):
        return None
    return np.stack([np.asarray(Image.open(paths[int(k)]).convert("RGB")) for k in keyframe_ids])


def camera_frame_bodies(person: PersonResult, T_wc: np.ndarray):
    """A world-frame person's root rotation and root joint position in each frame's camera."""
    T = np.asarray(T_wc, np.float64)[person.frames]
    Rt = np.swapaxes(T[:, :3, :3], 1, 2)
    R_cam = Rt @ np.asarray(person.root_rotmat, np.float64)
    root_cam = np.einsum("tij,tj->ti", Rt, np.asarray(person.root_transl, np.float64) - T[:, :3, 3])
    return R_cam, root_cam


def track_dict(person: PersonResult, recon: Reconstruction, body, original_size, known_boxes=None) -> dict:
    """The official per-track dict of one person (module doc)."""
    frames = np.asarray(person.frames, np.int64)
    R_cam, root_cam = camera_frame_bodies(person, recon.T_wc)
    shape = np.asarray(person.shape, np.float64)
    transl = body.root_to_transl(shape, root_cam)
    pose = roma.rotvec_to_rotmat(torch.as_tensor(np.asarray(person.body_pose, np.float64))).numpy()
    rotmat = np.concatenate([R_cam[:, None], pose], 1)
    boxes = _boxes_for(frames, known_boxes, body, shape, R_cam, root_cam, person.body_pose, recon.intrinsics, original_size)
    focal = math.hypot(*original_size)  # TRAM's crop cameras assume the diagonal focal
    f32 = lambda x: torch.as_tensor(np.asarray(x, np.float32))  # noqa: E731
    return {
        "pred_cam": f32(weak_perspective_from_transl(transl, boxes, focal, original_size)),
        "pred_pose": f32(rotmat_to_6d(rotmat)),
        "pred_shape": f32(np.repeat(shape[None], len(frames), 0)),
        "pred_rotmat": f32(rotmat),
        "pred_trans": f32(transl[:, None, :]),
        "frame": torch.as_tensor(frames),
        "boxes": boxes.astype(np.float32),
        "id": int(person.person_id),
    }


def _boxes_for(frames, known, body, shape, R_cam, root_cam, pose, intr: Intrinsics, size) -> np.ndarray:
    """Boxes (T, 4) in original pixels: the SAM3 box of the frame when known, else the box of the
    body mesh projected with the reconstruction's intrinsics."""
    boxes = np.full((len(frames), 4), np.nan)
    if known is not None:
        kf, kb = known
        where = np.searchsorted(kf, frames)
        ok = (where < len(kf)) & (kf[np.minimum(where, len(kf) - 1)] == frames)
        boxes[ok] = kb[where[ok]]
    todo = np.flatnonzero(np.isnan(boxes).any(1))
    for chunk in np.array_split(todo, max(1, math.ceil(len(todo) / 256))):
        if len(chunk):
            verts = body.mesh(shape, R_cam[chunk], root_cam[chunk], np.asarray(pose)[chunk]).double().numpy()
            z = np.maximum(verts[..., 2], 1e-6)
            u = intr.focal * verts[..., 0] / z + intr.cx
            v = intr.focal * verts[..., 1] / z + intr.cy
            sx, sy = size[0] / intr.width, size[1] / intr.height
            box = np.stack([u.min(1), v.min(1), u.max(1), v.max(1)], 1)
            box = (box + 0.5) * np.array([sx, sy, sx, sy]) - 0.5
            boxes[chunk] = np.clip(box, 0, [size[0], size[1], size[0], size[1]])
    return boxes


def _write_pickle(path: Path, obj) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            pickle.dump(obj, fh, protocol=4)
    return path


def _write_npy(path: Path, obj: dict) -> Path:
    with atomic_path(path) as tmp:
        np.save(tmp, obj, allow_pickle=True)
    return path


# ------------------------------------------------------------------------------------ reading
def find_result_dir(path) -> Path:
    """The folder holding `scene.pkl`: `path` itself, `path/josh/`, or a single `path/josh_<s>-<e>/`."""
    path = Path(path).expanduser()
    if (path / "scene.pkl").is_file():
        return path
    if (path / RESULT_DIR / "scene.pkl").is_file():
        return path / RESULT_DIR
    chunks = sorted(p.parent for p in path.glob("josh_*-*/scene.pkl"))
    if len(chunks) == 1:
        return chunks[0]
    if chunks:
        raise InputError(f"{path} holds {len(chunks)} chunk results ({chunks[0].name}, ...): stitch them or pick one")
    raise InputError(f"no JOSH result (scene.pkl) in {path}, {path / RESULT_DIR} or {path}/josh_<s>-<e>")


def load_scene_pkl(path) -> dict:
    """`scene.pkl` as a dict: a plain pickle (this project) or a joblib dump (the official code)."""
    path = Path(path)
    try:
        import joblib
    except ImportError:
        joblib = None
    try:
        if joblib is not None:
            data = joblib.load(path)
        else:
            with open(path, "rb") as fh:
                data = pickle.load(fh)
    except (pickle.UnpicklingError, ModuleNotFoundError) as exc:
        if joblib is None:
            raise SetupError(f"{path} was written by joblib (the official code): `pip install joblib` to read it") from exc
        raise InputError(f"cannot read {path}: {exc}") from exc
    except Exception as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or "pred_cam" not in data:
        raise InputError(f"{path} is not a JOSH scene.pkl (no 'pred_cam')")
    return data


def read_official_result(path, body=None, fps: float = 30.0) -> Reconstruction:
    """A JOSH result folder (official or written by `write_official_layout`) as a `Reconstruction`
    in its own world (frame 0's camera), at the 512-long-edge resolution of its depth maps."""
    folder = find_result_dir(path)
    scene = load_scene_pkl(folder / "scene.pkl")
    T_wc = np.asarray(scene["pred_cam"], np.float64)
    K = np.asarray(scene["intrinsics"], np.float64)
    K = K[0] if K.ndim == 3 else K  # the official scripts disagree on (3, 3) vs (1, 3, 3) (§6.6)
    depth = np.asarray(scene.get("depth_hw", np.zeros((0, 1, 1))), np.float32)
    conf = np.asarray(scene.get("conf_hw", np.zeros_like(depth)), np.float32)
    H, W = depth.shape[1:3]
    intr = Intrinsics(float((K[0, 0] + K[1, 1]) / 2), float(K[0, 2]), float(K[1, 2]), int(W), int(H))
    keyframes = np.asarray(scene.get("img_idx", []), int)
    background = (conf > CONF_THRESHOLD) & (depth > 0)
    points, colors = _scene_points(depth, background, T_wc[keyframes] if len(keyframes) else T_wc[:0], intr, scene.get("rgb_hw3"))
    files = sorted(folder.glob("hps_track_*.npy"))
    if files and getattr(body, "name", None) != "smpl":
        raise InputError(f"{folder} holds SMPL tracks: reading them needs the SMPL body model")
    people = [_read_person(p, body, T_wc) for p in files]
    return Reconstruction(
        fps=float(fps), intrinsics=intr, T_wc=T_wc, keyframe_ids=keyframes,
        keyframe_scales=np.ones(len(keyframes)), keyframe_depth=depth, keyframe_background=background,
        depth_stride=1.0, scene_points=points, scene_colors=colors, people=people,
        metadata={"source": "official JOSH layout", "path": str(folder)},
        body_model="smpl" if people else "anny",
    )  # fmt: skip


def _scene_points(depth, background, T_key, intr: Intrinsics, rgb):
    K, H, W = depth.shape
    if K == 0:
        return np.zeros((0, 3)), np.zeros((0, 3), np.uint8)
    v, u = np.mgrid[0:H, 0:W]
    X = np.stack([(u - intr.cx) / intr.focal * depth, (v - intr.cy) / intr.focal * depth, depth], -1)
    world = np.einsum("kij,khwj->khwi", T_key[:, :3, :3], X) + T_key[:, None, None, :3, 3]
    pts = world[background]
    cols = (np.clip(np.asarray(rgb)[background], 0, 1) * 255).astype(np.uint8) if rgb is not None else np.full((len(pts), 3), 160, np.uint8)
    if len(pts) == 0:
        return pts.reshape(0, 3), cols.reshape(0, 3)
    first = _voxel_representatives(pts, SCENE_VOXEL)
    return pts[first], cols[first]


def _voxel_representatives(pts: np.ndarray, voxel: float) -> np.ndarray:
    """Index of the first point in each occupied voxel (one int64 key per voxel: fast unique)."""
    cells = np.floor(pts / voxel).astype(np.int64)
    cells -= cells.min(0)
    key = np.ravel_multi_index(cells.T, tuple(cells.max(0) + 1))
    return np.sort(np.unique(key, return_index=True)[1])


def _read_person(path: Path, body, T_wc: np.ndarray) -> PersonResult:
    data = load_track_dict(path)
    n = check_track_dict(data, path)
    frames = np.asarray(data["frame"]).reshape(-1).astype(np.int64)
    keep = frames < len(T_wc)
    rotmat = np.asarray(data["pred_rotmat"], np.float64)[keep]
    shape = np.asarray(data["pred_shape"], np.float64).mean(0)
    root_cam = body.transl_to_root(shape, np.asarray(data["pred_trans"], np.float64).reshape(n, 3)[keep])
    human = HumanTrack(
        person_id=track_id(path, data), frames=frames[keep], root_rotmat=nearest_rotation(rotmat[:, 0]),
        root_transl=root_cam, body_pose=rotmat_to_axis_angle(rotmat[:, 1:]), shape=shape,
        keypoints2d=np.zeros((int(keep.sum()), 0, 2)), keypoints_conf=np.zeros((int(keep.sum()), 0)),
        contact_prob=np.zeros((int(keep.sum()), len(body.contact_vertex_ids))), focal_assumed=0.0,
    )  # fmt: skip
    return people_in_world([human], T_wc, body)[0]


@torch.no_grad()
def people_in_world(humans: list[HumanTrack], T_wc: np.ndarray, body) -> list[PersonResult]:
    """Camera-frame tracks placed in the world by per-frame cameras `T_wc` (N, 4, 4), without any
    optimisation (the root joint is the pivot, so this is a plain rigid map of root and points)."""
    T_wc = np.asarray(T_wc, np.float64)
    out = []
    for h in humans:
        T = T_wc[h.frames]
        R_w = T[:, :3, :3] @ h.root_rotmat
        root_w = np.einsum("tij,tj->ti", T[:, :3, :3], h.root_transl) + T[:, :3, 3]
        f32 = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float32)  # noqa: E731
        res = body.forward(body.rest(f32(h.shape)[None]), torch.zeros(len(h.frames), dtype=torch.long),
                           f32(R_w), f32(root_w), f32(h.body_pose))  # fmt: skip
        out.append(PersonResult(
            person_id=h.person_id, frames=np.asarray(h.frames), root_rotmat=R_w, root_transl=root_w,
            body_pose=np.asarray(h.body_pose), shape=np.asarray(h.shape), joints=res.joints.double().numpy(),
            foot_vertices=res.foot_vertices.double().numpy(), contact_vertices=res.contact_vertices.double().numpy(),
            contacts=np.asarray(h.contact_prob, float),
        ))  # fmt: skip
    return out
