"""Measure models: the Keras baseline, and .tflite artifacts with the LiteRT interpreter.

Artifacts are evaluated and timed by ``targets.runner``, the same code that runs on the
device, so host and device figures are comparable.
"""

from __future__ import annotations

import gzip
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from compress.errors import BenchmarkError, DataError


def check_data_fits(model: Any, x: np.ndarray, y: np.ndarray, num_classes: int) -> None:
    """Raise ``DataError`` when the data's input shape or class count does not fit the model.

    A subclassed model declares no input: it is run on one sample instead.
    """
    got = tuple(x.shape[1:])
    if getattr(model, "inputs", None):
        expected = tuple(model.inputs[0].shape[1:])
        units = model.outputs[0].shape[-1]
    else:
        expected, units = got, _output_units(model, x[:1], got)
    if len(expected) != len(got) or any(e is not None and e != g for e, g in zip(expected, got)):
        raise DataError(
            f"the dataset's input shape does not fit the model. Received: samples of shape "
            f"{got}, model input {expected}",
            hint="pass data that matches the model input (or a model that matches the data)")
    if units is not None and num_classes > units:
        raise DataError(
            f"the dataset has more classes than the model has outputs. Received: "
            f"{num_classes} classes, model output has {units} units",
            hint="check that --data is the dataset the model was trained on")


def _output_units(model: Any, sample: Any, shape: tuple) -> int | None:
    try:
        out = model(np.asarray(sample, dtype=np.float32), training=False)
    except Exception as exc:  # the model's own error for an input it cannot take
        raise DataError(f"the model cannot run on the dataset's samples. Received: samples of "
                        f"shape {shape}; the model said: {str(exc).splitlines()[0][:200]}",
                        hint="pass data that matches the model input") from None
    return int(np.asarray(out).shape[-1])


def keras_accuracy(model: Any, x: np.ndarray, y: np.ndarray, *, batch_size: int = 256) -> float:
    """Top-1 accuracy of a Keras model."""
    if len(x) == 0:
        raise DataError("the test split is empty. Received: 0 samples",
                        hint="evaluation needs labelled test data")
    correct = 0
    for i in range(0, len(x), batch_size):
        out = model(x[i:i + batch_size], training=False)
        correct += int(np.sum(np.argmax(np.asarray(out), axis=-1) == y[i:i + batch_size]))
    return correct / len(x)


def keras_latency(model: Any, sample: np.ndarray, *, warmup: int = 10,
                  runs: int = 50) -> dict[str, float]:
    """Batch-1 latency of a Keras model through a compiled ``tf.function`` (p50/p90 ms)."""
    from compress import _tf

    fn = _tf.tf.function(lambda t: model(t, training=False))
    x = _tf.tf.constant(sample[:1])
    for _ in range(warmup):
        fn(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        np.asarray(fn(x))
        times.append((time.perf_counter_ns() - start) / 1e6)
    return {"p50": float(np.percentile(times, 50)), "p90": float(np.percentile(times, 90))}


def baseline_device() -> str:
    """Where the Keras baseline runs: the first GPU TensorFlow sees, else the CPU."""
    from compress import _tf

    gpus = _tf.gpu_devices()
    if gpus:
        return f"GPU ({gpus[0]})"
    return f"CPU ({platform.machine()})"


def gzip_size(path: str | Path) -> int:
    """Size of the file after gzip -9: what pruning buys in transfer and storage."""
    return len(gzip.compress(Path(path).read_bytes(), compresslevel=9, mtime=0))


#: Samples per chunk when a streamed split is evaluated (decoded one chunk at a time).
STREAM_CHUNK = 1024


def evaluate_tflite(path: str | Path, x: np.ndarray, y: np.ndarray, *,
                    threads: int | None = None) -> float:
    """Top-1 accuracy of a .tflite file with the LiteRT interpreter."""
    from targets import runner

    if len(x) == 0:
        raise DataError("the test split is empty. Received: 0 samples")
    # A streamed split (image files) is decoded and evaluated a chunk at a time.
    chunk = STREAM_CHUNK if not isinstance(x, np.ndarray) else len(x)
    correct = 0
    try:
        for start in range(0, len(x), chunk):
            result = runner.evaluate(str(path), x[start:start + chunk],
                                     y[start:start + chunk], threads=threads)
            correct += round(result["accuracy"] * result["samples"])
    except runner.RunnerError as exc:
        raise BenchmarkError(f"evaluating {path} failed: {exc}") from None
    return correct / len(x)


def benchmark_tflite(path: str | Path, sample: np.ndarray, *, warmup: int, runs: int,
                     threads: int | None = None) -> dict[str, Any]:
    """Host latency of a .tflite file (the on-device runner's code, run here)."""
    from targets import runner

    try:
        return runner.benchmark(str(path), x=sample, warmup=warmup, runs=runs, threads=threads)
    except runner.RunnerError as exc:
        raise BenchmarkError(f"benchmarking {path} failed: {exc}") from None


def tflite_summary(graph: Any) -> dict[str, Any]:
    """Static facts from a read flatbuffer (``targets.tflite_graph.read_model``): sparsity of
    weights, params, non-zero params."""
    stats = graph.weight_stats()
    return {"sparsity": float(stats["sparsity"]), "params": int(stats["params"]),
            "nonzero_params": int(stats["nonzero_params"])}
