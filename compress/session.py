"""Session: the one core behind the CLI, the Python API and the Keras callbacks.

A session holds a recipe and runs its training stages on a model:
``prepare`` (wrap for the stage) -> training with the stage's hooks -> ``finalize``
(strip, measure, report).

* ``train`` runs every stage with our own loop (``compress_model`` and the CLI use it).
* The callback API runs the recipe's first stage inside the user's own ``model.fit``:
  ``model = session.prepare(model)``, ``fit(..., callbacks=[session.callback()])``,
  ``session.finalize(model, out_dir=...)``. ``finalize`` strips wrappers, runs any later
  stages with our loop on the session's data, exports, evaluates and writes the report.
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
    #: stages restored from an interrupted run's checkpoints (``--resume``), else 0
    resumed_after: int = 0
    #: the float model saved back as Keras 3 (a Keras 3 model came in), else None
    keras3_model: Any = None


@dataclass
class _Live:
    """State of the stage driven by the user's ``fit`` (callback API)."""

    stage: Any
    ctx: Any
    baseline: Any
    started: float
    hooks_ran: bool = False
    history: dict[str, list[float]] = field(default_factory=dict)


class Session:
    """Runs a recipe's stages on a model.

    Args:
        recipe: a ``Recipe``, a mapping, or a path to a YAML/JSON recipe.
        data: dataset for ``finalize`` (calibration, later stages, evaluation): any spec
            ``calibration.load_dataset`` takes; default ``fashion-mnist``.
        progress: optional progress reporter (see ``compress.progress``).
    """

    def __init__(self, recipe: Recipe | dict | str | Path, *, data: Any = "fashion-mnist",
                 progress: Any = None) -> None:
        self.recipe = load_recipe(recipe)
        self.data = data
        from compress.progress import Progress

        self.progress = progress or Progress(enabled=False)
        self._live: _Live | None = None
        self._original: Any = None  # the model the session started from: the teacher
        self._teacher_copy: Any = None

    @classmethod
    def from_recipe(cls, path: str | Path, **kwargs: Any) -> "Session":
        """A session for the recipe file at ``path``."""
        return cls(load_recipe(path), **kwargs)

    # -- our own loop ------------------------------------------------------------------
    def train(self, model: Any, x: np.ndarray, y: np.ndarray, *,
              validation: tuple[np.ndarray, np.ndarray] | None = None,
              checkpoints: Any = None, trust_model_code: bool = False) -> TrainedModels:
        """Run every stage of the recipe with our own training loop.

        The caller's ``model`` is not modified: the session works on a copy.

        Args:
            checkpoints: a ``compress.run.checkpoint.Checkpoints``: each finished stage is saved
                there, and stages it already holds (an interrupted run) are not run again.
            trust_model_code: passed on when a checkpointed model is loaded.
        """
        from compress import _keras
        from compress.models.graph import flatten_nested

        _keras.require_tf_keras(model)
        self._original, self._teacher_copy = model, None
        if checkpoints is not None and checkpoints.finished:
            trained, start = self._restore(checkpoints, trust_model_code=trust_model_code)
            self.progress.info(f"resuming after stage {start}/{len(self.recipe.stages)} "
                               f"({self.recipe.stages[start - 1].kind}) from {checkpoints.work}")
        else:
            work = _keras.keras.models.clone_model(model)
            work.set_weights(model.get_weights())
            if self.recipe.stages:
                work = flatten_nested(work)  # so prune and QAT reach layers of nested models
            trained, start = TrainedModels(work, None), 0
        return self._run_stages(trained, x, y, start=start, validation=validation,
                                checkpoints=checkpoints)

    def _restore(self, checkpoints: Any, *, trust_model_code: bool) -> tuple[TrainedModels, int]:
        """The models after the last checkpointed stage, and the index of the next stage."""
        from compress.stages import make_stage

        float_model, weights, quant_from = checkpoints.last_models(
            trust_model_code=trust_model_code)
        trained = TrainedModels(float_model, None, checkpoints.stage_reports())
        if weights is not None:
            # The QAT model's structure is rebuilt exactly as the qat stage built it (from
            # the float model it started from), then its trained weights are loaded.
            cfg = self.recipe.stages[quant_from]
            quant = make_stage(cfg).prepare(float_model, self._context(quant_from, 1))
            quant.set_weights([weights[f"arr_{i}"] for i in range(len(weights.files))])
            trained.quant_model = quant
        trained.resumed_after = checkpoints.resumed_from
        return trained, checkpoints.finished[-1]["index"] + 1

    def _context(self, index: int, steps: int) -> Any:
        from compress.stages.base import StageContext

        return StageContext(steps_per_epoch=steps, seed=self.recipe.seed,
                            previous_kinds=tuple(s.kind for s in self.recipe.stages[:index]))

    def _run_stages(self, trained: TrainedModels, x: np.ndarray, y: np.ndarray, *,
                    start: int, validation: Any = None, checkpoints: Any = None
                    ) -> TrainedModels:
        from compress import _keras
        from compress.stages import make_stage
        from compress.run.feed import fit_model

        stages = self.recipe.stages[start:]
        if stages and len(x) == 0:
            raise DataError("the training split is empty. Received: 0 samples",
                            hint="training stages need labelled training data")
        batch = self.recipe.training.batch_size
        steps = max(1, int(np.ceil(len(x) / batch)))
        for offset, cfg in enumerate(stages):
            index = start + offset
            # Each stage starts from its own seed, so a resumed run trains as the
            # uninterrupted one did (no RNG state carried over from earlier stages).
            _keras.set_seed(self.recipe.seed + index)
            ctx = self._context(index, steps)
            kd = self._distillation(index, cfg)
            stage = make_stage(cfg, teacher=self._teacher() if cfg.kind == "distill" else None)
            began = time.perf_counter()
            current = trained.quant_model if trained.quant_model is not None \
                else trained.float_model
            prepared = stage.prepare(current, ctx)
            # After a distill stage, later stages train the prepared model against the teacher.
            fitted = prepared if kd is None else kd(prepared)
            self._compile(fitted, cfg, probabilities=_probabilities(trained.float_model))
            history: dict[str, list[float]] = {}
            if cfg.epochs > 0:
                callbacks = stage.callbacks(ctx) + [self.progress.keras_callback(
                    f"{cfg.kind} ({index + 1}/{len(self.recipe.stages)})", cfg.epochs, steps)]
                # fit_model: a streamed image folder trains through tf.data
                fit = fit_model(fitted, x, y, batch_size=batch, epochs=cfg.epochs, verbose=0,
                                shuffle=True, validation_data=validation, callbacks=callbacks)
                history = {k: list(map(float, v)) for k, v in fit.history.items()}
                if not stage.hooks_ran(prepared):
                    raise CompressError(f"stage {cfg.kind}: its training hooks never ran",
                                        hint="internal error: please report it with --debug")
            result, details = stage.finalize(prepared, ctx)
            if fitted is not prepared:
                details = {**details, "distillation": fitted.describe()}
            _store(trained, cfg.kind, result)
            trained.stages.append(StageReport(kind=cfg.kind, seconds=time.perf_counter() - began,
                                              epochs=cfg.epochs, details=details,
                                              history=history))
            if checkpoints is not None:
                checkpoints.save_stage(index, trained, quant_from=self._quant_from(index)
                                       if trained.quant_model is not None else None)
        return trained

    def _quant_from(self, index: int) -> int | None:
        """The index of the qat stage that built the current QAT model."""
        return next((i for i, s in enumerate(self.recipe.stages[:index + 1])
                     if s.kind == "qat"), None)

    def _teacher(self) -> Any:
        """A frozen copy of the model the session started from (made once, on demand)."""
        if self._teacher_copy is None:
            from compress import _keras
            from compress.models.graph import flatten_nested

            if self._original is None:
                raise CompressError("distillation needs the original model as its teacher",
                                    hint="internal error: please report it with --debug")
            teacher = _keras.keras.models.clone_model(self._original)
            teacher.set_weights(self._original.get_weights())
            self._teacher_copy = flatten_nested(teacher)
        return self._teacher_copy

    def _distillation(self, index: int, cfg: Any) -> Any:
        """For a stage after a distill stage: a function wrapping its model in a Distiller."""
        if cfg.kind == "distill":
            return None
        from compress.stages.distill import active_distillation, wrap

        kd = active_distillation(self.recipe.stages[:index], cfg.kind)
        if kd is None:
            return None
        teacher = self._teacher()
        return lambda model: wrap(model, teacher, kd)

    def _compile(self, model: Any, cfg: Any, *, probabilities: bool) -> None:
        from compress import _keras

        keras = _keras.keras
        lr = cfg.learning_rate or self.recipe.training.learning_rate
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities),
                      metrics=["accuracy"])

    # -- callback API --------------------------------------------------------------------
    def prepare(self, model: Any) -> Any:
        """Wrap ``model`` for the recipe's first stage (prune/qat); a no-op otherwise.

        For a first ``distill`` stage it returns a ``compress.engines.distiller.Distiller`` (student and
        frozen teacher; ``fit`` uses the distillation loss, not the compiled one).
        Call it inside ``strategy.scope()`` when training under a ``tf.distribute`` strategy.
        Compile and ``fit`` the returned model with ``callbacks=[session.callback()]``.
        """
        from compress import _keras
        from compress.models.graph import flatten_nested
        from compress.stages import make_stage
        from compress.stages.base import StageContext

        _keras.require_tf_keras(model)
        _check_strategy_scope(model)
        keras = _keras.keras
        baseline = keras.models.clone_model(model)
        baseline.set_weights(model.get_weights())
        self._original, self._teacher_copy = baseline, None
        if not self.recipe.stages:
            self._live = _Live(stage=None, ctx=None, baseline=baseline,
                               started=time.perf_counter())
            return model
        cfg = self.recipe.stages[0]
        ctx = StageContext(steps_per_epoch=1, seed=self.recipe.seed)
        stage = make_stage(cfg, teacher=self._teacher() if cfg.kind == "distill" else None)
        prepared = stage.prepare(flatten_nested(model), ctx)
        self._live = _Live(stage=stage, ctx=ctx, baseline=baseline, started=time.perf_counter())
        return prepared

    def callback(self) -> Any:
        """The Keras callback that drives the prepared stage (pruning steps, schedule, logs).

        It publishes ``sparsity`` into ``logs`` at each epoch end, so History, TensorBoard,
        CSVLogger and EarlyStopping see it.
        """
        if self._live is None:
            raise CompressError("session.callback() needs session.prepare(model) first",
                                hint="model = session.prepare(model); then fit with the callback")
        from compress.callbacks import session_callback

        return session_callback(self, self._live)

    def finalize(self, model: Any, *, out_dir: str | Path, data: Any = None,
                 overwrite: bool = False) -> Any:
        """Strip wrappers, run the remaining stages, export, evaluate, write the report.

        Returns:
            ``compress.pipeline.RunResult`` (``.report`` is ``report.json``'s content).
        """
        from calibration import sources
        from compress import _keras
        from compress.artifacts import evaluate
        from compress.models import ModelSource
        from compress.run.output import check_output_dir, staged_output
        from compress.pipeline import RunResult, data_spec, measure_baseline, write_outputs

        live = self._live
        if live is None:
            raise CompressError("session.finalize() needs session.prepare(model) first",
                                hint="model = session.prepare(model) before compiling and fitting")
        needs_hooks = live.stage is not None and live.stage.config.kind == "prune"
        if needs_hooks and not live.hooks_ran:
            raise CompressError(
                "the prune stage's training hooks never ran: session.callback() was not "
                "passed to model.fit (or fit ran no step)",
                hint="model.fit(..., callbacks=[session.callback()])")
        check_output_dir(out_dir, overwrite=overwrite)
        t_start = live.started
        dataset = sources.load_dataset(data if data is not None else self.data)
        evaluate.check_data_fits(live.baseline, dataset.x_train, dataset.y_train,
                                 dataset.num_classes)
        representative = sources.representative_samples(
            dataset, self.recipe.calibration.samples, seed=self.recipe.seed)
        trained = TrainedModels(float_model=model, quant_model=None)
        if live.stage is not None:
            result, details = live.stage.finalize(model, live.ctx)
            _store(trained, live.stage.config.kind, result)
            trained.stages.append(StageReport(
                kind=live.stage.config.kind, seconds=time.perf_counter() - live.started,
                epochs=len(next(iter(live.history.values()), [])),
                details={**details, "driven_by": "user fit (callback API)"},
                history=live.history))
        timings = {"training_s": time.perf_counter() - live.started}
        _keras.set_seed(self.recipe.seed)
        if len(self.recipe.stages) > 1:
            t0 = time.perf_counter()
            self._run_stages(trained, dataset.x_train, dataset.y_train, start=1)
            timings["training_s"] += time.perf_counter() - t0
        with staged_output(out_dir, overwrite=overwrite) as tmp:
            t0 = time.perf_counter()
            baseline = measure_baseline(live.baseline, ModelSource("memory", "original", None),
                                        dataset, tmp, self.recipe)
            timings["baseline_s"] = time.perf_counter() - t0
            report = write_outputs(tmp, recipe=self.recipe, dataset=dataset, baseline=baseline,
                                   trained=trained, representative=representative,
                                   progress=self.progress, timings=timings, t_start=t_start,
                                   dataset_info={"spec": data_spec(
                                       data if data is not None else self.data)})
        return RunResult(report=report, out_dir=Path(out_dir), model=trained.float_model)


def _store(trained: TrainedModels, kind: str, result: Any) -> None:
    """Stages after qat keep training the quantized model; others replace the float model."""
    if kind == "qat" or trained.quant_model is not None:
        trained.quant_model = result
    else:
        trained.float_model = result


def _probabilities(model: Any) -> bool:
    from compress.stages.base import output_is_probabilities

    return output_is_probabilities(model)


def _check_strategy_scope(model: Any) -> None:
    """A model built under a tf.distribute strategy must be prepared inside its scope."""
    from compress import _keras

    tf = _keras.tf
    strategy = getattr(model, "_distribution_strategy", None)
    if strategy is not None and not tf.distribute.has_strategy():
        raise CompressError(
            f"session.prepare() was called outside the scope of the model's "
            f"{type(strategy).__name__}: the wrappers' variables would not be mirrored",
            hint="call it inside `with strategy.scope():` (where the model was built)")
