"""Session: the one core behind the CLI, the Python API and the Keras callbacks.

A session holds a recipe and runs its training stages on a model:
``prepare`` (wrap for the stage) -> training with the stage's hooks -> ``finalize``
(strip, measure, report). ``train`` runs every stage with our own loop; the callback API
drives the same stage objects from inside the user's ``model.fit``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compress.errors import CompressError, DataError
from compress.recipe import Recipe, load_recipe
from compress.report import StageReport


@dataclass
class TrainedModels:
    """What training produced: the float model, the model for integer export, stage records."""

    float_model: Any
    quant_model: Any | None
    stages: list[StageReport] = field(default_factory=list)


class Session:
    """Runs a recipe's stages on a model.

    Args:
        recipe: a ``Recipe``, a mapping, or a path to a YAML/JSON recipe.
        progress: optional progress reporter (see ``compress.progress``).
    """

    def __init__(self, recipe: Recipe | dict | str | Path, *, progress: Any = None) -> None:
        self.recipe = load_recipe(recipe)
        from compress.progress import Progress

        self.progress = progress or Progress(enabled=False)

    @classmethod
    def from_recipe(cls, path: str | Path, **kwargs: Any) -> "Session":
        """A session for the recipe file at ``path``."""
        return cls(load_recipe(path), **kwargs)

    def train(self, model: Any, x: np.ndarray, y: np.ndarray, *,
              validation: tuple[np.ndarray, np.ndarray] | None = None) -> TrainedModels:
        """Run every stage of the recipe with our own training loop.

        The caller's ``model`` is not modified: the session works on a copy.
        """
        from compress import _keras
        from compress.stages import make_stage
        from compress.stages.base import StageContext, output_is_probabilities

        keras = _keras.keras
        _keras.require_tf_keras(model)
        if len(x) == 0:
            raise DataError("the training split is empty. Received: 0 samples",
                            hint="training stages need labelled training data")
        work = keras.models.clone_model(model)
        work.set_weights(model.get_weights())
        if self.recipe.stages:
            from compress.graph import flatten_nested

            work = flatten_nested(work)  # so prune and QAT reach layers of nested models
        probabilities = output_is_probabilities(work)
        batch = self.recipe.training.batch_size
        steps = max(1, int(np.ceil(len(x) / batch)))
        float_model, quant_model = work, None
        reports: list[StageReport] = []
        done: list[str] = []
        for index, cfg in enumerate(self.recipe.stages):
            ctx = StageContext(steps_per_epoch=steps, previous_kinds=tuple(done),
                               seed=self.recipe.seed)
            stage = make_stage(cfg)
            start = time.perf_counter()
            current = quant_model if quant_model is not None else float_model
            prepared = stage.prepare(current, ctx)
            lr = cfg.learning_rate or self.recipe.training.learning_rate
            prepared.compile(
                optimizer=keras.optimizers.Adam(learning_rate=lr),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities),
                metrics=["accuracy"])
            history: dict[str, list[float]] = {}
            if cfg.epochs > 0:
                callbacks = stage.callbacks(ctx) + [
                    self.progress.keras_callback(f"{cfg.kind} ({index + 1}/"
                                                 f"{len(self.recipe.stages)})", cfg.epochs, steps)]
                fit = prepared.fit(x, y, batch_size=batch, epochs=cfg.epochs, verbose=0,
                                   shuffle=True, validation_data=validation, callbacks=callbacks)
                history = {k: list(map(float, v)) for k, v in fit.history.items()}
                if not stage.hooks_ran(prepared):
                    raise CompressError(
                        f"stage {cfg.kind}: its training hooks never ran",
                        hint="internal error: please report it with --debug output")
            result, details = stage.finalize(prepared, ctx)
            if cfg.kind == "qat" or quant_model is not None:
                quant_model = result  # stages after qat keep training the quantized model
            else:
                float_model = result
            done.append(cfg.kind)
            reports.append(StageReport(kind=cfg.kind, seconds=time.perf_counter() - start,
                                       epochs=cfg.epochs, details=details, history=history))
        return TrainedModels(float_model=float_model, quant_model=quant_model, stages=reports)
