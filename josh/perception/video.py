"""Reading the input of a run: probing and streaming frames at a working resolution.

The input is a video file (decoded with PyAV) or a folder of images: the official JOSH layout's
`rgb/` frames (`DIR/rgb/000000.jpg ...`), or `DIR` itself when it holds the images. Both give the
same `VideoInfo` and the same frames, one at a time, so the rest of the pipeline never asks which
it was.

- Video: frames are decoded one at a time (frame threads: ``thread_type="AUTO"``) and converted to
  RGB and resized in swscale (area filter), so a long 4K video never sits in memory at full
  resolution. Display rotation (phone videos) is applied, so frames come out upright.
- Image folder: images sorted by name (the official `%06d` names sort in frame order), each decoded
  with PIL and box-filtered (area) to the working size; JPEGs are decoded at a reduced DCT scale
  first when that is still at least the working size. An image folder has no frame rate:
  `FOLDER_FPS` (30, the rate of EMDB and RICH) unless the caller overrides it (`josh run --fps`).
  Every image must have the first one's size.

Any problem with the input becomes one `VideoError` with a clear message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from josh.errors import InputError

MIN_FRAMES = 3
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
FRAMES_SUBDIR = "rgb"  # the official layout's frame folder
FOLDER_FPS = 30.0

class VideoError(InputError):
    """The input is not a readable video (missing, not a video, corrupt, truncated or too short)."""


@dataclass(frozen=True)
class VideoInfo:
    frames: int  # number of frames (container count, or counted packets when the container has none)
    fps: float
    width: int  # displayed size (after rotation), full resolution
    height: int
    duration: float  # seconds
    rotation: int = 0  # degrees counter-clockwise applied to the stored frames for display
    codec: str = ""

    def working_size(self, long_side: int | None = 960) -> tuple[int, int]:
        """(width, height) of the frames `iter_frames` yields for this `long_side`."""
        return working_size(self.width, self.height, long_side)


def working_size(width: int, height: int, long_side: int | None = 960) -> tuple[int, int]:
    """Scale (width, height) so the longer side is `long_side` (never enlarged; None = native)."""
    if long_side is None or max(width, height) <= long_side:
        return int(width), int(height)
    s = long_side / max(width, height)
    return max(1, int(round(width * s))), max(1, int(round(height * s)))


def check_input(path) -> Path:
    """The input path, if it is an existing video file or folder (else a one-line `VideoError`)."""
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        raise VideoError(f"video not found: {p}")
    if not (p.is_file() or p.is_dir()):
        raise VideoError(f"not a file or a folder: {p}")
    return p


# ------------------------------------------------------------------------------------ image folders
def image_folder(path) -> Path:
    """Where an image-folder input keeps its frames: `path/rgb/` (official layout), else `path`."""
    p = Path(path)
    return p / FRAMES_SUBDIR if (p / FRAMES_SUBDIR).is_dir() else p


def list_images(path) -> list[Path]:
    """The frames of an image-folder input, sorted by name (hidden files ignored)."""
    folder = image_folder(path)
    try:
        files = sorted(f for f in folder.iterdir()
                       if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".") and f.is_file())  # fmt: skip
    except OSError as exc:
        raise VideoError(f"cannot list the images in {folder}: {exc.strerror or exc}") from exc
    if not files:
        raise VideoError(f"no images ({', '.join('*' + s for s in IMAGE_SUFFIXES)}) in {folder}")
    return files


def _enough_images(folder: Path) -> list[Path]:
    files = list_images(folder)
    if len(files) < MIN_FRAMES:
        raise VideoError(f"{image_folder(folder)} has {len(files)} image(s); at least {MIN_FRAMES} are needed")
    return files


def _read_image(path: Path, expected: tuple[int, int] | None = None, size: tuple[int, int] | None = None):
    """(RGB uint8 (H, W, 3) at `size` (default: as stored), format, stored (W, H)); every problem
    is a `VideoError`, including a stored size other than `expected`."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            stored, fmt = (int(img.width), int(img.height)), img.format or ""
            if expected is not None and stored != tuple(expected):
                raise VideoError(f"{path} is {stored[0]}x{stored[1]}, the first image {expected[0]}x{expected[1]}: "
                                 "every frame of an image folder must have the same size")  # fmt: skip
            if size is not None and tuple(size) != stored and fmt == "JPEG":
                img.draft("RGB", tuple(size))  # DCT scaling, never below `size`: a cheap first reduction
            rgb = img.convert("RGB")
            if size is not None and rgb.size != tuple(size):
                rgb = rgb.resize(tuple(size), Image.BOX)
            return np.asarray(rgb), fmt, stored
    except VideoError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise VideoError(f"cannot read image {path} (not an image, or corrupt/truncated: {_msg(exc)})") from exc


