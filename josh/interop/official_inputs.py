"""Read the official JOSH input folder into this project's initialisation types.

Layout (official-josh.md §2.1-2.4), all optional except what a reader needs:

    <root>/rgb/000000.jpg ...        every frame, original resolution
    <root>/mask/000000.png           union of the person masks (0 / 255)
    <root>/mask/000000.json          SAM3 detections: [{id, xyxy, label, score, mask (COCO RLE)}]
    <root>/tram/hps_track_<id>.npy   VIMO (TRAM) SMPL per track, a pickled dict of torch tensors
    <root>/deco/hps_track_<id>.npy   DECO per-vertex contact (T_track, 6890), rows as TRAM `frame`

Conversions:
- TRAM's `pred_trans` is smplx's `transl`; a `HumanTrack` holds the root joint position, so
  root_transl = transl + J0(mean betas) (`SMPLBody.transl_to_root`; official-josh.md §6.3). The
  official code also evaluates every track with its mean betas.
- TRAM places people with the diagonal focal of the original image, sqrt(W^2 + H^2) (§2.3); it is
  stored as `focal_assumed` in pixels of the working resolution the caller asks for.
- DECO's per-vertex contacts become probabilities of the body's contact candidates: the fraction
  of DECO-contact vertices within 3 cm of each candidate on the rest mesh.

Official defect fixed here (§6.9, "run_deco box misalignment"): TRAM drops runs shorter than 16
frames but keeps their detections in `boxes`, and DECO crops frame `frame[i]` with `boxes[i]`. Once
a short run was dropped, every later DECO row was computed on a crop placed for another frame. The
SAM3 detections say which box belongs to which frame, so each row's crop is checked: rows whose
crop box overlaps the person's true box by less than `min_box_iou` (IoU) get contact estimates
from the body instead (`josh.perception.contacts.initial_contacts`), and `boxes` is re-aligned with
`frame`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import roma
import torch
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree

from josh.errors import InputError
from josh.interop.rle import decode_rle
from josh.perception.video import FRAMES_SUBDIR as RGB_DIR  # one name for the frame folder
from josh.types import HumanTrack

MASK_DIR, TRAM_DIR, DECO_DIR = "mask", "tram", "deco"
TRAM_MIN_SCORE = 0.7  # run_tram's --human_thres
DECO_RADIUS = 0.03  # m: DECO vertices pooled into each contact candidate
_TRACK_FILE = re.compile(r"hps_track_(-?\d+)\.npy$")


@dataclass
class OfficialTrack:
    """One TRAM track as a `HumanTrack`, with what the official files say beyond it."""

    human: HumanTrack
    boxes: np.ndarray  # (T, 4) xyxy original-image pixels aligned with human.frames; NaN = unknown
    deco_box_iou: np.ndarray  # (T,) IoU of the box DECO cropped row i with, vs the true box; NaN = unknown
    contact_from_deco: np.ndarray  # (T,) bool: the row's contact_prob comes from DECO
    dropped_detections: int  # SAM3 detections TRAM dropped (runs shorter than 16 frames)
    path: Path


@dataclass
class OfficialInputs:
    """What an official input folder gives this project (the lead assembles `FrontEndInputs`)."""

    root: Path
    frame_paths: list[Path]
    image_size: tuple[int, int]  # (W, H) of the original frames
    working_size: tuple[int, int]  # (W, H) the tracks' focal_assumed and the masks refer to
    tracks: list[OfficialTrack]
    masks: "PersonMasks | None"
    notes: list[str] = field(default_factory=list)

    @property
    def humans(self) -> list[HumanTrack]:
        return [t.human for t in self.tracks]

    @property
    def n_frames(self) -> int:
        return len(self.frame_paths)


# ------------------------------------------------------------------------------------ folder
def read_official_folder(root, body, working_size: tuple[int, int] | None = None,
                         min_box_iou: float = 0.5) -> OfficialInputs:  # fmt: skip
    """Frames, TRAM tracks (SMPL), DECO contacts and SAM3 masks of an official input folder.

    `body` must be the SMPL body (TRAM tracks are SMPL parameters). `working_size` (W, H) is the
    resolution the caller works at (default: the original frames').
    """
    root = _existing_dir(root)
    frames = list_frames(root)
    size = image_size(frames[0])
    working = tuple(working_size) if working_size is not None else size
    notes: list[str] = []
    detections = read_sam3_detections(root / MASK_DIR) if (root / MASK_DIR).is_dir() else None
    if detections is not None and detections.n_frames != len(frames):
        notes.append(f"{detections.n_frames} SAM3 json files for {len(frames)} frames")
    tracks = read_tram(root / TRAM_DIR, body, size, working, detections, notes)
    if (root / DECO_DIR).is_dir():
        tracks = read_deco(root / DECO_DIR, tracks, body, min_box_iou, notes)
    else:
        notes.append("no deco/ folder: contacts estimated from the bodies")
    masks = PersonMasks(root / MASK_DIR, [p.stem for p in frames], working) if (root / MASK_DIR).is_dir() else None
    return OfficialInputs(root, frames, size, working, tracks, masks, notes)


def tram_people(tram, body, working_size: tuple[int, int] | None = None, deco=None,
                original_size: tuple[int, int] | None = None) -> list[HumanTrack]:  # fmt: skip
    """`josh run --people tram:DIR [--contacts deco:DIR]`: the TRAM tracks of DIR (an official
    root or its `tram/` folder) as `HumanTrack`s, with DECO contacts when `deco` is given."""
    tracks = read_tram(tram, body, original_size, working_size)
    if deco is not None:
        tracks = read_deco(deco, tracks, body)
    return [t.human for t in tracks]


def list_frames(root) -> list[Path]:
    """The frames of `root/rgb/` (or of `root` itself), sorted by name: the frames `josh run ROOT`
    reads, so frame indices here and in a run on the folder are the same."""
    from josh.perception.video import list_images

    return list_images(root)


def image_size(path) -> tuple[int, int]:
    """(W, H) of an image, from its header."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return int(img.width), int(img.height)
    except OSError as exc:
        raise InputError(f"cannot read image {path}: {exc}") from exc


def _existing_dir(path) -> Path:
    path = Path(path).expanduser()
    if not path.is_dir():
        raise InputError(f"not a folder: {path}")
    return path


def split_root(path, sub: str) -> tuple[Path, Path]:
    """(root, root/sub) for a path given as either the root or the sub-folder itself."""
    path = _existing_dir(path)
    if (path / sub).is_dir():
        return path, path / sub
    return path.parent, path


def input_folders(path, sub: str) -> list[Path]:
    """The folders the reader of `sub` (`TRAM_DIR` or `DECO_DIR`) reads for `path` (the root or
    `root/sub`): its own and, for TRAM, the root's `rgb/` (image size) and `mask/` (SAM3 boxes and
    masks). A cache identity made of these ignores the results written into the root (`josh/`)."""
    root, folder = split_root(path, sub)
    extra = [root / RGB_DIR, root / MASK_DIR] if sub == TRAM_DIR else []
    return [folder] + [p for p in extra if p.is_dir()]


# ------------------------------------------------------------------------------------ SAM3
@dataclass
class Sam3Detections:
    """Per SAM3 id: frame indices (position in the sorted json list), boxes and scores."""

    n_frames: int
    frames: dict[int, np.ndarray]
    boxes: dict[int, np.ndarray]  # (n, 4) xyxy
    scores: dict[int, np.ndarray]

    def kept(self, track_id: int, min_score: float = TRAM_MIN_SCORE):
        """(frames, boxes) of the detections run_tram keeps (label person, score >= 0.7)."""
        if track_id not in self.frames:
            return np.zeros(0, int), np.zeros((0, 4))
        keep = self.scores[track_id] >= min_score
        return self.frames[track_id][keep], self.boxes[track_id][keep]


def read_sam3_detections(mask_dir) -> Sam3Detections:
    """Ids, boxes and scores from every `mask/*.json` (masks are decoded lazily elsewhere)."""
    files = sorted(Path(mask_dir).glob("*.json"))
    per_id: dict[int, list] = {}
    for i, path in enumerate(files):
        for det in _read_json_list(path):
            if det.get("label", "person") != "person":
                continue
            try:
                per_id.setdefault(int(det["id"]), []).append((i, det["xyxy"], float(det.get("score", 1.0))))
            except (KeyError, TypeError, ValueError) as exc:
                raise InputError(f"{path}: SAM3 detection without id / xyxy / score: {exc}") from exc
    frames, boxes, scores = {}, {}, {}
    for tid, rows in per_id.items():
        frames[tid] = np.array([r[0] for r in rows], int)
        boxes[tid] = np.array([r[1] for r in rows], float).reshape(-1, 4)
        scores[tid] = np.array([r[2] for r in rows], float)
    return Sam3Detections(len(files), frames, boxes, scores)


def _read_json_list(path: Path) -> list:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read SAM3 detections {path}: {exc}") from exc
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a list of detections")
    return data


class PersonMasks(Mapping):
    """frame index -> bool person mask (H, W) at the working size, read on demand.

    From `mask/<name>.png` (the union SAM3 wrote) when present, else the union of the json RLEs.
    `instances(frame)` gives each SAM3 id's own mask.
    """

    def __init__(self, mask_dir, frame_names: list[str], size: tuple[int, int]):
        self.folder = Path(mask_dir)
        self.names = list(frame_names)
        self.size = (int(size[0]), int(size[1]))

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self):
        return iter(range(len(self.names)))

    def __getitem__(self, frame: int) -> np.ndarray:
        if not 0 <= int(frame) < len(self.names):
            raise KeyError(frame)
        png = self.folder / f"{self.names[frame]}.png"
        if png.is_file():
            from PIL import Image

            with Image.open(png) as img:
                return self._resize(np.asarray(img.convert("L")) > 127)
        instances = self.instances(frame)
        if not instances:
            return np.zeros(self.size[::-1], bool)
        return np.logical_or.reduce(list(instances.values()))

    def instances(self, frame: int) -> dict[int, np.ndarray]:
        path = self.folder / f"{self.names[frame]}.json"
        if not path.is_file():
            return {}
        return {int(d["id"]): self._resize(decode_rle(d["mask"])) for d in _read_json_list(path) if "mask" in d}

    def _resize(self, mask: np.ndarray) -> np.ndarray:
        W, H = self.size
        if mask.shape == (H, W):
            return mask
        rows = np.minimum(((np.arange(H) + 0.5) * mask.shape[0] / H).astype(int), mask.shape[0] - 1)
        cols = np.minimum(((np.arange(W) + 0.5) * mask.shape[1] / W).astype(int), mask.shape[1] - 1)
        return mask[rows[:, None], cols[None, :]]


