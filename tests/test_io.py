"""Atomic writes: files get a normal mode, folders are swapped in only when complete."""

import os
import stat

import pytest

from harness.io import atomic_write_text, replace_folder


def test_atomic_file_has_the_mode_of_a_plain_open(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]  # no temporary file left


def test_replace_folder_swaps_in_the_new_folder(tmp_path):
    target = tmp_path / "model"
    replace_folder(target, lambda tmp: (tmp / "w.bin").write_text("old"))
    replace_folder(target, lambda tmp: (tmp / "w.bin").write_text("new"))
    assert (target / "w.bin").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_failed_fill_leaves_the_old_folder_intact(tmp_path):
    target = tmp_path / "model"
    replace_folder(target, lambda tmp: (tmp / "w.bin").write_text("old"))

    def crash(tmp):
        (tmp / "w.bin").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        replace_folder(target, crash)
    assert (target / "w.bin").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
