"""The whole run: baseline -> stages -> export per target -> evaluate -> benchmark -> report.

``compress_model`` is the Python front door; ``edgecompress run`` and ``edgecompress demo``
call it. It writes into a staged folder that appears only when the run completed.
"""

from __future__ import annotations

import hashlib
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compress.errors import ConversionError
from compress.recipe import Recipe, dump_recipe, load_recipe
from compress.report import ArtifactReport, Report


@dataclass
class RunResult:
    """What ``compress_model`` returns: the report (as written) and where it lives."""

    report: dict
    out_dir: Path
    model: Any = None


def compress_model(model: Any, recipe: Recipe | dict | str | Path, *, data: Any = "fashion-mnist",
                   out_dir: str | Path, overwrite: bool = False, data_dir: str | None = None,
                   train_samples: int | None = None, test_samples: int | None = None,
                   calibration_samples: int | None = None, trust_model_code: bool = False,
                   resume: bool = False, progress: Any = None) -> RunResult:
    """Compress ``model`` with ``recipe`` and write artifacts and a report to ``out_dir``.

    Args:
        model: a tf_keras model, or a path / ``module:function`` (see ``compress.models``).
        recipe: a ``Recipe``, mapping, or YAML/JSON path.
        data: a dataset spec (``fashion-mnist``, ``.npz``, IDX dir, image folder,
            ``module:function``) or a ``calibration.Dataset``.
        out_dir: output folder; refused if non-empty unless ``overwrite``.
        train_samples / test_samples: optional caps (seeded subsample) for quick runs.
        calibration_samples: overrides the recipe's representative sample count.
        trust_model_code: allow model files whose config runs stored code (Lambda, ...).
        resume: continue an interrupted run into the same ``out_dir`` after its last
            finished stage (checkpoints in ``<out_dir>.work``, see ``compress.run.checkpoint``).
        progress: a ``compress.progress.Progress`` (silent by default).

    Returns:
        RunResult with the report dict (``report.json``'s content) and the folder.
    """
    from compress.run.output import check_output_dir, staged_output
    from compress.progress import Progress

    progress = progress or Progress(enabled=False)
    recipe = load_recipe(recipe)
    if calibration_samples is not None:
        from compress.recipe import CalibrationConfig

        recipe = recipe.replace(calibration=CalibrationConfig(samples=calibration_samples))
    check_output_dir(out_dir, overwrite=overwrite)  # fail before any slow work
    from compress.run import checkpoint

    checkpoint.check_work_dir(out_dir, resume=resume, overwrite=overwrite)

    from calibration import sources
    from compress import _keras, models
    from compress.artifacts import evaluate
    from compress.session import Session

    t_start = time.perf_counter()
    dataset = sources.load_dataset(data, data_dir=data_dir)
    if train_samples or test_samples:
        dataset = sources.subsample(dataset, train=train_samples, test=test_samples,
                                    seed=recipe.seed)
    progress.info(f"data: {dataset.source}")
    model, source = models.load_model(model, trust_model_code=trust_model_code)
    evaluate.check_data_fits(model, dataset.x_train, dataset.y_train, dataset.num_classes)
    _keras.set_seed(recipe.seed)
    representative = sources.representative_samples(dataset, recipe.calibration.samples,
                                                    seed=recipe.seed)
    bridge = _recheck_bridge(source, model, representative, progress)
    timings: dict[str, float] = {}
    fingerprint = {"recipe": hashlib.sha256(dump_recipe(recipe).encode()).hexdigest(),
                   "model": checkpoint.model_fingerprint(model),
                   "data": {"spec": data_spec(data), "data_dir": data_dir,
                            "source": dataset.source, "train": len(dataset.x_train),
                            "test": len(dataset.x_test)}}

    with staged_output(out_dir, overwrite=overwrite) as tmp:
        ck = checkpoint.Checkpoints.open(out_dir, fingerprint, resume=resume,
                                         overwrite=overwrite, progress=progress)
        t0 = time.perf_counter()
        baseline = ck.baseline()
        if baseline is None:
            progress.info(f"baseline: evaluating {source.location} on "
                          f"{len(dataset.x_test)} samples")
            baseline = measure_baseline(model, source, dataset, tmp, recipe)
            ck.save_baseline(baseline)
        else:
            progress.info("baseline: measured by the interrupted run (reused)")
        timings["baseline_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        trained = Session(recipe, progress=progress).train(
            model, dataset.x_train, dataset.y_train, checkpoints=ck,
            trust_model_code=trust_model_code)
        timings["training_s"] = time.perf_counter() - t0
        data_out = write_outputs(tmp, recipe=recipe, dataset=dataset, baseline=baseline,
                                 trained=trained, representative=representative,
                                 progress=progress, timings=timings, t_start=t_start,
                                 dataset_info={"spec": data_spec(data),
                                               "data_dir": data_dir}, keras3_bridge=bridge)
    ck.done()  # the output folder is complete: the checkpoints are no longer needed
    progress.info(f"done in {timings['total_s']:.1f}s: {Path(out_dir)}")
    # Keras 3 in, Keras 3 out (the reloaded model/model.keras); else the tf_keras model
    model_out = trained.keras3_model if trained.keras3_model is not None else trained.float_model
    return RunResult(report=data_out, out_dir=Path(out_dir), model=model_out)


