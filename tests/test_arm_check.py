"""``benchmarks/arm_check.py`` (``make arm-check``): its plan, its bad-input lines, and (slow)
the arm64 int8 path end to end in a real Debian bookworm arm64 userland under qemu-user."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def arm_check():
    spec = importlib.util.spec_from_file_location("arm_check", ROOT / "benchmarks" / "arm_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["arm_check"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("arm_check", None)


def test_plan_installs_each_profiles_own_line_and_covers_every_artifact(arm_check, tmp_path):
    from targets.spec import get_profile

    cache = tmp_path / "cache"
    plan = arm_check.make_plan(cache=cache, mirror="http://mirror.invalid/debian")
    assert [(a.arch, a.profile, a.machine) for a in plan.arches] == [
        ("arm64", "rpi4", "aarch64"), ("armhf", "rpi-32bit", "armv7l")]
    for a in plan.arches:
        profile = get_profile(a.profile)
        assert a.installs[0].label == "profile"
        assert a.installs[0].line == a.install == profile.runtime["install"]  # verbatim
        assert all(i.label == "check" and i.why for i in a.installs[1:])
        assert a.artifacts == ["float32", "float16", "dynamic", "int8", "int16x8", "coral-usb"]
        assert a.added_formats == [f for f in arm_check.FORMATS if f not in profile.formats]
        assert a.debootstrap[:5] == ["debootstrap", f"--arch={a.arch}", "--variant=minbase",
                                     "--include=python3-venv,python3-pip,ca-certificates",
                                     "bookworm"]
        assert a.debootstrap[5:] == [str(cache / f"bookworm-{a.arch}"),
                                     "http://mirror.invalid/debian"]
    assert not cache.exists()  # planning touches nothing
    assert ROOT not in arm_check.DEFAULT_CACHE.parents  # the cache lives outside the repo
    one = arm_check.make_plan(cache=cache, arches=["arm64"], artifacts=["int8"])
    assert [(a.arch, a.artifacts) for a in one.arches] == [("arm64", ["int8"])]


def test_plan_on_the_command_line_needs_no_root(arm_check, capsys, tmp_path):
    assert arm_check.main(["--plan", "--cache", str(tmp_path / "c"), "--arch", "armhf"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [a["profile"] for a in plan["arches"]] == ["rpi-32bit"]
    assert not (tmp_path / "c").exists()


def _one_line_exit_1(arm_check, capsys, cache, expected):
    code = arm_check.main(["--cache", str(cache), "--arch", "arm64", "--artifact", "int8",
                           "--mirror", "http://127.0.0.1:9/debian", "--out",
                           str(cache.parent / "out.md")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith("arm-check: ") and expected in err[0]
    assert not cache.exists() and not (cache.parent / "out.md").exists()


def test_not_root_is_one_line(arm_check, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    _one_line_exit_1(arm_check, capsys, tmp_path / "c", "needs root")


def test_no_qemu_is_one_line(arm_check, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda n: None if n.startswith("qemu-") else which(n))
    _one_line_exit_1(arm_check, capsys, tmp_path / "c", "qemu-user-static is not installed")


def test_no_network_is_one_line(arm_check, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(arm_check, "register_binfmt", lambda qemu: None)  # no system change
    _one_line_exit_1(arm_check, capsys, tmp_path / "c", "no network to Debian's registry")


def test_a_failed_root_filesystem_build_is_discarded(arm_check, tmp_path):
    cache = tmp_path / "cache"
    plan = arm_check.make_plan(cache=cache, arches=["arm64"]).arches[0]
    rootfs = plan.rootfs
    fake = dataclasses.replace(plan, debootstrap=[
        "sh", "-c", 'mkdir -p "$0/etc" && touch "$0/etc/half" && '
                    'echo "E: Failed getting release file" >&2 && exit 1', rootfs])
    with pytest.raises(arm_check.CheckError, match=r"debootstrap for arm64 failed \(exit 1; "
                                                   r".*E: Failed getting release file"):
        arm_check.ensure_rootfs(fake, log=lambda msg: None)
    assert list(cache.iterdir()) == []  # nothing half-built left


def test_merged_results_keep_other_arches(arm_check, tmp_path):
    previous = tmp_path / "r.json"
    previous.write_text(json.dumps({
        "run": "/r", "conditions": {"date_utc": "2026-01-01 00:00"},
        "rows": [{"arch": "armhf", "x": 1}, {"arch": "arm64", "x": 2}],
        "installs": [{"arch": "armhf"}, {"arch": "arm64"}]}))
    new = {"run": "/r", "plan": {"arches": [{"arch": "arm64"}]}, "rows": [{"arch": "arm64"}],
           "installs": [{"arch": "arm64", "new": True}]}
    merged = arm_check._merged(new, previous)
    assert merged["rows"] == [{"arch": "armhf", "x": 1}, {"arch": "arm64"}]
    assert merged["installs"] == [{"arch": "armhf"}, {"arch": "arm64", "new": True}]
    assert "2026-01-01 00:00" in merged["notes"][0]


@pytest.mark.slow
def test_arm64_int8_end_to_end_under_qemu(arm_check, tiny_run, tmp_path):
    """The rpi4 profile's userland (arm64) runs the int8 bundle; the outputs match the host's.

    Builds (or reuses) the cached bookworm arm64 root filesystem: ~15 min the first time.
    """
    if os.geteuid() != 0:
        pytest.skip("needs root (debootstrap, chroot, binfmt_misc)")
    for tool in ("debootstrap", "qemu-aarch64-static"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is absent (apt-get install debootstrap qemu-user-static)")
    plan = arm_check.make_plan(arches=["arm64"], artifacts=["int8"],
                               run=str(tiny_run.out_dir), samples=100)
    results = arm_check.check(plan, data="fashion-mnist-subset", epochs=1, log=print)
    rows = [r for r in results["rows"] if "top1_agreement" in r]
    assert rows, results["rows"]
    for row in rows:
        assert row["machine_arm"] == "aarch64" and row["emulated"].startswith("qemu-user")
        assert row["top1_agreement"] >= 0.995 and row["accuracy_diff_pp"] <= 0.1 + 1e-9
