"""Keras callbacks a user adds to their own ``model.fit``: ``EdgeMetricsCallback``.

(The callback that drives a session's stage is ``Session.callback()``.) It publishes its
values through ``logs`` so History, TensorBoard, CSVLogger and
``EarlyStopping(monitor="int8_accuracy")`` see them, and resets its state in
``on_train_begin`` so it can be reused across ``fit`` calls.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from compress import _keras
from compress.errors import CompressError

keras = _keras.keras


class EdgeMetricsCallback(keras.callbacks.Callback):
    """Converts the current weights to TFLite at epoch end and evaluates them with LiteRT.

    Writes ``<format>_accuracy``, ``<format>_size_bytes`` (and ``sparsity`` of the
    converted float weights) into ``logs`` every ``every_n_epochs`` epochs.

    Args:
        formats: TFLite formats to convert to, e.g. ``["int8"]``.
        validation_data: ``(x, y)`` to evaluate on (also the calibration samples).
        every_n_epochs: how often (conversion costs seconds per format).
        calibration_samples: representative samples for integer formats.
    """

    def __init__(self, formats: list[str] | tuple[str, ...] = ("int8",), *,
                 validation_data: tuple[Any, Any], every_n_epochs: int = 1,
                 calibration_samples: int = 100) -> None:
        super().__init__()
        from compress.recipe import TargetSpec

        if every_n_epochs < 1:
            raise CompressError(f"every_n_epochs must be >= 1. Received: every_n_epochs="
                                f"{every_n_epochs}")
        self.specs = [TargetSpec(format=f) for f in formats]
        x, y = validation_data
        self.x, self.y = np.asarray(x, dtype=np.float32), np.asarray(y).astype(np.int64)
        if len(self.x) == 0:
            raise CompressError("EdgeMetricsCallback needs validation data. Received: 0 samples")
        rng = np.random.default_rng(0)
        n = min(calibration_samples, len(self.x))
        self.representative = self.x[np.sort(rng.choice(len(self.x), n, replace=False))]
        self.every_n_epochs = every_n_epochs
        self.seconds: list[float] = []

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        from compress.artifacts import evaluate
        from compress.artifacts import export
        from compress.stages.base import kernel_arrays, sparsity_of

        start = time.perf_counter()
        model = _exportable(self.model)
        metrics: dict[str, float] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for spec in self.specs:
                blob = export.convert(model, spec, representative=self.representative)
                path = Path(tmp) / f"{spec.name}.tflite"
                path.write_bytes(blob)
                metrics[f"{spec.name}_accuracy"] = evaluate.evaluate_tflite(path, self.x, self.y)
                metrics[f"{spec.name}_size_bytes"] = float(len(blob))
        if "sparsity" not in (logs or {}):
            metrics["sparsity"] = sparsity_of(kernel_arrays(model))[0]
        self.seconds.append(time.perf_counter() - start)
        if logs is not None:
            logs.update(metrics)


def _exportable(model: Any) -> Any:
    """The model without pruning wrappers (QAT wrappers stay: they export to int8)."""
    from compress.engines import get_engine

    return get_engine("tfmot").strip_pruning(model)


__all__ = ["EdgeMetricsCallback"]
