"""The int4 format: int4 weights with int8 activations (LiteRT quantizer), int8 for the rest.

A tiny Keras 3 CNN (conv, depthwise conv, dense): real converter, real LiteRT quantizer, real
LiteRT interpreter. Coral refuses the format with the reason; a missing quantizer is one
error with what to install.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest


def tiny_cnn(data, seed: int = 0):
    """conv1 (Conv2D) -> dw (DepthwiseConv2D) -> pool -> fc1 -> logits: ~9.5k params."""
    import keras

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    inputs = keras.Input(data.x_train.shape[1:], name="image")
    x = layers.Conv2D(4, 3, activation="relu", name="conv1")(inputs)
    x = layers.DepthwiseConv2D(3, activation="relu", name="dw")(x)
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(16, activation="relu", name="fc1")(x)
    model = keras.Model(inputs, layers.Dense(data.num_classes, name="logits")(x))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data.x_train[:1024], data.y_train[:1024], epochs=2, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="module")
def model(small_data):
    return tiny_cnn(small_data)


@pytest.fixture(scope="module")
def files(model, small_data, tmp_path_factory):
    from compress.artifacts import export
    from compress.recipe import TargetSpec

    folder = tmp_path_factory.mktemp("int4")
    rep = small_data.x_train[:100]
    out = {}
    for fmt in ("int8", "int4"):
        out[fmt] = folder / f"{fmt}.tflite"
        out[fmt].write_bytes(export.convert(model, TargetSpec(fmt), representative=rep))
    return out


def test_int4_file_holds_int4_conv_and_dense_weights_int8_activations_and_int8_for_the_rest(
        files, model):
    from compress.artifacts import quantizer
    from targets.tflite_graph import read_model

    graph = read_model(files["int4"])
    info = quantizer.describe(graph, quantizer.kernel_layer_names(model))
    by = {row["layer"]: row for row in info["layers"]}
    assert set(by) == {"conv1", "dw", "fc1", "logits"}
    for name in ("conv1", "fc1", "logits"):  # what LiteRT runs with int4 weights
        assert (by[name]["weights_dtype"], by[name]["activations_dtype"]) == ("int4", "int8")
        assert by[name]["precision"] == "int4"
    assert by["dw"]["precision"] == "int8" and by["dw"]["weights_dtype"] == "int8"
    assert {o["op"]: o["precision"] for o in info["other_ops"]}["MAX_POOL_2D"] == "int8"
    # the stored int4 values use the 4-bit range, per output channel
    weight = next(t for t in graph.tensors if t.name == by["fc1"]["tensor"])
    values = graph.tensor_values(weight)
    assert values.min() >= -8 and values.max() <= 7 and len(weight.quantization["scale"]) == 16
    assert graph.input_details()[0]["dtype"] == "int8"


def test_int4_runs_in_our_runner_smaller_than_int8_with_close_accuracy(files, small_data):
    from targets import runner

    size4, size8 = files["int4"].stat().st_size, files["int8"].stat().st_size
    assert size4 < 0.8 * size8, (size4, size8)
    r8 = runner.evaluate(str(files["int8"]), small_data.x_test, small_data.y_test)
    r4 = runner.evaluate(str(files["int4"]), small_data.x_test, small_data.y_test)
    assert r8["accuracy"] > 0.5  # trained: the comparison means something
    assert r4["accuracy"] >= r8["accuracy"] - 0.06, (r4["accuracy"], r8["accuracy"])
    assert np.mean(r4["predictions"] == r8["predictions"]) >= 0.85


def test_int4_for_a_depthwise_layer_is_refused(files, model):
    from compress.artifacts import quantizer
    from compress.errors import ConversionError

    float_blob = _float_blob(model)
    layers = quantizer.weight_layers(float_blob, quantizer.kernel_layer_names(model))
    assert [(x.name, x.int4) for x in layers] == [("conv1", True), ("dw", False),
                                                  ("fc1", True), ("logits", True)]
    with pytest.raises(ConversionError, match="Received: int4 for dw"):
        quantizer.quantize(float_blob, {}, precision={"dw": "int4"}, layers=layers)
    with pytest.raises(ConversionError, match="Received: 'conv9'"):
        quantizer.quantize(float_blob, {}, precision={"conv9": "int4"}, layers=layers)


def _float_blob(model) -> bytes:
    from compress.artifacts import export
    from compress.recipe import TargetSpec

    return export.convert(model, TargetSpec("float32"))


@pytest.mark.parametrize("spec", [{"device": "coral-usb", "format": "int4"},
                                  {"device": "coral-usb", "format": "mixed"}])
def test_coral_targets_refuse_sub8bit_formats_with_the_reason(spec):
    from compress.errors import RecipeError
    from compress.recipe import Recipe

    with pytest.raises(RecipeError, match=r"targets\[0\].*Edge TPU runs int8 only.*Received"):
        Recipe.from_dict({"targets": [spec]})


def test_int4_without_the_quantizer_says_what_to_install(monkeypatch, model):
    from compress.artifacts import quantizer
    from compress.errors import ConversionError

    for name in list(sys.modules):
        if name.split(".")[0] in quantizer.MODULE_NAMES:
            monkeypatch.setitem(sys.modules, name, None)
    for name in quantizer.MODULE_NAMES:
        monkeypatch.setitem(sys.modules, name, None)  # None: import raises ImportError
    with pytest.raises(ConversionError, match="not installed") as info:
        quantizer.modules()
    assert "pip install litert-quantizer==0.11.0" in info.value.hint


@pytest.mark.slow
def test_convert_command_writes_an_int4_file(model, tmp_path):
    from click.testing import CliRunner

    from compress.cli import cli
    from targets.tflite_graph import read_model

    path = tmp_path / "m.keras"
    model.save(str(path))
    out = tmp_path / "m_int4.tflite"
    result = CliRunner().invoke(cli, ["convert", str(path), "--format", "int4", "--data",
                                      "fashion-mnist-subset", "--calibration-samples", "50",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert read_model(out).dtype_counts().get("int4") == 3


def test_int4_after_4_bit_qat_stores_exactly_the_trained_grid(model, small_data):
    """``qat: {weight_bits: 4}`` (keras3 engine) then ``int4``: the file's dequantized Dense
    kernels are the QAT model's kernels (the quantizer's per-channel scales are the grid's)."""
    from compress.artifacts import export
    from compress.recipe import TargetSpec
    from compress.run.outputs import _export_model
    from compress.session import Session
    from targets.tflite_graph import read_model

    session = Session({"engine": "keras3", "targets": ["int4"],
                       "stages": [{"kind": "qat", "epochs": 1, "weight_bits": 4}]})
    trained = session.train(model, small_data.x_train[:256], small_data.y_train[:256])
    chosen = _export_model(TargetSpec("int4"), trained)
    assert chosen is trained.quant_model
    graph = read_model(export.convert(chosen, TargetSpec("int4"),
                                      representative=small_data.x_train[:50]))
    for name in ("fc1", "logits"):
        tensor = next(t for t in graph.tensors if f"/{name}" in t.name and t.dtype == "int4")
        values = graph.tensor_values(tensor).astype(np.float64)
        dequantized = values * np.asarray(tensor.quantization["scale"])[:, None]
        kernel = np.asarray(trained.quant_model.get_layer(name).kernel).T  # (out, in)
        assert np.allclose(dequantized, kernel, rtol=0, atol=1e-6), name
