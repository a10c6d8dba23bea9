"""The pipeline end to end on a tiny model: the output folder and report.json contracts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compress.errors import DataError, ModelLoadError, OutputError


def test_output_folder_layout(tiny_run):
    out = tiny_run.out_dir
    for rel in ("report.json", "report.md", "recipe.resolved.yaml", "model/model.keras",
                "artifacts/float32.tflite", "artifacts/int8.tflite"):
        assert (out / rel).is_file(), rel
    assert not list(out.parent.glob(".*tmp-*")), "staging folder left behind"


def test_report_json_contract(tiny_run):
    report = json.loads((tiny_run.out_dir / "report.json").read_text())
    assert report["schema"] == "edgecompress.report/1"
    base = report["baseline"]
    for key in ("accuracy", "params", "size_bytes", "latency_ms", "device"):
        assert key in base
    assert set(base["latency_ms"]) >= {"p50", "p90"}
    assert [a["target"] for a in report["artifacts"]] == ["float32", "int8"]
    for art in report["artifacts"]:
        for key in ("target", "path", "size_bytes", "gzip_bytes", "sparsity", "accuracy",
                    "accuracy_delta", "latency_ms"):
            assert key in art, key
        assert (tiny_run.out_dir / art["path"]).is_file()
        assert art["accuracy_delta"] == pytest.approx(art["accuracy"] - base["accuracy"])
        assert art["gzip_bytes"] < art["size_bytes"]
    assert [s["kind"] for s in report["stages"]] == ["prune", "qat"]
    assert all(s["seconds"] > 0 for s in report["stages"])
    env = report["environment"]
    for key in ("python", "tensorflow", "tfmot", "litert", "machine"):
        assert env[key]


def test_sparsity_is_measured_from_the_tflite_weights(tiny_run):
    arts = {a["target"]: a for a in tiny_run.report["artifacts"]}
    # measured in the flatbuffer: close to the recipe's 0.5 but not copied from it
    assert 0.45 <= arts["int8"]["sparsity"] <= 0.55
    assert arts["int8"]["sparsity"] != 0.5 or arts["float32"]["sparsity"] != 0.5
    assert arts["int8"]["size_bytes"] < 0.35 * arts["float32"]["size_bytes"]


def test_int8_accuracy_close_to_float(tiny_run):
    arts = {a["target"]: a for a in tiny_run.report["artifacts"]}
    assert arts["int8"]["accuracy"] > 0.5  # a trained model, far above chance (0.1)
    # float32 is exported before QAT, int8 after QAT's extra epoch, which may well be better:
    # what matters is that integer inference costs little
    assert arts["int8"]["accuracy"] > arts["float32"]["accuracy"] - 0.08


def test_non_empty_output_refused(tiny_run, tiny_model_path, small_data):
    from compress.pipeline import compress_model

    with pytest.raises(OutputError, match="not empty"):
        compress_model(str(tiny_model_path), {"name": "x"}, data=small_data,
                       out_dir=tiny_run.out_dir)


def test_missing_and_corrupt_model(tmp_path, small_data):
    from compress.pipeline import compress_model

    with pytest.raises(ModelLoadError, match="model not found"):
        compress_model(str(tmp_path / "nope.keras"), {"name": "x"}, data=small_data,
                       out_dir=tmp_path / "o1")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an hdf5 file" * 10)
    with pytest.raises(ModelLoadError, match="could not load model"):
        compress_model(str(bad), {"name": "x"}, data=small_data, out_dir=tmp_path / "o2")
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_truncated_model_files_are_refused_clearly(tmp_path, tiny_model_path):
    from compress.models import load_model

    data = tiny_model_path.read_bytes()
    for cut in (len(data) // 2, 100):
        path = tmp_path / f"cut{cut}.keras"
        path.write_bytes(data[:cut])
        with pytest.raises(ModelLoadError, match=r"is not a valid \.keras file"):
            load_model(str(path))
    h5 = tmp_path / "m.h5"
    load_model(str(tiny_model_path))[0].save(str(h5))
    cut_h5 = tmp_path / "cut.h5"
    cut_h5.write_bytes(h5.read_bytes()[: h5.stat().st_size // 2])
    with pytest.raises(ModelLoadError, match="could not load model"):
        load_model(str(cut_h5))


def test_foreign_class_in_a_tf_keras_file_is_refused_unless_trusted(tmp_path, tiny_model_path):
    """A config naming a class from another module: importing it would run that module."""
    import json
    import zipfile

    from compress.models import load_model

    path = tmp_path / "foreign.keras"
    with zipfile.ZipFile(tiny_model_path) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            raw = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(raw)
                layer = config["config"]["layers"][-1]
                layer["module"], layer["class_name"] = "edgecompress_evil", "Payload"
                raw = json.dumps(config).encode()
            dst.writestr(item, raw)
    with pytest.raises(ModelLoadError, match=r"Payload from module edgecompress_evil\)") as info:
        load_model(str(path))
    assert "--trust-model-code" in info.value.hint
    with pytest.raises(ModelLoadError, match="could not load model"):  # trusted: import fails
        load_model(str(path), trust_model_code=True)


def test_data_that_does_not_fit(tmp_path, tiny_model_path):
    from calibration.sources import Dataset
    from compress.pipeline import compress_model

    rng = np.random.default_rng(0)
    wrong_shape = Dataset(name="x", source="test", x_train=rng.random((8, 32, 32, 1), "float32"),
                          y_train=np.zeros(8, np.int64),
                          x_test=rng.random((8, 32, 32, 1), "float32"),
                          y_test=np.zeros(8, np.int64), num_classes=10)
    with pytest.raises(DataError, match=r"input shape does not fit.*\(32, 32, 1\)"):
        compress_model(str(tiny_model_path), {"name": "x"}, data=wrong_shape,
                       out_dir=tmp_path / "o")
    too_many = Dataset(name="x", source="test", x_train=rng.random((8, 28, 28, 1), "float32"),
                       y_train=np.arange(8) + 10, x_test=rng.random((8, 28, 28, 1), "float32"),
                       y_test=np.zeros(8, np.int64), num_classes=18)
    with pytest.raises(DataError, match="18 classes"):
        compress_model(str(tiny_model_path), {"name": "x"}, data=too_many,
                       out_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_lambda_h5_is_refused_and_its_code_never_runs(tmp_path, monkeypatch):
    """An .h5 whose Lambda would write a file when executed: refused, exit 1, no file."""
    import subprocess
    import sys
    import textwrap

    marker = tmp_path / "pwned.txt"
    model_path = tmp_path / "evil.h5"
    build = textwrap.dedent(f"""
        from compress._keras import keras
        def evil(t):
            open({str(marker)!r}, "w").write("ran")
            return t
        inp = keras.Input((28, 28, 1))
        x = keras.layers.Lambda(evil, name="evil_lambda")(inp)
        out = keras.layers.Dense(10)(keras.layers.Flatten()(x))
        keras.Model(inp, out).save({str(model_path)!r})
        """)
    subprocess.run([sys.executable, "-c", build], check=True, capture_output=True)
    marker.unlink()  # building the model ran the function once; start clean
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: x\ntargets: [float32]\n")
    result = subprocess.run(
        [sys.executable, "-m", "compress.cli", "run", str(recipe), "--model", str(model_path),
         "--data", "fashion-mnist-subset", "--out", str(tmp_path / "out")],
        capture_output=True, text=True)
    assert result.returncode == 1
    assert "evil_lambda" in result.stderr and "--trust-model-code" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def test_every_energy_figure_says_how_it_was_obtained(tiny_run):
    """On a host without readable RAPL or NVML, no energy figure may claim to be measured."""
    from targets import energy

    figures = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "energy_mj" and isinstance(value, dict):
                    figures.append(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    report = json.loads((tiny_run.out_dir / "report.json").read_text())
    walk(report)
    assert len(figures) >= 3  # baseline, each artifact, each artifact x device
    for fig in figures:
        assert fig["method"] and fig["source"]
        assert fig["low"] <= fig["value"] <= fig["high"]
    if not energy.rapl_available()[0] and not energy.nvml_available()[0]:
        assert all(f["method"].startswith("estimated") for f in figures)
    html = (tiny_run.out_dir / "report.html").read_text()
    assert "data:image/png;base64," in html
    assert "src=\"http" not in html and "href=\"http" not in html
