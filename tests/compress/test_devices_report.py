"""Device and energy figures of a run folder, report.html, and the report/compare commands.

The run folder is built by hand: a minimal report.json plus real tiny .tflite files converted
from a seeded tf_keras model (no training), so these tests take seconds.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from compress.report import compare as report_compare
from compress.report import figures as report_figures
from compress.report import files as report_files
from compress.report import markdown as report_markdown
from compress.errors import BenchmarkError, OutputError
from compress.report import SCHEMA
from targets import energy

FORMATS = ("float32", "float16", "dynamic", "int8")
MEASURED = ("measured-meter", "measured-rapl", "measured-nvml")


@pytest.fixture(scope="module")
def tflite_files(tmp_path_factory) -> dict[str, bytes]:
    from compress import _keras
    from compress.artifacts import export
    from compress.recipe import TargetSpec

    keras = _keras.keras
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="fc")(x))
    rep = np.random.default_rng(0).random((16, 12, 12, 1), dtype=np.float32)
    with warnings.catch_warnings():  # int8 I/O without input statistics: expected here
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return {f: export.convert(model, TargetSpec(f), representative=rep) for f in FORMATS}


def _report(files: dict[str, bytes]) -> dict:
    artifacts = []
    for i, (fmt, blob) in enumerate(files.items()):
        artifacts.append({
            "target": fmt, "format": fmt, "path": f"artifacts/{fmt}.tflite",
            "size_bytes": len(blob), "gzip_bytes": len(blob) // 2, "sparsity": 0.5,
            "accuracy": 0.80 - 0.01 * i, "accuracy_delta": -0.01 * (i + 1),
            "latency_ms": {"p50": 0.05 + 0.01 * i, "p90": 0.07 + 0.01 * i},
            "io_dtype": "int8" if fmt == "int8" else "float32", "params": 0,
            "nonzero_params": 0})
    return {
        "schema": SCHEMA, "recipe": "tiny", "dataset": {"source": "synthetic"},
        "baseline": {"accuracy": 0.81, "params": 6500, "size_bytes": 90000,
                     "latency_ms": {"p50": 2.0, "p90": 2.5}, "device": "CPU (x86_64)",
                     "source": "tiny.keras",
                     "tflite_float32": {"size_bytes": len(files["float32"]),
                                        "gzip_bytes": len(files["float32"]) // 2}},
        "artifacts": artifacts,
        "stages": [{"kind": "prune", "seconds": 1.0, "epochs": 1, "final_sparsity": 0.5,
                    "per_layer_sparsity": {"conv/kernel": 0.5, "fc/kernel": 0.5}}],
        "timings": {"total_s": 1.0}, "environment": {"machine": "Linux x86_64"}, "notes": []}


@pytest.fixture
def run_dir(tmp_path, tflite_files, monkeypatch) -> Path:
    """A run folder on a CPU-only host without RAPL or NVML (forced, whatever this host has)."""
    monkeypatch.setattr(energy, "rapl_available", lambda root=None: (False, "no RAPL (test)"))
    monkeypatch.setattr(energy, "nvml_available", lambda i=0: (False, "no NVML (test)"))
    run = tmp_path / "run"
    (run / "artifacts").mkdir(parents=True)
    for fmt, blob in tflite_files.items():
        (run / "artifacts" / f"{fmt}.tflite").write_bytes(blob)
    (run / "report.json").write_text(json.dumps(_report(tflite_files)))
    return run


def _figures(obj):
    """Every dict with a ``method`` key anywhere in the report."""
    if isinstance(obj, dict):
        if "method" in obj and "value" in obj:
            yield obj
        for v in obj.values():
            yield from _figures(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _figures(v)


def _measure(run: Path, target: str, artifact: str, *, meter: dict | None = None,
             method: str = "measured-on-device") -> None:
    folder = run / "measurements" / target
    folder.mkdir(parents=True, exist_ok=True)
    runner = {"runner_version": "1", "runs": 100, "warmup": 10,
              "device": {"machine": "aarch64"}, "energy_mj": meter,
              "latency_ms": {"p50": 3.0, "p90": 3.4, "p99": 4.0, "min": 2.8}}
    (folder / f"{artifact}.json").write_text(json.dumps(
        {"method": method, "host": "pi@raspberrypi", "target": target, "runner": runner}))


# --- device_figures -----------------------------------------------------------------------


def test_every_energy_figure_is_labelled_estimated_with_a_range(run_dir):
    report = report_figures.device_figures(json.loads((run_dir / "report.json").read_text()), run_dir)
    figures = list(_figures(report))
    assert figures
    for fig in figures:
        assert fig["method"].startswith("estimated-"), fig
        assert fig["low"] <= fig["value"] <= fig["high"] and fig["source"]
    assert report["baseline"]["energy_mj"]["method"] == "estimated-ops"
    assert "baseline Keras model (float32) estimated from artifacts/float32.tflite" in \
        report["baseline"]["energy_mj"]["source"]
    for art in report["artifacts"]:
        assert art["energy_mj"]["method"] == "estimated-ops"
        assert "relative comparison only" in art["energy_mj"]["source"]
    host = report["energy"]["host"]
    assert host["rapl"] == {"available": False, "used": False, "reason": "no RAPL (test)"}


def test_macs_params_and_op_energy_order(run_dir, tflite_files):
    from targets.tflite_graph import read_model

    report = report_figures.device_figures(json.loads((run_dir / "report.json").read_text()), run_dir)
    graph = read_model(run_dir / "artifacts" / "int8.tflite")
    arts = {a["target"]: a for a in report["artifacts"]}
    assert arts["int8"]["macs"] == graph.macs()["total"] == 10 * 10 * 4 * 9 + 400 * 10
    assert arts["int8"]["params"] == graph.weight_stats()["params"] == 4 * 9 + 400 * 10
    assert report["baseline"]["macs"] == arts["float32"]["macs"]
    e = {k: a["energy_mj"]["value"] for k, a in arts.items()}
    assert e["int8"] < e["dynamic"] < e["float32"] == pytest.approx(e["float16"])


def test_devices_pair_artifacts_with_profiles_that_run_their_format(run_dir):
    from targets.spec import builtin_profiles

    report = report_figures.device_figures(json.loads((run_dir / "report.json").read_text()), run_dir)
    pairs = {(d["target"], d["artifact"]) for d in report["devices"]}
    expected = {(p.id, f) for p in builtin_profiles().values() for f in FORMATS
                if f in p.formats}
    assert pairs == expected
    assert ("coral-usb", "int8") in pairs and ("coral-usb", "float32") not in pairs
    for d in report["devices"]:
        assert d["latency_ms"]["method"] == "estimated-anchors"
        assert d["latency_ms"]["confidence"] in ("low", "medium", "high")
        assert d["energy_mj"]["method"] == "estimated-profile"


def test_targets_from_argument_and_from_recipe(run_dir):
    report = json.loads((run_dir / "report.json").read_text())
    only = report_figures.device_figures(report, run_dir, targets=["rpi4"])
    assert {d["target"] for d in only["devices"]} == {"rpi4"}
    (run_dir / "recipe.resolved.yaml").write_text(
        "targets:\n- float32\n- coral-usb\n- {device: rpi5, format: float32, name: r5}\n")
    named = report_figures.device_figures(report, run_dir)
    assert {d["target"] for d in named["devices"]} == {"coral-usb", "rpi5"}


def test_measurements_replace_estimates(run_dir):
    meter = {"value": 1.5, "gross": 4.0, "idle_w": 2.7, "active_w": 3.1, "windows": 3,
             "window_s": 10.0, "method": "measured-meter", "source": "python3 ina219.py",
             "per_window": [{"net_mj": 1.4}, {"net_mj": 1.5}, {"net_mj": 1.7}]}
    _measure(run_dir, "rpi4", "int8", meter=meter)
    _measure(run_dir, "rpi5", "int8")
    _measure(run_dir, "laptop", "float32", method="measured-on-host")
    report = report_figures.device_figures(json.loads((run_dir / "report.json").read_text()), run_dir)
    rows = {(d["target"], d["artifact"]): d for d in report["devices"]}
    rpi4 = rows[("rpi4", "int8")]
    assert rpi4["latency_ms"]["method"] == "measured-on-device"
    assert (rpi4["latency_ms"]["value"], rpi4["latency_ms"]["low"],
            rpi4["latency_ms"]["high"]) == (3.0, 2.8, 4.0)
    assert rpi4["energy_mj"] == {"value": 1.5, "low": 1.4, "high": 1.7,
                                 "method": "measured-meter",
                                 "source": rpi4["energy_mj"]["source"]}
    assert "python3 ina219.py" in rpi4["energy_mj"]["source"]
    rpi5 = rows[("rpi5", "int8")]  # no meter: profile power x measured latency, an estimate
    assert rpi5["latency_ms"]["method"] == "measured-on-device"
    assert rpi5["energy_mj"]["method"] == "estimated-profile"
    assert rpi5["energy_mj"]["low"] == pytest.approx(8.7 * 2.8)
    host = rows[("laptop", "float32")]
    assert host["latency_ms"]["method"] == "measured-on-host" and host["energy_mj"] is None
    assert "no profile 'laptop'" in host["energy_note"]
    assert rows[("rpi4", "float32")]["latency_ms"]["method"] == "estimated-anchors"


def test_bad_measurement_file_names_it(run_dir):
    folder = run_dir / "measurements" / "rpi4"
    folder.mkdir(parents=True)
    (folder / "int8.json").write_text('{"method": "guessed", "runner": {}}')
    with pytest.raises(BenchmarkError, match=r"int8.json: method must be one of .*"
                                             r"Received: 'guessed'"):
        report_figures.device_figures(json.loads((run_dir / "report.json").read_text()), run_dir)


def test_missing_artifact_and_not_a_run_folder(run_dir, tmp_path):
    (run_dir / "artifacts" / "int8.tflite").unlink()
    with pytest.raises(OutputError, match="artifact file missing"):
        report_files.refresh_report(run_dir)
    with pytest.raises(OutputError, match="not a run folder"):
        report_files.refresh_report(tmp_path)


def test_rapl_readable_gives_measured_host_figure(run_dir, monkeypatch):
    monkeypatch.setattr(energy, "rapl_available", lambda root=None: (True, "intel-rapl:0"))
    fake = energy.EnergyFigure(0.2, 0.1, 0.3, "measured-rapl", "RAPL (test)")
    monkeypatch.setattr(report_figures, "_host_rapl", lambda path: fake)
    report = report_figures.device_figures(json.loads((run_dir / "report.json").read_text()), run_dir)
    art = report["artifacts"][0]
    assert art["energy_mj"]["method"] == "measured-rapl"
    assert [f["method"] for f in art["energy_mj_all"]] == ["measured-rapl", "estimated-ops"]
    off = report_figures.device_figures(json.loads((run_dir / "report.json").read_text()), run_dir,
                                 measure=False)
    assert off["artifacts"][0]["energy_mj"]["method"] == "estimated-ops"


# --- files and HTML -----------------------------------------------------------------------


def test_refresh_writes_report_files(run_dir):
    report = report_files.refresh_report(run_dir)
    assert json.loads((run_dir / "report.json").read_text()) == report
    md = (run_dir / "report.md").read_text()
    assert "## Energy and devices" in md and "[estimated-ops]" in md
    assert "Host RAPL: unavailable: no RAPL (test)" in md
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")]  # no temp files left
    again = report_figures.device_figures(report, run_dir)  # idempotent on its own output
    assert again["devices"] == report["devices"]
    assert again["baseline"]["energy_mj"] == report["baseline"]["energy_mj"]


def test_html_is_self_contained_and_labels_every_energy_number(run_dir):
    report = report_files.refresh_report(run_dir)
    page = (run_dir / "report.html").read_text()
    assert '<img src="data:image/png;base64,' in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower() and "url(" not in page and "@import" not in page
    assert page.count('<img src="data:image/png;base64,') >= 5  # 2 trade-offs, energy, ops, sparsity
    for d in report["devices"]:
        assert report_markdown.fmt_energy(d["energy_mj"]["value"]) in page
    badges = re.findall(r'<span class="badge (\w+)">([\w-]+)</span>', page)
    energy_badges = [m for k, m in badges if m in ("estimated-ops", "estimated-profile")]
    assert len(energy_badges) >= 1 + len(report["artifacts"]) + len(report["devices"]) + 2
    assert all(k == "estimated" for k, m in badges if m.startswith("estimated"))


def test_html_without_matplotlib_keeps_tables(run_dir, monkeypatch):
    from compress.report.html import render_html

    report = report_figures.device_figures(json.loads((run_dir / "report.json").read_text()), run_dir)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    page = render_html(report)
    assert "Plots need matplotlib" in page and "<img" not in page
    assert "estimated-profile" in page


def test_pareto_front():
    from compress.report.html import pareto_front

    pts = [(10, 0.9), (5, 0.8), (20, 0.85), (1, 0.5), (5, 0.7)]
    assert pareto_front(pts) == [3, 1, 0]


def test_modules_do_not_import_tensorflow():
    code = ("import sys, compress.report.figures, compress.report.files, "
            "compress.report.html, compress.cli.report_cmd, "
            "compress.cli.compare_cmd, targets.energy\n"
            "print('tensorflow' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]


# --- CLI ----------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["report_cmd", "compare_cmd"])
def test_help_has_example(module):
    import importlib

    command = importlib.import_module(f"compress.cli.{module}").command
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0 and "Example:" in result.output


def test_report_command(run_dir, monkeypatch):
    from compress.cli.report_cmd import command

    opened = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    result = CliRunner().invoke(command, [str(run_dir), "--target", "rpi4", "--open"])
    assert result.exit_code == 0, result.output
    assert "| rpi4 | int8 |" in result.output and "wrote" in result.output
    assert opened == [(run_dir / "report.html").resolve().as_uri()]
    monkeypatch.setattr("compress.report.html.render_html", lambda report: "<html></html>")
    result = CliRunner().invoke(command, [str(run_dir), "--json", "--no-measure"])
    data = json.loads(result.output)
    assert {d["target"] for d in data["devices"]} > {"rpi4", "coral-usb"}


def test_report_command_errors_exit_1(tmp_path, capsys):
    from compress.cli import cli, main
    from compress.cli.report_cmd import command

    added = "report" not in cli.commands
    if added:
        cli.add_command(command)
    try:
        with pytest.raises(SystemExit) as info:
            main(["report", str(tmp_path)])
    finally:
        if added:
            cli.commands.pop("report", None)
    assert info.value.code == 1
    assert "Error: not a run folder" in capsys.readouterr().err


def test_compare_command(run_dir, tmp_path):
    from compress.cli.compare_cmd import command

    other = tmp_path / "other"
    shutil.copytree(run_dir, other)
    report = json.loads((other / "report.json").read_text())
    report["artifacts"][3]["accuracy"] += 0.02
    report["artifacts"][3]["size_bytes"] *= 2
    report["artifacts"].pop(0)
    (other / "report.json").write_text(json.dumps(report))
    stored = report_figures.device_figures(report_files.load_report(run_dir), run_dir)
    (run_dir / "report.json").write_text(json.dumps(stored))  # A has figures; B gets them

    result = CliRunner().invoke(command, [str(run_dir), str(other)])
    assert result.exit_code == 0, result.output
    block = result.output.split("\nint8\n")[1]
    assert "+2.00 pp" in block and "+100.0 %" in block and "[estimated-ops]" in block
    assert "absent" in result.output.split("\nfloat32\n")[1].split("\n\n")[0]
    data = json.loads(CliRunner().invoke(command, [str(run_dir), str(other), "--json"]).output)
    rows = {r["artifact"]: r for r in data["rows"]}
    assert rows["int8"]["delta"]["accuracy"]["value"] == pytest.approx(0.02)
    assert rows["int8"]["delta"]["energy_mj"]["ratio"] == pytest.approx(1.0)
    assert rows["float32"]["b"] is None and rows["float32"]["delta"] is None
    assert not (other / "report.html").exists()  # compare writes nothing


def test_compare_does_not_mix_methods():
    a = {"value": 1.0, "low": 1.0, "high": 1.0, "method": "measured-rapl", "source": "x"}
    b = dict(a, method="estimated-ops")
    assert "methods differ" in report_compare._delta("energy_mj", a, b)["note"]


# --- honest measurement methods -----------------------------------------------------------


def _load(run_dir: Path) -> dict:
    return json.loads((run_dir / "report.json").read_text())


@pytest.mark.parametrize("method,why", [(None, "has no method"),
                                        ("estimated-profile", "is an estimate"),
                                        ("estimated-ops", "is an estimate"),
                                        ("measured-rapl", "is not measured")])
def test_meter_figure_without_measured_meter_method_is_refused(run_dir, method, why):
    """A meter figure is never promoted to measured-meter: no method or an estimate is refused."""
    meter = {"value": 1.5, "source": "python3 ina219.py", "per_window": [{"net_mj": 1.5}]}
    if method is not None:
        meter["method"] = method
    _measure(run_dir, "rpi4", "int8", meter=meter)
    with pytest.raises(BenchmarkError, match=rf"int8.json: runner.energy_mj {why}: .* "
                                             rf"Received: method={method!r}"):
        report_figures.device_figures(_load(run_dir), run_dir)
    with pytest.raises(BenchmarkError, match="has no method"):  # through the refresh too
        meter.pop("method", None)
        _measure(run_dir, "rpi4", "int8", meter=meter)
        report_files.refresh_report(run_dir)


def test_emulated_timings_are_never_device_latency_or_energy(run_dir):
    plain = {(d["target"], d["artifact"]): d for d in report_figures.device_figures(
        _load(run_dir), run_dir, targets=["rpi4"])["devices"]}
    _measure(run_dir, "rpi4", "int8", method="emulated")
    _measure(run_dir, "rpi5", "int8", method="emulated")  # rpi5 not among the profiles below
    report = report_files.refresh_report(run_dir, targets=["rpi4"])
    rows = {(d["target"], d["artifact"]): d for d in report["devices"]}
    for key in (("rpi4", "int8"), ("rpi5", "int8")):
        row = rows[key]
        assert row["latency_ms"]["method"] == "estimated-anchors"
        assert row["energy_mj"]["method"] == "estimated-profile"
        emulated = row["emulated"]
        assert emulated["latency_ms"]["method"] == "emulated"
        assert emulated["latency_ms"]["value"] == 3.0 and emulated["latency_ms"]["low"] == 2.8
        assert "not a device latency" in emulated["latency_ms"]["source"]
        assert emulated["machine"] == "aarch64"
        assert emulated["measurement"] == f"measurements/{key[0]}/int8.json"
    # the device figures are the estimates, as if there were no emulated run
    assert {k: v for k, v in rows[("rpi4", "int8")].items() if k != "emulated"} == \
        plain[("rpi4", "int8")]
    for d in report["devices"]:
        assert d["latency_ms"]["method"] != "emulated"
        assert (d["energy_mj"] or {}).get("method") != "emulated"
    md = (run_dir / "report.md").read_text()
    assert md.count("[emulated]") == 2 and "not the device's latency" in md
    page = (run_dir / "report.html").read_text()
    assert page.count('<span class="badge emulated">emulated</span>') == 3  # callout + 2 rows
    assert "(not the device's latency)" in page


def test_emulated_measurement_with_energy_is_refused(run_dir):
    _measure(run_dir, "rpi4", "int8", method="emulated",
             meter={"value": 1.0, "method": "measured-meter", "per_window": []})
    with pytest.raises(BenchmarkError, match="under emulation is not a device's energy"):
        report_figures.device_figures(_load(run_dir), run_dir)
