"""Video decoding with PyAV: probing and streaming frames at a working resolution.

Frames are decoded one at a time (frame threads: ``thread_type="AUTO"``) and converted to RGB and
resized in swscale (area filter), so a long 4K video never sits in memory at full resolution.
Display rotation (phone videos) is applied, so frames come out upright. Any problem with the input
becomes one `VideoError` with a clear message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from josh.errors import InputError

MIN_FRAMES = 3

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


def _check_path(path) -> Path:
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        raise VideoError(f"video not found: {p}")
    if not p.is_file():
        raise VideoError(f"not a file: {p}")
    return p


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
    """Frame count, frame rate, displayed size, duration of the first video stream.

    Decodes the first frame (to check that the stream decodes and to read its rotation) and, only
    when the container does not store a frame count, counts the packets (no decoding).
    """
    import av

    p = _check_path(path)
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

    Frames `start, start + stride, ...` (indices count decoded frames from 0), at most `max_frames`
    of them. Raises `VideoError` for unreadable input, and at the end when a video turns out to be
    truncated (fewer frames decode than the container announces) or shorter than 3 frames.
    """
    import av

    if stride < 1 or start < 0 or (max_frames is not None and max_frames < 0):
        raise ValueError("iter_frames: need stride >= 1, start >= 0, max_frames >= 0")
    p = _check_path(path)
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


__all__ = ["VideoError", "VideoInfo", "probe", "iter_frames", "read_frames", "working_size", "MIN_FRAMES"]
