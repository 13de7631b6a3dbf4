"""Atomic writes (`josh.io.atomic`): all or nothing, with the permissions a plain write gives."""

import os
import stat

import pytest

from josh.io.atomic import atomic_path, write_text

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@posix_only
def test_a_new_file_gets_the_umask_permissions_not_the_temporary_files(tmp_path, umask_022):
    target = write_text(tmp_path / "report.json", "{}")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # a temporary file alone would give 0o600


@posix_only
def test_a_replaced_file_keeps_its_permissions(tmp_path, umask_022):
    target = tmp_path / "report.json"
    target.write_text("old")
    target.chmod(0o640)
    write_text(target, "new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "scene.ply"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer crashed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["scene.ply"]
