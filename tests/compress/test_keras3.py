"""The Keras 3 bridge: Keras 3 models in, tf_keras for tfmot, Keras 3 models out.

Real Keras 3 (installed with TensorFlow 2.21), real tf_keras and tfmot. Weights, including
BatchNormalization's moving statistics, are randomized before bridging, so a weight that is
not copied (or copied to the wrong place) shows in the outputs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from compress.models import keras3
from compress.models import keras3_config
from compress.errors import ModelLoadError, UnsupportedLayerError

ROOT = Path(__file__).resolve().parents[2]
FOUNDATION_RECIPE = ROOT / "examples" / "recipe.yaml"


def _bridged_recipe(folder: Path) -> Path:
    """The foundation recipe on the tfmot engine: a Keras 3 model goes through the bridge
    (``engine: auto`` would train it natively on the keras3 engine)."""
    path = folder / "recipe-tfmot.yaml"
    path.write_text(FOUNDATION_RECIPE.read_text() + "engine: tfmot\n")
    return path
BRIDGE_TOLERANCE = 1e-5  # the figure for these models (the run-time check allows 1e-4)


@pytest.fixture(scope="module")
def k3():
    import keras  # Keras 3

    return keras


def _randomize(model, seed: int = 0) -> None:
    """Random weights everywhere, BN variances positive, so every copied weight matters."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if hasattr(layer, "layers"):
            _randomize(layer, seed + 1)
            continue
        values = []
        for w in layer.weights:
            shape = tuple(w.shape)
            if "variance" in w.path:
                values.append(rng.uniform(0.5, 1.5, shape).astype(np.float32))
            else:
                values.append(rng.normal(0, 0.3, shape).astype(np.float32))
        if values:
            layer.set_weights(values)


def _conv_model(k3):
    """Conv2D, DepthwiseConv2D, SeparableConv2D, BN, ReLU/ReLU6/Activation, pooling, Add,
    Concatenate, Dropout, Reshape, Flatten, ZeroPadding2D, Rescaling, Dense (Functional)."""
    L = k3.layers
    inp = k3.Input((28, 28, 1), name="image")
    x = L.Rescaling(2.0, offset=-1.0)(inp)
    x = L.ZeroPadding2D(1)(x)
    x = L.Conv2D(8, 3, name="conv")(x)
    x = L.BatchNormalization(name="conv_bn")(x)
    x = L.ReLU(name="conv_relu")(x)
    a = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    a = L.BatchNormalization(name="dw_bn")(a)
    a = L.ReLU(6.0, name="dw_relu6")(a)
    b = L.SeparableConv2D(8, 3, padding="same", name="sep")(x)
    b = L.Activation("relu", name="sep_act")(b)
    x = L.Add(name="add")([a, b])
    x = L.Concatenate(name="concat")([x, a])
    x = L.MaxPooling2D(name="maxpool")(x)
    x = L.AveragePooling2D(2, name="avgpool")(x)
    x = L.Dropout(0.25, name="dropout")(x)
    x = L.Reshape((7 * 7 * 16,), name="reshape")(x)
    x = L.Reshape((7, 7, 16), name="unreshape")(x)
    x = L.Flatten(name="flatten")(x)
    out = L.Dense(10, activation="softmax", name="classifier")(x)
    return k3.Model(inp, out, name="conv_model")


def _sequential_model(k3):
    """The same kinds of layers as a Sequential, with GlobalAveragePooling2D."""
    L = k3.layers
    return k3.Sequential([
        k3.Input((28, 28, 1)),
        L.Conv2D(16, 3, strides=2, padding="same", use_bias=False),
        L.BatchNormalization(),
        L.Activation("relu6"),
        L.DepthwiseConv2D(3, padding="same", use_bias=False),
        L.BatchNormalization(),
        L.ReLU(),
        L.Conv2D(16, 1),
        L.GlobalAveragePooling2D(),
        L.Dropout(0.1),
        L.Dense(10),
    ], name="seq_model")


