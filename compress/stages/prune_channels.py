"""Channel pruning: remove whole filters and the channels that depend on them, so the model
is smaller and dense (fewer MACs, faster on every runtime), then fine-tune to recover.

Recipe::

    - kind: prune_channels
      keep_macs: 0.5            # fraction of the original MACs to keep, or
      # ratio: 0.4              # fraction of channels removed in each selected layer, or
      # budget: {device: rpi4, latency_ms: 0.2}   # estimated from the profile's anchors
      importance: l1            # l1 | l2 | bn (BatchNorm gamma)
      allocation: sensitivity   # sensitivity | uniform
      round_to: 8               # channel counts stay multiples of this
      epochs: 2                 # recovery fine-tune after the cut
      layers: {exclude: [logits]}

Coupled channels are cut together (``compress.channels``). ``allocation: sensitivity`` scans
each layer's accuracy drop at 25/50/75 % of its channels on up to ``SCAN_SAMPLES`` training
samples (the same scan as ``edgecompress sensitivity``) and cuts the least sensitive layers
most. A ``distill`` stage with ``student: self`` before this one makes the recovery fine-tune
learn from the original model. Later stages (prune, qat, export) see the smaller model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from compress.errors import RecipeError
from compress.stages.base import FIELDS, LayerSelection, StageContext, build, training_fields
from targets.errors import brief

IMPORTANCE = ("l1", "l2", "bn")
ALLOCATIONS = ("sensitivity", "uniform")
#: training samples the sensitivity scan evaluates on (seeded subset)
SCAN_SAMPLES = 1000


@dataclass(frozen=True)
class Budget:
    """A latency budget on a device profile, turned into a MAC budget by its latency estimate."""

    device: str
    latency_ms: float

    @classmethod
    def from_dict(cls, data: Any, path: str) -> "Budget":
        if not isinstance(data, Mapping):
            raise FIELDS.fail(path, "must be a mapping {device, latency_ms}. "
                              f"Received: budget={brief(data)}")
        FIELDS.keys(data, ("device", "latency_ms"), path)
        device = data.get("device")
        if not isinstance(device, str) or not device:
            raise FIELDS.fail(f"{path}.device", "must be a device profile id such as rpi4. "
                              f"Received: device={brief(device)}",
                              hint="`edgecompress targets` lists the profiles")
        latency = FIELDS.number(data.get("latency_ms"), f"{path}.latency_ms")
        if not latency > 0:
            raise FIELDS.fail(f"{path}.latency_ms", f"must be > 0. Received: latency_ms={latency}")
        return cls(device=device, latency_ms=float(latency))

    def to_dict(self) -> dict:
        return {"device": self.device, "latency_ms": self.latency_ms}


@dataclass(frozen=True)
class PruneChannelsStage:
    """Channel pruning config.

    Attributes:
        keep_macs: fraction of the original MACs to keep, in (0, 1].
        ratio: fraction of channels removed in each selected layer, in [0, 1).
        budget: a device latency budget instead of ``keep_macs``.
        importance: how channels are ranked: ``l1``/``l2`` filter norms, ``bn`` BatchNorm gamma.
        allocation: how ``keep_macs`` is shared: ``uniform`` (one ratio) or ``sensitivity``.
        round_to: kept channel counts are multiples of this (or the layer's full count).
        epochs: recovery fine-tuning epochs after the cut.
    """

    kind: str = "prune_channels"
    keep_macs: float | None = None
    ratio: float | None = None
    budget: Budget | None = None
    importance: str = "l1"
    allocation: str = "uniform"
    round_to: int = 8
    epochs: int = 2
    learning_rate: float | None = None
    layers: LayerSelection = field(default_factory=LayerSelection)

    KEYS = ("kind", "keep_macs", "ratio", "importance", "allocation", "round_to", "epochs",
            "learning_rate", "layers", "budget")

    def __post_init__(self) -> None:
        given = [k for k in ("keep_macs", "ratio", "budget") if getattr(self, k) is not None]
        if len(given) != 1:
            raise RecipeError("a prune_channels stage needs exactly one of keep_macs, ratio or "
                              f"budget. Received: {', '.join(given) or 'none of them'}",
                              hint="e.g. keep_macs: 0.5")
        if self.keep_macs is not None and not 0.0 < self.keep_macs <= 1.0:
            raise RecipeError(f"keep_macs must be in (0, 1]. Received: keep_macs={self.keep_macs}")
        if self.ratio is not None and not 0.0 <= self.ratio < 1.0:
            raise RecipeError(f"ratio must be in [0, 1). Received: ratio={self.ratio}")
        if self.ratio is not None and self.allocation == "sensitivity":
            raise RecipeError("allocation: sensitivity shares a keep_macs or budget among the "
                              "layers; ratio cuts every layer alike. Received: ratio with "
                              "allocation: sensitivity", hint="use keep_macs, or drop allocation")
        if self.round_to < 1:
            raise RecipeError(f"round_to must be >= 1. Received: round_to={self.round_to}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> "PruneChannelsStage":
        kw = training_fields(cls, data, path)
        for key in ("keep_macs", "ratio"):
            if data.get(key) is not None:
                kw[key] = float(FIELDS.number(data[key], f"{path}.{key}"))
        if data.get("budget") is not None:
            kw["budget"] = Budget.from_dict(data["budget"], f"{path}.budget")
        if "importance" in data:
            kw["importance"] = FIELDS.choice(data["importance"], IMPORTANCE, f"{path}.importance")
        if "allocation" in data:
            kw["allocation"] = FIELDS.choice(data["allocation"], ALLOCATIONS,
                                             f"{path}.allocation")
        if "round_to" in data:
            kw["round_to"] = int(FIELDS.number(data["round_to"], f"{path}.round_to",
                                               integer=True))
        kw["layers"] = LayerSelection.from_dict(data.get("layers"), f"{path}.layers")
        return build(cls, kw, path)


class PruneChannels:
    """Cuts the model in ``prepare`` (so the recovery fine-tune trains the smaller model)."""

    kind = "prune_channels"
    config_class = PruneChannelsStage

    def __init__(self, config: PruneChannelsStage) -> None:
        self.config = config
        self.details: dict = {}

    @staticmethod
    def check_order(config: PruneChannelsStage, kinds: list[str], index: int) -> None:
        if "qat" in kinds[:index]:
            raise RecipeError(
                "stages: prune_channels cannot follow qat (the quantized model is not cut). "
                f"Received stage order: {kinds}", hint="put prune_channels before qat")

    def prepare(self, model: Any, ctx: StageContext) -> Any:
        from compress import channels

        cfg = self.config
        keep_macs, budget = cfg.keep_macs, None
        if cfg.budget is not None:
            total = channels.plan.total_macs(channels.analyze(model), {})
            keep_macs, budget = budget_keep_macs(cfg.budget, total)
        data = _scan_data(ctx) if cfg.allocation == "sensitivity" and keep_macs is not None \
            else None
        shrunk = channels.shrink(model, ratio=cfg.ratio, keep_macs=keep_macs,
                                 importance=cfg.importance, allocation=cfg.allocation,
                                 round_to=cfg.round_to, matches=cfg.layers.matches, data=data)
        self.details = {"keep_macs": keep_macs, "ratio": cfg.ratio,
                        "importance": cfg.importance,
                        "allocation": cfg.allocation if keep_macs is not None else "uniform",
                        "round_to": cfg.round_to, **shrunk.details}
        if budget is not None:
            self.details["budget"] = budget
        return shrunk.model

    def finalize(self, model: Any, ctx: StageContext) -> tuple[Any, dict]:
        return model, self.details


def _scan_data(ctx: StageContext) -> tuple[np.ndarray, np.ndarray] | None:
    """A seeded subset of the stage's training data for the sensitivity scan."""
    data = getattr(ctx, "data", None)
    if data is None:
        return None
    x, y = data
    if len(x) > SCAN_SAMPLES:
        idx = np.sort(np.random.default_rng(ctx.seed).choice(len(x), SCAN_SAMPLES, replace=False))
        x, y = x[idx], y[idx]
    return x, y


def budget_keep_macs(budget: Budget, total_macs: float) -> tuple[float, dict]:
    """The MAC fraction that fits ``budget`` on its device, by the profile's latency estimate
    (``targets.energy.estimate_latency``: anchors' throughput, per-inference floor).

    Raises:
        RecipeError: the profile has no latency anchors, or the budget is below the estimated
            per-inference floor (no cut can reach it).
    """
    from targets import energy
    from targets.spec import get_profile

    profile = get_profile(budget.device)
    fmt = "int8" if "int8" in profile.formats else profile.formats[0]
    before = energy.estimate_latency(int(total_macs), profile, fmt)
    if before["value"] is None:
        raise RecipeError(f"budget: device '{profile.id}' has no latency anchors to estimate "
                          f"from. Received: budget={budget.to_dict()}",
                          hint="use keep_macs, or a profile with anchors (edgecompress targets)")
    big = 10 ** 12  # far above the floor: the estimate is MACs / throughput
    throughput = big / energy.estimate_latency(big, profile, fmt)["value"]  # MACs per ms
    floor_low, floor_high = energy.OVERHEAD_FLOOR_MS.get(profile.delegate,
                                                         energy.OVERHEAD_FLOOR_MS[None])
    floor = (floor_low + floor_high) / 2
    if budget.latency_ms <= floor:
        raise RecipeError(
            f"budget: latency_ms={budget.latency_ms:g} is below the estimated per-inference "
            f"overhead on {profile.id} ({floor:g} ms, {fmt}), which no cut removes. Received: "
            f"budget={budget.to_dict()}; the unpruned model is estimated at "
            f"{before['value']:.3g} ms", hint=f"use latency_ms > {floor:g}")
    keep = min(1.0, budget.latency_ms * throughput / total_macs) if total_macs else 1.0
    return keep, {**budget.to_dict(), "format": fmt, "keep_macs": round(keep, 5),
                  "estimated_latency_ms_before": round(before["value"], 5),
                  "method": "estimated-anchors", "source": before["source"]}
