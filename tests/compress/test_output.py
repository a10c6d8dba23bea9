"""Output folders: complete or absent, one run at a time, stale locks taken over."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from compress.errors import OutputError
from compress.run.folder import output_lock, staged_output


def test_success_moves_folder_into_place(tmp_path):
    with staged_output(tmp_path / "out", overwrite=False) as tmp:
        (tmp / "report.json").write_text("{}")
    assert (tmp_path / "out" / "report.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_failure_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with staged_output(tmp_path / "out", overwrite=False) as tmp:
            (tmp / "half.json").write_text("{")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_and_refuses_without_flag(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(OutputError, match="not empty"):
        with staged_output(out, overwrite=False):
            pass
    with staged_output(out, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in out.iterdir()] == ["new.txt"]


def test_second_run_into_same_folder_is_refused(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / ".out.lock").write_text(str(holder.pid))
        with pytest.raises(OutputError, match=f"pid {holder.pid}"):
            with output_lock(out):
                pass
    finally:
        holder.kill()
        holder.wait()


def test_stale_lock_of_dead_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".out.lock").write_text(str(dead.pid))
    with output_lock(tmp_path / "out"):
        assert (tmp_path / ".out.lock").read_text() == str(os.getpid())
    assert not (tmp_path / ".out.lock").exists()
