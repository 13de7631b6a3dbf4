"""Small videos generated at test time with PyAV (nothing is committed): smooth moving colour
patterns (no person in them), damaged copies, and cuts of a real video."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import numpy as np


def pattern_frames(n: int, width: int = 160, height: int = 120, seed: int = 0) -> Iterable[np.ndarray]:
    """A textured scene sliding sideways (what a panning camera sees), RGB uint8."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (height // 8 + 1, (width + 4 * n) // 8 + 2, 3), dtype=np.uint8)
    texture = np.kron(blocks, np.ones((8, 8, 1), np.uint8))
    y, x = np.mgrid[0:height, 0 : texture.shape[1]]
    texture = (0.7 * texture[:height] + 0.3 * ((x * 5 + y * 3) % 256)[..., None]).astype(np.uint8)
    for i in range(n):
        yield np.ascontiguousarray(texture[:, 4 * i : 4 * i + width])


def write_video(path, frames: Iterable[np.ndarray], fps: float = 30.0, codec: str = "mpeg4") -> Path:
    """Encode RGB uint8 frames (all one size, even width and height) into `path`."""
    import av

    path = Path(path)
    with av.open(str(path), "w") as container:
        stream = None
        for img in frames:
            if stream is None:
                stream = container.add_stream(codec, rate=int(round(fps)))
                stream.height, stream.width = img.shape[:2]
                stream.pix_fmt = "yuv420p"
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                container.mux(packet)
        if stream is None:  # no frame: a valid header with an empty stream
            stream = container.add_stream(codec, rate=int(round(fps)))
            stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
            container.start_encoding()
        else:
            for packet in stream.encode():
                container.mux(packet)
    return path


def pattern_video(path, n: int, width: int = 160, height: int = 120, fps: float = 30.0) -> Path:
    return write_video(path, pattern_frames(n, width, height), fps)


def truncated_copy(src, dst, fraction: float = 0.6) -> Path:
    """The first `fraction` of the bytes of `src` (a download or copy cut short)."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return Path(dst)


def even_size(rgb: np.ndarray) -> np.ndarray:
    """The frame cropped to even width and height (what yuv420p encoding needs)."""
    return rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2]


def write_h264(path, make_frames: Callable[[], Iterable[np.ndarray]], fps: float) -> Path:
    """`write_video` with H.264 when the FFmpeg build has it, else MPEG-4 part 2; `make_frames`
    gives a fresh frame iterator for each attempt."""
    try:
        return write_video(path, make_frames(), fps, codec="libx264")
    except Exception:  # an FFmpeg build without x264
        return write_video(path, make_frames(), fps, codec="mpeg4")


def cut_video(src, dst, n_frames: int, long_side: int, start: int = 0, hold: int = 1) -> Path:
    """`n_frames` frames of `src` from `start`, resized to `long_side`, re-encoded (`write_h264`)
    at the source frame rate. With `hold` > 1 only every `hold`-th frame is taken and shown
    `hold` times (same length and real time, motion in steps: the repeated frames of a frame-rate
    conversion or of slow motion made by repetition)."""
    from josh.perception.video import iter_frames, probe

    # decoded whole before encoding: with the decoder running between the encoder's frames,
    # x264 gave other bytes from one call to the next (same frames, same process: 2-s cuts of
    # demo2 2.0 grey levels apart on average, up to 76), so a test saw another clip every run
    decoded = [even_size(rgb) for _, rgb in iter_frames(src, long_side=long_side, start=start,
                                                        max_frames=-(-n_frames // hold), stride=hold)]  # fmt: skip
    return write_h264(dst, lambda: (rgb for rgb in decoded for _ in range(hold)), probe(src).fps)
