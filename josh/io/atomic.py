"""Atomic file writes: write to a temporary file beside the target, fsync, then rename.

A crash or Ctrl-C part-way leaves either the old file or the new one, never a truncated file that
looks complete. Use `atomic_path` for writers that want a path (numpy, trimesh, rerun), and
`replace_dir` to put a folder written elsewhere in place of an earlier one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from josh.errors import OutputError


def ensure_writable_dir(folder: str | os.PathLike) -> Path:
    """Create `folder` if needed and check that files can be created in it."""
    path = Path(folder).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".josh-write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot write to output folder {path}: {exc.strerror or exc}") from exc
    return path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it is renamed onto `target`.

    `suffix` defaults to the target's own suffix, so writers that pick a format by extension work.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix if suffix is not None else target.suffix,
                               dir=target.parent)  # fmt: skip
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, _mode_for(target))
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _mode_for(target: Path) -> int:
    """The permissions a plain `open(target, "w")` would give: the target's own where it exists,
    else 0o666 less the umask. (A temporary file is created private, 0o600, and a rename keeps that,
    so without this every output would be unreadable to anyone else on the machine.)"""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def replace_dir(new: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Move the complete folder `new` to `target`, replacing an earlier `target` as a whole.

    A folder cannot be renamed onto a non-empty one, so the old folder is first moved aside (a
    hidden sibling), the new one renamed in, and only then the old one removed; if the rename
    fails, the old folder goes back. Nothing ever mixes old and new files. `new` and `target`
    must be on one file system (write `new` beside `target`).
    """
    new, target = Path(new), Path(target)
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        if old.exists() and not target.exists():
            os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return target


def write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | os.PathLike, text: str) -> Path:
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike, obj, indent: int = 2) -> Path:
    return write_text(target, json.dumps(obj, indent=indent, default=_json_default) + "\n")


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
