"""Layers QAT leaves float: listed with their path and reason, the run goes on; an Edge TPU
target stops before training, naming the layer and what to do (issue 13)."""

from __future__ import annotations

import pytest

from compress.errors import CompressError

keras = pytest.importorskip("keras")


@keras.saving.register_keras_serializable(package="edgecompress_tests")
class Matrix(keras.layers.Layer):
    """A custom layer whose weight is not called ``kernel``: the engine cannot fake-quantize
    it."""

    def build(self, shape):
        self.w = self.add_weight(shape=(shape[-1], 8), name="w")

    def call(self, x):
        return keras.ops.matmul(x, self.w)


def _model():
    inner_in = keras.Input((26 * 26 * 4,))
    inner = keras.Model(inner_in, keras.layers.ReLU()(Matrix(name="matrix")(inner_in)),
                        name="inner")
    inp = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(keras.layers.Conv2D(4, 3, name="conv")(inp))
    return keras.Model(inp, keras.layers.Dense(10, name="logits")(inner(x)))


@pytest.fixture(scope="module")
def data(small_data):
    from calibration import sources

    return sources.subsample(small_data, train=128, test=64, seed=0)


def _recipe(targets, **qat):
    return {"name": "f", "engine": "keras3", "targets": targets,
            "stages": [{"kind": "qat", "epochs": 1, **qat}],
            "benchmark": {"warmup": 1, "runs": 2}, "calibration": {"samples": 8}}


def test_a_layer_the_engine_cannot_quantize_is_listed_with_its_path_and_the_run_goes_on(
        data, tmp_path):
    from compress import compress_model
    from targets.tflite_graph import read_model

    result = compress_model(_model(), _recipe(["int8"], layers={"exclude": ["conv"]}),
                            data=data, out_dir=tmp_path / "run")
    qat = result.report["stages"][0]
    assert qat["float_layers"] == [
        "conv (not selected by layers:)",
        "inner/matrix (Matrix keeps its weights in w, not in kernel / depthwise_kernel / "
        "pointwise_kernel)"]
    int8 = result.report["artifacts"][0]
    # converted after training like any layer: the file is still full-integer
    dtypes = set(read_model((result.out_dir / int8["path"]).read_bytes()).dtype_counts())
    assert dtypes <= {"int8", "int32"}


def test_an_edgetpu_target_stops_before_training_naming_the_layer(data, tmp_path):
    from compress import compress_model

    with pytest.raises(CompressError) as info:
        compress_model(_model(), _recipe(["coral-usb"]), data=data, out_dir=tmp_path / "run")
    message = str(info.value)
    assert "coral-usb: the Edge TPU runs int8 only" in message
    assert "Received: inner/matrix (Matrix keeps its weights in w" in message
    assert "`kernel`" in info.value.hint and "drop the Edge TPU target" in info.value.hint
    assert not (tmp_path / "run").exists()  # nothing half-written


def test_layers_left_out_by_the_recipe_do_not_stop_an_edgetpu_target(data, tmp_path):
    """A layer excluded by ``layers:`` is converted to int8 after training like any other: the
    Edge TPU target is not refused for it."""
    from compress.session import Session

    inp = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(keras.layers.Conv2D(4, 3, name="conv")(inp))
    model = keras.Model(inp, keras.layers.Dense(10, name="logits")(x))
    session = Session(_recipe(["coral-usb"], layers={"exclude": ["conv"]}))
    trained = session.train(model, data.x_train, data.y_train)
    assert trained.stages[0].details["float_layers"] == ["conv (not selected by layers:)"]
