"""The channel cut (``compress.channels``): coupled groups and exactness.

The issue's correctness check: ``ratio: 0`` gives identical outputs; after the chosen filters
are set to zero (with their BatchNorm beta and moving mean, so those channels carry exactly
zero), cutting them changes the outputs by at most 1e-5: a plain CNN, a residual net with
adds, depthwise, separable and concatenation, nested and Sequential models, in Keras 3 and
tf_keras; MobileNetV2 (alpha 0.35, 96x96, weights=None) is slow-marked.
"""

from __future__ import annotations

import numpy as np
import pytest

from compress import channels
from compress.channels import plan
from compress.errors import RecipeError, UnsupportedLayerError

keras3 = pytest.importorskip("keras")


def _tf_keras():
    from compress import _keras

    return _keras.keras


def plain_cnn(k):
    inp = k.Input((12, 12, 1))
    x = k.layers.Conv2D(8, 3, name="c1")(inp)
    x = k.layers.BatchNormalization(name="bn1")(x)
    x = k.layers.ReLU()(x)
    x = k.layers.Conv2D(12, 3, activation="relu", name="c2")(x)
    x = k.layers.MaxPooling2D(name="pool")(x)
    x = k.layers.Conv2D(8, 3, activation="relu", name="c3")(x)
    x = k.layers.Flatten()(x)
    x = k.layers.Dense(16, activation="relu", name="fc")(x)
    out = k.layers.Dense(4, name="logits")(x)
    return k.Model(inp, out, name="plain")


def residual_net(k):
    inp = k.Input((10, 10, 3))
    x = k.layers.Conv2D(8, 3, padding="same", name="stem")(inp)
    x = k.layers.BatchNormalization(name="stem_bn")(x)
    x = k.layers.Activation("relu")(x)
    h = k.layers.Conv2D(6, 3, padding="same", activation="relu", name="b1_c1")(x)
    h = k.layers.Conv2D(8, 3, padding="same", name="b1_c2")(h)
    h = k.layers.BatchNormalization(name="b1_bn")(h)
    x = k.layers.Add(name="add1")([x, h])
    x = k.layers.ReLU(name="relu1")(x)
    d = k.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    d = k.layers.BatchNormalization(name="dw_bn")(d)
    s = k.layers.SeparableConv2D(6, 3, padding="same", depth_multiplier=2, name="sep")(x)
    c = k.layers.Concatenate(name="cat")([d, s])
    c = k.layers.Conv2D(8, 1, activation="relu", name="mix")(c)
    g = k.layers.GlobalAveragePooling2D()(c)
    out = k.layers.Dense(3, name="logits")(g)
    return k.Model(inp, out, name="resnetish")


def nested_net(k):
    inner_in = k.Input((10, 10, 8))
    y = k.layers.Conv2D(8, 3, padding="same", activation="relu", name="inner_c")(inner_in)
    inner = k.Model(inner_in, y, name="inner")
    inp = k.Input((10, 10, 2))
    x = k.layers.Conv2D(8, 3, padding="same", activation="relu", name="outer_c")(inp)
    x = inner(x)
    x = k.layers.GlobalMaxPooling2D()(x)
    out = k.layers.Dense(3, name="logits")(x)
    return k.Model(inp, out, name="nested")


def sequential_net(k):
    return k.Sequential([k.Input((8, 8, 1)), k.layers.Conv2D(8, 3, activation="relu"),
                         k.layers.Conv2D(8, 3, activation="relu"), k.layers.Flatten(),
                         k.layers.Dense(3)], name="seq")


def _randomize(model, seed=0):
    """Random weights and BN statistics so every channel carries signal."""
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.get_weights():
        weights.append(rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) if w.ndim == 1
                       else rng.normal(0, 0.5, w.shape).astype(w.dtype))
    model.set_weights(weights)


def _zero_group(graph, group, idx):
    """Set the filters ``idx`` of every producer of ``group`` to zero, with their biases and the
    beta and moving mean of the group's BatchNorm layers (and depthwise biases)."""
    only = {g.id: np.zeros(0, int) for g in graph.groups}
    only[group.id] = idx
    for path in group.producers:
        layer, use = graph.layers[path], graph.uses[path]
        w = layer.get_weights()
        k_i = 1 if use.class_name.startswith("SeparableConv") else 0
        w[k_i][..., idx] = 0
        if len(w) > k_i + 1:
            w[-1][idx] = 0
        layer.set_weights(w)
    for path in group.passthrough:
        layer, use = graph.layers[path], graph.uses[path]
        pos = _positions_of(graph, use.inputs, group, idx)
        if use.class_name == "BatchNormalization":
            for var in (layer.beta, layer.moving_mean):
                v = np.asarray(var.numpy())
                v[pos] = 0
                var.assign(v)
        elif use.class_name.startswith("DepthwiseConv") and layer.use_bias:
            w = layer.get_weights()
            w[1][pos] = 0
            layer.set_weights(w)