def _probe_images(folder: Path) -> VideoInfo:
    files = _enough_images(folder)
    _, fmt, (w, h) = _read_image(files[0])  # decoded, so that a corrupt first frame is caught here
    n = len(files)
    return VideoInfo(frames=n, fps=FOLDER_FPS, width=w, height=h, duration=n / FOLDER_FPS, codec=f"images ({fmt.lower()})")


def _stored_size(path: Path) -> tuple[int, int]:
    """(W, H) from the image header (no decoding)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return int(img.width), int(img.height)
    except (OSError, SyntaxError, ValueError) as exc:
        raise VideoError(f"cannot read image {path} (not an image, or corrupt: {_msg(exc)})") from exc


def _iter_images(folder: Path, long_side, start: int, max_frames, stride: int):
    files = _enough_images(folder)
    first = None  # stored size of the first image: every frame must match it
    yielded = 0
    for idx in range(start, len(files), stride):
        if max_frames is not None and yielded >= max_frames:
            return
        if first is None:
            first = _stored_size(files[0])
        rgb, _, _ = _read_image(files[idx], expected=first, size=working_size(*first, long_side))
        yielded += 1
        yield idx, rgb


# ------------------------------------------------------------------------------------------- videos
def _open(p: Path):
    import av

    try:
        container = av.open(str(p), mode="r")
    except av.error.FFmpegError as exc:
        raise VideoError(f"cannot read {p} as a video (not a video, or corrupt/truncated: {_msg(exc)})") from exc
    except (OSError, ValueError) as exc:  # pragma: no cover - unusual I/O problems
        raise VideoError(f"cannot open {p}: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(f"{p} has no video stream")
    return container


def _msg(exc: BaseException) -> str:
    s = getattr(exc, "strerror", None) or str(exc)
    return str(s).strip() or type(exc).__name__


def _rot_k(rotation: int) -> int:
    """np.rot90 turns (counter-clockwise quarter turns) for a display rotation in degrees."""
    return int(round((rotation or 0) / 90.0)) % 4


def _stream_fps(stream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and float(rate) > 0:
            return float(rate)
    return 0.0


def probe(path) -> VideoInfo:
    """Frame count, frame rate, displayed size, duration of the first video stream (or of an
    image folder: its images, `FOLDER_FPS`, the first image's size).

    Decodes the first frame (to check that the stream decodes and to read its rotation) and, only
    when the container does not store a frame count, counts the packets (no decoding).
    """
    import av

    p = check_input(path)
    if p.is_dir():
        return _probe_images(p)
    container = _open(p)
    try:
        stream = container.streams.video[0]
        fps = _stream_fps(stream)
        n = int(stream.frames or 0)
        codec = stream.codec_context.name if stream.codec_context is not None else ""
        first = None
        try:
            for frame in container.decode(stream):
                first = frame
                break
        except av.error.FFmpegError as exc:
            raise VideoError(f"{p}: the video stream cannot be decoded (corrupt or truncated: {_msg(exc)})") from exc
        if first is None:
            raise VideoError(f"{p}: the video stream holds no decodable frame")
        rotation = int(first.rotation or 0)
        w, h = first.width, first.height
        if _rot_k(rotation) % 2 == 1:
            w, h = h, w
        if n <= 0:  # e.g. Matroska/WebM: count the packets of the stream
            container.seek(0)
            try:
                n = sum(1 for pkt in container.demux(stream) if pkt.size > 0)
            except av.error.FFmpegError as exc:
                raise VideoError(f"{p}: corrupt or truncated video data ({_msg(exc)})") from exc
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1e6
        else:
            duration = n / fps if fps > 0 else 0.0
        if fps <= 0 and duration > 0:
            fps = n / duration
    finally:
        container.close()
    if n < MIN_FRAMES:
        raise VideoError(f"{p} has {n} frame(s); at least {MIN_FRAMES} are needed")
    return VideoInfo(frames=n, fps=fps, width=int(w), height=int(h), duration=duration, rotation=rotation, codec=codec)


def iter_frames(path, long_side: int | None = 960, start: int = 0, max_frames: int | None = None,
                stride: int = 1) -> Iterator[tuple[int, np.ndarray]]:  # fmt: skip
    """Yield (frame_index, RGB uint8 (H, W, 3)) at working resolution, streaming.

    Frames `start, start + stride, ...` (indices count decoded frames from 0; for an image folder,
    positions in name order), at most `max_frames` of them. Raises `VideoError` for unreadable
    input, and at the end when a video turns out to be truncated (fewer frames decode than the
    container announces) or shorter than 3 frames.
    """
    import av

    if stride < 1 or start < 0 or (max_frames is not None and max_frames < 0):
        raise ValueError("iter_frames: need stride >= 1, start >= 0, max_frames >= 0")
    p = check_input(path)
    if p.is_dir():
        yield from _iter_images(p, long_side, start, max_frames, stride)
        return
    container = _open(p)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        expected = int(stream.frames or 0)
        size = None  # (stored width, stored height) to convert to, and np.rot90 turns
        yielded = 0
        idx = -1
        try:
            for frame in container.decode(stream):
                idx += 1
                if max_frames is not None and yielded >= max_frames:
                    return  # stop decoding early: nothing else is wanted
                if idx < start or (idx - start) % stride:
                    continue
                if size is None:
                    k = _rot_k(frame.rotation)
                    dw, dh = (frame.height, frame.width) if k % 2 else (frame.width, frame.height)
                    ww, wh = working_size(dw, dh, long_side)
                    size = ((wh, ww) if k % 2 else (ww, wh)), k
                (sw, sh), k = size
                rgb = frame.to_ndarray(format="rgb24", width=sw, height=sh, interpolation="AREA")
                if k:
                    rgb = np.ascontiguousarray(np.rot90(rgb, k))
                yielded += 1
                yield idx, rgb
        except av.error.FFmpegError as exc:
            raise VideoError(f"{p}: decoding failed at frame {idx + 1} (corrupt or truncated: {_msg(exc)})") from exc
        n = idx + 1
        if n < MIN_FRAMES:
            raise VideoError(f"{p} has {n} decodable frame(s); at least {MIN_FRAMES} are needed")
        if expected > 0 and n < expected - 2:
            raise VideoError(f"{p} is truncated or corrupt: {n} of {expected} frames could be decoded")
    finally:
        container.close()


def read_frames(path, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """All requested frames at working resolution: (indices (N,), frames (N, H, W, 3) uint8)."""
    idx, frames = [], []
    for i, f in iter_frames(path, **kwargs):
        idx.append(i)
        frames.append(f)
    if not frames:
        raise VideoError(f"{path}: no frame in the requested range")
    return np.asarray(idx), np.stack(frames)


__all__ = ["VideoError", "VideoInfo", "probe", "iter_frames", "read_frames", "working_size", "check_input", "list_images",
           "image_folder", "MIN_FRAMES", "FOLDER_FPS", "IMAGE_SUFFIXES"]  # fmt: skip
