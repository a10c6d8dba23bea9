"""Magnitude pruning with tfmot: polynomial or constant schedules, m:n structured sparsity.

Layers are selected by name pattern and type (recipe ``layers:``); layers with weights that
are left out are reported with the reason, once, in the stage report.
"""

from __future__ import annotations

from typing import Any

from compress import _keras
from compress.recipe import PRUNABLE_TYPES, PruneStage
from compress.stages.base import StageContext, kernel_arrays, sparsity_of

keras, tfmot = _keras.keras, _keras.tfmot
sparsity_api = tfmot.sparsity.keras


class Prune:
    """Wraps selected layers for pruning; strips and measures after training."""

    def __init__(self, config: PruneStage) -> None:
        self.config = config
        self.pruned: list[str] = []
        self.skipped: list[dict[str, str]] = []
        self._wrapped: Any = None
        self.schedule: Any = None

    def _schedule(self, ctx: StageContext):
        cfg = self.config
        total = max(1, cfg.epochs * ctx.steps_per_epoch)
        end = max(1, int(round(total * cfg.end_fraction)))
        # tfmot updates masks every `frequency` steps; on small data keep several updates.
        freq = max(1, min(cfg.frequency, end // 4 or 1))
        if cfg.schedule == "constant" or cfg.structure:
            return sparsity_api.ConstantSparsity(cfg.final_sparsity, begin_step=0,
                                                 end_step=-1, frequency=freq)
        return sparsity_api.PolynomialDecay(cfg.initial_sparsity, cfg.final_sparsity,
                                            begin_step=0, end_step=end, frequency=freq)

    def prepare(self, model: Any, ctx: StageContext) -> Any:
        """Clone ``model`` with the selected layers wrapped by ``prune_low_magnitude``."""
        cfg = self.config
        schedule = self._schedule(ctx)
        self.schedule = schedule
        kwargs: dict[str, Any] = {"pruning_schedule": schedule}
        if cfg.structure:
            kwargs["sparsity_m_by_n"] = cfg.block
        self.pruned, self.skipped = [], []

        def clone(layer):
            # Returning the layer itself (or a wrapper around it) keeps its weights: the
            # session works on its own copy of the user's model, so sharing is safe.
            cls = type(layer).__name__
            if cls not in PRUNABLE_TYPES:
                if layer.weights and cls != "BatchNormalization":
                    self.skipped.append({"layer": layer.name, "reason": f"{cls} is not prunable"})
                return layer
            if not cfg.layers.matches(layer.name, cls):
                self.skipped.append({"layer": layer.name, "reason": "not selected by layers:"})
                return layer
            if cfg.structure and cls not in ("Conv2D", "Dense"):
                self.skipped.append({"layer": layer.name,
                                     "reason": f"m:n sparsity supports Conv2D/Dense, not {cls}"})
                return layer
            self.pruned.append(layer.name)
            return sparsity_api.prune_low_magnitude(layer, **kwargs)

        wrapped = keras.models.clone_model(model, clone_function=clone)
        if not self.pruned:
            from compress.errors import RecipeError

            raise RecipeError(
                "prune: no layer was selected for pruning. Received layers: "
                f"{cfg.layers.to_dict()}",
                hint=f"prunable types are {', '.join(PRUNABLE_TYPES)}; check include/exclude")
        self._wrapped = wrapped
        return wrapped

    def callbacks(self, ctx: StageContext) -> list:
        return [sparsity_api.UpdatePruningStep()]

    def hooks_ran(self, model: Any) -> bool:
        """True once UpdatePruningStep advanced the wrappers' step counters."""
        for layer in model.layers:
            step = getattr(layer, "pruning_step", None)
            if step is not None:
                return int(_keras.keras.backend.get_value(step)) > 0
        return False

    def finalize(self, model: Any, ctx: StageContext) -> tuple[Any, dict]:
        """Strip wrappers; report requested vs measured sparsity per layer."""
        stripped = sparsity_api.strip_pruning(model)
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



def set_fit_length(stage: Prune, total_steps: int) -> None:
    """Callback mode: stretch the schedule over the user's ``fit`` (set before it traces)."""
    cfg = stage.config
    schedule = stage.schedule
    end = max(1, int(round(total_steps * cfg.end_fraction)))
    schedule.frequency = max(1, min(cfg.frequency, end // 4 or 1))
    if isinstance(schedule, sparsity_api.PolynomialDecay):
        schedule.end_step = end


def current_sparsity(model: Any) -> float:
    """Fraction of zeros in the pruning masks of a wrapped model (what training sees now)."""
    zeros = total = 0
    for layer in model.layers:
        for _, mask, _ in getattr(layer, "pruning_vars", []) or []:
            values = mask.numpy()
            zeros += int((values == 0).sum())
            total += values.size
    return zeros / total if total else 0.0
