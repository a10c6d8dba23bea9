"""Weight clustering (``kind: cluster``): the recipe contract, the k-means assignment, the
keras3 engine's shared-value fine-tuning, cluster-preserving QAT on both engines checked by
reading the int8 ``.tflite`` (``targets.clusters``), and the report's table."""

from __future__ import annotations

import numpy as np
import pytest

from compress.errors import RecipeError
from compress.recipe import load_recipe

CLUSTER16 = {"kind": "cluster", "clusters": 16, "epochs": 1}
PRUNE75 = {"kind": "prune", "final_sparsity": 0.75, "epochs": 1}
TARGETS = {"targets": ["int8"], "benchmark": {"warmup": 1, "runs": 2}}


def _recipe(*stages, **extra):
    return load_recipe({"name": "t", "stages": list(stages), **extra})


# -- the recipe --------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [1, 0, -3, 257, 1000])
def test_clusters_outside_2_to_256_is_refused_with_the_value_and_the_range(value):
    with pytest.raises(RecipeError, match=rf"stages\[0\].*\[2, 256\]. Received: clusters={value}"):
        _recipe({"kind": "cluster", "clusters": value})


@pytest.mark.parametrize("value", [16.5, "16", True])
def test_clusters_must_be_an_integer(value):
    with pytest.raises(RecipeError, match="clusters.*integer.*Received"):
        _recipe({"kind": "cluster", "clusters": value})


def test_cluster_config_defaults_keys_and_bounds():
    stage = _recipe({"kind": "cluster", "clusters": 256, "init": "linear", "epochs": 0,
                     "learning_rate": 1e-4, "layers": {"exclude": ["logits"]}}).stages[0]
    assert (stage.clusters, stage.init, stage.epochs, stage.learning_rate) == \
        (256, "linear", 0, 1e-4)
    assert stage.layers.exclude == ("logits",)
    assert _recipe({"kind": "cluster", "clusters": 2}).stages[0].init == "kmeans++"
    with pytest.raises(RecipeError, match="init.*kmeans\\+\\+, linear. Received: init='kmeans'"):
        _recipe({"kind": "cluster", "init": "kmeans"})
    with pytest.raises(RecipeError, match="clusterz"):
        _recipe({"kind": "cluster", "clusterz": 16})


def test_cluster_order_rules():
    _recipe(PRUNE75, CLUSTER16, {"kind": "qat"})  # the collaborative recipe loads
    with pytest.raises(RecipeError, match="cluster cannot follow qat"):
        _recipe({"kind": "qat"}, CLUSTER16)
    for later in ("finetune", "prune"):
        with pytest.raises(RecipeError, match=f"{later} after cluster.*Received stage order"):
            _recipe(CLUSTER16, {"kind": later, "epochs": 1})


def test_both_engines_run_cluster_stages():
    assert _recipe(CLUSTER16, engine="keras3").engine == "keras3"
    assert _recipe(CLUSTER16, engine="tfmot").engine == "tfmot"


# -- the assignment (numpy) --------------------------------------------------------------------

@pytest.mark.parametrize("init", ["kmeans++", "linear"])
def test_assignment_keeps_zeros_as_their_own_cluster(init):
    keras3_cluster = pytest.importorskip("compress.engines.keras3_cluster")
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 3, 4, 8)).astype("float32")
    w[rng.random(w.shape) < 0.75] = 0.0
    ids, n = keras3_cluster.assign(w, 16, init=init, preserve_zeros=True, rng=rng)
    assert ids.shape == w.shape and n <= 16
    assert np.all(ids[w == 0] == n) and not np.any(ids[w != 0] == n)
    # without preserving zeros, zeros join the nearest value cluster
    ids, n = keras3_cluster.assign(w, 16, init=init, preserve_zeros=False, rng=rng)
    assert n <= 16 and ids.max() < n


def test_kmeans_plus_plus_fits_the_weights_better_than_linear():
    keras3_cluster = pytest.importorskip("compress.engines.keras3_cluster")
    rng = np.random.default_rng(1)
    w = np.concatenate([rng.normal(0, 0.01, 4000), rng.normal(0.5, 0.01, 40)])  # skewed

    def error(init):
        ids, n = keras3_cluster.assign(w, 8, init=init, preserve_zeros=False, rng=rng)
        means = np.bincount(ids, weights=w) / np.bincount(ids)
        return float(np.mean((w - means[ids]) ** 2))

    assert error("kmeans++") < error("linear")


# -- keras3 engine -----------------------------------------------------------------------------