# ------------------------------------------------------------------------------------ TRAM
def load_track_dict(path) -> dict:
    """A TRAM / JOSH `hps_track_<id>.npy` (np.save of a dict of torch tensors) as numpy arrays."""
    try:
        raw = np.load(path, allow_pickle=True)
        data = raw.item() if raw.dtype == object else None
    except Exception as exc:
        raise InputError(f"cannot read track file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a pickled dict of arrays (TRAM / JOSH track)")
    return {k: (v.detach().cpu().numpy() if torch.is_tensor(v) else v) for k, v in data.items()}


def check_track_dict(data: dict, path) -> int:
    """Validate the SMPL keys of a track dict; returns its number of rows."""
    for key in ("pred_rotmat", "pred_trans", "pred_shape", "frame"):
        if key not in data:
            raise InputError(f"{path}: track file has no {key!r}")
    n = len(np.asarray(data["frame"]).reshape(-1))
    shapes = {"pred_rotmat": (n, 24, 3, 3), "pred_trans": (n, 3), "pred_shape": (n, 10)}
    for key, want in shapes.items():
        got = np.asarray(data[key])
        got_shape = got.reshape(n, 3).shape if key == "pred_trans" and got.size == 3 * n else got.shape
        if tuple(got_shape) != want:
            raise InputError(f"{path}: {key} has shape {got.shape}, expected {want} for {n} frames")
    frames = np.asarray(data["frame"]).reshape(-1)
    if n and (np.diff(frames) <= 0).any():
        raise InputError(f"{path}: frame indices are not strictly increasing")
    return n


