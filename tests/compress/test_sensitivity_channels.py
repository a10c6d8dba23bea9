"""``edgecompress sensitivity --kind channels``: per prunable layer, the accuracy drop at 25/50/75 %
of its channels and the MACs saved; the scan's figures are those of the real cut."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from compress.cli import cli, main

keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory, small_data):
    keras.utils.set_random_seed(0)
    inp = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="c1")(inp)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(10, name="logits")(x))
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(small_data.x_train[:512], small_data.y_train[:512], epochs=2, verbose=0)
    path = tmp_path_factory.mktemp("sens") / "m.keras"
    model.save(path)
    return path


def test_channel_scan_json_matches_the_real_cut(model_path, capsys):
    from calibration import sources
    from compress import channels

    main(["sensitivity", str(model_path), "--data", "fashion-mnist-subset",
          "--train-samples", "400", "--holdout-samples", "200", "--json"])  # exit 0: returns
    result = json.loads(capsys.readouterr().out)
    assert result["kind"] == "channels" and result["holdout"]["samples"] == 200
    assert [r["layer"] for r in result["layers"]] == ["c1", "c2"]
    assert {"logits"} <= {f["layer"] for f in result["fixed_layers"]}
    for row in result["layers"]:
        assert [p["ratio"] for p in row["points"]] == [0.25, 0.5, 0.75]
        saved = [p["macs_saved"] for p in row["points"]]
        assert 0 < saved[0] < saved[1] < saved[2] < result["total_macs"]
    # the scan zeroes what the cut removes: cut c2 to 50 % for real, same accuracy
    model = keras.models.load_model(model_path)
    ds = sources.subsample(sources.load_dataset("fashion-mnist-subset"), train=400, seed=0)
    idx = np.sort(np.random.default_rng([0, 14]).choice(400, 200, replace=False))
    x, y = ds.x_train[idx], ds.y_train[idx]
    graph = channels.analyze(model)
    c2 = next(g for g in graph.groups if g.producers == ["c2"])
    keep = channels.plan.kept_indices(channels.plan.importance(graph, c2, "l1"), 4)
    small = channels.cut(graph, {c2.id: keep})
    point = result["layers"][1]["points"][1]
    assert channels.plan.accuracy(small, x, y) == pytest.approx(point["accuracy"], abs=1e-5)
    assert point["macs_saved"] == pytest.approx(
        channels.plan.total_macs(graph, {}) - channels.plan.total_macs(graph, {c2.id: 4}))


def test_channel_scan_table_and_errors(model_path):
    runner = CliRunner()
    out = runner.invoke(cli, ["sensitivity", str(model_path), "--data", "fashion-mnist-subset",
                              "--train-samples", "200", "--holdout-samples", "100"])
    assert out.exit_code == 0, out.output
    assert "drop@25%" in out.output and "c1" in out.output
    bad = runner.invoke(cli, ["sensitivity", str(model_path), "--kind", "nonsense"])
    assert bad.exit_code == 2 and "channels" in bad.output
    assert runner.invoke(cli, ["sensitivity", "--help"]).exit_code == 0


def test_missing_model_is_one_line_exit_1(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["sensitivity", str(tmp_path / "none.keras"), "--data", "fashion-mnist-subset"])
    assert done.value.code == 1
    assert "Error:" in capsys.readouterr().err