def test_keras3_fine_tuning_trains_the_shared_values():
    keras = pytest.importorskip("keras")
    from compress.engines import get_engine
    from compress.stages.base import StageContext
    from compress.stages.cluster import Cluster, ClusterStage

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(16, name="hidden"),
                              keras.layers.ReLU(), keras.layers.Dense(3, name="out")])
    x = np.random.default_rng(0).normal(size=(256, 20)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0)
    engine = get_engine("keras3")
    stage = Cluster(ClusterStage(clusters=4, layers=_only("hidden")))
    ctx = StageContext(steps_per_epoch=8, engine=engine)
    prepared = stage.prepare(model, ctx)
    before = np.unique(prepared.get_layer("hidden").kernel.numpy())
    assert len(before) == 4
    engine.compile(prepared, learning_rate=1e-2, probabilities=False)
    engine.fit(prepared, x, y, batch_size=32, epochs=2, verbose=0)
    out, details = stage.finalize(prepared, ctx)
    after = np.unique(out.get_layer("hidden").kernel.numpy())
    assert len(after) <= 4 and not np.allclose(np.sort(after), before)  # moved, still shared
    assert len(np.unique(out.get_layer("out").kernel.numpy())) > 4  # not selected
    assert details["distinct_values_per_kernel"] == {"hidden/kernel": len(after)}
    assert details["skipped_layers"] == [{"layer": "out", "reason": "not selected by layers:"}]
    assert out.get_layer("hidden").kernel.constraint is None  # stripped


def test_tfmot_clusters_through_tfmot_and_strips_with_the_preserving_mark():
    from compress.engines import get_engine
    from compress.stages.base import StageContext
    from compress.stages.cluster import Cluster, ClusterStage

    engine = get_engine("tfmot")
    keras = engine.keras
    engine.set_seed(0)
    model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(16, name="hidden"),
                              keras.layers.ReLU(), keras.layers.Dense(3, name="out")])
    w = model.get_layer("hidden").get_weights()
    w[0][np.abs(w[0]) < 0.2] = 0.0  # as a prune stage leaves it
    model.get_layer("hidden").set_weights(w)
    stage = Cluster(ClusterStage(clusters=4, epochs=0, layers=_only("hidden")))
    ctx = StageContext(steps_per_epoch=1, engine=engine, previous_kinds=("prune",))
    out, details = stage.finalize(stage.prepare(model, ctx), ctx)
    kernel = out.get_layer("hidden").get_weights()[0]
    assert len(np.unique(kernel[kernel != 0])) <= 4 and np.all(kernel[w[0] == 0] == 0)
    assert details["preserve_sparsity"] is True and details["clustered_layers"] == ["hidden"]
    assert getattr(out, "_edgecompress_clustered", False)  # a later qat keeps the clusters


def _only(name):
    from compress.stages.base import LayerSelection

    return LayerSelection(include=(name,))


@pytest.fixture(scope="module")
def data(small_data):
    from calibration import sources

    return sources.subsample(small_data, train=256, test=32, seed=0)


def _check_file(report, *, clusters, zero):
    """Every clustered kernel in the int8 file: at most clusters (+ zero) values per channel."""
    stage = next(s for s in report["stages"] if s["kind"] == "cluster")
    assert stage["max_distinct_values"] <= clusters + zero
    int8 = next(a for a in report["artifacts"] if a["target"] == "int8")
    kernels = int8["distinct_values"]["kernels"]
    assert {k["dtype"] for k in kernels} == {"int8"} and len(kernels) == 4
    for k in kernels:
        assert k["max_per_channel"] <= clusters + zero, k
        assert k["has_zero"] is zero
    # fc1 has no BatchNormalization folded into it: one scale per channel of shared values;
    # clustering makes far fewer distinct values than the 784 inputs of a channel would have
    fc1 = next(k for k in kernels if "fc1" in k["tensor"])
    assert fc1["max_per_channel"] >= 2 and fc1["params"] > 1000
    pruned = report["stages"][0]["measured_sparsity"]
    assert pruned > 0.5 and int8["sparsity"] >= pruned - 1e-4  # cluster and QAT kept the zeros


def test_keras3_prune_cluster_qat_keeps_16_values_per_channel_in_the_int8_file(data, tmp_path):
    keras = pytest.importorskip("keras")
    from compress import compress_model, zoo

    keras.utils.set_random_seed(0)
    model = zoo.fashion_cnn(data.x_train.shape[1:], 10, width=8, dense_units=32, keras=keras)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data.x_train, data.y_train, epochs=1, batch_size=64, verbose=0)
    recipe = {"name": "k3", "engine": "keras3", **TARGETS,
              "stages": [PRUNE75, {**CLUSTER16, "epochs": 0},  # fine-tuning: tested above
                         {"kind": "qat", "epochs": 1}]}
    result = compress_model(model, recipe, data=data, out_dir=tmp_path / "run")
    report = result.report
    assert report["engine"] == "keras3"
    _check_file(report, clusters=16, zero=True)
    qat = report["stages"][-1]
    assert qat["scheme"].endswith("+cluster_preserve")
    md = (tmp_path / "run" / "report.md").read_text()
    assert "Distinct weight values per kernel" in md
    assert "Weight clusters in the files" in (tmp_path / "run" / "report.html").read_text()


