"""The per-stage on-disk cache of `josh run`: `OUT/.josh-cache/<stage>-<key>.npz`.

Why: a run of a few minutes that crashes, is interrupted or is repeated with one setting changed
should redo only what changed. Each stage's key is a hash of everything that determines its result
(the input file's identity, the stage's settings, the keys of the stages it reads), so

- a re-run with the same inputs and settings finds every entry and runs nothing;
- a changed setting changes that stage's key and, through the chain, the keys of every later
  stage: those re-run, earlier ones are reused;
- an entry is only ever read under the key it was written with (the key is in the file name *and*
  inside the file, and both are checked), so a stale result is never reused silently.

Entries are written atomically (temporary name, then rename): an interrupted stage leaves no entry,
never a half-written one. After a successful run, entries of other keys are removed (`prune`).

Storage is plain `.npz` (no pickle): `encode` turns a tree of known dataclasses, numpy arrays,
lists, dicts and scalars into arrays plus one JSON header; `decode` rebuilds it, instantiating only
the dataclasses registered in `CODEC_TYPES`.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import logging
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from josh.errors import OutputError
from josh.io.atomic import _json_default, atomic_path

log = logging.getLogger(__name__)

CACHE_DIRNAME = ".josh-cache"
LOCK_NAME = "lock"
ENTRY_FORMAT = "josh-stage-cache"
ENTRY_VERSION = 1


# ------------------------------------------------------------------------------------------ keys
def stage_key(stage: str, settings: Any, upstream: list[str] | tuple[str, ...] = ()) -> str:
    """Hex key of a stage from its settings (JSON-able, dataclasses allowed) and upstream keys."""
    payload = {"stage": stage, "settings": _plain(settings), "upstream": list(upstream), "entry": ENTRY_VERSION}
    text = json.dumps(payload, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def file_identity(path: str | os.PathLike) -> dict:
    """What identifies an input file without reading it: resolved path, size, modification time."""
    p = Path(path).expanduser().resolve()
    st = p.stat()
    return {"path": str(p), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def folder_identity(path: str | os.PathLike, max_files: int = 100_000) -> dict:
    """Identity of a folder of input files: every file's relative path, size and mtime."""
    root = Path(path).expanduser().resolve()
    return files_identity(root, sorted(p for p in root.rglob("*") if p.is_file())[:max_files])


def files_identity(root: Path, files: list[Path]) -> dict:
    """Identity of some files under `root` (a resolved path): their relative paths, sizes and mtimes."""
    rows = []
    for f in files:
        st = f.stat()
        rows.append((str(Path(f).relative_to(root)), st.st_size, st.st_mtime_ns))
    digest = hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:20]
    return {"path": str(root), "files": len(rows), "digest": digest}


def input_identity(path: str | os.PathLike) -> dict:
    """Identity of a run's input: the video file's, or an image folder's images (only the images:
    `--official` writes its results into that folder, and they must not change the input)."""
    from josh.perception.video import list_images

    p = Path(path).expanduser().resolve()
    return files_identity(p, list_images(p)) if p.is_dir() else file_identity(p)


def _plain(obj):
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


# ----------------------------------------------------------------------------------------- codec
CODEC_TYPES: dict[str, type] = {}
_defaults_registered = False


def register(*types: type) -> None:
    """Allow `decode` to rebuild these dataclasses (by class name)."""
    for t in types:
        CODEC_TYPES[t.__name__] = t


def _register_defaults() -> None:
    global _defaults_registered
    if _defaults_registered:
        return
    _defaults_registered = True
    from josh.perception.people import PeopleResult, PersonTrack2D
    from josh.perception.scene import SceneEstimate
    from josh.pipeline.stages import Clip, PeopleStage
    from josh.types import Correspondences, HumanTrack, Intrinsics, KeyframeObservations, PersonResult, Reconstruction

    register(Intrinsics, KeyframeObservations, Correspondences, HumanTrack, PersonResult, Reconstruction,
             SceneEstimate, PersonTrack2D, PeopleResult, Clip, PeopleStage)  # fmt: skip