def track_id(path: Path, data: dict) -> int:
    if "id" in data and np.ndim(data["id"]) == 0:
        return int(data["id"])
    m = _TRACK_FILE.search(path.name)
    if not m:
        raise InputError(f"{path}: no track id (neither an 'id' key nor an hps_track_<id>.npy name)")
    return int(m.group(1))


def nearest_rotation(R: np.ndarray, tol: float = 1e-5) -> np.ndarray:
    """(..., 3, 3) matrices projected onto SO(3) where they are not rotations already (the official
    optimiser leaves body-pose matrices unnormalised; VIMO's are rotations to float32 precision)."""
    R = np.array(R, np.float64)
    flat = R.reshape(-1, 3, 3)
    error = np.abs(np.swapaxes(flat, 1, 2) @ flat - np.eye(3)).max((1, 2))
    bad = (error > tol) | (np.linalg.det(flat) <= 0)
    if bad.any():
        flat[bad] = roma.special_procrustes(torch.as_tensor(flat[bad])).numpy()
    return flat.reshape(R.shape)


def rotmat_to_axis_angle(R: np.ndarray) -> np.ndarray:
    return roma.rotmat_to_rotvec(torch.as_tensor(nearest_rotation(R))).numpy()


def rotmat_to_6d(R: np.ndarray) -> np.ndarray:
    """VIMO's `pred_pose` layout (HMR2 convention): per rotation its first two columns, one after
    the other, so (T, 24, 3, 3) -> (T, 144)."""
    R = np.asarray(R)
    return np.swapaxes(R[..., :, :2], -1, -2).reshape(R.shape[0], -1)


