"""``qat: {activations: ema}`` on the keras3 engine: activation ranges learned in training
(EMA of batch min/max), placed where TFLite does not fuse, and carried into the int8 file
(its tensor scales are the learned ranges); the recipe contract (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest

from compress.errors import CompressError, RecipeError
from compress.recipe import load_recipe

keras = pytest.importorskip("keras")


def _qat(**extra):
    return {"kind": "qat", "epochs": 1, **extra}


def _model():
    inp = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 3, use_bias=False, name="c1")(inp)
    x = keras.layers.ReLU(name="r1")(keras.layers.BatchNormalization(name="bn1")(x))
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.Add(name="add")([x, y])
    x = keras.layers.Flatten(name="flat")(keras.layers.MaxPooling2D(name="pool")(x))
    x = keras.layers.Dense(16, name="hidden")(x)
    x = keras.layers.ReLU(name="r2")(x)
    return keras.Model(inp, keras.layers.Dense(10, name="logits")(x))


@pytest.fixture(scope="module")
def data(small_data):
    from calibration import sources

    return sources.subsample(small_data, train=256, test=128, seed=0)


def test_recipe_contract():
    stage = load_recipe({"name": "a", "stages": [_qat(activations="ema")]}).stages[0]
    assert stage.activations == "ema"
    assert load_recipe({"name": "a", "stages": [_qat()]}).stages[0].activations is None
    with pytest.raises(RecipeError, match=r"stages\[0\].activations.*Received: "
                                          r"activations='learned'"):
        load_recipe({"name": "a", "stages": [_qat(activations="learned")]})
    with pytest.raises(RecipeError, match="needs epochs >= 1. Received: epochs=0"):
        load_recipe({"name": "a", "stages": [_qat(activations="ema", epochs=0)]})


def test_ranges_go_where_tflite_does_not_fuse():
    from compress.engines import get_engine

    engine = get_engine("keras3")
    quant, _, _ = engine.quantize(_model(), select=lambda name, cls: True,
                                  preserve_sparsity=False, activations="ema")
    ranged = {layer.name for layer in engine.layers(quant)
              if getattr(type(layer), "_edgecompress_act", False)}
    # c1 folds bn1 and fuses r1; c2's relu is its own; hidden fuses r2; pool/flat pass through
    assert ranged == {"r1", "c2", "add", "r2", "logits"}
    assert engine.activation_ranges(quant) == {"activations": "ema", "learned_ranges": 5,
                                               "calibrated": []}
    # the range variables are weights of the QAT model (saved in checkpoints)
    names = [v.path for v in quant.weights]
    assert sum(p.endswith("act_min") for p in names) == 5


def test_subclassed_layers_whose_consumers_are_unknown_are_left_to_calibration():
    from compress.engines import get_engine

    class Net(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = keras.layers.Conv2D(4, 3, name="conv")
            self.act = keras.layers.ReLU()
            self.head = keras.layers.Dense(10, name="head")

        def call(self, x):
            return self.head(keras.layers.Flatten()(self.act(self.conv(x))))

    model = Net()
    model(np.zeros((1, 28, 28, 1), np.float32))
    engine = get_engine("keras3")
    quant, _, _ = engine.quantize(model, select=lambda name, cls: True,
                                  preserve_sparsity=False, activations="ema")
    report = engine.activation_ranges(quant)
    assert report["learned_ranges"] == 1  # the ReLU layer's output
    assert sorted(r.split(" ")[0] for r in report["calibrated"]) == ["conv", "head"]
    assert all("consumers are not known" in r for r in report["calibrated"])


def test_learned_ranges_are_the_int8_files_scales_and_survive_resume(data, tmp_path):
    from compress import compress_model
    from compress.engines import keras3_act
    from compress.run.checkpoint import Checkpoints
    from compress.session import Session
    from targets.tflite_graph import read_model

    keras.utils.set_random_seed(0)
    model = _model()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data.x_train, data.y_train, epochs=1, batch_size=32, verbose=0)
    recipe = {"name": "ema", "engine": "keras3", "targets": ["int8"],
              "stages": [_qat(activations="ema")], "training": {"batch_size": 32},
              "benchmark": {"warmup": 1, "runs": 2}, "calibration": {"samples": 16}}
    result = compress_model(model, recipe, data=data, out_dir=tmp_path / "run")
    stage = result.report["stages"][0]
    assert stage["activations"] == "ema" and stage["learned_ranges"] == 5
    path = result.out_dir / result.report["artifacts"][0]["path"]
    graph = read_model(path.read_bytes())
    assert set(graph.dtype_counts()) <= {"int8", "int32"}
    learned = {}
    for layer in result.quant_model.layers:
        span = keras3_act.ranges(layer)
        if span is not None:
            learned[layer.name] = (span[1] - span[0]) / 255
    assert set(learned) == {"r1", "c2", "add", "r2", "logits"}
    from ai_edge_litert.interpreter import Interpreter

    scales = [t["quantization"][0] for t in Interpreter(model_path=str(path)).get_tensor_details()
              if t["dtype"] == np.int8 and len(t["quantization_parameters"]["scales"]) == 1]
    for name, scale in learned.items():  # each learned range is one tensor's int8 scale
        assert any(abs(s - scale) <= 1e-6 * scale for s in scales), (name, scale, scales)
    # the int8 file reproduces the QAT model it was exported from
    from compress.artifacts.evaluate import evaluate_tflite

    top1 = np.argmax(result.quant_model.predict(data.x_test, verbose=0), axis=-1)
    assert evaluate_tflite(path, data.x_test, top1) >= 0.99

    # checkpoints keep the ranges: a resumed run restores the same QAT model
    x, y = data.x_train, data.y_train
    fingerprint = {"recipe": "r", "model": "m", "data": "d"}
    ck = Checkpoints.open(tmp_path / "out", fingerprint, resume=False, overwrite=False)
    first = Session(recipe).train(model, x, y, checkpoints=ck)
    ck2 = Checkpoints.open(tmp_path / "out", fingerprint, resume=True, overwrite=False)
    again = Session(recipe).train(model, x, y, checkpoints=ck2)
    assert again.resumed_after == 1
    for a, b in zip(first.quant_model.get_weights(), again.quant_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first.quant_model.predict(data.x_test[:8], verbose=0),
                                  again.quant_model.predict(data.x_test[:8], verbose=0))


def test_the_tfmot_engine_refuses_calibrated_activations():
    from compress.engines import get_engine

    with pytest.raises(CompressError, match="learns activation ranges"):
        get_engine("tfmot").quantize(None, select=lambda name, cls: True,
                                     preserve_sparsity=False, activations="calibrated")


@keras.saving.register_keras_serializable(package="edgecompress_tests")
class OwnKernel(keras.layers.Layer):
    def build(self, shape):
        self.kernel = self.add_weight(shape=(shape[-1], 8), name="kernel")

    def call(self, x):
        return keras.ops.matmul(x, self.kernel)


def test_a_custom_layer_owning_a_kernel_fuses_its_activation_like_dense():
    """Its matmul converts to FULLY_CONNECTED with the ReLU fused: the range goes after the
    ReLU only (a range between them made the int8 file disagree more with the QAT model)."""
    from compress.engines import get_engine

    inp = keras.Input((12,))
    x = keras.layers.ReLU(name="act")(OwnKernel(name="own")(inp))
    model = keras.Model(inp, keras.layers.Dense(3, name="out")(x))
    engine = get_engine("keras3")
    quant, _, _ = engine.quantize(model, select=lambda name, cls: True,
                                  preserve_sparsity=False, activations="ema")
    ranged = {layer.name for layer in engine.layers(quant)
              if getattr(type(layer), "_edgecompress_act", False)}
    assert ranged == {"act", "out"}


def test_the_learned_range_takes_no_gradient():
    """Outside the range the straight-through gradient is zero, and none of it is routed
    through the batch min/max into the tensor (the range follows the batches, not the loss)."""
    import tensorflow as tf

    from compress.engines import get_engine

    inp = keras.Input((4,))
    out = keras.layers.Dense(4, use_bias=False, kernel_initializer="identity", name="d")(inp)
    engine = get_engine("keras3")
    quant, _, _ = engine.quantize(keras.Model(inp, out), select=lambda name, cls: True,
                                  preserve_sparsity=False, activations="ema")
    assert type(quant.get_layer("d"))._edgecompress_act
    quant(np.array([[1.0, -1.0, 0.5, 0.2]], np.float32), training=True)  # range [-1, 1]
    x = tf.constant([[3.0, 0.5, 0.125, 0.25]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(quant(x, training=True))  # range now [-0.99, 1.02]: 3.0 clipped
    np.testing.assert_allclose(tape.gradient(total, x).numpy(), [[0, 1, 1, 1]])


def test_ema_is_the_default_and_an_untrained_qat_calibrates(data):
    """No ``activations`` key: ranges are learned (``ema``) when the stage trains; a qat
    stage with ``epochs: 0`` learns nothing, so the keras3 engine calibrates instead."""
    from compress.session import Session

    x, y = data.x_train[:64], data.y_train[:64]
    for epochs, expected in ((1, "ema"), (0, "calibrated")):
        keras.utils.set_random_seed(0)
        recipe = {"name": "d", "engine": "keras3", "targets": ["int8"],
                  "stages": [{"kind": "qat", "epochs": epochs}],
                  "training": {"batch_size": 32}}
        trained = Session(recipe).train(_model(), x, y)
        assert trained.stages[0].details["activations"] == expected, epochs