def write_outputs(tmp: Path, *, recipe: Recipe, dataset: Any, baseline: dict, trained: Any,
                  representative: Any, progress: Any, timings: dict[str, float],
                  t_start: float, dataset_info: dict | None = None,
                  keras3_bridge: dict | None = None) -> dict:
    """Save the compressed model, export and measure every target, write the report files.

    Shared by ``compress_model`` and ``Session.finalize`` (the callback API). With
    ``keras3_bridge`` (a Keras 3 model came in) the float model is saved back as Keras 3.
    """
    from compress import models

    notes = _notes(trained, recipe)
    if keras3_bridge is not None:
        from compress.models import keras3

        progress.info("model: bridging the compressed float model back to Keras 3")
        trained.keras3_model, keras3_bridge["back_to_keras3"] = keras3.save_keras3(
            trained.float_model, tmp / "model" / "model.keras", samples=representative)
        notes.append(_bridge_note(keras3_bridge))
    else:
        models.save_model(trained.float_model, tmp / "model")
    artifacts, conv_s, eval_s, bench_s = [], 0.0, 0.0, 0.0
    (tmp / "artifacts").mkdir()
    for spec in recipe.targets:
        art = _export_one(spec, trained, representative, dataset, tmp, baseline, recipe, progress)
        artifacts.append(art)
        conv_s += art.convert_seconds
        eval_s += art.eval_seconds
        bench_s += art.bench_seconds
    timings.update(conversion_s=conv_s, evaluation_s=eval_s, benchmark_s=bench_s)
    timings["total_s"] = time.perf_counter() - t_start
    timings["outside_training_fraction"] = (
        (timings["total_s"] - timings.get("training_s", 0.0)) / timings["total_s"])
    report = Report(
        recipe=recipe.name, baseline=baseline, artifacts=artifacts, stages=trained.stages,
        environment=_environment(), dataset={**dataset.summary(), **(dataset_info or {})},
        timings=timings, notes=notes, keras3=keras3_bridge)
    from compress.report.figures import device_figures
    from compress.report.files import write_report_files

    # The recipe first: device_figures reads which devices it names.
    (tmp / "recipe.resolved.yaml").write_text(dump_recipe(recipe))
    data_out = device_figures(report.to_dict(), tmp)  # MACs, energy tiers, per-device figures
    write_report_files(tmp, data_out)  # report.json, report.md, report.html
    return data_out


def _recheck_bridge(source: Any, model: Any, samples: Any, progress: Any) -> dict | None:
    """For a Keras 3 model: the bridge check again, on the calibration samples."""
    if not source.keras3:
        return None
    from compress.models import keras3

    check = keras3.recheck(source.original, model, samples,
                           what=f"the Keras 3 model {source.location} bridged to tf_keras")
    progress.info(f"model: Keras {source.keras_version} model bridged to tf_keras "
                  f"({source.bridge['layers']} layers; outputs on {check['samples']} "
                  f"calibration samples differ by at most {check['max_abs_diff']:.3g})")
    return {"keras_version": source.keras_version, "layers": source.bridge["layers"],
            "tolerance_relative": keras3.TOLERANCE, "to_tf_keras": check}


def _bridge_note(bridge: dict) -> str:
    there, back = bridge["to_tf_keras"], bridge["back_to_keras3"]
    return (f"Keras {bridge['keras_version']} model: bridged to tf_keras for compression "
            f"(outputs on {there['samples']} calibration samples differ by at most "
            f"{there['max_abs_diff']:.3g}, relative {there['relative']:.3g}); model/model.keras "
            f"is the compressed float model saved back as Keras 3 and reloaded (differs from "
            f"the tf_keras model by at most {back['max_abs_diff']:.3g}); nested models come "
            "back flattened")


