"""Single-model operations behind ``edgecompress convert`` and ``edgecompress eval``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from compress.errors import ModelLoadError, OutputError


def convert_file(model: Any, *, fmt: str, output: str | Path, io_dtype: str | None = None,
                 data: Any = "fashion-mnist", data_dir: str | None = None,
                 calibration_samples: int = 200, overwrite: bool = False,
                 seed: int = 0, trust_model_code: bool = False) -> dict:
    """Convert a model to one .tflite format (post-training quantization for integer formats).

    The file is written atomically: a failed conversion leaves nothing behind.
    """
    from compress import models
    from compress.artifacts import export
    from compress.recipe import TargetSpec

    out = Path(output)
    if out.exists() and not overwrite:
        raise OutputError(f"output file exists. Received: {str(output)!r}",
                          hint="choose another -o or pass --overwrite")
    spec = TargetSpec(format=fmt, io_dtype=io_dtype)
    loaded, source = models.load_model(model, trust_model_code=trust_model_code)
    representative = None
    data_source = None
    if export.needs_calibration(spec):
        from calibration import sources

        dataset = sources.load_dataset(data, data_dir=data_dir)
        representative = sources.representative_samples(dataset, calibration_samples, seed=seed)
        data_source = dataset.source
    blob = export.convert(loaded, spec, representative=representative)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(blob)
    os.replace(tmp, out)
    return {"path": str(out), "format": fmt, "io_dtype": spec.effective_io_dtype,
            "size_bytes": len(blob), "model": source.location,
            "calibration": ({"samples": calibration_samples, "data": data_source}
                            if data_source else None)}


def evaluate_file(model: str, *, data: Any = "fashion-mnist", data_dir: str | None = None,
                  test_samples: int | None = None, runs: int = 100,
                  threads: int | None = None, trust_model_code: bool = False) -> dict:
    """Accuracy on the test split and host latency of a .tflite file or a Keras model."""
    from calibration import sources
    from compress.artifacts import evaluate

    dataset = sources.load_dataset(data, data_dir=data_dir)
    if test_samples:
        dataset = sources.subsample(dataset, test=test_samples)
    x, y = dataset.x_test, dataset.y_test
    path = Path(model)
    if path.suffix == ".tflite":
        if not path.is_file():
            raise ModelLoadError(f"model not found. Received: {model!r}")
        accuracy = evaluate.evaluate_tflite(path, x, y, threads=threads)
        bench = evaluate.benchmark_tflite(path, x[:1], warmup=10, runs=runs, threads=threads)
        latency = bench["latency_ms"]
        size = path.stat().st_size
        kind = "tflite"
    else:
        from compress import models

        loaded, source = models.load_model(model, trust_model_code=trust_model_code)
        evaluate.check_data_fits(loaded, x, y, dataset.num_classes)
        accuracy = evaluate.keras_accuracy(loaded, x, y)
        latency = evaluate.keras_latency(loaded, x[:1], runs=runs)
        size = source.size_bytes
        kind = "keras"
    return {"model": str(model), "kind": kind, "accuracy": accuracy, "samples": int(len(x)),
            "data": dataset.source, "size_bytes": size,
            "latency_ms": {"p50": latency["p50"], "p90": latency["p90"]}}
