"""Quantization-aware training (the engine's 8-bit scheme; prune-preserving after ``prune``).

Recipe::

    - kind: qat
      epochs: 1
      preserve_sparsity: null    # default: true when a prune stage came before
      layers: {exclude: [head]}  # left float, listed in the report

The QAT model is what integer formats (int8) export; float formats export the model before
QAT. Later stages train the QAT model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from compress.errors import RecipeError
from compress.stages.base import FIELDS, LayerSelection, StageContext, build, training_fields


@dataclass(frozen=True)
class QatStage:
    """Quantization-aware training config (8-bit).

    ``preserve_sparsity`` (default: automatic) keeps the zeros of an earlier ``prune``
    stage through QAT (the prune-preserving scheme).
    """

    kind: str = "qat"
    epochs: int = 1
    learning_rate: float | None = None
    preserve_sparsity: bool | None = None
    layers: LayerSelection = field(default_factory=LayerSelection)

    KEYS = ("kind", "epochs", "learning_rate", "preserve_sparsity", "layers")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> "QatStage":
        kw = training_fields(cls, data, path)
        if data.get("preserve_sparsity") is not None:
            kw["preserve_sparsity"] = FIELDS.flag(data["preserve_sparsity"],
                                                  f"{path}.preserve_sparsity")
        kw["layers"] = LayerSelection.from_dict(data.get("layers"), f"{path}.layers")
        return build(cls, kw, path)


class Qat:
    """Applies QAT through the engine; the QAT model is exported directly to integer formats."""

    kind = "qat"
    config_class = QatStage
    quantizes = True

    def __init__(self, config: QatStage) -> None:
        self.config = config
        self.preserve_sparsity = False
        self.output_only: list[str] = []
        self.left_float: list[str] = []

    @staticmethod
    def check_order(config: QatStage, kinds: list[str], index: int) -> None:
        if kinds.count("qat") > 1:
            raise RecipeError("stages: at most one qat stage. Received: "
                              f"{kinds.count('qat')} qat stages")

    def prepare(self, model: Any, ctx: StageContext) -> Any:
        preserve = self.config.preserve_sparsity
        if preserve is None:  # qat after prune preserves sparsity
            preserve = "prune" in ctx.previous_kinds
        self.preserve_sparsity = bool(preserve)
        quantized, self.output_only, self.left_float = ctx.engine.quantize(
            model, select=self.config.layers.matches, preserve_sparsity=self.preserve_sparsity)
        return quantized

    def finalize(self, model: Any, ctx: StageContext) -> tuple[Any, dict]:
        model = ctx.engine.finalize_quantized(model)
        details = {
            "scheme": ("default_8bit" if ctx.engine.name == "tfmot" else
                       "weights_int8_per_channel") + ("+prune_preserve"
                                                      if self.preserve_sparsity else "")
            + ("+cluster_preserve" if "cluster" in ctx.previous_kinds else ""),
            "preserve_sparsity": self.preserve_sparsity,
            "output_only_layers": self.output_only,
            "float_layers": self.left_float,
        }
        return model, details
