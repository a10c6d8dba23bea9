"""Measure the original model and each exported artifact on the host.

``measure_baseline``: the original model's accuracy, params, size, batch-1 latency, energy
and its float32 TFLite reference. ``export_artifact``: convert for one target, then evaluate
and benchmark the ``.tflite`` (with the runner's own code), reading the file's graph once; the
graph goes on to the device figures (``compress.report.figures``).
"""

from __future__ import annotations

import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from compress.artifacts import evaluate, export, mixed
from compress.errors import ConversionError
from compress.report.records import ArtifactReport


def measure_baseline(model: Any, source: Any, dataset: Any, tmp: Path, *, benchmark: Any) -> dict:
    """The original model's accuracy, params, size, batch-1 latency and device.

    Args:
        source: the ``compress.models.ModelSource`` it came from (size of its file).
        tmp: a scratch folder (an in-memory model is saved there to be measured).
        benchmark: the recipe's ``BenchmarkConfig`` (warm-up and runs).
    """
    from compress import models

    size = source.size_bytes
    if size is None:  # an in-memory model: measure it as a saved .keras file
        saved = models.save_model(model, tmp / ".baseline")
        size = saved.stat().st_size
        shutil.rmtree(tmp / ".baseline", ignore_errors=True)
    return {
        "accuracy": evaluate.keras_accuracy(model, dataset.x_test, dataset.y_test),
        "params": models.count_params(model),
        "size_bytes": int(size),
        "latency_ms": evaluate.keras_latency(model, dataset.x_test[:1], warmup=benchmark.warmup,
                                             runs=max(10, benchmark.runs // 2)),
        "device": evaluate.baseline_device(),
        "source": source.location,
        # measured with NVML (GPU) or RAPL (CPU) where readable, else None -> estimated later
        "energy_mj": baseline_energy(model, dataset.x_test[:1]),
        # The uncompressed model as float32 TFLite: the reference for size and gzip ratios.
        "tflite_float32": _reference_tflite(model, tmp),
    }


def baseline_energy(model: Any, sample: Any) -> dict | None:
    """Measured energy of the Keras baseline on this host, or None when nothing can measure it.

    NVML when TensorFlow runs on an NVIDIA GPU and the counter works, else RAPL when readable.
    """
    import numpy as np

    from compress import _tf
    from targets import energy

    def run() -> None:
        np.asarray(model(sample, training=False))

    if _tf.gpu_devices() and energy.nvml_available()[0]:
        return energy.measure_nvml(run).to_dict()
    if energy.rapl_available()[0]:
        return energy.measure_rapl(run).to_dict()
    return None


def _reference_tflite(model: Any, tmp: Path) -> dict:
    from compress.recipe import TargetSpec

    path = tmp / ".baseline-float32.tflite"
    path.write_bytes(export.convert(model, TargetSpec("float32")))
    info = {"size_bytes": path.stat().st_size, "gzip_bytes": evaluate.gzip_size(path)}
    path.unlink()
    return info


def convert_target(spec: Any, model: Any, *, representative: Any, dataset: Any, seed: int,
                   progress: Any) -> tuple[bytes, dict | None]:
    """``model`` as ``.tflite`` bytes for ``spec`` by the run's converter path (``int4``/
    ``mixed``: the LiteRT quantizer, which also returns each layer's precision; else
    ``export.convert``), and that precision record (None for the other formats).

    Raises:
        ConversionError: the conversion failed (the message names the target).
    """
    try:
        if spec.format in mixed.SUB8BIT_FORMATS:
            return mixed.export(spec, model, representative=representative, dataset=dataset,
                                seed=seed, progress=progress)
        return export.convert(model, spec, representative=representative), None
    except ConversionError as exc:
        raise ConversionError(f"target {spec.name}: {exc.message}", hint=exc.hint) from None


def write_target(spec: Any, model: Any, folder: Path, *, representative: Any, dataset: Any,
                 seed: int, progress: Any) -> tuple[Path, bytes, dict | None, float]:
    """``convert_target`` into ``folder/<name>.tflite``: the path, the bytes, the precision
    record and the seconds it took."""
    t0 = time.perf_counter()
    blob, precision = convert_target(spec, model, representative=representative,
                                     dataset=dataset, seed=seed, progress=progress)
    path = folder / f"{spec.name}.tflite"
    path.write_bytes(blob)
    return path, blob, precision, time.perf_counter() - t0


def export_artifact(spec: Any, model: Any, *, representative: Any, dataset: Any, folder: Path,
                    baseline: dict, benchmark: Any, progress: Any,
                    seed: int = 0) -> tuple[ArtifactReport, Any]:
    """Convert ``model`` for ``spec`` into ``folder/<name>.tflite``, evaluate and benchmark it.

    ``int4``/``mixed`` go to the LiteRT quantizer (``compress.artifacts.mixed``; ``mixed``
    draws its held-out training samples with ``seed``).

    Returns:
        The artifact's record and its graph (``targets.tflite_graph``: the file is read once).
    """
    from targets.tflite_graph import read_model

    progress.info(f"{spec.name}: converting")
    path, blob, precision, convert_s = write_target(
        spec, model, folder, representative=representative, dataset=dataset, seed=seed,
        progress=progress)

    t0 = time.perf_counter()
    graph = read_model(blob)
    summary = evaluate.tflite_summary(graph)
    accuracy = evaluate.evaluate_tflite(path, dataset.x_test, dataset.y_test,
                                        threads=benchmark.threads)
    eval_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    bench = evaluate.benchmark_tflite(path, dataset.x_test[:1], warmup=benchmark.warmup,
                                      runs=benchmark.runs, threads=benchmark.threads)
    bench_s = time.perf_counter() - t0
    lat = bench["latency_ms"]
    progress.info(f"{spec.name}: accuracy {100 * accuracy:.2f} %, {len(blob)} bytes, "
                  f"sparsity {100 * summary['sparsity']:.1f} %, p50 {lat['p50']:.3f} ms")
    record = ArtifactReport(
        target=spec.name, format=spec.format, path=f"{folder.name}/{spec.name}.tflite",
        size_bytes=len(blob), gzip_bytes=evaluate.gzip_size(path),
        sparsity=summary["sparsity"], accuracy=accuracy,
        accuracy_delta=accuracy - baseline["accuracy"],
        latency_ms={"p50": lat["p50"], "p90": lat["p90"]},
        io_dtype=spec.effective_io_dtype, params=summary["params"],
        nonzero_params=summary["nonzero_params"], convert_seconds=convert_s,
        eval_seconds=eval_s, bench_seconds=bench_s, precision=precision)
    return record, graph


def environment() -> dict:
    """Versions and machine of this run (report ``environment``)."""
    from compress import _tf

    v = _tf.versions()
    return {"python": platform.python_version(), "tensorflow": v["tensorflow"],
            "tf_keras": v["tf_keras"], "tfmot": v["tfmot"], "litert": v["litert"],
            "machine": f"{platform.system()} {platform.machine()}",
            "argv": " ".join(sys.argv[:1])}
