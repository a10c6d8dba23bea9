"""Magnitude pruning: polynomial or constant schedules, m:n structured sparsity.

Recipe::

    - kind: prune
      final_sparsity: 0.5        # or structure: "2:4"
      schedule: polynomial       # polynomial | constant
      epochs: 2
      layers: {exclude: [logits]}

Layers are selected by name pattern and type (``layers:``); layers with weights that are left
out are reported with the reason, once, in the stage report. The engine wraps and strips.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from compress.errors import RecipeError
from compress.stages.base import (FIELDS, LayerSelection, StageContext, build, kernel_arrays,
                                  sparsity_of, training_fields)
from targets.errors import brief

SCHEDULES = ("polynomial", "constant")
#: Layer types prune can select by name (the tfmot-prunable weight layers).
PRUNABLE_TYPES = ("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv2D", "SeparableConv2D",
                  "Conv2DTranspose", "Dense")


@dataclass(frozen=True)
class PruneStage:
    """Magnitude pruning config, unstructured or m:n structured.

    Attributes:
        final_sparsity: fraction of weights set to zero at the end, in [0, 1).
        schedule: ``polynomial`` (ramp from ``initial_sparsity``) or ``constant``.
        epochs: fine-tuning epochs while pruning.
        structure: ``"m:n"`` such as ``"2:4"`` for structured sparsity (m non-zero values in
            every block of n); then ``final_sparsity`` is implied.
    """

    kind: str = "prune"
    final_sparsity: float = 0.5
    initial_sparsity: float = 0.0
    schedule: str = "polynomial"
    epochs: int = 2
    frequency: int = 100
    end_fraction: float = 0.8
    structure: str | None = None
    learning_rate: float | None = None
    layers: LayerSelection = field(default_factory=LayerSelection)

    KEYS = ("kind", "final_sparsity", "initial_sparsity", "schedule", "epochs", "frequency",
            "end_fraction", "structure", "learning_rate", "layers")

    def __post_init__(self) -> None:
        if self.structure is not None:
            m, n = self.block
            object.__setattr__(self, "final_sparsity", 1.0 - m / n)
        if not 0.0 <= self.final_sparsity < 1.0:
            raise RecipeError(f"final_sparsity must be in [0, 1). "
                              f"Received: final_sparsity={self.final_sparsity}")
        if not 0.0 <= self.initial_sparsity <= self.final_sparsity:
            raise RecipeError(
                "initial_sparsity must be in [0, final_sparsity]. Received: "
                f"initial_sparsity={self.initial_sparsity}, final_sparsity={self.final_sparsity}")
        if self.frequency < 1:
            raise RecipeError(f"frequency must be >= 1 step. Received: frequency={self.frequency}")
        if not 0.0 < self.end_fraction <= 1.0:
            raise RecipeError(f"end_fraction must be in (0, 1]. "
                              f"Received: end_fraction={self.end_fraction}")
        if self.epochs < 1:
            raise RecipeError(f"a prune stage needs epochs >= 1 to apply its schedule. "
                              f"Received: epochs={self.epochs}")

    @property
    def block(self) -> tuple[int, int]:
        """(m, n) of an ``m:n`` structure: m non-zero weights in each block of n."""
        if self.structure is None:
            raise ValueError("unstructured pruning has no block")
        match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", str(self.structure))
        if not match or not 0 < int(match.group(1)) < int(match.group(2)):
            raise RecipeError(
                f"structure must be 'm:n' with 0 < m < n, e.g. '2:4'. "
                f"Received: structure={brief(self.structure)}")
        return int(match.group(1)), int(match.group(2))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> "PruneStage":
        kw = training_fields(cls, data, path)
        for key in ("final_sparsity", "initial_sparsity", "end_fraction"):
            if key in data:
                kw[key] = FIELDS.number(data[key], f"{path}.{key}")
        if "schedule" in data:
            kw["schedule"] = FIELDS.choice(data["schedule"], SCHEDULES, f"{path}.schedule")
        if "frequency" in data:
            kw["frequency"] = int(FIELDS.number(data["frequency"], f"{path}.frequency",
                                                integer=True))
        if data.get("structure") is not None:
            kw["structure"] = _structure(data["structure"], f"{path}.structure")
        kw["layers"] = LayerSelection.from_dict(data.get("layers"), f"{path}.layers")
        for t in kw["layers"].types:
            if t not in PRUNABLE_TYPES:
                raise FIELDS.fail(f"{path}.layers.types", f"'{t}' is not a prunable layer type",
                                  hint=f"prunable types: {', '.join(PRUNABLE_TYPES)}")
        return build(cls, kw, path)


def _structure(value: Any, path: str) -> str:
    if isinstance(value, str):
        return value
    # YAML 1.1 reads an unquoted 2:4 as the base-60 integer 124.
    hint = "quote it: structure: '2:4'" if isinstance(value, int) else None
    raise FIELDS.fail(path, f"must be a string 'm:n' such as '2:4'. "
                            f"Received: structure={brief(value)}", hint=hint)


class Prune:
    """Wraps selected layers for pruning; strips and measures after training."""

    kind = "prune"
    config_class = PruneStage

    def __init__(self, config: PruneStage) -> None:
        self.config = config
        self.pruned: list[str] = []
        self.skipped: list[dict[str, str]] = []
        self.schedule: Any = None
        self.engine: Any = None

    @staticmethod
    def check_order(config: PruneStage, kinds: list[str], index: int) -> None:
        if "qat" in kinds[:index]:
            raise RecipeError(
                "stages: prune cannot follow qat (quantized weights cannot be re-pruned). "
                f"Received stage order: {kinds}", hint="put prune before qat")

    def _schedule(self, total_steps: int) -> dict:
        cfg = self.config
        # steps count from 0: the schedule ends on a step that runs (round(total * fraction)
        # can be the step after the last one on little data, and the final sparsity was never
        # reached); one step in all prunes to the final sparsity at once.
        last = total_steps - 1
        end = max(1, min(last, int(round(total_steps * cfg.end_fraction))))
        # masks update every `frequency` steps; on small data keep several updates.
        freq = max(1, min(cfg.frequency, end // 4 or 1))
        kind = "constant" if cfg.schedule == "constant" or cfg.structure or last < 1 \
            else "polynomial"
        return {"kind": kind, "initial": cfg.initial_sparsity, "final": cfg.final_sparsity,
                "end_step": end, "frequency": freq}

    def prepare(self, model: Any, ctx: StageContext) -> Any:
        """Clone ``model`` with the selected layers wrapped for pruning."""
        cfg = self.config
        self.engine = ctx.engine
        self.pruned, self.skipped = [], []

        def choose(layer: Any) -> bool:
            cls = type(layer).__name__
            if not ctx.engine.prunable(layer):
                if layer.weights and cls != "BatchNormalization":
                    self.skipped.append({"layer": layer.name, "reason": f"{cls} is not prunable"})
                return False
            if not cfg.layers.matches(layer.name, cls):
                self.skipped.append({"layer": layer.name, "reason": "not selected by layers:"})
                return False
            if cfg.structure and cls not in ("Conv2D", "Dense"):
                self.skipped.append({"layer": layer.name,
                                     "reason": f"m:n sparsity supports Conv2D/Dense, not {cls}"})
                return False
            self.pruned.append(layer.name)
            return True

        total = max(1, cfg.epochs * ctx.steps_per_epoch)
        wrapped, self.schedule = ctx.engine.prune(
            model, choose, schedule=self._schedule(total),
            block=cfg.block if cfg.structure else None)
        if not self.pruned:
            raise RecipeError(
                "prune: no layer was selected for pruning. Received layers: "
                f"{cfg.layers.to_dict()}",
                hint=f"prunable types are {', '.join(PRUNABLE_TYPES)}; check include/exclude")
        return wrapped

    def callbacks(self, ctx: StageContext) -> list:
        return ctx.engine.pruning_callbacks()

    def hooks_ran(self, model: Any) -> bool:
        """True once the pruning step counter advanced (the masks were updated)."""
        return self.engine.pruning_step(model) > 0

    def fit_hooks(self) -> "_UserFit":
        return _UserFit(self)

    def finalize(self, model: Any, ctx: StageContext) -> tuple[Any, dict]:
        """Strip wrappers; report requested vs measured sparsity per layer."""
        stripped = ctx.engine.strip_pruning(model)
        arrays = {k: v for k, v in kernel_arrays(stripped).items()
                  if k.split("/")[0] in self.pruned}
        measured, per_layer = sparsity_of(arrays)
        details = {
            "final_sparsity": self.config.final_sparsity,
            "schedule": "m:n" if self.config.structure else self.config.schedule,
            "structure": self.config.structure,
            "measured_sparsity": round(measured, 5),
            "pruned_layers": self.pruned,
            "skipped_layers": self.skipped,
            "per_layer_sparsity": per_layer,
        }
        return stripped, details


class _UserFit:
    """Pruning inside the user's ``fit``: the schedule stretched over it, the step advanced
    before every batch, ``sparsity`` (of the masks) published at each epoch end."""

    def __init__(self, stage: Prune) -> None:
        self.stage = stage
        self.step = stage.engine.pruning_callbacks()[0]

    def set_model(self, model: Any) -> None:
        self.step.set_model(model)

    def on_fit_begin(self, total_steps: int, logs: Any = None) -> None:
        plan = self.stage._schedule(total_steps)
        self.stage.engine.stretch_schedule(self.stage.schedule, end_step=plan["end_step"],
                                           frequency=plan["frequency"])
        self.step.on_train_begin(logs)

    def on_batch_begin(self, batch: int, logs: Any = None) -> None:
        # Real per-step work: the masks update on the step counter.
        self.step.on_train_batch_begin(batch, logs)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> dict:
        self.step.on_epoch_end(epoch, logs)
        return {"sparsity": self.stage.engine.mask_sparsity(self.step.model)}