def _positions_of(graph, layout, group, idx):
    """Positions of ``group``'s channels ``idx`` along a tensor with ``layout``."""
    offset, out = 0, []
    for s in layout.segments:
        if graph.root(s) == group.id:
            out.append(np.asarray(idx) + offset)
        offset += graph.size(s)
    return np.concatenate(out)


def _check_zeroed_cut(model, x, *, fraction=0.5, seed=0, tol=1e-5):
    """Zero ``fraction`` of every group's channels, cut them, compare the outputs."""
    graph = channels.analyze(model)
    assert graph.groups, "the model has prunable groups"
    rng = np.random.default_rng(seed)
    keep = {}
    for g in graph.groups:
        n_drop = max(1, int(g.size * fraction))
        drop = np.sort(rng.choice(g.size, n_drop, replace=False))
        _zero_group(graph, g, drop)
        keep[g.id] = np.setdiff1d(np.arange(g.size), drop)
    before = np.asarray(model.predict(x, verbose=0))
    small = channels.cut(graph, keep)
    after = np.asarray(small.predict(x, verbose=0))
    assert small.count_params() < model.count_params()
    np.testing.assert_allclose(after, before, atol=tol, rtol=0)
    # not vacuous: the outputs are not all zero and the cut really narrowed the layers
    assert np.abs(before).max() > 1e-3
    return graph, small


@pytest.mark.parametrize("build", [plain_cnn, residual_net, nested_net, sequential_net])
@pytest.mark.parametrize("which", ["keras3", "tf_keras"])
def test_cut_of_zeroed_channels_keeps_outputs(build, which):
    k = keras3 if which == "keras3" else _tf_keras()
    model = build(k)
    _randomize(model)
    x = np.random.default_rng(1).normal(size=(6, *model.input_shape[1:])).astype("float32")
    graph, small = _check_zeroed_cut(model, x)
    assert type(small).__module__.split(".")[0] == type(model).__module__.split(".")[0]


def test_ratio_zero_is_identical():
    model = residual_net(keras3)
    _randomize(model)
    x = np.random.default_rng(1).normal(size=(4, 10, 10, 3)).astype("float32")
    out = channels.shrink(model, ratio=0.0)
    np.testing.assert_array_equal(np.asarray(out.model.predict(x, verbose=0)),
                                  np.asarray(model.predict(x, verbose=0)))
    assert out.details["macs_after"] == out.details["macs_before"]


def test_groups_couple_residual_concat_and_depthwise():
    graph = channels.analyze(residual_net(keras3))
    by_name = {g.producers[0]: g for g in graph.groups}
    # the stem and the block's last conv feed the same Add: one group, cut together
    assert sorted(by_name["stem"].producers) == ["b1_c2", "stem"]
    assert {"stem_bn", "b1_bn", "dw", "dw_bn"} <= set(by_name["stem"].passthrough)
    # the add's channels reach the separable conv and (through the depthwise) the concat's reader
    assert {"sep", "mix"} <= set(by_name["stem"].consumers)
    assert "logits" not in by_name  # the outputs never change
    assert by_name["sep"].consumers == ["mix"]


def test_macs_match_the_tflite_graph(tmp_path):
    """The plan's MAC count is the converted file's, before and after the cut."""
    import tensorflow as tf

    from targets.tflite_graph import read_model

    model = residual_net(keras3)
    out = channels.shrink(model, ratio=0.5, round_to=2)

    def tflite_macs(m):
        blob = tf.lite.TFLiteConverter.from_keras_model(m).convert()
        return read_model(blob).macs()["total"]

    assert out.details["macs_before"] == tflite_macs(model)
    assert out.details["macs_after"] == tflite_macs(out.model)
    assert out.details["macs_after"] < 0.6 * out.details["macs_before"]


def test_keep_macs_uniform_and_round_to():
    model = plain_cnn(keras3)
    out = channels.shrink(model, keep_macs=0.5, round_to=4)
    d = out.details
    assert d["macs_after"] <= 0.5 * d["macs_before"]
    assert d["macs_after"] > 0.3 * d["macs_before"]  # not far past the target
    for g in d["groups"]:
        assert g["kept"] % 4 == 0 or g["kept"] == g["channels"]