def tram_box_size(boxes: np.ndarray) -> np.ndarray:
    """TRAM's crop side b = 200 * scale: the longer box side, dilated x1.2."""
    return 1.2 * np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])


def transl_from_weak_perspective(pred_cam, boxes, focal: float, size: tuple[int, int]) -> np.ndarray:
    """TRAM's full-image translation from its crop camera [s, tx, ty] (official-josh.md §2.3)."""
    s, tx, ty = np.asarray(pred_cam, np.float64).T
    b = tram_box_size(np.asarray(boxes, np.float64))
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    bs = b * s
    return np.stack([tx + 2 * (centre[:, 0] - size[0] / 2) / bs, ty + 2 * (centre[:, 1] - size[1] / 2) / bs, 2 * focal / bs], 1)


def weak_perspective_from_transl(transl, boxes, focal: float, size: tuple[int, int]) -> np.ndarray:
    """The crop camera [s, tx, ty] that TRAM would store for `transl` (inverse of the above)."""
    transl = np.asarray(transl, np.float64).reshape(-1, 3)
    boxes = np.asarray(boxes, np.float64)
    b = tram_box_size(boxes)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    s = 2 * focal / (b * transl[:, 2])
    tx = transl[:, 0] - 2 * (centre[:, 0] - size[0] / 2) / (b * s)
    ty = transl[:, 1] - 2 * (centre[:, 1] - size[1] / 2) / (b * s)
    return np.stack([s, tx, ty], 1)


