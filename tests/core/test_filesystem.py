"""Atomic writes: all or nothing, and outputs as readable as a plain open() would make them."""
from __future__ import annotations

import os
import stat

import pytest

from faceplate.core.filesystem import atomic_path, atomic_write_text, sha256_file


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "shot.track.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot.track.json"]


def test_success_replaces_and_keeps_the_suffix_for_format_detection(tmp_path):
    target = tmp_path / "out" / "a.exr"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".exr" and tmp.parent == target.parent
        tmp.write_bytes(b"x")
    assert target.read_bytes() == b"x"


def test_outputs_follow_the_umask_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "f.txt", "hello")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "f.txt").stat().st_mode)
    assert mode == 0o644
    assert sha256_file(tmp_path / "f.txt") == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


def test_unwritable_output_folder_is_a_one_line_faceplate_error(tmp_path):
    from faceplate.core.errors import FaceplateError

    blocker = tmp_path / "plate.1001.exr"
    blocker.write_bytes(b"x")  # a file where the output folder should be
    target = blocker / "out" / "o.1001.exr"
    with pytest.raises(FaceplateError, match=r"o\.1001\.exr: cannot write there") as err:
        with atomic_path(target):
            pass
    assert "\n" not in str(err.value)