def _mobilenet_model(k3):
    """Transfer learning: a nested MobileNetV2 (alpha 0.35, 96x96, weights=None) base."""
    L = k3.layers
    base = k3.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, include_top=False,
                                       weights=None)
    inp = k3.Input((96, 96, 3))
    x = base(inp)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dropout(0.2)(x)
    out = L.Dense(4)(x)
    return k3.Model(inp, out, name="transfer")


def _inputs(model, n: int = 16, seed: int = 1) -> np.ndarray:
    shape = tuple(model.inputs[0].shape)[1:]
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


def _check_twin(original, twin, x) -> float:
    ref = np.asarray(original(x, training=False))
    got = np.asarray(twin(x, training=False))
    assert ref.shape == got.shape
    diff = float(np.max(np.abs(ref - got)))
    assert diff <= BRIDGE_TOLERANCE, diff
    return diff


# --- bridging ------------------------------------------------------------------------------


@pytest.mark.parametrize("build", [_conv_model, _sequential_model])
def test_layers_bridge_with_matching_outputs(k3, build):
    from compress import _keras

    model = build(k3)
    _randomize(model)
    twin, record = keras3.to_tf_keras(model)
    assert isinstance(twin, _keras.keras.Model) and not keras3.is_keras3_model(twin)
    assert record["max_abs_diff"] <= BRIDGE_TOLERANCE
    _check_twin(model, twin, _inputs(model))
    assert [w.shape for w in twin.weights] == [tuple(w.shape) for w in model.weights]


def test_nested_mobilenetv2_is_flattened_so_qat_reaches_its_layers(k3):
    model = _mobilenet_model(k3)
    _randomize(model)
    twin, record = keras3.to_tf_keras(model)
    names = [layer.name for layer in twin.layers]
    assert "mobilenetv2_0.35_96" not in names  # flattened: no nested model left
    assert "block_16_project" in names and "Conv1" in names
    assert not any(hasattr(layer, "layers") for layer in twin.layers)
    assert record["layers"] == len(keras3._leaves(model))
    _check_twin(model, twin, _inputs(model, n=4))


def test_nested_sequential_inside_functional(k3):
    L = k3.layers
    block = k3.Sequential([k3.Input((8,)), L.Dense(6, activation="relu"), L.Dense(4)],
                          name="block")
    inp = k3.Input((8,))
    out = L.Dense(3)(L.Concatenate()([block(inp), inp]))
    model = k3.Model(inp, out)
    _randomize(model)
    twin, _ = keras3.to_tf_keras(model)
    _check_twin(model, twin, _inputs(model))


