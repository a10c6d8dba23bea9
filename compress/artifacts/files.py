"""Single-model operations behind ``edgecompress convert`` and ``edgecompress eval``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from compress.errors import ModelLoadError, OutputError, TargetError


def convert_file(model: Any, *, output: str | Path, fmt: str | None = None,
                 target: str | None = None, io_dtype: str | None = None,
                 data: Any = "fashion-mnist", data_dir: str | None = None,
                 calibration_samples: int = 200, overwrite: bool = False,
                 seed: int = 0, trust_model_code: bool = False) -> dict:
    """Convert a model to one .tflite file (post-training quantization for integer formats).

    Args:
        model: a Keras model or model file.
        output: the ``.tflite`` file to write.
        fmt: TFLite format (default ``float32``; with ``target``, one the device takes).
        target: a device profile id or ``.yaml``: the artifact that device needs, the same as
            a recipe's ``targets: [ID]`` (its format, I/O dtype and static shapes).
        io_dtype: input/output dtype of an int8 file; with ``target`` it must match the device's.

    The file is written atomically: a failed conversion leaves nothing behind.

    Raises:
        TargetError: unknown device (the message lists the ids), or a ``fmt``/``io_dtype``
            that conflicts with the device.
    """
    from compress import models
    from compress.artifacts import export

    spec = target_spec(fmt=fmt, target=target, io_dtype=io_dtype)
    out = Path(output)
    if out.exists() and not overwrite:
        raise OutputError(f"output file exists. Received: {str(output)!r}",
                          hint="choose another -o or pass --overwrite")
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
    return {"path": str(out), "format": spec.format, "io_dtype": spec.effective_io_dtype,
            "target": spec.device, "static_batch": spec.static_batch,
            "size_bytes": len(blob), "model": source.location,
            "calibration": ({"samples": calibration_samples, "data": data_source}
                            if data_source else None)}


def target_spec(*, fmt: str | None = None, target: str | None = None,
                io_dtype: str | None = None) -> Any:
    """The ``TargetSpec`` for ``convert``: a format, or a device's artifact.

    With ``target`` this is ``TargetSpec.for_device`` (what a recipe's ``targets: [ID]``
    exports); ``fmt`` then picks another format the device takes (a recipe's ``{device: ID,
    format: F}``) and ``io_dtype`` may only repeat the device's.

    Raises:
        TargetError: unknown device, or a format/I/O dtype the device does not take.
    """
    from compress.recipe import TargetSpec
    from targets.spec import get_profile

    if target is None:
        return TargetSpec(format=fmt or "float32", io_dtype=io_dtype)
    profile = get_profile(target)  # unknown id: TargetError listing the valid ids
    if fmt is not None and fmt not in profile.formats:
        raise TargetError(f"--format {fmt} conflicts with --target {profile.id}, which runs "
                          f"{', '.join(profile.formats)}. Received: --format {fmt} "
                          f"--target {target}",
                          hint=f"drop --format to get {profile.id}'s artifact "
                               f"({profile.default_format}), or pass one of its formats")
    spec = TargetSpec.for_device(target, format=None if fmt in (None, profile.default_format)
                                 else fmt)
    if io_dtype is not None and io_dtype != spec.effective_io_dtype:
        raise TargetError(f"--io-dtype {io_dtype} conflicts with --target {profile.id}, whose "
                          f"{spec.format} artifact has {spec.effective_io_dtype} input/output. "
                          f"Received: --io-dtype {io_dtype} --target {target}",
                          hint="drop --io-dtype: the device profile sets it")
    return spec


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
