"""The ``prune_channels`` stage: recipe fields and their errors, a run end to end (cut, recovery
fine-tune, QAT, int8 export with the MACs counted from the .tflite graph), the unreachable
``keep_macs`` stopping before training, the device budget, distillation as recovery."""

from __future__ import annotations

import json

import pytest

from compress.errors import RecipeError
from compress.recipe import load_recipe

keras = pytest.importorskip("keras")

TARGETS = {"targets": ["float32", "int8"], "benchmark": {"warmup": 1, "runs": 3}}


def _stage(**kw):
    return load_recipe({"stages": [{"kind": "prune_channels", **kw}]}).stages[0]


def test_recipe_fields_and_defaults():
    cfg = _stage(keep_macs=0.5, importance="bn", allocation="sensitivity", round_to=4,
                 layers={"exclude": ["logits"]})
    assert (cfg.keep_macs, cfg.importance, cfg.allocation, cfg.round_to, cfg.epochs) == \
        (0.5, "bn", "sensitivity", 4, 2)
    assert _stage(budget={"device": "rpi4", "latency_ms": 0.2}).budget.latency_ms == 0.2


@pytest.mark.parametrize("fields, match", [
    ({}, "exactly one of keep_macs, ratio or budget. Received: none"),
    ({"keep_macs": 0.5, "ratio": 0.3}, "exactly one.*Received: keep_macs, ratio"),
    ({"keep_macs": 1.5}, r"keep_macs must be in \(0, 1\]. Received: keep_macs=1.5"),
    ({"ratio": 1.0}, r"ratio must be in \[0, 1\). Received: ratio=1.0"),
    ({"ratio": 0.3, "allocation": "sensitivity"}, "Received: ratio with allocation"),
    ({"keep_macs": 0.5, "importance": "l3"}, "importance"),
    ({"keep_macs": 0.5, "round_to": 0}, "round_to must be >= 1. Received: round_to=0"),
    ({"budget": {"device": "rpi4"}}, "latency_ms"),
    ({"budget": {"device": "rpi4", "latency_ms": -1}}, "must be > 0. Received: latency_ms=-1"),
    ({"keep_macs": 0.5, "keep_mac": 0.5}, "keep_mac"),
])
def test_recipe_errors_say_what_was_received(fields, match):
    with pytest.raises(RecipeError, match=match) as info:
        _stage(**fields)
    assert "stages[0]" in info.value.message


def test_prune_channels_cannot_follow_qat():
    with pytest.raises(RecipeError, match="prune_channels cannot follow qat"):
        load_recipe({"stages": [{"kind": "qat"}, {"kind": "prune_channels", "ratio": 0.5}]})


def _cnn():
    inp = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(16, 3, name="c1")(inp)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(16, 3, activation="relu", name="c2")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16, activation="relu", name="fc")(x)
    return keras.Model(inp, keras.layers.Dense(10, name="logits")(x), name="cnn")


@pytest.fixture(scope="module")
def data(small_data):
    from calibration import sources

    return sources.subsample(small_data, train=512, test=128, seed=0)


def _trained_cnn(data, epochs):
    """``_cnn`` trained on ``data`` (seed 0)."""
    keras.utils.set_random_seed(0)
    model = _cnn()
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="module")
def trained(data):
    return _trained_cnn(data, epochs=5)


def test_run_cuts_then_qat_then_int8(trained, data, tmp_path):
    """keep_macs 0.5 + qat + int8 on the keras3 engine: the .tflite MACs halve."""
    from compress import compress_model
    from targets.tflite_graph import read_model

    recipe = {"name": "pc", "engine": "keras3", **TARGETS, "stages": [
        {"kind": "prune_channels", "keep_macs": 0.5, "round_to": 4, "epochs": 1,
         "allocation": "sensitivity"},
        {"kind": "qat", "epochs": 1}]}
    result = compress_model(trained, recipe, data=data, out_dir=tmp_path / "run")
    report = json.loads((result.out_dir / "report.json").read_text())
    assert report["engine"] == "keras3"
    stage = report["stages"][0]
    assert stage["kind"] == "prune_channels" and stage["macs_kept"] <= 0.5
    assert stage["sensitivity"]["layers"] and stage["history"]["loss"]
    assert {g["layer"] for g in stage["groups"]} == {"c1", "c2", "fc"}
    assert all(g["kept"] % 4 == 0 for g in stage["groups"])
    int8 = read_model(result.out_dir / "artifacts/int8.tflite").macs()["total"]
    assert int8 == stage["macs_after"]  # counted from the .tflite graph: the same figure
    assert int8 <= 0.5 * stage["macs_before"]
    # the model that comes back is the smaller Keras 3 model
    assert isinstance(result.model, keras.Model) and result.model.get_layer("c1").filters < 16
    art = next(a for a in report["artifacts"] if a["format"] == "int8")
    assert art["accuracy"] > 0.5
    html = (result.out_dir / "report.html").read_text()
    assert "Channel pruning" in html and "sensitivity" in html.lower()
    md = (result.out_dir / "report.md").read_text()
    assert "| c1 |" in md