def read_tram(path, body, original_size: tuple[int, int] | None = None, working_size: tuple[int, int] | None = None,
              detections: Sam3Detections | None = None, notes: list | None = None) -> list[OfficialTrack]:  # fmt: skip
    """TRAM tracks (`tram/hps_track_<id>.npy`) as `OfficialTrack`s with SMPL `HumanTrack`s.

    `path` is the official root or its `tram/` folder; the original image size is read from the
    sibling `rgb/` unless `original_size` (W, H) is given, and the SAM3 detections from `mask/` (for box alignment).
    """
    _require_smpl(body)
    root, folder = split_root(path, TRAM_DIR)
    notes = notes if notes is not None else []
    if original_size is None and (root / RGB_DIR).is_dir():
        original_size = image_size(list_frames(root)[0])
    if original_size is None:
        raise InputError(f"TRAM's focal needs the original image size: no {root / RGB_DIR}; pass original_size")
    working = tuple(working_size) if working_size is not None else tuple(original_size)
    if detections is None and (root / MASK_DIR).is_dir():
        detections = read_sam3_detections(root / MASK_DIR)
    files = sorted(folder.glob("hps_track_*.npy"), key=lambda p: _sort_key(p))
    if not files:
        raise InputError(f"no TRAM tracks (hps_track_<id>.npy) in {folder}")
    focal = math.hypot(*original_size) * working[0] / original_size[0]
    return [_tram_track(p, body, focal, detections, notes) for p in files]


def _sort_key(path: Path):
    m = _TRACK_FILE.search(path.name)
    return (0, int(m.group(1))) if m else (1, path.name)


def _require_smpl(body) -> None:
    if getattr(body, "name", None) != "smpl":
        raise InputError("TRAM / JOSH tracks are SMPL parameters: load the SMPL body model (body 'smpl')")


def _tram_track(path: Path, body, focal: float, detections, notes: list) -> OfficialTrack:
    data = load_track_dict(path)
    n = check_track_dict(data, path)
    tid = track_id(path, data)
    frames = np.asarray(data["frame"]).reshape(-1).astype(np.int64)
    rotmat = np.asarray(data["pred_rotmat"], np.float64)
    shape = np.asarray(data["pred_shape"], np.float64).mean(0)
    transl = np.asarray(data["pred_trans"], np.float64).reshape(n, 3)
    human = HumanTrack(
        person_id=tid,
        frames=frames,
        root_rotmat=nearest_rotation(rotmat[:, 0]),
        root_transl=body.transl_to_root(shape, transl),
        body_pose=rotmat_to_axis_angle(rotmat[:, 1:]),
        shape=shape,
        keypoints2d=np.zeros((n, len(body.keypoint_names), 2)),  # TRAM gives no 2D evidence
        keypoints_conf=np.zeros((n, len(body.keypoint_names))),
        contact_prob=np.zeros((n, len(body.contact_vertex_ids))),
        focal_assumed=float(focal),
    )
    human.contact_prob = _body_contacts(human, body)
    boxes, iou, dropped = align_boxes(frames, data.get("boxes"), detections, tid)
    if dropped:
        notes.append(f"track {tid}: TRAM dropped {dropped} detections (runs < 16 frames); boxes re-aligned")
    return OfficialTrack(human, boxes, iou, np.zeros(n, bool), dropped, path)


def _body_contacts(human: HumanTrack, body) -> np.ndarray:
    from josh.perception.contacts import initial_contacts

    if not len(human.frames):
        return human.contact_prob
    with np.errstate(over="ignore"):  # the logistic saturates far from the ground: exp overflows to 0
        return initial_contacts(human, body)


