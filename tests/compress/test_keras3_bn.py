"""The keras3 engine trains BatchNormalization on TensorFlow's fused kernel (``keras3_bn``):
the same numbers as Keras 3's own layer, the fused op really in the traced step, Keras' call
wherever the kernel does not apply, and nothing of it left on the model after ``fit``."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from compress.engines import get_engine, keras3_bn  # noqa: E402


def _model(*, center=True, scale=True, dense_bn=False):
    keras.utils.set_random_seed(3)
    inp = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(6, 3, use_bias=False, name="conv")(inp)
    x = keras.layers.BatchNormalization(momentum=0.8, center=center, scale=scale, name="bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(8, name="fc")(x)
    if dense_bn:  # a 2-D input: Keras' own call
        x = keras.layers.BatchNormalization(name="bn2d")(x)
    return keras.Model(inp, keras.layers.Dense(4, name="logits")(x))


def _data(n=64):
    rng = np.random.default_rng(0)
    return (rng.normal(1.5, 2.0, (n, 12, 12, 3)).astype("float32"),
            rng.integers(0, 4, n))


def _trained(fused: bool, **kw):
    model = _model(**kw)
    engine = get_engine("keras3")
    # SGD: Adam would turn the noise-sized gradient of a bias ahead of a BatchNormalization
    # (zero in exact arithmetic) into full-sized steps, differently for any rounding change
    model.compile(optimizer=keras.optimizers.SGD(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _data()
    keras.utils.set_random_seed(0)
    if fused:
        history = engine.fit(model, x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    else:
        history = {k: list(map(float, v)) for k, v in model.fit(
            x, y, batch_size=16, epochs=2, verbose=0, shuffle=False).history.items()}
    return model, history


def _ops_in_training_call(model, x):
    graph = tf.function(lambda t: model(t, training=True)).get_concrete_function(
        tf.TensorSpec((None,) + x.shape[1:], tf.float32)).graph
    return {op.type for op in graph.get_operations()}


@pytest.mark.parametrize("kw", [{}, {"center": False, "scale": False}, {"dense_bn": True}])
def test_fused_training_equals_keras(kw):
    plain, plain_history = _trained(False, **kw)
    fused, fused_history = _trained(True, **kw)
    np.testing.assert_allclose(fused_history["loss"], plain_history["loss"], rtol=1e-4)
    for a, b in zip(fused.weights, plain.weights):  # kernels, gamma/beta, moving stats
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=2e-4, atol=1e-5, err_msg=a.path)
    bn = fused.get_layer("bn")
    assert not np.allclose(bn.moving_variance.numpy(), 1.0)  # the statistics did move


def test_the_fused_kernel_is_what_trains_and_is_gone_afterwards(tmp_path):
    model = _model(dense_bn=True)
    x, _ = _data(8)
    assert "FusedBatchNormV3" not in _ops_in_training_call(model, x)
    with keras3_bn.fused_batchnorm(model) as count:
        assert count == 2
        ops = _ops_in_training_call(model, x)
        assert "FusedBatchNormV3" in ops
        # the 2-D one keeps Keras' call: its moments are a Mean over the batch
        assert type(model.get_layer("bn2d")).__name__ == "BatchNormalization"
        # inference is Keras' own call
        graph = tf.function(lambda t: model(t, training=False)).get_concrete_function(
            tf.TensorSpec((None, 12, 12, 3), tf.float32)).graph
        assert "FusedBatchNormV3" not in {op.type for op in graph.get_operations()}
    assert type(model.get_layer("bn")) is keras.layers.BatchNormalization
    assert type(model.get_layer("bn2d")) is keras.layers.BatchNormalization
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.models.load_model(path)  # no custom objects needed
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_nested_models_and_a_user_subclass():
    class MyNorm(keras.layers.BatchNormalization):  # its own call may differ: left alone
        pass

    keras.utils.set_random_seed(0)
    inner_in = keras.Input((8, 8, 2))
    inner = keras.Model(inner_in, keras.layers.BatchNormalization(name="inner_bn")(
        keras.layers.Conv2D(2, 1, name="inner_conv")(inner_in)), name="inner")
    inp = keras.Input((8, 8, 2))
    x = MyNorm(name="mine")(inner(inp))
    model = keras.Model(inp, keras.layers.Flatten()(x))
    with keras3_bn.fused_batchnorm(model) as count:
        assert count == 1
        assert type(inner.get_layer("inner_bn")).__name__ == "BatchNormalization"
        assert type(inner.get_layer("inner_bn")) is not keras.layers.BatchNormalization
        assert type(model.get_layer("mine")) is MyNorm
    assert type(inner.get_layer("inner_bn")) is keras.layers.BatchNormalization


def test_a_batchnorm_with_a_learned_output_range_keeps_it():
    """QAT with ``activations: ema`` puts a range on a BatchNormalization whose output no
    activation takes; trained fused, that range is still learned and applied."""
    engine = get_engine("keras3")
    inp = keras.Input((12, 12, 3))
    x = keras.layers.BatchNormalization(name="bn")(keras.layers.Conv2D(4, 3, name="conv")(inp))
    x = keras.layers.Dense(4, name="logits")(keras.layers.GlobalAveragePooling2D()(x))
    quant, _, _ = engine.quantize(keras.Model(inp, x), select=lambda name, cls: True,
                                  preserve_sparsity=False, activations="ema")
    bn = quant.get_layer("bn")
    assert type(bn)._edgecompress_act
    x, y = _data()
    with keras3_bn.fused_batchnorm(quant):
        ops = _ops_in_training_call(quant, x)
    assert {"FusedBatchNormV3", "FakeQuantWithMinMaxVars"} <= ops
    engine.compile(quant, learning_rate=1e-3, probabilities=False)
    engine.fit(quant, x, y, batch_size=16, epochs=1, verbose=0)
    lo, hi = float(bn._edgecompress_act_min.numpy()), float(bn._edgecompress_act_max.numpy())
    assert lo < 0 < hi  # learned from the normalized (zero-mean) outputs
    assert type(bn)._edgecompress_act and not hasattr(type(bn), "_edgecompress_fused_from")
