"""``edgecompress bench`` writing a measurement and the real report refresh merging it.

``tests/compress/test_bundle_remote.py`` replaces ``compress.report.files`` with a stub; here
nothing is replaced: a real run (the shared ``tiny_run``), the host runner, the real
``refresh_report`` rewriting report.json, report.md and report.html.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from compress.cli import main

FAST = ["--runs", "5", "--warmup", "1", "--samples", "40"]


def _bench(run: Path, capsys, *extra: str) -> list[dict]:
    with pytest.raises(SystemExit) as info:
        main(["bench", str(run), "--target", "rpi4", "--artifact", "int8", *FAST, "--json",
              *extra])
        raise SystemExit(0)
    out = capsys.readouterr()
    assert info.value.code == 0, out.err
    return json.loads(out.out)


def _row(run: Path) -> dict:
    report = json.loads((run / "report.json").read_text())
    rows = {(d["target"], d["artifact"]): d for d in report["devices"]}
    return rows[("rpi4", "int8")]


def test_bench_on_this_host_is_merged_by_the_real_report_refresh(tiny_run, tmp_path, capsys):
    import compress.report.files as report_files

    assert Path(report_files.__file__).name == "files.py"  # the real module, not a stub
    run = Path(shutil.copytree(tiny_run.out_dir, tmp_path / "run"))
    assert "measurement" not in _row(run)  # before: the profile's estimate

    records = _bench(run, capsys)
    stored = json.loads((run / "measurements" / "rpi4" / "int8.json").read_text())
    assert stored == records[0] and stored["method"] == "measured-on-host"
    row = _row(run)
    assert row["measurement"] == "measurements/rpi4/int8.json"
    assert row["latency_ms"]["method"] == "measured-on-host"
    assert row["latency_ms"]["value"] == stored["runner"]["latency_ms"]["p50"]
    assert "emulated" not in row
    assert "measured-on-host" in (run / "report.md").read_text()
    assert "measured-on-host" in (run / "report.html").read_text()

    # the same run declared emulated: kept beside the estimate, never the device's latency
    _bench(run, capsys, "--emulated")
    stored = json.loads((run / "measurements" / "rpi4" / "int8.json").read_text())
    assert stored["method"] == "emulated"
    row = _row(run)
    assert row["latency_ms"]["method"] == "estimated-anchors"
    assert row["energy_mj"]["method"] == "estimated-profile"
    assert row["emulated"]["latency_ms"]["value"] == stored["runner"]["latency_ms"]["p50"]
    assert row["emulated"]["accuracy"] == stored["runner"]["accuracy"]
    assert '<span class="badge emulated">emulated</span>' in (run / "report.html").read_text()
