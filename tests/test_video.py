"""Image folders as input: `probe` and `iter_frames` read `DIR/rgb/` (or `DIR`) like a video."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from josh.perception.video import FOLDER_FPS, VideoError, iter_frames, list_images, probe, read_frames


def _folder(root, n=7, size=(64, 48), sub="rgb", suffix="png", seed=0):
    """`n` random frames named so that name order and numeric order differ past 9 (000010 < 000002
    would be wrong: zero-padded names sort correctly)."""
    folder = root / sub if sub else root
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8) for _ in range(n)]
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{i:06d}.{suffix}")
    return frames


def test_an_official_folder_reads_like_a_video(tmp_path):
    frames = _folder(tmp_path, n=12)
    (tmp_path / "rgb" / "notes.txt").write_text("not a frame")
    (tmp_path / "rgb" / "._000003.png").write_bytes(b"AppleDouble junk")  # hidden: ignored
    (tmp_path / "mask").mkdir()  # the rest of the official folder is not read
    info = probe(tmp_path)
    assert (info.frames, info.width, info.height, info.fps) == (12, 64, 48, FOLDER_FPS)
    assert info.duration == pytest.approx(12 / FOLDER_FPS) and info.codec == "images (png)"
    idx, got = read_frames(tmp_path, long_side=None)
    assert idx.tolist() == list(range(12)) and np.array_equal(got, np.stack(frames))
    # selection as for a video: start, stride, at most max_frames
    idx, _ = read_frames(tmp_path, long_side=None, start=3, stride=4, max_frames=2)
    assert idx.tolist() == [3, 7]


def test_frames_are_box_filtered_to_the_working_size(tmp_path):
    frames = _folder(tmp_path, n=3, size=(64, 48), sub=None)  # images directly in the folder
    _, got = read_frames(tmp_path, long_side=32)
    assert got.shape == (3, 24, 32, 3)
    area_mean = frames[1].reshape(24, 2, 32, 2, 3).astype(float).mean((1, 3))  # 2x2 box average
    assert np.abs(got[1].astype(float) - area_mean).max() <= 1.0


def test_jpeg_frames_decode_at_a_reduced_scale_close_to_a_full_decode(tmp_path):
    y, x = np.mgrid[0:480, 0:640]
    smooth = np.stack([(x / 640 * 255), (y / 480 * 255), ((x + y) % 256)], -1).astype(np.uint8)
    (tmp_path / "rgb").mkdir()
    for i in range(3):
        Image.fromarray(smooth).save(tmp_path / "rgb" / f"{i:06d}.jpg", quality=95)
    _, got = read_frames(tmp_path, long_side=160)
    full = np.asarray(Image.open(tmp_path / "rgb" / "000000.jpg").convert("RGB").resize((160, 120), Image.BOX))
    assert got.shape == (3, 120, 160, 3)
    assert np.abs(got[0].astype(float) - full).mean() < 3.0


@pytest.mark.parametrize("case, words", [
    ("missing", "not found"),
    ("empty", "no images"),
    ("two", "2 image(s)"),
    ("corrupt", "cannot read image"),
    ("sizes", "same size"),
])  # fmt: skip
def test_bad_image_folders_are_one_line_errors(tmp_path, case, words):
    folder = tmp_path / "seq"
    if case == "empty":
        (folder / "rgb").mkdir(parents=True)
    elif case == "two":
        _folder(folder, n=2)
    elif case == "corrupt":
        _folder(folder, n=4)
        (folder / "rgb" / "000002.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    elif case == "sizes":
        _folder(folder, n=4)
        Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(folder / "rgb" / "000003.png")
    with pytest.raises(VideoError) as err:
        probe(folder)
        list(iter_frames(folder))
    message = str(err.value)
    assert words in message and "\n" not in message


def test_list_images_sorts_by_name(tmp_path):
    for name in ("b.jpg", "a.png", "c.JPEG"):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / name, format="PNG")
    assert [p.name for p in list_images(tmp_path)] == ["a.png", "b.jpg", "c.JPEG"]
