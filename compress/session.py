"""Session: the one core behind the CLI, the Python API and the Keras callbacks.

A session holds a recipe and drives a run: data and model in -> baseline -> stages ->
artifacts (export, evaluate, benchmark) -> report. It runs the stages two ways:

* ``run`` / ``train``: every stage with our own training loop (``compress_model`` and the
  CLI call ``run``).
* The callback API runs the recipe's first stage inside the user's own ``model.fit``:
  ``model = session.prepare(model)``, ``fit(..., callbacks=[session.callback()])``,
  ``session.finalize(model, out_dir=...)``. ``finalize`` strips wrappers, runs any later
  stages with our loop on the session's data, exports, evaluates and writes the report.

What a stage does, when it may run and which per-step hooks it needs are declared by the stage
(``compress.stages``); every framework call goes through the engine (``compress.engines``).
Both flows end in the same call to the artifact/report layer (``compress.run.outputs``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compress.errors import CompressError, DataError
from compress.recipe import Recipe, load_recipe
from compress.report.records import StageReport
from compress.stages import STAGES, make_stage
from compress.stages.base import StageContext, output_is_probabilities


@dataclass
class RunResult:
    """What a run returns: the report (``report.json``'s content), where it lives, the model."""

    report: dict
    out_dir: Path
    model: Any = None
    #: the model the integer formats were exported from (after a ``qat`` stage), else None
    quant_model: Any = None


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
        engine: the training framework engine (``compress.engines.ENGINES``, or ``auto``);
            default: the recipe's ``engine``. ``auto`` picks keras3 for a Keras 3 model when
            that engine runs every stage of the recipe, else tfmot.
    """

    def __init__(self, recipe: Recipe | dict | str | Path, *, data: Any = "fashion-mnist",
                 progress: Any = None, engine: str | None = None) -> None:
        self.recipe = load_recipe(recipe)
        self.data = data
        from compress.progress import Progress

        self.progress = progress or Progress(enabled=False)
        self.requested_engine = engine or self.recipe.engine
        #: the engine this session runs on: chosen when the model is known
        self.engine_name: str | None = None
        self._engine: Any = None
        self._live: _Live | None = None
        self._original: Any = None  # the model the session started from: the teacher
        self._teacher_copy: Any = None

    @classmethod
    def from_recipe(cls, path: str | Path, **kwargs: Any) -> "Session":
        """A session for the recipe file at ``path``."""
        return cls(load_recipe(path), **kwargs)

    @property
    def engine(self) -> Any:
        """The engine (imported, with its framework, on first use)."""
        if self._engine is None:
            from compress.engines import get_engine

            if self.engine_name is None:
                raise CompressError("the session's engine is chosen when a model is given",
                                    hint="internal error: please report it with --debug")
            self._engine = get_engine(self.engine_name)
        return self._engine

    def _engine_for(self, *, keras3_model: bool) -> str:
        """The engine the recipe runs a (Keras 3 or tf_keras) model on."""
        from compress.engines import choose_engine

        kinds = tuple(s.kind for s in self.recipe.stages)
        return choose_engine(self.requested_engine, keras3_model=keras3_model, kinds=kinds)

    def _native_keras3(self) -> bool:
        """Whether a Keras 3 model would run on the keras3 engine (so: load it unbridged)."""
        return self._engine_for(keras3_model=True) == "keras3"

    def _choose_engine(self, model: Any) -> None:
        """Fix the engine for ``model`` (once per session)."""
        from compress.models.keras3 import is_keras3_model

        name = self._engine_for(keras3_model=is_keras3_model(model))
        if self.engine_name not in (None, name):
            raise CompressError(f"this session runs on the {self.engine_name} engine. Received: "
                                f"a model for the {name} engine",
                                hint="use one Session per model")
        self.engine_name = name

    # -- the whole run -------------------------------------------------------------------
    def run(self, model: Any, *, out_dir: str | Path, data: Any = None,
            overwrite: bool = False, data_dir: str | None = None,
            train_samples: int | None = None, test_samples: int | None = None,
            trust_model_code: bool = False, resume: bool = False) -> RunResult:
        """Compress ``model`` with the recipe and write artifacts and a report to ``out_dir``.

        See ``compress.compress_model`` for the arguments; ``data`` defaults to the session's.
        """
        import hashlib

        from compress import models
        from compress.recipe import dump_recipe
        from compress.run import checkpoint
        from compress.run.folder import check_output_dir, staged_output
        from compress.run.outputs import data_spec, write_outputs

        recipe, progress = self.recipe, self.progress
        data = self.data if data is None else data
        check_output_dir(out_dir, overwrite=overwrite)  # fail before any slow work
        checkpoint.check_work_dir(out_dir, resume=resume, overwrite=overwrite)
        t_start = time.perf_counter()
        dataset = self._load_data(data, data_dir=data_dir, train=train_samples,
                                  test=test_samples)
        progress.info(f"data: {dataset.source}")
        model, source = models.load_model(model, trust_model_code=trust_model_code,
                                          native_keras3=self._native_keras3())
        self._choose_engine(model)
        progress.info(f"engine: {self.engine_name}")
        representative = self._check_and_sample(model, dataset)
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
                baseline = self._baseline(model, source, dataset, tmp)
                ck.save_baseline(baseline)
            else:
                progress.info("baseline: measured by the interrupted run (reused)")
            timings["baseline_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            trained = self.train(model, dataset.x_train, dataset.y_train, checkpoints=ck,
                                 trust_model_code=trust_model_code)
            timings["training_s"] = time.perf_counter() - t0
            report = write_outputs(tmp, recipe=recipe, dataset=dataset, baseline=baseline,
                                   trained=trained, representative=representative,
                                   progress=progress, timings=timings, t_start=t_start,
                                   dataset_info={"spec": data_spec(data), "data_dir": data_dir},
                                   keras3_bridge=bridge, engine=self.engine_name,
                                   original=model)
        ck.done()  # the output folder is complete: the checkpoints are no longer needed
        progress.info(f"done in {timings['total_s']:.1f}s: {Path(out_dir)}")
        # Keras 3 in, Keras 3 out (the reloaded model/model.keras); else the tf_keras model
        model_out = trained.keras3_model if trained.keras3_model is not None \
            else trained.float_model
        return RunResult(report=report, out_dir=Path(out_dir), model=model_out,
                         quant_model=trained.quant_model)

    def _load_data(self, data: Any, *, data_dir: str | None = None, train: int | None = None,
                   test: int | None = None) -> Any:
        from calibration import sources

        dataset = sources.load_dataset(data, data_dir=data_dir)
        if train or test:
            dataset = sources.subsample(dataset, train=train, test=test, seed=self.recipe.seed)
        return dataset

    def _check_and_sample(self, model: Any, dataset: Any) -> Any:
        """Check the data fits ``model``; seed the run; draw the calibration samples (once)."""
        from calibration import sources
        from compress.artifacts import evaluate

        evaluate.check_data_fits(model, dataset.x_train, dataset.y_train, dataset.num_classes)
        self.engine.set_seed(self.recipe.seed)
        return sources.representative_samples(dataset, self.recipe.calibration.samples,
                                              seed=self.recipe.seed)

    def _baseline(self, model: Any, source: Any, dataset: Any, tmp: Path) -> dict:
        from compress.artifacts.measure import measure_baseline

        return measure_baseline(model, source, dataset, tmp, benchmark=self.recipe.benchmark)

    # -- our own loop ------------------------------------------------------------------
    def train(self, model: Any, x: np.ndarray, y: np.ndarray, *,
              validation: tuple[np.ndarray, np.ndarray] | None = None,
              checkpoints: Any = None, trust_model_code: bool = False) -> TrainedModels:
        """Run every stage of the recipe with our own training loop.

        The caller's ``model`` is not modified: the session works on a copy.

        Args:
            checkpoints: a ``compress.run.checkpoint.Checkpoints``: each finished stage is
                saved there, and stages it already holds (an interrupted run) are not run again.
            trust_model_code: passed on when a checkpointed model is loaded.
        """
        self._choose_engine(model)
        self.engine.require(model)
        self._original, self._teacher_copy = model, None
        if checkpoints is not None and checkpoints.finished:
            trained, start = self._restore(checkpoints, trust_model_code=trust_model_code)
            self.progress.info(f"resuming after stage {start}/{len(self.recipe.stages)} "
                               f"({self.recipe.stages[start - 1].kind}) from {checkpoints.work}")
        else:
            # nested models flattened so that every stage reaches their layers
            work = self.engine.copy(model, flatten=bool(self.recipe.stages))
            trained, start = TrainedModels(work, None), 0
        return self._run_stages(trained, x, y, start=start, validation=validation,
                                checkpoints=checkpoints)

    def _restore(self, checkpoints: Any, *, trust_model_code: bool) -> tuple[TrainedModels, int]:
        """The models after the last checkpointed stage, and the index of the next stage."""
        float_model, weights, quant_from = checkpoints.last_models(
            trust_model_code=trust_model_code, native_keras3=self.engine_name == "keras3")
        trained = TrainedModels(float_model, None, checkpoints.stage_reports())
        for report in trained.stages:  # what the finished stages left on the model in memory
            restore = getattr(STAGES.get(report.kind), "restore", None)
            if restore is not None:
                restore(report.details, float_model, self.engine)
        if weights is not None:
            # The quantized model's structure is rebuilt exactly as its stage built it (from
            # the float model it started from), then its trained weights are loaded.
            cfg = self.recipe.stages[quant_from]
            quant = make_stage(cfg).prepare(float_model, self._context(quant_from, 1))
            quant.set_weights([weights[f"arr_{i}"] for i in range(len(weights.files))])
            trained.quant_model = self.engine.finalize_quantized(quant)
        trained.resumed_after = checkpoints.resumed_from
        return trained, checkpoints.finished[-1]["index"] + 1

    def _context(self, index: int, steps: int) -> StageContext:
        return StageContext(steps_per_epoch=steps, seed=self.recipe.seed,
                            previous_kinds=tuple(s.kind for s in self.recipe.stages[:index]),
                            engine=self.engine, teacher=self._teacher,
                            edgetpu_targets=self._edgetpu_targets())

    def _edgetpu_targets(self) -> tuple[str, ...]:
        from targets.spec import get_profile

        return tuple(t.device for t in self.recipe.targets
                     if t.device and get_profile(t.device).delegate == "edgetpu")

    def _run_stages(self, trained: TrainedModels, x: np.ndarray, y: np.ndarray, *,
                    start: int, validation: Any = None, checkpoints: Any = None
                    ) -> TrainedModels:
        engine = self.engine
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
            engine.set_seed(self.recipe.seed + index)
            ctx = self._context(index, steps)
            ctx.data = (x, y)
            wrap = self._wrapper(index, cfg, ctx)
            stage = make_stage(cfg)
            began = time.perf_counter()
            current = trained.quant_model if trained.quant_model is not None \
                else trained.float_model
            prepared = stage.prepare(current, ctx)
            # e.g. after a distill stage, later stages train the prepared model vs the teacher
            fitted = prepared if wrap is None else wrap(prepared)
            engine.compile(fitted, learning_rate=cfg.learning_rate
                           or self.recipe.training.learning_rate,
                           probabilities=output_is_probabilities(trained.float_model))
            history: dict[str, list[float]] = {}
            if cfg.epochs > 0:
                callbacks = _stage_callbacks(stage, ctx) + [self.progress.keras_callback(
                    f"{cfg.kind} ({index + 1}/{len(self.recipe.stages)})", cfg.epochs, steps,
                    keras=engine.keras)]
                history = engine.fit(fitted, x, y, batch_size=batch, epochs=cfg.epochs,
                                     verbose=0, shuffle=True, validation_data=validation,
                                     callbacks=callbacks)
                if not _hooks_ran(stage, prepared):
                    raise CompressError(f"stage {cfg.kind}: its training hooks never ran",
                                        hint="internal error: please report it with --debug")
            result, details = stage.finalize(prepared, ctx)
            if fitted is not prepared:
                details = {**details, "distillation": fitted.describe()}
            _store(trained, stage, result)
            trained.stages.append(StageReport(kind=cfg.kind, seconds=time.perf_counter() - began,
                                              epochs=cfg.epochs, details=details,
                                              history=history))
            if checkpoints is not None:
                checkpoints.save_stage(index, trained, quant_from=self._quant_from(index)
                                       if trained.quant_model is not None else None)
        return trained

    def _wrapper(self, index: int, cfg: Any, ctx: StageContext) -> Any:
        """How an earlier stage asks to wrap this stage's model (``wrap_later``), if any."""
        for earlier in self.recipe.stages[:index]:
            wrap_later = getattr(STAGES[earlier.kind], "wrap_later", None)
            wrap = wrap_later(earlier, cfg.kind, ctx) if wrap_later is not None else None
            if wrap is not None:
                return wrap
        return None

    def _quant_from(self, index: int) -> int | None:
        """The index of the stage that built the current quantized model."""
        return next((i for i, s in enumerate(self.recipe.stages[:index + 1])
                     if getattr(STAGES[s.kind], "quantizes", False)), None)

    def _teacher(self) -> Any:
        """A frozen copy of the model the session started from (made once, on demand)."""
        if self._teacher_copy is None:
            if self._original is None:
                raise CompressError("distillation needs the original model as its teacher",
                                    hint="internal error: please report it with --debug")
            self._teacher_copy = self.engine.copy(self._original, flatten=True)
        return self._teacher_copy

    # -- callback API --------------------------------------------------------------------
    def prepare(self, model: Any) -> Any:
        """Wrap ``model`` for the recipe's first stage (prune/qat); a no-op otherwise.

        For a first ``distill`` stage it returns the engine's ``Distiller`` (student and
        frozen teacher; ``fit`` uses the distillation loss, not the compiled one).
        Call it inside ``strategy.scope()`` when training under a ``tf.distribute`` strategy.
        Compile and ``fit`` the returned model with ``callbacks=[session.callback()]``.
        """
        self._choose_engine(model)
        engine = self.engine
        engine.require(model)
        engine.check_strategy_scope(model)
        baseline = engine.copy(model)
        self._original, self._teacher_copy = baseline, None
        if not self.recipe.stages:
            self._live = _Live(stage=None, ctx=None, baseline=baseline,
                               started=time.perf_counter())
            return model
        cfg = self.recipe.stages[0]
        ctx = StageContext(steps_per_epoch=1, seed=self.recipe.seed, engine=engine,
                           teacher=self._teacher, edgetpu_targets=self._edgetpu_targets())
        stage = make_stage(cfg)
        prepared = stage.prepare(engine.flatten(model), ctx)
        self._live = _Live(stage=stage, ctx=ctx, baseline=baseline, started=time.perf_counter())
        return prepared

    def callback(self) -> Any:
        """The Keras callback that drives the prepared stage (its per-step hooks, logs).

        A pruning stage publishes ``sparsity`` into ``logs`` at each epoch end, so History,
        TensorBoard, CSVLogger and EarlyStopping see it.
        """
        if self._live is None:
            raise CompressError("session.callback() needs session.prepare(model) first",
                                hint="model = session.prepare(model); then fit with the callback")
        return self.engine.callback(_FitDriver(self._live))

    def finalize(self, model: Any, *, out_dir: str | Path, data: Any = None,
                 overwrite: bool = False) -> RunResult:
        """Strip wrappers, run the remaining stages, export, evaluate, write the report.

        Returns:
            ``RunResult`` (``.report`` is ``report.json``'s content).
        """
        from compress.models import ModelSource
        from compress.run.folder import check_output_dir, staged_output
        from compress.run.outputs import data_spec, write_outputs

        live = self._live
        if live is None:
            raise CompressError("session.finalize() needs session.prepare(model) first",
                                hint="model = session.prepare(model) before compiling and fitting")
        if _fit_hooks(live.stage) is not None and not live.hooks_ran:
            raise CompressError(
                f"the {live.stage.config.kind} stage's training hooks never ran: "
                "session.callback() was not passed to model.fit (or fit ran no step)",
                hint="model.fit(..., callbacks=[session.callback()])")
        check_output_dir(out_dir, overwrite=overwrite)
        data = data if data is not None else self.data
        dataset = self._load_data(data)
        representative = self._check_and_sample(live.baseline, dataset)
        trained = TrainedModels(float_model=model, quant_model=None)
        if live.stage is not None:
            result, details = live.stage.finalize(model, live.ctx)
            _store(trained, live.stage, result)
            trained.stages.append(StageReport(
                kind=live.stage.config.kind, seconds=time.perf_counter() - live.started,
                epochs=len(next(iter(live.history.values()), [])),
                details={**details, "driven_by": "user fit (callback API)"},
                history=live.history))
        timings = {"training_s": time.perf_counter() - live.started}
        if len(self.recipe.stages) > 1:
            t0 = time.perf_counter()
            self._run_stages(trained, dataset.x_train, dataset.y_train, start=1)
            timings["training_s"] += time.perf_counter() - t0
        with staged_output(out_dir, overwrite=overwrite) as tmp:
            t0 = time.perf_counter()
            baseline = self._baseline(live.baseline, ModelSource("memory", "original", None),
                                      dataset, tmp)
            timings["baseline_s"] = time.perf_counter() - t0
            report = write_outputs(tmp, recipe=self.recipe, dataset=dataset, baseline=baseline,
                                   trained=trained, representative=representative,
                                   progress=self.progress, timings=timings,
                                   t_start=live.started, dataset_info={"spec": data_spec(data)},
                                   engine=self.engine_name, original=live.baseline)
        return RunResult(report=report, out_dir=Path(out_dir), model=trained.float_model,
                         quant_model=trained.quant_model)


class _FitDriver:
    """What the callback API's Keras callback (``engine.callback``) does in the user's fit:
    records the history for the stage report and runs the stage's ``fit_hooks``."""

    def __init__(self, live: _Live) -> None:
        self.live = live
        self.hooks = _fit_hooks(live.stage)
        if self.hooks is None:
            self.on_batch_begin = None  # no per-step work: keep Keras' async batch dispatch

    def set_model(self, model: Any) -> None:
        if self.hooks is not None:
            self.hooks.set_model(model)

    def on_train_begin(self, total_steps: int, logs: Any = None) -> None:
        self.live.history = {}
        if self.hooks is not None:
            self.hooks.on_fit_begin(total_steps, logs)

    def on_batch_begin(self, batch: int, logs: Any = None) -> None:  # type: ignore[no-redef]
        self.hooks.on_batch_begin(batch, logs)
        self.live.hooks_ran = True

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        extra = self.hooks.on_epoch_end(epoch, logs) if self.hooks is not None else {}
        if logs is not None:
            logs.update(extra)
        for key, value in (logs or {}).items():
            if isinstance(value, (int, float, np.floating)):
                self.live.history.setdefault(key, []).append(float(value))


def _fit_hooks(stage: Any) -> Any:
    make = getattr(stage, "fit_hooks", None)
    return make() if make is not None else None


def _stage_callbacks(stage: Any, ctx: StageContext) -> list:
    make = getattr(stage, "callbacks", None)
    return list(make(ctx)) if make is not None else []


def _hooks_ran(stage: Any, model: Any) -> bool:
    check = getattr(stage, "hooks_ran", None)
    return check(model) if check is not None else True


def _store(trained: TrainedModels, stage: Any, result: Any) -> None:
    """Stages after a quantizing stage keep training the quantized model; others replace the
    float model."""
    if getattr(stage, "quantizes", False) or trained.quant_model is not None:
        trained.quant_model = result
    else:
        trained.float_model = result


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
