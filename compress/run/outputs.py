"""The tail of a run, called once by the session: save the compressed model, export and measure
every target, build the report record with its device figures, then write the report files.

Nothing is written to the run folder's report files before the whole report is built.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from compress.report.records import Report


def write_outputs(tmp: Path, *, recipe: Any, dataset: Any, baseline: dict, trained: Any,
                  representative: Any, progress: Any, timings: dict[str, float],
                  t_start: float, dataset_info: dict | None = None,
                  keras3_bridge: dict | None = None, engine: str | None = None,
                  original: Any = None) -> dict:
    """Save the model, export and measure each target, write report.json/.md/.html.

    With ``keras3_bridge`` (a Keras 3 model came in) the float model is saved back as Keras 3.
    After a ``prune_channels`` stage, ``original`` (the model the run started from) is
    converted for every target and each artifact's host latency is compared with it
    (``compress.artifacts.unpruned``; report ``channel_pruning``).

    Returns:
        ``report.json``'s content.
    """
    from compress import models
    from compress.artifacts.measure import environment, export_artifact
    from compress.report.figures import compute_figures, profiles_for
    from compress.report.files import write_report_files

    notes = _notes(trained)
    if keras3_bridge is not None:
        from compress.models import keras3

        progress.info("model: bridging the compressed float model back to Keras 3")
        trained.keras3_model, keras3_bridge["back_to_keras3"] = keras3.save_keras3(
            trained.float_model, tmp / "model" / "model.keras", samples=representative)
        notes.append(_bridge_note(keras3_bridge))
    else:
        models.save_model(trained.float_model, tmp / "model")
    artifacts, graphs = [], {}
    (tmp / "artifacts").mkdir()
    for spec in recipe.targets:
        record, graphs[spec.name] = export_artifact(
            spec, _export_model(spec, trained), representative=representative, dataset=dataset,
            folder=tmp / "artifacts", baseline=baseline, benchmark=recipe.benchmark,
            progress=progress, seed=recipe.seed)
        artifacts.append(record)
    artifacts = _cluster_counts(artifacts, graphs, trained)
    channel_pruning, unpruned_graphs = None, None
    if original is not None and any(s.kind == "prune_channels" for s in trained.stages):
        from compress.artifacts.unpruned import compare_unpruned

        t0 = time.perf_counter()
        channel_pruning, unpruned_graphs = compare_unpruned(
            original, list(recipe.targets), artifacts=artifacts, artifact_graphs=graphs,
            run_dir=tmp,
            representative=representative, dataset=dataset, benchmark=recipe.benchmark,
            progress=progress, seed=recipe.seed)
        timings["unpruned_comparison_s"] = time.perf_counter() - t0
    timings.update(conversion_s=sum(a.convert_seconds for a in artifacts),
                   evaluation_s=sum(a.eval_seconds for a in artifacts),
                   benchmark_s=sum(a.bench_seconds for a in artifacts))
    timings["total_s"] = time.perf_counter() - t_start
    timings["outside_training_fraction"] = (
        (timings["total_s"] - timings.get("training_s", 0.0)) / timings["total_s"])
    measured = Report(
        recipe=recipe.name, baseline=baseline, artifacts=artifacts, stages=trained.stages,
        environment=environment(), dataset={**dataset.summary(), **(dataset_info or {})},
        timings=timings, notes=notes, keras3=keras3_bridge, engine=engine,
        channel_pruning=channel_pruning)
    devices = list(dict.fromkeys(t.device for t in recipe.targets if t.device))
    # MACs, energy tiers, per-device figures: the record is complete before anything is written
    report = dataclasses.replace(measured, figures=compute_figures(
        measured.to_dict(), tmp, graphs=graphs, profiles=profiles_for(devices),
        unpruned_graphs=unpruned_graphs))
    from compress.recipe import dump_recipe

    data_out = report.to_dict()
    (tmp / "recipe.resolved.yaml").write_text(dump_recipe(recipe))
    write_report_files(tmp, data_out)  # report.json, report.md, report.html
    return data_out


def _export_model(spec: Any, trained: Any) -> Any:
    """Integer formats export the QAT model where there is one (tfmot's QAT simulates int8
    only, so int16x8 exports the float model); float formats the float model."""
    if spec.format == "int8" and trained.quant_model is not None:
        return trained.quant_model
    if spec.format in ("int4", "mixed") and _int4_qat(trained):
        return trained.quant_model
    return trained.float_model


def _int4_qat(trained: Any) -> bool:
    """A qat stage trained int4 weights (``weight_bits: 4``, keras3 engine): its quantized
    model is a plain Keras model whose kernels sit on the 4-bit per-channel grid, which the
    LiteRT quantizer's int4 reproduces exactly (same symmetric max/7 scales)."""
    return trained.quant_model is not None and any(
        s.kind == "qat" and str(s.details.get("scheme", "")).startswith("weights_int4")
        for s in trained.stages)


def _cluster_counts(artifacts: list, graphs: dict, trained: Any) -> list:
    """After a cluster stage: each file's distinct weight values per kernel and channel."""
    if not any(s.kind == "cluster" for s in trained.stages):
        return artifacts
    from targets.clusters import distinct_values

    return [dataclasses.replace(a, distinct_values=distinct_values(graphs[a.target]))
            for a in artifacts]


def _bridge_note(bridge: dict) -> str:
    there, back = bridge["to_tf_keras"], bridge["back_to_keras3"]
    return (f"Keras {bridge['keras_version']} model: bridged to tf_keras for compression "
            f"(outputs on {there['samples']} calibration samples differ by at most "
            f"{there['max_abs_diff']:.3g}, relative {there['relative']:.3g}); model/model.keras "
            f"is the compressed float model saved back as Keras 3 and reloaded (differs from "
            f"the tf_keras model by at most {back['max_abs_diff']:.3g}); nested models come "
            "back flattened")


def _notes(trained: Any) -> list[str]:
    notes = []
    for stage in trained.stages:
        skipped = stage.details.get("skipped_layers") or []
        if skipped:
            names = ", ".join(s["layer"] for s in skipped[:8])
            more = f" and {len(skipped) - 8} more" if len(skipped) > 8 else ""
            notes.append(f"{stage.kind}: {len(skipped)} layer(s) with weights left out: "
                         f"{names}{more} (see stages[].skipped_layers)")
    if trained.resumed_after:
        notes.append(f"resumed: the first {trained.resumed_after} stage(s) were restored from "
                     "the checkpoints of an interrupted run (their seconds are that run's)")
    if trained.quant_model is not None:
        notes.append("float formats are exported from the model before QAT; integer formats "
                     "from the QAT model")
    return notes


def data_spec(data: Any) -> str:
    """The data spec as given (files as absolute paths), so the run can reload its data."""
    if not isinstance(data, (str, Path)):
        return getattr(data, "name", type(data).__name__)
    path = Path(data)
    return str(path.resolve()) if path.exists() else str(data)