def test_unreachable_keep_macs_names_the_minimum():
    model = plain_cnn(keras3)
    with pytest.raises(RecipeError, match=r"cannot be reached.*keeps 0\.\d+ of") as info:
        channels.shrink(model, keep_macs=0.01, round_to=8)
    graph = channels.analyze(model)
    floor = plan.total_macs(graph, plan.minimum_counts(graph.groups, 8)) / \
        plan.total_macs(graph, {})
    assert f"{floor:.4f}" in info.value.message


def test_subclassed_model_is_refused_with_its_class():
    class Net(keras3.Model):
        def __init__(self):
            super().__init__()
            self.d = keras3.layers.Dense(3)

        def call(self, x):
            return self.d(x)

    net = Net()
    net(np.zeros((1, 4), "float32"))
    with pytest.raises(UnsupportedLayerError, match="Net.*subclassed") as info:
        channels.analyze(net)
    assert "Functional" in info.value.hint


def test_importance_orders_filters():
    model = plain_cnn(keras3)
    graph = channels.analyze(model)
    g = next(g for g in graph.groups if g.producers == ["c2"])
    w = graph.layers["c2"].get_weights()
    w[0][..., 5] *= 100
    graph.layers["c2"].set_weights(w)
    for kind in ("l1", "l2"):
        assert int(np.argmax(plan.importance(graph, g, kind))) == 5
    assert 5 in plan.kept_indices(plan.importance(graph, g, "l1"), 1)
    bn = next(g for g in graph.groups if g.producers == ["c1"])
    gamma = graph.layers["bn1"].get_weights()
    gamma[0][:] = 0.1
    gamma[0][3] = 5.0
    graph.layers["bn1"].set_weights(gamma)
    assert int(np.argmax(plan.importance(graph, bn, "bn"))) == 3


@pytest.mark.slow
def test_mobilenet_v2_zeroed_cut():
    model = keras3.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None,
                                            classes=10)
    _randomize(model)
    x = np.random.default_rng(2).normal(size=(2, 96, 96, 3)).astype("float32")
    graph, small = _check_zeroed_cut(model, x, fraction=0.25)
    assert any(len(g.producers) > 2 for g in graph.groups)  # residual groups across blocks


@pytest.mark.slow
def test_residual_net_for_coral_usb_stays_fully_mapped_after_the_cut():
    """Every op of the cut residual net's coral-usb int8 file is still predicted on the
    Edge TPU (the cut only narrows tensors: the op kinds do not change)."""
    from compress.artifacts import export
    from compress.artifacts.files import target_spec
    from targets import edgetpu
    from targets.spec import get_profile
    from targets.tflite_graph import read_model

    k = _tf_keras()  # the exporter's own models (tf_keras; Keras 3 ones are bridged)
    inp = k.Input((12, 12, 3))
    x = k.layers.Conv2D(16, 3, padding="same", name="stem")(inp)
    x = k.layers.BatchNormalization()(x)
    x = k.layers.ReLU()(x)
    h = k.layers.Conv2D(16, 3, padding="same", activation="relu", name="b_c1")(x)
    h = k.layers.Conv2D(16, 3, padding="same", name="b_c2")(h)
    x = k.layers.ReLU()(k.layers.Add()([x, h]))
    x = k.layers.GlobalAveragePooling2D()(x)
    model = k.Model(inp, k.layers.Dense(4, name="logits")(x))
    _randomize(model)
    small = channels.shrink(model, ratio=0.5, round_to=4).model
    assert small.get_layer("stem").filters == 8 and small.get_layer("b_c1").filters == 8
    spec = target_spec(target="coral-usb")
    rep = np.random.default_rng(0).uniform(size=(16, 12, 12, 3)).astype("float32")
    profile = get_profile("coral-usb")
    for m in (model, small):
        graph = read_model(export.convert(m, spec, representative=rep))
        report = edgetpu.analyze(graph, profile=profile)
        assert report.fully_mapped, report.first_unmapped
        assert report.total_ops >= 5


def test_unbuilt_sequential_is_refused_with_what_to_do():
    model = keras3.Sequential([keras3.layers.Dense(4), keras3.layers.Dense(2)])
    with pytest.raises(UnsupportedLayerError, match="without an input shape") as info:
        channels.analyze(model)
    assert "keras.Input" in info.value.hint
