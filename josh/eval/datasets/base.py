"""What every dataset reader provides, and the file readers they share.

A reader module defines `RULES` (the dataset's protocol switches, reference/official-josh.md §1),
`find_sequences(root) -> list[SequenceRef]` and `load_sequence(ref, smpl) -> GroundTruthSequence`.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from josh.errors import InputError


@dataclass(frozen=True)
class DatasetRules:
    """How the field evaluates one dataset (the switches that differ between the scripts)."""

    name: str
    fps: float
    local_metrics: bool  # PA-MPJPE, MPJPE, PVE on pelvis-centred camera-frame bodies (EMDB, SLOPER4D)
    accel_on: str  # "camera": pelvis-centred camera joints; "global": first-camera joints (RICH)
    rte_uses_gt_camera_transl: bool  # SLOPER4D: RTE tracks GT camera-frame transl through predicted cameras
    ate_stat: str | None  # "mean" (evo APE, EMDB), "rmse" (SLOPER4D), None (no GT cameras)
    skip_if_camera_track_incomplete: bool  # EMDB skips a sequence when len(pred_cam) != n_frames
    recon: str | None  # reconstruction protocol: "sloper4d", "rich" or None


@dataclass
class SequenceRef:
    """A sequence found under the dataset root, before its ground truth is read."""

    name: str
    path: Path  # the annotation file or sequence folder
    prediction_dirs: list[str]  # candidate sub-folders of the prediction root, most likely first
    tags: dict = field(default_factory=dict)


def read_pickle(path: Path):
    """A Python-2 or Python-3 pickle (dataset annotations use both)."""
    try:
        with open(path, "rb") as fh:
            try:
                return pickle.load(fh)
            except UnicodeDecodeError:
                fh.seek(0)
                return pickle.load(fh, encoding="latin1")
    except Exception as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc


def require_keys(mapping, keys, where: str) -> None:
    if not isinstance(mapping, dict):
        raise InputError(f"{where}: expected a dict, got {type(mapping).__name__}")
    missing = [k for k in keys if k not in mapping]
    if missing:
        raise InputError(f"{where}: missing key(s) {', '.join(missing)}")


def read_ply_points(path: Path) -> np.ndarray:
    """Vertex positions (N,3) of a PLY point cloud or mesh (what open3d's read_point_cloud keeps)."""
    import trimesh

    try:
        geometry = trimesh.load(str(path), process=False)
    except Exception as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    vertices = getattr(geometry, "vertices", None)
    if vertices is None:
        raise InputError(f"{path}: no vertices")
    return np.asarray(vertices, dtype=np.float64)


_PCD_TYPES = {("F", 4): "f4", ("F", 8): "f8", ("I", 1): "i1", ("I", 2): "i2", ("I", 4): "i4", ("I", 8): "i8",
              ("U", 1): "u1", ("U", 2): "u2", ("U", 4): "u4", ("U", 8): "u8"}  # fmt: skip


def read_pcd_points(path: Path) -> np.ndarray:
    """x, y, z (N,3) of a PCD file (PCL format, DATA ascii or binary; binary_compressed is refused)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    header, offset = {}, 0
    while True:
        end = raw.find(b"\n", offset)
        if end < 0:
            raise InputError(f"{path}: truncated PCD header")
        line = raw[offset:end].decode("ascii", "replace").strip()
        offset = end + 1
        if not line or line.startswith("#"):
            continue
        key, *values = line.split()
        header[key.upper()] = values
        if key.upper() == "DATA":
            break
    try:
        names = header["FIELDS"]
        sizes = [int(s) for s in header["SIZE"]]
        types = header["TYPE"]
        counts = [int(c) for c in header.get("COUNT", ["1"] * len(names))]
        n_points = int(header["POINTS"][0])
        kind = header["DATA"][0].lower()
        dtype = np.dtype([(f"{n}_{i}" if c > 1 else n, _PCD_TYPES[(t.upper(), s)], (c,) if c > 1 else ())
                          for i, (n, s, t, c) in enumerate(zip(names, sizes, types, counts))])  # fmt: skip
    except (KeyError, ValueError, IndexError) as exc:
        raise InputError(f"{path}: unsupported PCD header ({exc})") from exc
    if not {"x", "y", "z"} <= set(names):
        raise InputError(f"{path}: PCD without x, y, z fields")
    if kind == "ascii":
        table = np.loadtxt(raw[offset:].decode("ascii").splitlines(), ndmin=2)
        columns = np.cumsum([0] + counts)
        xyz = [table[:, columns[names.index(a)]] for a in "xyz"]
        return np.stack(xyz, axis=1).astype(np.float64)
    if kind == "binary":
        data = np.frombuffer(raw, dtype=dtype, count=n_points, offset=offset)
        return np.stack([data[a] for a in "xyz"], axis=1).astype(np.float64)
    raise InputError(f"{path}: PCD DATA {kind} is not supported (use ascii or binary)")


def write_pcd_points(path: Path, points: np.ndarray, binary: bool = True) -> Path:
    """Write x, y, z float32 points as a PCD file (for fixtures and tools)."""
    points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    header = ("# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\n"
              f"COUNT 1 1 1\nWIDTH {len(points)}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {len(points)}\n"
              f"DATA {'binary' if binary else 'ascii'}\n")  # fmt: skip
    body = points.tobytes() if binary else "".join(f"{x} {y} {z}\n" for x, y, z in points.tolist()).encode()
    Path(path).write_bytes(header.encode("ascii") + body)
    return Path(path)