def _one_layer(k3, name: str):
    """A small model around one layer of class ``name`` (every class the table supports)."""
    L = k3.layers
    seq = {  # input shape, layer
        "Conv1D": ((12, 3), lambda: L.Conv1D(4, 3)),
        "Conv2D": ((8, 8, 3), lambda: L.Conv2D(4, 3, dilation_rate=2)),
        "Conv3D": ((6, 6, 6, 2), lambda: L.Conv3D(3, 3)),
        "Conv1DTranspose": ((12, 3), lambda: L.Conv1DTranspose(4, 3, strides=2)),
        "Conv2DTranspose": ((8, 8, 3), lambda: L.Conv2DTranspose(4, 3, strides=2)),
        "DepthwiseConv2D": ((8, 8, 3), lambda: L.DepthwiseConv2D(3, depth_multiplier=2)),
        "SeparableConv1D": ((12, 3), lambda: L.SeparableConv1D(4, 3)),
        "SeparableConv2D": ((8, 8, 3), lambda: L.SeparableConv2D(4, 3)),
        "Dense": ((5,), lambda: L.Dense(4, activation="tanh")),
        "BatchNormalization": ((8, 8, 3), lambda: L.BatchNormalization()),
        "LayerNormalization": ((6, 4), lambda: L.LayerNormalization()),
        "Activation": ((5,), lambda: L.Activation("sigmoid")),
        "ReLU": ((5,), lambda: L.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.2)),
        "PReLU": ((5,), lambda: L.PReLU()),
        "ELU": ((5,), lambda: L.ELU(alpha=0.7)),
        "Softmax": ((5,), lambda: L.Softmax()),
        "LeakyReLU": ((5,), lambda: L.LeakyReLU(negative_slope=0.2)),
        "MaxPooling1D": ((12, 3), lambda: L.MaxPooling1D()),
        "MaxPooling2D": ((8, 8, 3), lambda: L.MaxPooling2D(3, strides=2, padding="same")),
        "AveragePooling1D": ((12, 3), lambda: L.AveragePooling1D(2)),
        "AveragePooling2D": ((8, 8, 3), lambda: L.AveragePooling2D(2)),
        "GlobalAveragePooling1D": ((12, 3), lambda: L.GlobalAveragePooling1D()),
        "GlobalAveragePooling2D": ((8, 8, 3), lambda: L.GlobalAveragePooling2D(keepdims=True)),
        "GlobalMaxPooling1D": ((12, 3), lambda: L.GlobalMaxPooling1D()),
        "GlobalMaxPooling2D": ((8, 8, 3), lambda: L.GlobalMaxPooling2D()),
        "Dropout": ((5,), lambda: L.Dropout(0.5)),
        "GaussianNoise": ((5,), lambda: L.GaussianNoise(0.3)),
        "GaussianDropout": ((5,), lambda: L.GaussianDropout(0.3)),
        "SpatialDropout1D": ((12, 3), lambda: L.SpatialDropout1D(0.3)),
        "SpatialDropout2D": ((8, 8, 3), lambda: L.SpatialDropout2D(0.3)),
        "Reshape": ((8, 8, 3), lambda: L.Reshape((16, 12))),
        "Flatten": ((8, 8, 3), lambda: L.Flatten()),
        "Permute": ((8, 6, 3), lambda: L.Permute((2, 1, 3))),
        "ZeroPadding1D": ((12, 3), lambda: L.ZeroPadding1D(2)),
        "ZeroPadding2D": ((8, 8, 3), lambda: L.ZeroPadding2D(((1, 2), (0, 1)))),
        "Cropping1D": ((12, 3), lambda: L.Cropping1D((1, 2))),
        "Cropping2D": ((8, 8, 3), lambda: L.Cropping2D(((1, 0), (2, 1)))),
        "UpSampling1D": ((12, 3), lambda: L.UpSampling1D(2)),
        "UpSampling2D": ((8, 8, 3), lambda: L.UpSampling2D(2, interpolation="bilinear")),
        "Rescaling": ((5,), lambda: L.Rescaling(0.5, offset=0.25)),
        "Normalization": ((5,), lambda: L.Normalization(mean=0.5, variance=2.0)),
        "Identity": ((5,), lambda: L.Identity()),
    }
    if name in seq:
        shape, make = seq[name]
        return k3.Sequential([k3.Input(shape), make()])
    merge = {"Add": L.Add, "Subtract": L.Subtract, "Multiply": L.Multiply,
             "Average": L.Average, "Maximum": L.Maximum, "Minimum": L.Minimum,
             "Concatenate": L.Concatenate}
    if name in merge:
        inp = k3.Input((6,))
        return k3.Model(inp, merge[name]()([L.Dense(4)(inp), L.Dense(4)(inp)]))
    if name == "InputLayer":
        return k3.Sequential([k3.Input((5,)), L.Dense(2)])
    raise AssertionError(f"no test model for the supported layer {name}")


