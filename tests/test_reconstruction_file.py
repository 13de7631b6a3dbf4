"""Lossless .npz save/load of a Reconstruction, and clear errors for files that are not one."""

import dataclasses
import json
import zipfile

import numpy as np
import pytest

from josh.errors import InputError
from josh.geometry.world_frame import align_world
from josh.io import reconstruction_file
from josh.io.reconstruction_file import load_reconstruction, save_reconstruction
from josh.testing.reconstruction import synthetic_reconstruction


@pytest.fixture(scope="module")
def recon(body):
    recon, _ = synthetic_reconstruction(body, n_frames=8)
    recon = align_world(recon, body)  # non-trivial world_align and nested metadata
    recon.metadata["timings"] = {"decode": 1.25, "optimise": 3.0}
    recon.metadata["warnings"] = ["one person left the frame"]
    return recon


def _assert_same(a, b, where="recon"):
    assert type(a) is type(b), where
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            _assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), where
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_round_trip_is_exact(recon, tmp_path):
    path = save_reconstruction(recon, tmp_path / "r.npz")
    loaded = load_reconstruction(path)
    _assert_same(recon, loaded)
    assert [p.person_id for p in loaded.people] == [1, 4]
    assert [f.name for f in tmp_path.iterdir()] == ["r.npz"]  # no temporary file left behind


def test_file_is_plain_numpy_without_pickle(recon, tmp_path):
    path = save_reconstruction(recon, tmp_path / "r.npz")
    with np.load(path, allow_pickle=False) as archive:
        assert str(archive["josh_format"]) == "josh-reconstruction"
        header = json.loads(str(archive["header"]))
        assert header["person_ids"] == [1, 4] and header["body_model"] == "anny"
        assert archive["person_4/joints"].shape == recon.people[1].joints.shape


def test_empty_reconstruction_round_trips(recon, tmp_path):
    empty = dataclasses.replace(recon, people=[], scene_points=np.zeros((0, 3)),
                                scene_colors=np.zeros((0, 3), np.uint8), metadata={})  # fmt: skip
    _assert_same(empty, load_reconstruction(save_reconstruction(empty, tmp_path / "e.npz")))


def test_not_a_reconstruction_is_refused(recon, tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(InputError, match="not a readable JOSH reconstruction"):
        load_reconstruction(text)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.arange(3))
    with pytest.raises(InputError, match="not a JOSH reconstruction file"):
        load_reconstruction(other)
    with pytest.raises(InputError, match="not found"):
        load_reconstruction(tmp_path / "missing.npz")


def test_truncated_file_is_refused(recon, tmp_path):
    data = save_reconstruction(recon, tmp_path / "r.npz").read_bytes()
    for keep in (len(data) // 2, len(data) - 10):
        cut = tmp_path / f"cut{keep}.npz"
        cut.write_bytes(data[:keep])
        with pytest.raises(InputError, match="not a readable JOSH reconstruction"):
            load_reconstruction(cut)


def test_missing_array_is_reported(recon, tmp_path):
    full = save_reconstruction(recon, tmp_path / "r.npz")
    partial = tmp_path / "partial.npz"
    with zipfile.ZipFile(full) as src, zipfile.ZipFile(partial, "w") as dst:
        for item in src.infolist():
            if item.filename != "person_4/joints.npy":
                dst.writestr(item, src.read(item.filename))
    with pytest.raises(InputError, match="incomplete JOSH reconstruction.*person_4/joints"):
        load_reconstruction(partial)


def test_failed_write_leaves_nothing(recon, tmp_path, monkeypatch):
    target = tmp_path / "r.npz"

    def broken(fh, **arrays):
        fh.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(reconstruction_file.np, "savez_compressed", broken)
    with pytest.raises(OSError, match="disk full"):
        save_reconstruction(recon, target)
    assert list(tmp_path.iterdir()) == []