def measure_baseline(model: Any, source: Any, dataset: Any, tmp: Path, recipe: Recipe) -> dict:
    """The original model's accuracy, params, size, batch-1 latency and device."""
    from compress import models
    from compress.artifacts import evaluate

    size = source.size_bytes
    if size is None:  # an in-memory model: measure it as a saved .keras file
        saved = models.save_model(model, tmp / ".baseline")
        size = saved.stat().st_size
        import shutil

        shutil.rmtree(tmp / ".baseline", ignore_errors=True)
    return {
        "accuracy": evaluate.keras_accuracy(model, dataset.x_test, dataset.y_test),
        "params": models.count_params(model),
        "size_bytes": int(size),
        "latency_ms": evaluate.keras_latency(model, dataset.x_test[:1],
                                             warmup=recipe.benchmark.warmup,
                                             runs=max(10, recipe.benchmark.runs // 2)),
        "device": evaluate.baseline_device(),
        "source": source.location,
        # measured with NVML (GPU) or RAPL (CPU) where readable, else None -> estimated later
        "energy_mj": _baseline_energy(model, dataset.x_test[:1]),
        # The uncompressed model as float32 TFLite: the reference for size and gzip ratios.
        "tflite_float32": _reference_tflite(model, tmp),
    }


def _baseline_energy(model: Any, sample: Any) -> dict | None:
    from compress.report.figures import baseline_energy

    return baseline_energy(model, sample)


def _reference_tflite(model: Any, tmp: Path) -> dict:
    from compress.artifacts import evaluate
    from compress.artifacts import export
    from compress.recipe import TargetSpec

    path = tmp / ".baseline-float32.tflite"
    path.write_bytes(export.convert(model, TargetSpec("float32")))
    info = {"size_bytes": path.stat().st_size, "gzip_bytes": evaluate.gzip_size(path)}
    path.unlink()
    return info


def _export_one(spec: Any, trained: Any, representative: Any, dataset: Any, tmp: Path,
                baseline: dict, recipe: Recipe, progress: Any) -> ArtifactReport:
    from compress.artifacts import evaluate
    from compress.artifacts import export

    integer = spec.format in ("int8", "int16x8")
    source_model = trained.quant_model if (integer and trained.quant_model is not None) \
        else trained.float_model
    if trained.quant_model is not None and spec.format == "int16x8":
        source_model = trained.float_model  # tfmot's QAT simulates int8 only
    progress.info(f"{spec.name}: converting")
    t0 = time.perf_counter()
    try:
        blob = export.convert(source_model, spec, representative=representative)
    except ConversionError as exc:
        raise ConversionError(f"target {spec.name}: {exc.message}", hint=exc.hint) from None
    path = tmp / "artifacts" / f"{spec.name}.tflite"
    path.write_bytes(blob)
    convert_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    summary = evaluate.tflite_summary(path)
    accuracy = evaluate.evaluate_tflite(path, dataset.x_test, dataset.y_test,
                                        threads=recipe.benchmark.threads)
    eval_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    bench = evaluate.benchmark_tflite(path, dataset.x_test[:1], warmup=recipe.benchmark.warmup,
                                      runs=recipe.benchmark.runs,
                                      threads=recipe.benchmark.threads)
    bench_s = time.perf_counter() - t0
    lat = bench["latency_ms"]
    progress.info(f"{spec.name}: accuracy {100 * accuracy:.2f} %, {len(blob)} bytes, "
                  f"sparsity {100 * summary['sparsity']:.1f} %, p50 {lat['p50']:.3f} ms")
    return ArtifactReport(
        target=spec.name, format=spec.format, path=f"artifacts/{spec.name}.tflite",
        size_bytes=len(blob), gzip_bytes=evaluate.gzip_size(path),
        sparsity=summary["sparsity"], accuracy=accuracy,
        accuracy_delta=accuracy - baseline["accuracy"],
        latency_ms={"p50": lat["p50"], "p90": lat["p90"]},
        io_dtype=spec.effective_io_dtype, params=summary["params"],
        nonzero_params=summary["nonzero_params"], convert_seconds=convert_s,
        eval_seconds=eval_s, bench_seconds=bench_s)


def data_spec(data: Any) -> str:
    """The data spec as given (files as absolute paths), so the run can reload its data."""
    if not isinstance(data, (str, Path)):
        return getattr(data, "name", type(data).__name__)
    path = Path(data)
    return str(path.resolve()) if path.exists() else str(data)


def _environment() -> dict:
    from compress import _keras

    v = _keras.versions()
    return {"python": platform.python_version(), "tensorflow": v["tensorflow"],
            "tf_keras": v["tf_keras"], "tfmot": v["tfmot"], "litert": v["litert"],
            "machine": f"{platform.system()} {platform.machine()}",
            "argv": " ".join(sys.argv[:1])}


def _notes(trained: Any, recipe: Recipe) -> list[str]:
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