@pytest.mark.slow  # tfmot's QAT on tf_keras: ~35 s of CPU
def test_tfmot_prune_cluster_qat_keeps_16_values_per_channel_in_the_int8_file(data, tmp_path):
    from compress import compress_model, zoo

    model = zoo.fashion_cnn(data.x_train.shape[1:], 10, width=8, dense_units=32)
    zoo.train_baseline(model, data.x_train, data.y_train, epochs=1, batch_size=64)
    recipe = {"name": "tf", "engine": "tfmot", **TARGETS,
              "stages": [PRUNE75, {**CLUSTER16, "epochs": 0},  # fine-tuning: tested above
                         {"kind": "qat", "epochs": 1}]}
    report = compress_model(model, recipe, data=data, out_dir=tmp_path / "run").report
    assert report["engine"] == "tfmot"
    _check_file(report, clusters=16, zero=True)


# -- reading the file --------------------------------------------------------------------------

def test_distinct_values_are_read_per_output_channel_from_the_file(tmp_path):
    """An unclustered kernel shows its many values; a clustered one its few (per channel)."""
    from compress.artifacts.export import convert
    from compress.recipe import TargetSpec
    from targets.clusters import distinct_values
    from targets.tflite_graph import read_model

    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(8, name="a"),
                              keras.layers.Dense(4, name="b")])
    w = rng.normal(size=(64, 8)).astype("float32")
    shared = np.array([-1.0, -0.5, 0.25, 0.75], dtype="float32")
    w_b = shared[rng.integers(0, 4, size=(8, 4))] * np.array([1, 2, 3, 4], dtype="float32")
    model.get_layer("a").set_weights([w, np.zeros(8, "float32")])
    model.get_layer("b").set_weights([w_b, np.zeros(4, "float32")])
    summary = distinct_values(read_model(convert(model, TargetSpec("float32"))))
    a, b = summary["kernels"]
    assert (a["shape"], a["max_per_channel"], a["distinct"]) == ([8, 64], 64, 512)
    # b: 4 shared values, each output channel scaled: 4 per channel, more in the whole tensor
    assert b["max_per_channel"] <= 4 < b["distinct"]
    assert summary["max_per_channel"] == 64 and a["has_zero"] is False


# -- resume ------------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["keras3", pytest.param("tfmot", marks=pytest.mark.slow)])
def test_resume_between_cluster_and_qat_keeps_the_clusters(engine, data, tmp_path):
    """A run stopped after its cluster stage and resumed gives the uninterrupted run's QAT
    model: the checkpointed model is marked clustered again, so QAT keeps the shared values
    (a saved file holds the values, not which layers were clustered)."""
    import json

    from compress import zoo
    from compress.engines import get_engine
    from compress.run.checkpoint import Checkpoints
    from compress.session import Session

    keras = get_engine(engine).keras
    keras.utils.set_random_seed(0)
    model = zoo.fashion_cnn(data.x_train.shape[1:], 10, width=8, dense_units=32, keras=keras)
    recipe = {"name": "r", "engine": engine, **TARGETS,
              "stages": [PRUNE75, {**CLUSTER16, "epochs": 0}, {"kind": "qat", "epochs": 1}]}
    x, y = data.x_train, data.y_train
    fingerprint = {"recipe": "r", "model": "m", "data": "d"}
    ck = Checkpoints.open(tmp_path / "out", fingerprint, resume=False, overwrite=False)
    first = Session(recipe).train(model, x, y, checkpoints=ck)
    # stopped during qat: its stage was never recorded as finished
    state_file = ck.work / "state.json"
    state = json.loads(state_file.read_text())
    state["finished"] = state["finished"][:2]
    state_file.write_text(json.dumps(state))
    ck2 = Checkpoints.open(tmp_path / "out", fingerprint, resume=True, overwrite=False)
    again = Session(recipe).train(model, x, y, checkpoints=ck2)
    assert again.resumed_after == 2
    assert again.stages[-1].details["scheme"].endswith("+cluster_preserve")
    for a, b in zip(first.quant_model.get_weights(), again.quant_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    if engine == "keras3":  # the float weights under the fake quantizer: 16 values + zero
        kernel = np.asarray(again.quant_model.get_layer("fc1").kernel)
        assert len(np.unique(kernel)) <= 17