@pytest.mark.parametrize("name", sorted(keras3_config.SUPPORTED))
def test_every_supported_layer_bridges_with_matching_outputs(k3, name):
    model = _one_layer(k3, name)
    assert name in {type(layer).__name__ for layer in model.layers} | {"InputLayer"}
    _randomize(model)
    twin, _ = keras3.to_tf_keras(model)
    _check_twin(model, twin, (_inputs(model) - 0.3) * 3)
    back, _ = keras3.to_keras3(twin)  # and the way back
    _check_twin(model, back, (_inputs(model) - 0.3) * 3)


@pytest.mark.parametrize("activation", keras3_config.ACTIVATIONS)
def test_every_translated_activation_computes_the_same(k3, activation):
    model = k3.Sequential([k3.Input((6,)), k3.layers.Dense(5, activation=activation)])
    _randomize(model)
    twin, _ = keras3.to_tf_keras(model)
    x = (_inputs(model) - 0.5) * 6  # negative and positive inputs
    _check_twin(model, twin, x)


def test_initializers_regularizers_constraints_and_dtype_policy_translate(k3):
    from compress import _keras

    layer = k3.layers.Dense(4, kernel_initializer=k3.initializers.HeNormal(seed=3),
                            kernel_regularizer=k3.regularizers.L2(1e-3),
                            kernel_constraint=k3.constraints.MaxNorm(2.0),
                            bias_initializer="zeros", name="d")
    model = k3.Sequential([k3.Input((3,)), layer])
    twin, _ = keras3.to_tf_keras(model)
    d = twin.get_layer("d")
    assert isinstance(d.kernel_regularizer, _keras.keras.regularizers.L2)
    assert isinstance(d.kernel_constraint, _keras.keras.constraints.MaxNorm)
    assert isinstance(d.kernel_initializer, _keras.keras.initializers.HeNormal)
    assert d.dtype == "float32"


def test_way_back_saves_a_keras3_file_that_reloads_equal(k3, tmp_path):
    model = _conv_model(k3)
    _randomize(model)
    twin, _ = keras3.to_tf_keras(model)
    x = _inputs(model)
    reloaded, record = keras3.save_keras3(twin, tmp_path / "back.keras", samples=x)
    meta = json.loads(zipfile.ZipFile(tmp_path / "back.keras").read("metadata.json"))
    assert meta["keras_version"].startswith("3.")
    assert keras3.is_keras3_model(reloaded)
    assert record["max_abs_diff"] <= BRIDGE_TOLERANCE and record["samples"] == len(x)
    _check_twin(model, reloaded, x)


# --- refusals ------------------------------------------------------------------------------


