"""The multi-person pose model: a MediaPipe Tasks `.task` bundle built once at set-up.

Current `mediapipe` wheels ship no models. The `mediapipe==0.10.21` wheel on PyPI contains the two
BlazePose networks (`pose_detection.tflite`, `pose_landmark_full.tflite`) without the TFLite
metadata the Tasks API needs (input normalisation). `ensure_pose_bundle` downloads that wheel once
(``pip download --no-deps``, never installed), adds the metadata with mediapipe's own metadata
writer and zips both models into ``<cache>/mediapipe/pose_landmarker_full.task``.

This is a set-up step (``josh setup``). At run time nothing is downloaded: `pose_bundle_path`
only finds the bundle, or raises `PoseModelError` telling the user to run ``josh setup``.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tempfile
import types
import zipfile
from pathlib import Path

from josh.cache import cache_dir as _default_cache_dir
from josh.errors import SetupError
from josh.io.atomic import write_bytes

WHEEL_VERSION = "0.10.21"
BUNDLE_NAME = "pose_landmarker_full.task"
_DETECTOR_MEMBER = "mediapipe/modules/pose_detection/pose_detection.tflite"
_LANDMARKER_MEMBER = "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"
# sha256 of the two networks inside the 0.10.21 wheel (identical on every platform tag)
_SHA256 = {
    _DETECTOR_MEMBER: "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
    _LANDMARKER_MEMBER: "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
}
# A fixed wheel (any tag holds the same .tflite files), so the download does not depend on the host.
_PIP_PLATFORM = ["--platform", "manylinux_2_28_x86_64", "--python-version", "3.11",
                 "--implementation", "cp", "--only-binary=:all:"]  # fmt: skip


class PoseModelError(SetupError):
    """The pose model bundle is missing or could not be built."""


def _model_dir(cache_dir: str | os.PathLike | None) -> Path:
    return Path(cache_dir if cache_dir is not None else _default_cache_dir()).expanduser() / "mediapipe"


def pose_bundle_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """The built bundle (run time: never downloads). Raises `PoseModelError` when it is missing."""
    path = _model_dir(cache_dir) / BUNDLE_NAME
    if not path.is_file():
        raise PoseModelError(
            f"pose model not found at {path}: run `josh setup` once to build it "
            f"(it downloads the mediapipe=={WHEEL_VERSION} wheel from PyPI and extracts the pose models)"
        )
    return path


def _find_wheel(folder: Path) -> Path | None:
    if not folder.is_dir():
        return None
    found = sorted(folder.glob(f"mediapipe-{WHEEL_VERSION}-*.whl"))
    return found[0] if found else None


def _download_wheel(dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", f"mediapipe=={WHEEL_VERSION}", "--no-deps",
           "--quiet", "-d", str(dest), *_PIP_PLATFORM]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheel = _find_wheel(dest)
    if proc.returncode != 0 or wheel is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise PoseModelError(
            f"could not download mediapipe=={WHEEL_VERSION} from the package index to get the pose "
            f"models: {' | '.join(tail) or 'no wheel found'}"
        )
    return wheel


def _read_models(wheel: Path) -> tuple[bytes, bytes]:
    try:
        with zipfile.ZipFile(wheel) as zf:
            det, lmk = zf.read(_DETECTOR_MEMBER), zf.read(_LANDMARKER_MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise PoseModelError(f"{wheel} is not a usable mediapipe {WHEEL_VERSION} wheel: {exc}") from exc
    for name, data in ((_DETECTOR_MEMBER, det), (_LANDMARKER_MEMBER, lmk)):
        if hashlib.sha256(data).hexdigest() != _SHA256[name]:
            raise PoseModelError(f"{name} in {wheel} has an unexpected checksum")
    return det, lmk


def _metadata_writer_module():
    """mediapipe's MetadataWriter. Recent wheels lack the compiled helper that reports the minimum
    metadata-parser version; the metadata written here (image input + plain feature outputs) needs
    only the schema's base version, so a stand-in module answering "1.0.0" is registered."""
    name = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"
    try:
        __import__(name)
    except ImportError:
        parts = name.split(".")
        for i in range(3, len(parts)):  # mediapipe.tasks.cc, ...cc.metadata, ...metadata.python
            pkg = ".".join(parts[:i])
            if pkg not in sys.modules:
                mod = types.ModuleType(pkg)
                mod.__path__ = []
                sys.modules[pkg] = mod
        stub = types.ModuleType(name)
        stub.GetMinimumMetadataParserVersion = lambda _buf: "1.0.0"
        sys.modules[name] = stub
        setattr(sys.modules[".".join(parts[:-1])], parts[-1], stub)
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer

    return metadata_writer


def _with_metadata(model: bytes, mean: float, std: float, n_outputs: int, name: str) -> bytes:
    mw = _metadata_writer_module()
    writer = mw.MetadataWriter.create(bytearray(model))
    writer.add_general_info(name, "BlazePose network from the mediapipe 0.10.21 wheel")
    writer.add_image_input(norm_mean=[mean], norm_std=[std])
    for _ in range(n_outputs):
        writer.add_feature_output()
    try:
        content, _json = writer.populate()
    finally:
        writer._temp_folder.cleanup()
        del writer
    return bytes(content)


def build_bundle(wheel: str | os.PathLike) -> bytes:
    """The `.task` bundle (zip bytes) from a downloaded mediapipe 0.10.21 wheel."""
    det, lmk = _read_models(Path(wheel))
    # detector: input in [-1, 1]; outputs: boxes+keypoints regressors, scores
    det_md = _with_metadata(det, 127.5, 127.5, 2, "pose_detector")
    # landmarker: input in [0, 1]; outputs: landmarks (195), pose flag, segmentation 256x256,
    # heatmap 64x64x39, world landmarks (117)
    lmk_md = _with_metadata(lmk, 0.0, 255.0, 5, "pose_landmarks_detector")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("pose_detector.tflite", det_md)
        zf.writestr("pose_landmarks_detector.tflite", lmk_md)
    return buf.getvalue()


def ensure_pose_bundle(cache_dir: str | os.PathLike | None = None, wheel: str | os.PathLike | None = None) -> Path:
    """Build ``<cache_dir>/mediapipe/pose_landmarker_full.task`` once; return its path.

    Idempotent (returns at once when the bundle exists) and atomic (written to a temporary file,
    then renamed). The wheel is `wheel` if given, else a mediapipe-0.10.21 wheel already in
    ``<cache_dir>/mediapipe/``, else downloaded with pip into a temporary folder (set-up only).
    """
    folder = _model_dir(cache_dir)
    target = folder / BUNDLE_NAME
    if target.is_file() and target.stat().st_size > 0:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="josh-mediapipe-") as tmp:
        src = Path(wheel) if wheel is not None else _find_wheel(folder)
        if src is None:
            src = _download_wheel(Path(tmp))
        try:
            data = build_bundle(src)
        except PoseModelError:
            raise
        except Exception as exc:  # metadata writer / C bindings problems
            raise PoseModelError(f"could not build the pose model bundle from {src}: {exc}") from exc
    return write_bytes(target, data)
