"""Each front door's example runs on the bundled data (quick mode) and writes a report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd, tmp_path, **env):
    full_env = {**os.environ, "EDGECOMPRESS_EXAMPLE_QUICK": "1", **env}
    result = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _report(out: Path) -> dict:
    report = json.loads((out / "report.json").read_text())
    assert report["schema"] == "edgecompress.report/1"
    return report


def test_cli_example(tmp_path):
    out = tmp_path / "cli"
    edgecompress = Path(sys.executable).with_name("edgecompress")
    _run(["bash", "examples/cli_run.sh", str(out), "--train-samples", "1024", "--test-samples",
          "256", "--quiet"], tmp_path, EDGECOMPRESS=str(edgecompress))
    report = _report(out)
    assert [a["target"] for a in report["artifacts"]] == ["float32", "int8"]


def test_python_api_example(tmp_path):
    out = tmp_path / "py"
    result = _run([sys.executable, "examples/python_api.py", str(out), "--quick"], tmp_path)
    assert "int8: accuracy" in result.stdout
    _report(out)


def test_callback_api_example(tmp_path):
    out = tmp_path / "cb"
    result = _run([sys.executable, "examples/callback_api.py", str(out), "--quick"], tmp_path)
    report = _report(out)
    assert float(result.stdout.strip().splitlines()[-1]) == pytest.approx(
        report["artifacts"][0]["accuracy"])
    assert "int8_accuracy" in result.stdout  # EdgeMetricsCallback's value in fit's log lines
