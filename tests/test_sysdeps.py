"""``require_sysdep``: a missing system package skips a test, or fails it in CI."""

from __future__ import annotations

import pytest

from tests.conftest import REQUIRE_SYSDEPS, require_sysdep


def test_missing_sysdep_skips_by_default(monkeypatch):
    monkeypatch.delenv(REQUIRE_SYSDEPS, raising=False)
    require_sysdep(True, "present")  # nothing happens
    with pytest.raises(pytest.skip.Exception, match="sshd is absent"):
        require_sysdep(False, "sshd is absent")


def test_missing_sysdep_fails_when_required(monkeypatch):
    monkeypatch.setenv(REQUIRE_SYSDEPS, "1")
    require_sysdep(True, "present")
    with pytest.raises(pytest.fail.Exception, match=r"sshd is absent \(EDGECOMPRESS_REQUIRE_"
                                                    r"SYSDEPS=1: .*make sysdeps"):
        require_sysdep(False, "sshd is absent")


def test_ci_requires_sysdeps():
    from pathlib import Path

    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert f"export {REQUIRE_SYSDEPS}=1" in ci
