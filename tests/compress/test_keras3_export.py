"""Converting Keras 3 models whose usual graph has an op without an int8 kernel
(``compress.artifacts.keras3_export``): Keras 3's LayerNormalization (ConvNeXt's) traces a
``NEG`` that the int8 quantizer leaves float; the export form makes the file full-integer and
computes the same function."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")


def _layer_norm_model():
    """A ConvNeXt-like stem and block: LayerNormalization over the channels and over all
    axes, a Dense on a 4-D tensor, GELU, a residual add."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(8, 3, strides=3, name="stem")(inp)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="ln_channels")(x)
    h = keras.layers.Dense(16, activation="gelu", name="expand")(x)
    h = keras.layers.Dense(8, name="project")(h)
    x = keras.layers.Add()([x, h])
    x = keras.layers.LayerNormalization(axis=[1, 2, 3], name="ln_all")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(10, name="logits")(x))
    # non-trivial gamma / beta, so that the test sees them applied on the right axes
    rng = np.random.default_rng(1)
    for name in ("ln_channels", "ln_all"):
        layer = model.get_layer(name)
        layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape).astype("float32"))
        layer.beta.assign(rng.normal(0, 0.2, layer.beta.shape).astype("float32"))
    return model


def test_layer_normalization_converts_to_a_full_integer_int8_file():
    from compress.artifacts import export
    from compress.recipe import TargetSpec
    from targets.tflite_graph import read_model

    model = _layer_norm_model()
    x = np.random.default_rng(0).random((16, 12, 12, 3), dtype=np.float32)
    graph = read_model(export.convert(model, TargetSpec("int8"), representative=x))
    assert set(graph.dtype_counts()) <= {"int8", "int32"}, graph.dtype_counts()
    assert "NEG" not in graph.op_counts() and "DEQUANTIZE" not in graph.op_counts()
    # the conversion leaves the model's own classes in place
    assert {type(layer) for layer in model.layers
            if layer.name.startswith("ln_")} == {keras.layers.LayerNormalization}


def test_the_export_form_of_layer_normalization_computes_the_same_function(tmp_path):
    from compress.artifacts import export
    from compress.artifacts.keras3_export import int8_friendly
    from compress.recipe import TargetSpec
    from targets import runner

    model = _layer_norm_model()
    x = np.random.default_rng(0).random((4, 12, 12, 3), dtype=np.float32)
    expected = np.asarray(model(x, training=False))
    with int8_friendly(model) as swapped:
        assert swapped == ["ln_channels", "ln_all"]
        np.testing.assert_allclose(np.asarray(model(x, training=False)), expected,
                                   rtol=1e-5, atol=1e-5)
    path = tmp_path / "float32.tflite"
    path.write_bytes(export.convert(model, TargetSpec("float32")))
    result = runner.evaluate(str(path), x, np.argmax(expected, axis=-1))
    np.testing.assert_allclose(result["scores"], expected, rtol=1e-4, atol=1e-4)


def test_a_static_batch_conversion_of_a_keras3_model_keeps_its_weights(tmp_path):
    """Targets with static shapes (Coral, mobile GPU) convert with batch 1: the Keras 3
    model's weights are frozen into the file (a concrete function kept them as resource
    reads: NaN outputs in float32, a failed calibration in int8)."""
    from compress.artifacts import export
    from compress.recipe import TargetSpec
    from targets import runner
    from targets.tflite_graph import read_model

    model = _layer_norm_model()
    x = np.random.default_rng(0).random((8, 12, 12, 3), dtype=np.float32)
    expected = np.asarray(model(x, training=False))
    path = tmp_path / "float32.tflite"
    path.write_bytes(export.convert(model, TargetSpec("float32", static_batch=True)))
    graph = read_model(path.read_bytes())
    assert graph.input_details()[0]["shape"] == [1, 12, 12, 3]
    assert "READ_VARIABLE" not in graph.op_counts()
    result = runner.evaluate(str(path), x, np.argmax(expected, axis=-1))
    np.testing.assert_allclose(result["scores"], expected, rtol=1e-4, atol=1e-4)
    blob = export.convert(model, TargetSpec("int8", static_batch=True), representative=x)
    assert set(read_model(blob).dtype_counts()) <= {"int8", "int32"}