def _subclassed(k3):
    class TinyNet(k3.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = k3.layers.Dense(3)

        def call(self, x):
            return self.dense(x) * 2.0

    model = TinyNet(name="tiny_net")
    model(np.zeros((1, 4), np.float32))
    return model


def _with_custom_layer(k3, cls_name: str = "ScaleBy"):
    @k3.saving.register_keras_serializable(package="edgecompress_tests", name=cls_name)
    class ScaleBy(k3.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    inp = k3.Input((4,))
    x = k3.layers.Dense(3, name="dense")(inp)
    out = ScaleBy(3.0, name="scale")(x)
    return k3.Model(inp, out, name="with_custom")


def test_subclassed_model_is_refused_with_what_to_do(k3):
    with pytest.raises(UnsupportedLayerError, match=r"'tiny_net' \(TinyNet\) is a subclassed "
                                                    r"model") as info:
        keras3.to_tf_keras(_subclassed(k3))
    assert "Functional API" in info.value.hint


def test_custom_layer_is_refused_naming_its_path_and_class(k3):
    with pytest.raises(UnsupportedLayerError,
                       match=r"layer 'with_custom/scale' \(ScaleBy\) is a custom layer") as info:
        keras3.to_tf_keras(_with_custom_layer(k3))
    assert "register_translation('ScaleBy'" in info.value.hint


def test_registered_translation_carries_a_custom_layer(k3):
    from compress import _keras

    model = _with_custom_layer(k3)
    _randomize(model)
    keras3.register_translation(
        "ScaleBy", lambda cfg: _keras.keras.layers.Rescaling(cfg["factor"], name=cfg["name"]))
    try:
        twin, record = keras3.to_tf_keras(model)
    finally:
        keras3_config.unregister("ScaleBy")
    assert type(twin.get_layer("scale")).__name__ == "Rescaling"
    _check_twin(model, twin, _inputs(model))


def test_a_translation_that_computes_something_else_fails_the_check(k3):
    from compress import _keras

    keras3.register_translation(  # the wrong factor: the outputs disagree
        "ScaleBy", lambda cfg: _keras.keras.layers.Rescaling(cfg["factor"] + 1,
                                                             name=cfg["name"]))
    try:
        with pytest.raises(ModelLoadError, match=r"does not compute what the original "
                                                 r"computes: outputs differ by .* at most "
                                                 r"0.0001 relative"):
            keras3.to_tf_keras(_with_custom_layer(k3))
    finally:
        keras3_config.unregister("ScaleBy")


def test_lambda_and_unsupported_arguments_are_refused(k3):
    L = k3.layers
    inp = k3.Input((4,))
    model = k3.Model(inp, L.Lambda(lambda t: t * 2, name="double")(L.Dense(2)(inp)))
    with pytest.raises(UnsupportedLayerError, match=r"/double' \(Lambda\) is a Lambda layer"):
        keras3.to_tf_keras(model)
    renorm = k3.Sequential([k3.Input((4,)), L.BatchNormalization(renorm=True, name="bn")])
    with pytest.raises(UnsupportedLayerError, match=r"renorm=True has no tf_keras equivalent"):
        keras3.to_tf_keras(renorm)


# --- files, the CLI and the whole pipeline -------------------------------------------------


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compress.cli", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd)


def test_keras3_file_loads_as_a_checked_tf_keras_twin(k3, tmp_path):
    from compress import _keras
    from compress.models import load_model

    model = _sequential_model(k3)
    _randomize(model)
    path = tmp_path / "k3.keras"
    model.save(path)
    twin, source = load_model(str(path))
    assert isinstance(twin, _keras.keras.Model)
    assert source.keras_version.startswith("3.") and source.keras3
    assert source.bridge["max_abs_diff"] <= BRIDGE_TOLERANCE
    _check_twin(model, twin, _inputs(model))


def test_cli_refuses_subclassed_and_custom_files_without_traceback(k3, tmp_path):
    sub = tmp_path / "sub.keras"
    _subclassed(k3).save(sub)
    custom = tmp_path / "custom.keras"
    _with_custom_layer(k3, "ScaleByFile").save(custom)
    for path, expected in ((sub, "'tiny_net' (TinyNet) is a subclassed model"),
                           (custom, "layer 'with_custom/scale' (ScaleBy) is a custom layer")):
        proc = _cli("run", str(_bridged_recipe(tmp_path)), "--model", str(path), "--data",
                    "fashion-mnist-subset", "--out", str(tmp_path / "out"))
        assert proc.returncode == 1, proc.stderr
        assert expected in proc.stderr and "Traceback" not in proc.stderr
        assert "hint:" in proc.stderr
        assert not (tmp_path / "out").exists()


def test_inspect_keras_lists_layers_without_loading(k3, tmp_path):
    good = tmp_path / "good.keras"
    _conv_model(k3).save(good)
    bad = tmp_path / "bad.keras"
    _with_custom_layer(k3, "ScaleByInspect").save(bad)

    proc = _cli("inspect", "--keras", str(good), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["format"] == "keras3" and info["bridge"] == "needed" and info["unsupported"] == 0
    classes = {x["class_name"] for x in info["layers"]}
    assert {"SeparableConv2D", "DepthwiseConv2D", "Rescaling", "Concatenate"} <= classes
    assert "BatchNormalization" in info["supported_layers"]["normalization"]

    proc = _cli("inspect", "--keras", str(bad))
    assert proc.returncode == 0, proc.stderr
    assert "with_custom/scale" in proc.stdout and "NOT SUPPORTED: a custom layer" in proc.stdout
    assert "bridge to tf_keras: 3 of 4 layers translate" in proc.stdout

    proc = _cli("inspect", "--keras", str(good), "--target", "coral-usb")
    assert proc.returncode == 2 and "--keras inspects a Keras model file" in proc.stderr


def _run_foundation(model, data, out: Path, **kwargs):
    from compress.pipeline import compress_model

    return compress_model(model, str(_bridged_recipe(out.parent)), data=data, out_dir=out,
                          calibration_samples=8, **kwargs)


def _check_run(result, original, x) -> None:
    report = result.report
    assert report["keras3"]["to_tf_keras"]["max_abs_diff"] <= BRIDGE_TOLERANCE
    assert report["keras3"]["back_to_keras3"]["max_abs_diff"] <= BRIDGE_TOLERANCE
    assert any("saved back as Keras 3" in note for note in report["notes"])
    assert {a["target"] for a in report["artifacts"]} == {"float32", "int8"}
    for art in report["artifacts"]:
        assert (result.out_dir / art["path"]).stat().st_size > 0
    meta = json.loads(zipfile.ZipFile(result.out_dir / "model" / "model.keras")
                      .read("metadata.json"))
    assert meta["keras_version"].startswith("3.")
    assert keras3.is_keras3_model(result.model)
    # the compressed Keras 3 model is the pruned float model: same outputs shape, 50 % zeros
    assert np.asarray(result.model(x, training=False)).shape == \
        np.asarray(original(x, training=False)).shape
    kernels = [w for w in result.model.weights if w.path.endswith("kernel")]
    zeros = sum(int(np.sum(np.asarray(k) == 0)) for k in kernels)
    assert zeros / sum(int(np.prod(k.shape)) for k in kernels) > 0.3


@pytest.mark.parametrize("build", [_conv_model, _sequential_model])
def test_foundation_recipe_end_to_end_from_keras3(k3, tmp_path, small_data, build):
    from calibration import sources

    model = build(k3)
    _randomize(model)
    data = sources.subsample(small_data, train=256, test=64, seed=0)
    result = _run_foundation(model, data, tmp_path / "out")
    _check_run(result, model, data.x_test[:4])


def test_foundation_recipe_end_to_end_from_keras3_file_via_cli(k3, tmp_path):
    model = _sequential_model(k3)
    path = tmp_path / "seq.keras"
    model.save(path)
    proc = _cli("run", str(_bridged_recipe(tmp_path)), "--model", str(path), "--data",
                "fashion-mnist-subset", "--train-samples", "256", "--test-samples", "64",
                "--calibration-samples", "8", "--out", str(tmp_path / "out"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["keras3"]["keras_version"].startswith("3.")
    reloaded = k3.saving.load_model(tmp_path / "out" / "model" / "model.keras")
    assert keras3.is_keras3_model(reloaded)


@pytest.mark.slow  # the bridge is the engine: tfmot path now; ~90-270 s here
def test_foundation_recipe_end_to_end_nested_mobilenetv2(k3, tmp_path):
    from calibration.sources import Dataset

    model = _mobilenet_model(k3)
    _randomize(model)
    rng = np.random.default_rng(0)
    data = Dataset(name="random96", source="seeded random 96x96x3 images",
                   x_train=rng.random((48, 96, 96, 3), dtype=np.float32),
                   y_train=rng.integers(0, 4, 48), x_test=rng.random((16, 96, 96, 3),
                                                                     dtype=np.float32),
                   y_test=rng.integers(0, 4, 16), num_classes=4)
    result = _run_foundation(model, data, tmp_path / "out")
    _check_run(result, model, data.x_test[:2])
    layers = {layer.name for layer in result.model.layers}
    assert "block_16_project" in layers  # came back flattened
