"""The mixed format: per-layer int4 / int8 / float16 under an accuracy budget, measured on a
held-out part of the training split; its report, our runner, LiteRT's benchmark tool, and
``edgecompress sensitivity --kind precision``.

A tiny Keras 3 CNN (``test_int4.tiny_cnn``); real converter, quantizer and interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.compress.test_int4 import tiny_cnn

ROOT = Path(__file__).resolve().parents[2]
BUDGET = 1.0  # pp: a loose budget on 300 held-out samples (one sample is 0.33 pp)


@pytest.fixture(scope="module")
def data(small_data):
    from calibration import sources

    return sources.subsample(small_data, train=1024, test=256, seed=1)


@pytest.fixture(scope="module")
def model(data):
    return tiny_cnn(data)


@pytest.fixture(scope="module")
def run(model, data, tmp_path_factory):
    from compress.pipeline import compress_model

    recipe = {"name": "sub8", "seed": 3, "benchmark": {"warmup": 2, "runs": 10},
              "targets": ["int8", "int4", {"format": "mixed", "max_accuracy_drop": BUDGET,
                                           "holdout_samples": 300}]}
    return compress_model(model, recipe, data=data,
                          out_dir=tmp_path_factory.mktemp("mixed") / "run")


def test_mixed_report_gives_each_layer_precision_and_sensitivity_within_budget(run, data):
    from compress.artifacts.mixed import holdout_indices
    from compress.artifacts.quantizer import PRECISIONS

    arts = {a["target"]: a for a in run.report["artifacts"]}
    mixed = arts["mixed"]["precision"]
    layers = {row["layer"]: row for row in mixed["layers"]}
    assert set(layers) == {"conv1", "dw", "fc1", "logits"}
    assert all(row["precision"] in PRECISIONS for row in layers.values())
    assert layers["dw"]["precision"] != "int4" and layers["dw"]["sensitivity_pp"] is None
    for name in ("conv1", "fc1", "logits"):
        assert isinstance(layers[name]["sensitivity_pp"], float)
    info = mixed["mixed"]
    assert info["holdout"] == {"split": "train", "samples": 300, "seed": 3}
    assert info["budget_met"] and info["holdout_drop_pp"] <= BUDGET
    assert info["objective"] == "size" and info["max_accuracy_drop_pp"] == BUDGET
    # the held-out accuracies are the float32 file's on those TRAINING samples
    keep = holdout_indices(len(data.x_train), 300, seed=3)
    float_acc = _accuracy_of_float32(run.model, data.x_train[keep], data.y_train[keep])
    assert info["float_holdout_accuracy"] == pytest.approx(float_acc, abs=1e-9)
    # what the file holds (read from it) is what the accepted steps chose
    accepted = {s["change"].partition(" -> ")[0] for s in info["steps"] if s["accepted"]}
    assert {n for n, row in layers.items() if row["precision"] != "int8"} == accepted
    assert arts["mixed"]["io_dtype"] == "int8" and "precision" not in arts["int8"]


def _accuracy_of_float32(model, x, y) -> float:
    import tempfile

    from compress.artifacts import export
    from compress.recipe import TargetSpec
    from targets import runner

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.tflite"
        path.write_bytes(export.convert(model, TargetSpec("float32")))
        return runner.evaluate(str(path), x, y)["accuracy"]


def test_report_files_show_per_layer_bits(run):
    md = (run.out_dir / "report.md").read_text()
    html = (run.out_dir / "report.html").read_text()
    assert "Per-layer precision of `mixed`" in md and "Per-layer precision of `int4`" in md
    assert "| weight bits |" in md and "Budget met" in md
    assert "<h2>Per-layer precision</h2>" in html and "sensitivity (pp)" in html


@pytest.mark.parametrize("target", ["int4", "mixed"])
def test_our_runner_cli_gives_the_report_accuracy_and_litert_tool_runs_it(run, data, target,
                                                                          tmp_path):
    art = next(a for a in run.report["artifacts"] if a["target"] == target)
    path = run.out_dir / art["path"]
    npz = tmp_path / "test.npz"
    np.savez(npz, x=data.x_test, y=data.y_test)
    proc = subprocess.run([sys.executable, str(ROOT / "targets" / "runner.py"), str(path),
                           "--data", str(npz), "--runs", "5", "--warmup", "1", "--json", "-"],
                          capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert result["accuracy"] == art["accuracy"] and result["samples"] == len(data.y_test)
    out = tmp_path / "litert.json"
    subprocess.run([sys.executable, "-m", "ai_edge_litert.tools.benchmark_litert_model",
                    "--model", str(path), "--num_runs", "5", "--warmup_runs", "1",
                    "--num_threads", "1", "--result_json", str(out)],
                   capture_output=True, text=True, check=True)
    assert json.loads(out.read_text())["latency"]["num_runs"] == 5


def test_size_and_energy_objectives_each_lower_their_cost_within_budget(model, data):
    from compress.artifacts import export, mixed
    from compress.recipe import TargetSpec

    keep = mixed.holdout_indices(len(data.x_train), 300, seed=0)
    search = mixed.Search.start(export.convert(model, TargetSpec("float32")),
                                representative=data.x_train[:100], x=data.x_train[keep],
                                y=data.y_train[keep], layer_names=["conv1", "dw", "fc1",
                                                                   "logits"])
    scanned = mixed.scan(search)
    int8 = scanned["int8"]
    for objective in mixed_objectives():
        chosen = mixed.assign(search, scanned, max_accuracy_drop=BUDGET, objective=objective)
        cand = chosen["candidate"]
        assert chosen["budget_met"] and cand.drop_pp <= BUDGET
        assert cand.cost(objective) <= int8.cost(objective)
        # the returned file is the measured one
        assert len(chosen["blob"]) == cand.size_bytes


def mixed_objectives():
    from compress.recipe import MIXED_OBJECTIVES

    return MIXED_OBJECTIVES


def test_no_assignment_within_budget_keeps_all_int8_and_the_report_says_so(model, data):
    """Calibration with one huge sample wrecks the int8 input scale: every assignment (the
    file's input stays int8) loses far more than the budget."""
    from compress.artifacts import mixed
    from compress.recipe import TargetSpec
    from compress.report.precision import precision_markdown

    outlier = np.concatenate([data.x_train[:50], data.x_train[:1] * 1000.0])
    spec = TargetSpec("mixed", max_accuracy_drop=0.3, holdout_samples=200)
    blob, details = mixed.export(spec, model, representative=outlier, dataset=data, seed=0)
    info = details["mixed"]
    assert not info["budget_met"] and info["int8_drop_pp"] > 0.3
    assert {row["precision"] for row in details["layers"]} == {"int8"}
    assert "the all-int8 file is kept" in info["note"]
    assert any(s["change"].endswith("float16") and not s["accepted"] for s in info["steps"])
    text = "\n".join(precision_markdown({"artifacts": [
        {"target": "mixed", "format": "mixed", "precision": details}]}))
    assert "BUDGET NOT MET" in text and "all-int8 file is kept" in text


def test_holdout_indices_are_a_seeded_draw_of_at_most_half_the_training_split():
    from compress.artifacts.mixed import holdout_indices
    from compress.errors import DataError

    a = holdout_indices(1000, 300, seed=4)
    assert np.array_equal(a, holdout_indices(1000, 300, seed=4))
    assert not np.array_equal(a, holdout_indices(1000, 300, seed=5))
    assert len(a) == 300 and len(set(a.tolist())) == 300 and np.all(np.diff(a) > 0)
    assert len(holdout_indices(100, 5000)) == 50
    with pytest.raises(DataError, match="Received: 1 training samples"):
        holdout_indices(1, 10)


@pytest.mark.parametrize("target, match", [
    ({"format": "int8", "max_accuracy_drop": 0.3}, "apply to the mixed format only"),
    ({"format": "mixed", "max_accuracy_drop": -1}, r"\[0, 100\]. Received: max_accuracy_drop=-1"),
    ({"format": "mixed", "max_accuracy_drop": True}, "Received: max_accuracy_drop=True"),
    ({"format": "mixed", "objective": "speed"}, "objective=.speed"),
    ({"format": "mixed", "holdout_samples": 0}, "Received: holdout_samples=0"),
    ({"format": "mixed", "max_accuracy_drp": 0.3}, "max_accuracy_drop"),
])
def test_bad_mixed_options_are_recipe_errors(target, match):
    from compress.errors import RecipeError
    from compress.recipe import Recipe

    with pytest.raises(RecipeError, match=match) as info:
        Recipe.from_dict({"targets": [target]})
    assert "targets[0]" in str(info.value)


def test_mixed_target_reads_back_with_its_defaults_filled_in():
    from compress.recipe import Recipe

    recipe = Recipe.from_dict({"targets": ["mixed", {"format": "mixed", "name": "m-e",
                                                     "objective": "energy"}]})
    dumped = recipe.to_dict()["targets"]
    assert dumped[0] == {"format": "mixed", "io_dtype": None, "name": "mixed",
                         "max_accuracy_drop": 0.3, "objective": "size", "holdout_samples": 5000}
    assert dumped[1]["objective"] == "energy"
    assert Recipe.from_dict(recipe.to_dict()) == recipe


def test_sensitivity_command_prints_the_precision_scan(model, tmp_path):
    from click.testing import CliRunner

    from compress.cli import cli

    path = tmp_path / "m.keras"
    model.save(str(path))
    args = ["sensitivity", str(path), "--data", "fashion-mnist-subset", "--kind", "precision",
            "--train-samples", "600", "--holdout-samples", "200", "--calibration-samples",
            "50"]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    scan = json.loads(result.output[result.output.index("{"):])
    assert scan["kind"] == "precision" and scan["holdout"]["samples"] == 200
    assert scan["holdout"]["split"] == "train"
    rows = {r["layer"]: r for r in scan["layers"]}
    assert rows["dw"]["sensitivity_pp"] is None and rows["dw"]["int4_capable"] is False
    for name in ("conv1", "fc1", "logits"):
        r = rows[name]
        assert r["sensitivity_pp"] == pytest.approx(
            100 * (scan["int8_accuracy"] - r["int4_accuracy"]), abs=1e-3)
        assert r["int4_size_bytes"] < scan["int8_size_bytes"]
    text = CliRunner().invoke(cli, args)
    assert text.exit_code == 0 and "never the test split" in text.output
    assert "fc1" in text.output and "int8 only" in text.output
