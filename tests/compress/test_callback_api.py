"""The callback API (issue 6's snippet) on a tiny model with the bundled data."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from compress.errors import CompressError


def _tiny(data):
    from compress import zoo

    return zoo.fashion_cnn(data.x_train.shape[1:], data.num_classes, width=8, dense_units=32)


def test_snippet_runs_as_written(tmp_path, small_data, monkeypatch):
    from compress._keras import keras  # the user's tf_keras

    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipe.yaml").write_text(textwrap.dedent("""\
        version: 1
        name: prune50-int8
        stages:
          - kind: prune
            final_sparsity: 0.5
            epochs: 2
        targets: [int8]
        benchmark: {warmup: 2, runs: 5}
        """))
    x, y = small_data.x_train, small_data.y_train
    xv, yv = small_data.x_test, small_data.y_test
    model = _tiny(small_data)

    import compress

    session = compress.Session.from_recipe("recipe.yaml", data=small_data)
    model = session.prepare(model)
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=64, verbose=0, validation_data=(xv, yv),
                        callbacks=[session.callback(),
                                   compress.EdgeMetricsCallback(formats=["int8"],
                                                                validation_data=(xv, yv),
                                                                every_n_epochs=1)])
    result = session.finalize(model, out_dir="out")
    print(result.report["artifacts"][0]["accuracy"])

    logs = history.history
    assert len(logs["int8_accuracy"]) == 2 and len(logs["sparsity"]) == 2
    assert logs["sparsity"][-1] == pytest.approx(0.5, abs=0.01)
    assert logs["int8_size_bytes"][-1] > 0
    art = result.report["artifacts"][0]
    assert art["target"] == "int8"
    assert art["sparsity"] == pytest.approx(0.5, abs=0.01)  # measured in the .tflite
    assert art["accuracy"] > 0.4
    assert result.report["stages"][0]["driven_by"].startswith("user fit")


def test_finalize_without_callback_fails_clearly(tmp_path, small_data):
    import compress
    from compress._keras import keras

    session = compress.Session({"name": "p", "stages": [{"kind": "prune", "epochs": 1}]},
                               data=small_data)
    model = session.prepare(_tiny(small_data))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # (fitting without the callback fails inside tfmot itself; here fit never ran)
    with pytest.raises(CompressError, match="session.callback\\(\\) was not passed"):
        session.finalize(model, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_keras3_model_on_the_tfmot_engine_is_refused_by_prepare():
    """``engine: tfmot`` trains tf_keras models only; the error says how to go on (under
    ``engine: auto`` a Keras 3 model runs natively: test_keras3_engine)."""
    import keras  # Keras 3

    import compress
    from compress.errors import ModelLoadError

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ModelLoadError, match="Keras 3 model") as info:
        compress.Session({"name": "x", "engine": "tfmot",
                          "stages": [{"kind": "qat"}]}).prepare(model)
    assert "engine: keras3" in info.value.hint


def test_edge_metrics_callback_rejects_bad_arguments():
    import compress

    with pytest.raises(CompressError, match="every_n_epochs must be >= 1"):
        compress.EdgeMetricsCallback(["int8"], validation_data=(np.zeros((2, 4)), [0, 1]),
                                     every_n_epochs=0)