def align_boxes(frames: np.ndarray, tram_boxes, detections: Sam3Detections | None, tid: int):
    """Boxes aligned with TRAM `frame`, the IoU of the box DECO used for each row with the true
    one, and how many detections TRAM dropped (see module doc)."""
    n = len(frames)
    used = np.full((n, 4), np.nan)
    if tram_boxes is not None:
        tb = np.asarray(tram_boxes, float).reshape(-1, 4)[:, :4]
        m = min(n, len(tb))
        used[:m] = tb[:m]  # run_deco pairs row i with boxes[i]
        n_det = len(tb)
    else:
        tb, n_det = None, n
    det_frames, det_boxes = detections.kept(tid) if detections is not None else (None, None)
    if det_frames is not None and len(det_frames):
        where = np.searchsorted(det_frames, frames)
        found = (where < len(det_frames)) & (det_frames[np.minimum(where, len(det_frames) - 1)] == frames)
        truth = np.full((n, 4), np.nan)
        truth[found] = det_boxes[where[found]]
        return truth, box_iou(used, truth), max(0, len(det_frames) - n)
    if tb is not None and n_det == n:  # nothing dropped: boxes[i] belongs to frame[i]
        return used, np.where(np.isnan(used[:, 0]), np.nan, 1.0), 0
    return np.full((n, 4), np.nan), np.full(n, np.nan), max(0, n_det - n)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of xyxy boxes (NaN where either is unknown)."""
    lo = np.maximum(a[:, :2], b[:, :2])
    hi = np.minimum(a[:, 2:], b[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), 1)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), 1)  # noqa: E731
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / (area(a) + area(b) - inter)


# ------------------------------------------------------------------------------------ DECO
def read_deco(path, tracks: list[OfficialTrack], body, min_box_iou: float = 0.5,
              notes: list | None = None) -> list[OfficialTrack]:  # fmt: skip
    """Tracks with contact probabilities from `deco/hps_track_<id>.npy` where DECO's crop was
    right (see module doc); other rows keep the body-based estimate."""
    _, folder = split_root(path, DECO_DIR)
    notes = notes if notes is not None else []
    pool = deco_pooling(body)
    out = []
    for track in tracks:
        file = folder / f"hps_track_{track.human.person_id}.npy"
        if not file.is_file():
            notes.append(f"track {track.human.person_id}: no DECO file, contacts from the body")
            out.append(track)
            continue
        deco = _load_deco(file, len(track.human.frames))
        reliable = ~(track.deco_box_iou < min_box_iou)  # unknown IoU (NaN): trust DECO
        prob = np.where(reliable[:, None], np.asarray(pool @ deco.T).T, track.human.contact_prob)
        if (~reliable).any():
            notes.append(f"track {track.human.person_id}: {int((~reliable).sum())} DECO rows cropped with "
                         f"another frame's box (official run_deco defect); contacts from the body there")  # fmt: skip
        human = dataclasses.replace(track.human, contact_prob=prob)
        out.append(dataclasses.replace(track, human=human, contact_from_deco=reliable))
    return out


def _load_deco(path: Path, n_rows: int) -> np.ndarray:
    try:
        deco = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise InputError(f"cannot read DECO contacts {path}: {exc}") from exc
    if deco.ndim != 2 or deco.shape != (n_rows, 6890):
        raise InputError(f"{path}: DECO contacts have shape {deco.shape}, expected ({n_rows}, 6890) (one row per TRAM frame)")
    return deco.astype(np.float64, copy=False)


def deco_pooling(body, radius: float = DECO_RADIUS) -> csr_matrix:
    """(n_contact, 6890) row-stochastic matrix: the mean of the vertices within `radius` of each
    contact candidate on the rest mesh (the candidate itself included)."""
    rest = body.mesh(np.zeros((1, body.shape_dim)), np.eye(3)[None], np.zeros((1, 3)), np.zeros((1, body.n_pose_bones, 3)))[0]
    rest = rest.double().numpy()
    near = cKDTree(rest).query_ball_point(rest[body.contact_vertex_ids], radius)
    rows = np.concatenate([np.full(len(n), i) for i, n in enumerate(near)])
    cols = np.concatenate([np.asarray(n, int) for n in near])
    vals = np.concatenate([np.full(len(n), 1.0 / len(n)) for n in near])
    return csr_matrix((vals, (rows, cols)), shape=(len(near), rest.shape[0]))