def test_unreachable_keep_macs_stops_before_training(trained, data, tmp_path):
    from compress import compress_model

    recipe = {"engine": "keras3", **TARGETS, "stages": [
        {"kind": "prune_channels", "keep_macs": 0.05, "round_to": 8, "epochs": 5,
         "layers": {"exclude": ["fc"]}}]}
    with pytest.raises(RecipeError, match=r"keep_macs=0.05 cannot be reached.*keeps 0\.\d{4}"):
        compress_model(trained, recipe, data=data, out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_budget_turns_a_latency_into_a_mac_budget():
    from compress.stages.prune_channels import Budget, budget_keep_macs
    from targets import energy
    from targets.spec import get_profile

    total = 20_000_000
    keep, info = budget_keep_macs(Budget("rpi4", 0.15), total)
    assert 0 < keep < 1 and info["method"] == "estimated-anchors"
    # the kept MACs are estimated at the budget (above the per-inference floor)
    est = energy.estimate_latency(int(keep * total), get_profile("rpi4"), "int8")["value"]
    assert est == pytest.approx(0.15, rel=1e-6)
    with pytest.raises(RecipeError, match="below the estimated per-inference overhead"):
        budget_keep_macs(Budget("rpi4", 0.01), total)


def test_distill_self_trains_the_recovery_with_the_teacher(trained, data, tmp_path):
    from compress import compress_model

    recipe = {"engine": "keras3", "targets": ["float32"], "benchmark": {"warmup": 1, "runs": 2},
              "stages": [{"kind": "distill", "student": "self"},
                         {"kind": "prune_channels", "ratio": 0.5, "round_to": 4,
                          "epochs": 1}]}
    result = compress_model(trained, recipe, data=data, out_dir=tmp_path / "run")
    stage = json.loads((result.out_dir / "report.json").read_text())["stages"][1]
    assert "distillation" in stage
    assert any("kd" in k or "distill" in k for k in stage["history"]), stage["history"].keys()
    assert result.model.get_layer("c2").filters == 8


@pytest.mark.slow
def test_tfmot_engine_cuts_a_tf_keras_model_then_tfmot_qat(tiny_model_path, data, tmp_path):
    """The cut is framework-generic: on the tfmot engine a tf_keras model is cut, fine-tuned,
    then goes through tfmot's QAT to int8 like any model."""
    from compress import compress_model
    from targets.tflite_graph import read_model

    recipe = {"engine": "tfmot", "targets": ["int8"], "benchmark": {"warmup": 1, "runs": 2},
              "stages": [{"kind": "prune_channels", "ratio": 0.5, "round_to": 4, "epochs": 3},
                         {"kind": "qat", "epochs": 1}]}
    result = compress_model(str(tiny_model_path), recipe, data=data, out_dir=tmp_path / "run")
    report = json.loads((result.out_dir / "report.json").read_text())
    assert report["engine"] == "tfmot"
    stage = report["stages"][0]
    assert all(g["kept"] == g["channels"] // 2 for g in stage["groups"]), stage["groups"]
    macs = read_model(result.out_dir / "artifacts/int8.tflite").macs()["total"]
    assert macs == stage["macs_after"] < 0.5 * stage["macs_before"]
    assert report["artifacts"][0]["accuracy"] > 0.3  # well above chance (0.1)


def test_budget_stage_cuts_to_the_estimated_mac_budget():
    """budget: {device, latency_ms} -> keep_macs from the profile's estimate; the cut meets it
    and the stage record says it is an estimate."""
    from compress.stages.base import StageContext
    from compress.stages.prune_channels import PruneChannels

    inp = keras.Input((48, 48, 3))
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="a")(inp)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="b")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(10, name="logits")(x))
    cfg = _stage(budget={"device": "rpi4", "latency_ms": 0.6}, round_to=8)
    stage = PruneChannels(cfg)
    small = stage.prepare(model, StageContext(steps_per_epoch=1))
    d = stage.details
    assert d["budget"]["method"] == "estimated-anchors" and d["budget"]["device"] == "rpi4"
    assert 0.2 < d["keep_macs"] < 0.9
    assert d["macs_after"] <= d["keep_macs"] * d["macs_before"]
    assert small.get_layer("b").filters < 64
