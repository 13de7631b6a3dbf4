"""Generated official JOSH input folders (rgb/, mask/*.png + SAM3 json, tram/, deco/) for tests.

`write_fake_official_folder(root)` writes files with the official names, keys, dtypes and
containers (TRAM dicts of torch tensors saved with np.save, DECO float64 0/1 arrays, SAM3 json
with compressed COCO RLE masks), and returns the truth it was made from. Each person walks across
the image; their detections include a run shorter than 16 frames, which TRAM drops while `boxes`
keeps it, and the DECO rows are made the way the official `run_deco` makes them: row i from the
crop at `boxes[i]`. Rows whose crop missed the person get contacts on the hands ("garbage"), so
a reader that does not re-align them is caught.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import roma
import torch

from josh.interop.official_inputs import rotmat_to_6d, weak_perspective_from_transl
from josh.interop.rle import encode_rle

TRAM_MIN_RUN = 16


@dataclass
class FakePerson:
    track_id: int
    det_frames: np.ndarray  # frames SAM3 detected the person with score >= 0.7
    det_boxes: np.ndarray  # (n_det, 4) xyxy original pixels
    frames: np.ndarray  # TRAM frames (runs >= 16)
    rotmat: np.ndarray  # (T, 24, 3, 3) float32 as stored
    transl: np.ndarray  # (T, 3) float32 smplx transl
    betas: np.ndarray  # (T, 10) float32
    deco: np.ndarray  # (T, 6890) float64 as stored
    deco_crop_ok: np.ndarray  # (T,) bool: DECO's crop box was this frame's box
    contact_vertices: np.ndarray  # vertex ids DECO marks in contact on correctly cropped rows


@dataclass
class FakeOfficialFolder:
    root: Path
    size: tuple[int, int]
    n_frames: int
    people: list[FakePerson]


def _runs(n_frames: int, rng: np.random.Generator, short_run: bool) -> np.ndarray:
    """Detection frames: one long run, a short run (dropped by TRAM) and another long run."""
    a = int(rng.integers(0, 4))
    first = np.arange(a, a + max(TRAM_MIN_RUN, n_frames // 3))
    frames = [first]
    nxt = first[-1] + 3
    if short_run:
        frames.append(np.arange(nxt, nxt + 9))  # shorter than 16: TRAM drops it
        nxt += 12
    frames.append(np.arange(nxt, n_frames))
    out = np.concatenate(frames)
    return out[out < n_frames]


def _tram_rows(frames, rng, f, size, boxes_fn):
    """Random valid SMPL rows placed so the body projects into its box (z from the box size)."""
    T = len(frames)
    W, H = size
    R_root = roma.rotvec_to_rotmat(torch.tensor([math.pi, 0.0, 0.0]) + 0.2 * torch.randn(T, 3, generator=rng))
    pose = roma.rotvec_to_rotmat(0.3 * torch.randn(T, 23, 3, generator=rng))
    rotmat = torch.cat([R_root[:, None], pose], 1).float()
    boxes = boxes_fn(frames)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    z = f * 1.7 / (boxes[:, 3] - boxes[:, 1])  # a 1.7 m person fills the box height
    transl = np.stack([(centre[:, 0] - W / 2) * z / f, (centre[:, 1] - H / 2) * z / f, z], 1)
    betas = 0.5 * torch.randn(1, 10, generator=rng) + 0.05 * torch.randn(T, 10, generator=rng)
    return rotmat.numpy(), transl.astype(np.float32), betas.float().numpy()


def write_fake_official_folder(root, n_frames: int = 120, n_people: int = 2, size=(160, 90), seed: int = 0,
                               short_run: bool = True, jpeg: bool = True, contact_patches=None) -> FakeOfficialFolder:  # fmt: skip
    """`contact_patches[k]`: the SMPL vertex ids DECO marks for person k on correctly cropped rows
    (default: person 0's left heel and toes, person 1's right ones, the field's FS vertices)."""
    from PIL import Image

    root = Path(root)
    for sub in ("rgb", "mask", "tram", "deco"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    W, H = size
    f = math.hypot(W, H)
    np_rng = np.random.default_rng(seed)
    g = torch.Generator().manual_seed(seed)
    people, dets_per_frame = [], [[] for _ in range(n_frames)]
    for k in range(n_people):
        tid = 1 + 2 * k  # SAM3 ids need not be 0..n-1
        x0, speed, height = W * (0.2 + 0.5 * k), (-1) ** k * W / n_frames * 0.6, H * 0.55

        def boxes_fn(fr, x0=x0, speed=speed, height=height):
            cx = x0 + speed * np.asarray(fr, float)
            return np.stack([cx - 0.2 * height, np.full(len(cx), 0.3 * H), cx + 0.2 * height,
                             np.full(len(cx), 0.3 * H + height)], 1)  # fmt: skip

        det_frames = _runs(n_frames, np_rng, short_run)
        det_boxes = boxes_fn(det_frames)
        runs = np.split(det_frames, np.flatnonzero(np.diff(det_frames) > 1) + 1)
        frames = np.concatenate([r for r in runs if len(r) >= TRAM_MIN_RUN])
        rotmat, transl, betas = _tram_rows(frames, g, f, size, boxes_fn)
        crop_ok = np.all(np.isclose(det_boxes[: len(frames)], boxes_fn(frames)), 1)  # run_deco: boxes[i]
        if contact_patches is not None:
            contact_v = np.asarray(contact_patches[k], int)
        else:
            contact_v = np.array([3387, 3216, 3226]) if k % 2 == 0 else np.array([6787, 6617])
        deco = np.zeros((len(frames), 6890))
        deco[np.ix_(crop_ok, contact_v)] = 1.0
        deco[np.ix_(~crop_ok, np.arange(5000, 5040))] = 1.0  # a crop of the wrong place: garbage
        tram = {
            "pred_cam": torch.from_numpy(weak_perspective_from_transl(transl, boxes_fn(frames), f, size).astype(np.float32)),
            "pred_pose": torch.from_numpy(rotmat_to_6d(rotmat)),
            "pred_shape": torch.from_numpy(betas),
            "pred_rotmat": torch.from_numpy(rotmat),
            "pred_trans": torch.from_numpy(transl[:, None, :]),
            "frame": torch.from_numpy(frames.astype(np.int64)),
            "boxes": det_boxes.astype(np.float32),
            "id": tid,
        }
        np.save(root / "tram" / f"hps_track_{tid}.npy", tram, allow_pickle=True)
        np.save(root / "deco" / f"hps_track_{tid}.npy", deco)
        for fr, box in zip(det_frames, det_boxes):
            dets_per_frame[fr].append((tid, box, 0.9))
        people.append(FakePerson(tid, det_frames, det_boxes, frames, rotmat, transl, betas, deco, crop_ok, contact_v))
    if n_frames > 5 and dets_per_frame[5]:  # a low-score detection run_tram ignores
        dets_per_frame[5].append((99, np.array([1.0, 1.0, 9.0, 9.0]), 0.4))
    for i in range(n_frames):
        _write_frame(root, i, dets_per_frame[i], size, np_rng, jpeg, Image)
    return FakeOfficialFolder(root, (W, H), n_frames, people)


def _write_frame(root: Path, i: int, dets, size, rng, jpeg: bool, Image) -> None:
    W, H = size
    name = f"{i:06d}"
    pixels = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(root / "rgb" / f"{name}.{'jpg' if jpeg else 'png'}")
    union = np.zeros((H, W), bool)
    entries = []
    v, u = np.mgrid[0:H, 0:W]
    for tid, box, score in dets:
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        rx, ry = max((box[2] - box[0]) / 2, 1), max((box[3] - box[1]) / 2, 1)
        mask = ((u - cx) / rx) ** 2 + ((v - cy) / ry) ** 2 <= 1.0
        union |= mask
        entries.append({"id": int(tid), "xyxy": [float(x) for x in box], "label": "person",
                        "score": float(score), "mask": encode_rle(mask)})  # fmt: skip
    Image.fromarray((union * 255).astype(np.uint8)).save(root / "mask" / f"{name}.png")
    (root / "mask" / f"{name}.json").write_text(json.dumps(entries))
