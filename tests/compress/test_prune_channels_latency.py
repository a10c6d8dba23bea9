"""Issue 14's report point: after a ``prune_channels`` stage, each artifact's host latency
against the unpruned model converted to the same format (report ``channel_pruning``), shown in
report.md, report.html and the CLI summary, labelled a host measurement. Behaviour only: the
tests check the fields, that the unpruned files really are the unpruned model, and the
labels; never timings."""

from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from tests.compress.test_prune_channels_stage import _trained_cnn  # noqa: E402  (same tiny CNN)


@pytest.fixture(scope="module")
def data(small_data):
    from calibration import sources

    return sources.subsample(small_data, train=256, test=64, seed=0)


@pytest.fixture(scope="module")
def trained(data):
    return _trained_cnn(data, epochs=2)


@pytest.fixture(scope="module")
def run(trained, data, tmp_path_factory):
    """ratio 0.5 cut (no recovery epochs) -> float32 and int8, on the keras3 engine."""
    from compress import compress_model

    recipe = {"name": "pc-latency", "engine": "keras3", "targets": ["float32", "int8"],
              "benchmark": {"warmup": 2, "runs": 7},
              "stages": [{"kind": "prune_channels", "ratio": 0.5, "round_to": 4,
                          "epochs": 0}]}
    return compress_model(trained, recipe, data=data,
                          out_dir=tmp_path_factory.mktemp("pc") / "run")


def test_each_artifact_has_a_complete_host_latency_entry(run):
    from compress.artifacts.unpruned import ROUNDS

    report = json.loads((run.out_dir / "report.json").read_text())
    entries = report["channel_pruning"]["host_latency"]
    assert [(e["target"], e["format"]) for e in entries] == [("float32", "float32"),
                                                             ("int8", "int8")]
    for e in entries:
        assert e["measured"] == "host" and e["threads"] == 1 and e["device"].startswith("host")
        assert e["p50_ms"] > 0 and e["unpruned_p50_ms"] > 0 and e["speedup"] > 0
        assert e["speedup"] == pytest.approx(e["unpruned_p50_ms"] / e["p50_ms"], rel=1e-3)
        assert len(e["p50_ms_per_round"]) == len(e["unpruned_p50_ms_per_round"]) == ROUNDS
        # bounded by the recipe's benchmark settings: its warm-up, its runs split over rounds
        assert e["warmup"] == 2 and e["runs_per_round"] * ROUNDS in range(7, 7 + ROUNDS)
        assert e["size_bytes"] < e["unpruned_size_bytes"]
    assert "host x86" in report["channel_pruning"]["method"]
    assert "not a device figure" in report["channel_pruning"]["method"]
    assert report["timings"]["unpruned_comparison_s"] > 0


def test_the_unpruned_files_are_the_unpruned_model(run, trained, data):
    """MACs counted from each unpruned .tflite graph are the original model's (higher than the
    artifact's), and the float32 file computes the original Keras model's outputs."""
    from targets.tflite_graph import read_model

    report = json.loads((run.out_dir / "report.json").read_text())
    stage = report["stages"][0]
    for e in report["channel_pruning"]["host_latency"]:
        unpruned = read_model(run.out_dir / e["unpruned_path"]).macs()["total"]
        pruned = read_model(run.out_dir / f"artifacts/{e['target']}.tflite").macs()["total"]
        assert unpruned == e["unpruned_macs"] == stage["macs_before"]
        assert pruned == e["macs"] == stage["macs_after"] < unpruned
    # the baseline's MACs (and energy estimate) come from the unpruned file, not the artifact
    assert report["baseline"]["macs"] == stage["macs_before"]
    assert "unpruned/" in report["baseline"]["energy_mj"]["source"]
    from ai_edge_litert.interpreter import Interpreter

    x = data.x_test[:8].astype("float32")
    interp = Interpreter(model_path=str(run.out_dir / "unpruned/float32.tflite"))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    got = []
    for row in x:
        interp.set_tensor(inp["index"], row[None])
        interp.invoke()
        got.append(interp.get_tensor(out["index"])[0])
    np.testing.assert_allclose(np.stack(got), np.asarray(trained(x, training=False)),
                               atol=1e-4)


def test_report_html_md_and_cli_summary_show_it_as_host(run):
    from compress.report.markdown import render_summary

    report = json.loads((run.out_dir / "report.json").read_text())
    for text in ((run.out_dir / "report.md").read_text(),
                 (run.out_dir / "report.html").read_text()):
        assert "Host latency against the unpruned model" in text
        assert "not a device figure" in text and "unpruned p50 ms" in text
    summary = render_summary(report, run.out_dir)
    assert "host p50 vs the unpruned model" in summary and "not a device figure" in summary
    assert "int8:" in summary and "ms unpruned" in summary


def test_no_channel_pruning_no_comparison(tiny_run):
    from compress.report.markdown import render_summary

    report = tiny_run.report
    assert "channel_pruning" not in report
    assert not (tiny_run.out_dir / "unpruned").exists()
    assert "unpruned" not in render_summary(report, tiny_run.out_dir)


def test_callback_api_compares_with_the_model_given_to_prepare(trained, data, tmp_path):
    """Session.prepare -> the user's fit -> finalize: the unpruned reference is the model
    given to prepare (its MACs), not the cut model that was fitted."""
    from compress import Session
    from targets.tflite_graph import read_model

    session = Session({"name": "cb-pc", "engine": "keras3", "targets": ["int8"],
                       "benchmark": {"warmup": 1, "runs": 3},
                       "stages": [{"kind": "prune_channels", "ratio": 0.5, "round_to": 4,
                                   "epochs": 0}]}, data=data)
    original = keras.models.clone_model(trained)
    original.set_weights(trained.get_weights())
    small = session.prepare(original)
    small.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    small.fit(data.x_train, data.y_train, epochs=1, batch_size=64, verbose=0,
              callbacks=[session.callback()])
    result = session.finalize(small, out_dir=tmp_path / "run")
    (entry,) = result.report["channel_pruning"]["host_latency"]
    assert entry["measured"] == "host" and entry["p50_ms"] > 0 and entry["unpruned_p50_ms"] > 0
    stage = result.report["stages"][0]
    unpruned = read_model(result.out_dir / entry["unpruned_path"]).macs()["total"]
    assert unpruned == entry["unpruned_macs"] == stage["macs_before"] > entry["macs"]
