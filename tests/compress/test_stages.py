"""Stages on tiny real models: pruning reaches its target, m:n structure, QAT errors, flattening."""

from __future__ import annotations

import numpy as np
import pytest

from compress.errors import RecipeError, UnsupportedLayerError
from tests.conftest import seeded


def _keras():
    from compress._keras import keras

    return keras


def _tiny_cnn(name="tiny"):
    keras = _keras()
    inp = keras.Input((12, 12, 1), name="image")
    x = keras.layers.Conv2D(8, 3, use_bias=False, name="conv")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.Flatten(name="flat")(x)
    out = keras.layers.Dense(4, name="head")(x)
    return keras.Model(inp, out, name=name)


def _train(recipe, model, n=64):
    from compress.session import Session

    x = seeded(n, tuple(model.inputs[0].shape[1:]))
    y = np.arange(n) % model.outputs[0].shape[-1]
    return Session(recipe).train(model, x, y)


def test_prune_reaches_target_and_reports_per_layer():
    trained = _train({"name": "p", "stages": [{"kind": "prune", "final_sparsity": 0.75,
                                                "epochs": 2}],
                      "training": {"batch_size": 8}}, _tiny_cnn())
    details = trained.stages[0].details
    assert details["pruned_layers"] == ["conv", "head"]
    assert details["measured_sparsity"] == pytest.approx(0.75, abs=0.01)
    kernel = trained.float_model.get_layer("head").kernel.numpy()
    assert np.mean(kernel == 0) == pytest.approx(0.75, abs=0.01)


def test_prune_layer_selection_reports_left_out_layers():
    trained = _train({"name": "p", "stages": [{"kind": "prune", "final_sparsity": 0.5,
                                                "epochs": 1, "layers": {"exclude": ["head"]}}],
                      "training": {"batch_size": 8}}, _tiny_cnn())
    details = trained.stages[0].details
    assert details["pruned_layers"] == ["conv"]
    assert {"layer": "head", "reason": "not selected by layers:"} in details["skipped_layers"]
    assert np.mean(trained.float_model.get_layer("head").kernel.numpy() == 0) < 0.1


def test_prune_with_nothing_selected_is_a_recipe_error():
    with pytest.raises(RecipeError, match="no layer was selected"):
        _train({"name": "p", "stages": [{"kind": "prune", "epochs": 1,
                                          "layers": {"include": ["nothing*"]}}]}, _tiny_cnn())


def test_m_by_n_structure():
    trained = _train({"name": "p", "stages": [{"kind": "prune", "structure": "2:4",
                                                "epochs": 1}],
                      "training": {"batch_size": 8}}, _tiny_cnn())
    kernel = trained.float_model.get_layer("head").kernel.numpy()  # (in, out)
    blocks = (kernel.T.reshape(kernel.shape[1], -1, 4) != 0).sum(axis=-1)
    assert blocks.max() <= 2  # at most 2 non-zeros in every block of 4 along the input axis


def test_caller_model_is_not_modified():
    model = _tiny_cnn()
    before = [w.copy() for w in model.get_weights()]
    _train({"name": "p", "stages": [{"kind": "prune", "final_sparsity": 0.5, "epochs": 1}]},
           model)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_qat_after_prune_preserves_sparsity():
    trained = _train({"name": "pq", "stages": [
        {"kind": "prune", "final_sparsity": 0.5, "epochs": 1},
        {"kind": "qat", "epochs": 1}], "training": {"batch_size": 8}}, _tiny_cnn())
    assert trained.stages[1].details["preserve_sparsity"] is True
    q = trained.quant_model
    head = next(layer for layer in q.layers if layer.name.endswith("head"))
    kernel = next(w for w in head.weights if w.name.endswith("kernel:0")).numpy()
    assert np.mean(kernel == 0) == pytest.approx(0.5, abs=0.02)


def test_qat_unsupported_layer_names_it_and_says_what_to_do():
    keras = _keras()
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    x = keras.layers.BatchNormalization(name="bn_after_relu")(x)
    out = keras.layers.Dense(2, name="head")(keras.layers.Flatten()(x))
    with pytest.raises(UnsupportedLayerError, match="'bn_after_relu' \\(BatchNormalization\\)") \
            as info:
        _train({"name": "q", "stages": [{"kind": "qat", "epochs": 1}]}, keras.Model(inp, out))
    assert "directly after a Conv2D" in info.value.hint
    assert "exclude: [bn_after_relu]" in info.value.hint


def test_qat_rescaling_and_nested_model_are_handled():
    keras = _keras()
    inner_in = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, name="inner_conv")(inner_in)
    base = keras.Model(inner_in, keras.layers.ReLU(name="inner_relu")(h), name="base")
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(1 / 255.0, name="scale")(inp)
    x = base(x)
    out = keras.layers.Dense(2, name="head")(keras.layers.GlobalAveragePooling2D()(x))
    trained = _train({"name": "q", "stages": [{"kind": "qat", "epochs": 1}],
                      "training": {"batch_size": 8}}, keras.Model(inp, out), n=16)
    assert "scale" in trained.stages[0].details["output_only_layers"]
    names = [layer.name for layer in trained.quant_model.layers]
    assert any("inner_conv" in n for n in names)  # the nested model's layers were reached


def test_flatten_preserves_outputs():
    from compress.models.graph import flatten_nested

    keras = _keras()
    sub = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, name="d1"),
                            keras.layers.ReLU(name="r1")], name="sub")
    inp = keras.Input((6,))
    a = sub(inp)
    b = keras.layers.Dense(5, name="skip")(inp)
    out = keras.layers.Dense(3, name="head")(keras.layers.Add(name="add")([a, b]))
    model = keras.Model(inp, out)
    flat = flatten_nested(model)
    assert not any(isinstance(layer, keras.Model) for layer in flat.layers)
    x = seeded(4, (6,))
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(flat(x)), atol=1e-6)


@pytest.mark.parametrize("samples", [8, 16])  # one and two training steps in all
def test_prune_reaches_target_with_one_or_two_training_steps(samples):
    """Steps count from 0: the schedule ends on a step that runs (the keras3 engine's
    counterpart is in test_keras3_engine.py)."""
    trained = _train({"name": "p", "stages": [{"kind": "prune", "final_sparsity": 0.5,
                                                "epochs": 1}],
                      "training": {"batch_size": 8}}, _tiny_cnn(), n=samples)
    assert trained.stages[0].details["measured_sparsity"] == pytest.approx(0.5, abs=0.01)