def encode(value: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """(JSON tree, arrays) of a value; arrays are referenced from the tree as {"__array__": name}."""
    arrays: dict[str, np.ndarray] = {}

    def enc(v):
        if isinstance(v, np.ndarray):
            name = f"a{len(arrays)}"
            arrays[name] = v
            return {"__array__": name}
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            name = type(v).__name__
            if CODEC_TYPES.get(name) is not type(v):
                raise TypeError(f"cache codec: dataclass {name} is not registered")
            return {"__type__": name, "fields": {f.name: enc(getattr(v, f.name)) for f in dataclasses.fields(v)}}
        if isinstance(v, tuple):
            return {"__tuple__": [enc(x) for x in v]}
        if isinstance(v, list):
            return [enc(x) for x in v]
        if isinstance(v, dict):
            if not all(isinstance(k, str) for k in v):
                return {"__intdict__": [[int(k), enc(x)] for k, x in v.items()]}
            return {k: enc(x) for k, x in v.items()}
        if isinstance(v, np.generic):
            return v.item()
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        raise TypeError(f"cache codec: cannot store {type(v).__name__}")

    _register_defaults()
    return enc(value), arrays


def decode(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    _register_defaults()

    def dec(v):
        if isinstance(v, list):
            return [dec(x) for x in v]
        if isinstance(v, dict):
            if "__array__" in v:
                return arrays[v["__array__"]]
            if "__tuple__" in v:
                return tuple(dec(x) for x in v["__tuple__"])
            if "__intdict__" in v:
                return {int(k): dec(x) for k, x in v["__intdict__"]}
            if "__type__" in v:
                cls = CODEC_TYPES.get(v["__type__"])
                if cls is None:
                    raise ValueError(f"unknown type {v['__type__']!r} in a cache entry")
                return cls(**{k: dec(x) for k, x in v["fields"].items()})
            return {k: dec(x) for k, x in v.items()}
        return v

    return dec(tree)


# ----------------------------------------------------------------------------------------- store
class StageCache:
    """The cache folder of one output folder. Use as a context manager: it holds the lock."""

    def __init__(self, out_dir: str | os.PathLike):
        self.root = Path(out_dir) / CACHE_DIRNAME
        self._lock_fh = None
        self.used: set[str] = set()  # file names read or written in this run (kept by `prune`)

    # -- lock: one run per output folder ---------------------------------------------------------
    def __enter__(self) -> "StageCache":
        import fcntl

        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fh = open(self.root / LOCK_NAME, "a+")
        except OSError as exc:
            raise OutputError(f"cannot create the cache folder {self.root}: {exc.strerror or exc}") from exc
        try:  # released by the OS when the process ends, however it ends: no stale locks
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise OutputError(f"another `josh run` is writing to {self.root.parent}; wait for it or choose another -o") from exc
            raise OutputError(f"cannot lock {self.root / LOCK_NAME}: {exc.strerror or exc}") from exc
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._lock_fh = fh
        return self

    def __exit__(self, *exc) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()  # closing releases the flock
            self._lock_fh = None

    # -- entries ----------------------------------------------------------------------------------
    def path(self, stage: str, key: str) -> Path:
        return self.root / f"{stage}-{key}.npz"

    def load(self, stage: str, key: str) -> tuple[Any, dict] | None:
        """(value, info) of the entry of `stage` under `key`, or None (missing or unreadable)."""
        path = self.path(stage, key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                data = {k: npz[k] for k in npz.files}
            header = json.loads(data.pop("__header__").item())
            if header.get("format") != ENTRY_FORMAT or header.get("stage") != stage or header.get("key") != key:
                raise ValueError("entry written for another stage or key")
            value = decode(header["tree"], data)
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            log.warning("cache entry %s is unreadable (%s); recomputing the stage", path.name, exc)
            return None
        self.used.add(path.name)
        return value, header.get("info", {})

    def save(self, stage: str, key: str, value: Any, info: dict | None = None) -> Path:
        """Store `value` for (stage, key) atomically; `info` is small JSON data (e.g. timings)."""
        tree, arrays = encode(value)
        header = {"format": ENTRY_FORMAT, "version": ENTRY_VERSION, "stage": stage, "key": key, "tree": tree,
                  "info": info or {}}  # fmt: skip
        path = self.path(stage, key)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, __header__=np.array(json.dumps(header, default=_json_default)), **arrays)
        self.used.add(path.name)
        return path

    def entries(self) -> list[Path]:
        return sorted(self.root.glob("*-*.npz"))

    def prune(self) -> int:
        """Remove entries this run neither read nor wrote (other settings, older runs)."""
        removed = 0
        for p in self.entries():
            if p.name not in self.used:
                p.unlink(missing_ok=True)
                removed += 1
        return removed
