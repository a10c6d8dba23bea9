"""Keras callbacks: the session's stage driver and ``EdgeMetricsCallback``.

Both publish their values through ``logs`` so History, TensorBoard, CSVLogger and
``EarlyStopping(monitor="int8_accuracy")`` see them, and reset their state in
``on_train_begin`` so they can be reused across ``fit`` calls.
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


def session_callback(session: Any, live: Any) -> Any:
    """The callback for the stage ``session.prepare`` wrapped (see ``Session.callback``)."""
    stage = live.stage
    if stage is not None and stage.config.kind == "prune":
        return _PruneDriver(live)
    return _StageDriver(live)


class _StageDriver(keras.callbacks.Callback):
    """Records the fit's history for the stage report; no per-step work."""

    def __init__(self, live: Any) -> None:
        super().__init__()
        self.live = live

    def on_train_begin(self, logs=None):
        self.live.history = {}

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            if isinstance(value, (int, float, np.floating)):
                self.live.history.setdefault(key, []).append(float(value))


class _PruneDriver(_StageDriver):
    """Stretches the pruning schedule over the fit, advances the step, logs ``sparsity``."""

    def __init__(self, live: Any) -> None:
        super().__init__(live)
        from compress import _keras as k

        self._step = k.tfmot.sparsity.keras.UpdatePruningStep()

    def set_model(self, model):
        super().set_model(model)
        self._step.set_model(model)

    def on_train_begin(self, logs=None):
        from compress.stages.prune import set_fit_length

        super().on_train_begin(logs)
        epochs = int(self.params.get("epochs") or 1)
        steps = int(self.params.get("steps") or 1)
        set_fit_length(self.live.stage, epochs * steps)
        self._step.on_train_begin(logs)

    def on_train_batch_begin(self, batch, logs=None):
        # Real per-step work: tfmot's masks update on the step counter.
        self._step.on_train_batch_begin(batch, logs)
        self.live.hooks_ran = True

    def on_epoch_end(self, epoch, logs=None):
        from compress.stages.prune import current_sparsity

        self._step.on_epoch_end(epoch, logs)
        if logs is not None:
            logs["sparsity"] = current_sparsity(self.model)
        super().on_epoch_end(epoch, logs)


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
    from compress import _keras as k

    if any(hasattr(layer, "pruning_vars") for layer in model.layers):
        return k.tfmot.sparsity.keras.strip_pruning(model)
    return model


__all__ = ["EdgeMetricsCallback", "session_callback"]
