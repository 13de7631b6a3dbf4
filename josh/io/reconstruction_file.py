"""Lossless save/load of a `Reconstruction` as one `.npz` file (no pickle).

Layout of the archive (all plain numpy arrays; `np.load(path)` reads it without JOSH):
- `josh_format` = "josh-reconstruction", `format_version` (int);
- `header`: a JSON string with fps, intrinsics, depth_stride, body_model, metadata and the ordered
  list of person ids (metadata must be JSON data; numpy scalars/arrays in it become numbers/lists);
- the scene and camera arrays under their field names (`T_wc`, `scene_points`, ...);
- per person, `person_<id>/<field>` for every array field of `PersonResult`.
Arrays keep their dtypes and shapes exactly, so save -> load gives back equal arrays bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from josh.errors import InputError
from josh.io.atomic import _json_default, atomic_path
from josh.types import Intrinsics, PersonResult, Reconstruction

FORMAT_NAME = "josh-reconstruction"
FORMAT_VERSION = 1
SCENE_ARRAYS = ("T_wc", "keyframe_ids", "keyframe_scales", "keyframe_depth", "keyframe_background",
                "scene_points", "scene_colors", "world_align")  # fmt: skip
PERSON_ARRAYS = tuple(f.name for f in dataclasses.fields(PersonResult) if f.name != "person_id")


def save_reconstruction(recon: Reconstruction, path: str | Path) -> Path:
    """Write `recon` to `path` (.npz, compressed) atomically; returns the path."""
    header = {
        "fps": float(recon.fps),
        "intrinsics": dataclasses.asdict(recon.intrinsics),
        "depth_stride": float(recon.depth_stride),
        "body_model": recon.body_model,
        "person_ids": [int(p.person_id) for p in recon.people],
        "metadata": recon.metadata,
    }
    arrays = {
        "josh_format": np.array(FORMAT_NAME),
        "format_version": np.array(FORMAT_VERSION),
        "header": np.array(json.dumps(header, default=_json_default)),
    }
    arrays.update({name: np.asarray(getattr(recon, name)) for name in SCENE_ARRAYS})
    for p in recon.people:
        arrays.update({f"person_{p.person_id}/{name}": np.asarray(getattr(p, name)) for name in PERSON_ARRAYS})
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:  # a file object: numpy adds no suffix
        np.savez_compressed(fh, **arrays)
    return Path(path)


def load_reconstruction(path: str | Path) -> Reconstruction:
    """Read a file written by `save_reconstruction`; InputError if it is not one (or is damaged)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"reconstruction file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}  # reads (and CRC-checks) all
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise InputError(f"{path} is not a readable JOSH reconstruction (.npz): {exc}") from exc
    if arrays.get("josh_format", np.array("")).item() != FORMAT_NAME:
        raise InputError(f"{path} is not a JOSH reconstruction file (no '{FORMAT_NAME}' marker)")
    version = int(arrays["format_version"])
    if version > FORMAT_VERSION:
        raise InputError(f"{path} has format version {version}; this JOSH reads up to {FORMAT_VERSION}: upgrade JOSH")
    try:
        header = json.loads(arrays["header"].item())
        people = [
            PersonResult(person_id=pid, **{name: arrays[f"person_{pid}/{name}"] for name in PERSON_ARRAYS})
            for pid in header["person_ids"]
        ]
        return Reconstruction(
            fps=header["fps"],
            intrinsics=Intrinsics(**header["intrinsics"]),
            depth_stride=header["depth_stride"],
            body_model=header["body_model"],
            metadata=header["metadata"],
            people=people,
            **{name: arrays[name] for name in SCENE_ARRAYS},
        )
    except (KeyError, TypeError, ValueError) as exc:  # missing array or header field
        raise InputError(f"{path} is an incomplete JOSH reconstruction (missing or bad {exc})") from exc
