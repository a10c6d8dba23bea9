"""Tiny seeded .tflite models for the targets tests, converted once per session.

One architecture (Conv2D -> DepthwiseConv2D -> Add -> MaxPool -> Flatten -> Dense -> Dense),
small enough that its MACs are written out by hand in test_tflite_graph.py:

    input 12x12x1
    CONV_2D           3x3, 8 filters, valid  -> 10x10x8   10*10*8*3*3*1 = 7200
    DEPTHWISE_CONV_2D 3x3, same              -> 10x10x8   10*10*8*3*3   = 7200
    ADD               (conv + depthwise)     -> 10x10x8   800
    MAX_POOL_2D       2x2                    -> 5x5x8     200*2*2       = 800
    RESHAPE           (Flatten)              -> 200
    FULLY_CONNECTED   200 -> 16                           3200
    FULLY_CONNECTED   16 -> 10                            160
    SOFTMAX                                               total 19360
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

PRUNABLE_LAYERS = ("conv", "dw", "fc1", "fc2")


@dataclass(frozen=True)
class TinyModels:
    """Paths of the converted models and the labelled samples they were trained on."""

    float32: Path
    dynamic_range: Path
    int8: Path            # full integer, int8 input and output
    float16: Path
    pruned_float32: Path  # exactly 50 % of every kernel is 0.0
    pruned_int8: Path
    pruned_float16: Path
    pruned_sparse: Path   # TFLite's compressed sparse format (DENSIFY ops)
    x: np.ndarray         # (200, 12, 12, 1) float32 held-out samples
    y: np.ndarray         # (200,) int labels
    npz: Path             # x and y saved with numpy.savez


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise plus a bright 3x3 patch whose position encodes the class (learnable in seconds)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = rng.normal(0.0, 0.3, (n, 12, 12, 1)).astype(np.float32)
    for k in range(10):
        r, c = divmod(k, 4)
        x[y == k, r * 4:r * 4 + 3, c * 3:c * 3 + 3, 0] += 1.0
    return x, y


def _build(keras):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 1))
    a = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(inputs)
    b = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw")(a)
    s = keras.layers.Add()([a, b])
    p = keras.layers.MaxPooling2D(2)(s)
    f = keras.layers.Flatten()(p)
    d = keras.layers.Dense(16, activation="relu", name="fc1")(f)
    out = keras.layers.Dense(10, activation="softmax", name="fc2")(d)
    return keras.Model(inputs, out)


def _prune_half(model) -> None:
    """Zero exactly half of every kernel; keep the rest far from 0 so int8 keeps them non-zero."""
    rng = np.random.default_rng(1)
    for name in PRUNABLE_LAYERS:
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        n = kernel.size
        values = rng.uniform(0.5, 1.0, n) * rng.choice([-1.0, 1.0], n)
        values[rng.permutation(n)[: n // 2]] = 0.0
        layer.set_weights([values.reshape(kernel.shape).astype(np.float32), bias])


def _convert(tf, model, mode: str, x: np.ndarray) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "sparse":
        converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        converter.representative_dataset = lambda: ([x[i:i + 1]] for i in range(64))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with warnings.catch_warnings():
        # int8 I/O without input statistics: expected, the representative dataset covers it.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return converter.convert()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> TinyModels:
    """Trains the tiny model 4 epochs (a few seconds) and converts it eight ways."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"  # before TensorFlow loads: Keras 2 (tf_keras)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import tf_keras as keras

    out = tmp_path_factory.mktemp("tflite")
    x_train, y_train = _synthetic(512, seed=0)
    x_test, y_test = _synthetic(200, seed=1)
    model = _build(keras)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=4, batch_size=32, verbose=0)
    pruned = _build(keras)
    _prune_half(pruned)

    def write(name: str, m, mode: str) -> Path:
        path = out / f"{name}.tflite"
        path.write_bytes(_convert(tf, m, mode, x_train))
        return path

    npz = out / "samples.npz"
    np.savez(npz, x=x_test, y=y_test)
    return TinyModels(
        float32=write("float32", model, "float32"),
        dynamic_range=write("dynamic_range", model, "dynamic_range"),
        int8=write("int8", model, "int8"),
        float16=write("float16", model, "float16"),
        pruned_float32=write("pruned_float32", pruned, "float32"),
        pruned_int8=write("pruned_int8", pruned, "int8"),
        pruned_float16=write("pruned_float16", pruned, "float16"),
        pruned_sparse=write("pruned_sparse", pruned, "sparse"),
        x=x_test, y=y_test, npz=npz)
