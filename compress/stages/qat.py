"""Quantization-aware training (the engine's 8-bit scheme; prune-preserving after ``prune``).

Recipe::

    - kind: qat
      epochs: 1
      preserve_sparsity: null    # default: true when a prune stage came before
      layers: {exclude: [head]}  # left float, listed in the report
      weight_bits: 8             # or 4: weights trained on a 4-bit grid for the int4 format
                                 # (keras3 engine; the tfmot engine trains 8-bit only)
      activations: null          # ema: output ranges learned in training, carried into the
                                 # int8 file; calibrated: from representative samples at
                                 # conversion (keras3 engine). Default: ema (keras3 with
                                 # epochs: 0, which learns nothing: calibrated)

The QAT model is what integer formats (int8) export; float formats export the model before
QAT. Later stages train the QAT model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from compress.errors import RecipeError, UnsupportedLayerError
from compress.stages.base import FIELDS, LayerSelection, StageContext, build, training_fields


#: the reason the engines give for a layer the recipe's ``layers:`` left out of QAT
UNSELECTED = "not selected by layers:"
#: how activations get their int8 ranges (default: ema; keras3 with epochs: 0: calibrated)
ACTIVATIONS = ("ema", "calibrated")


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
    weight_bits: int = 8
    activations: str | None = None
    layers: LayerSelection = field(default_factory=LayerSelection)

    KEYS = ("kind", "epochs", "learning_rate", "preserve_sparsity", "weight_bits",
            "activations", "layers")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> "QatStage":
        kw = training_fields(cls, data, path)
        if data.get("preserve_sparsity") is not None:
            kw["preserve_sparsity"] = FIELDS.flag(data["preserve_sparsity"],
                                                  f"{path}.preserve_sparsity")
        if data.get("weight_bits") is not None:
            bits = data["weight_bits"]
            if isinstance(bits, bool) or bits not in (4, 8):
                raise FIELDS.fail(f"{path}.weight_bits",
                                  f"must be 8 (int8 weights) or 4 (int4 weights, for the int4 "
                                  f"format; keras3 engine). Received: weight_bits={bits!r}")
            kw["weight_bits"] = int(bits)
        if data.get("activations") is not None:
            mode = data["activations"]
            if mode not in ACTIVATIONS:
                raise FIELDS.fail(f"{path}.activations",
                                  f"must be one of {', '.join(ACTIVATIONS)} (ema: ranges "
                                  f"learned in training and carried into the int8 file; "
                                  f"calibrated: from the representative samples at "
                                  f"conversion). Received: activations={mode!r}")
            if mode == "ema" and kw.get("epochs", 1) == 0:
                raise FIELDS.fail(f"{path}.activations",
                                  "activations: ema learns its ranges in training and needs "
                                  "epochs >= 1. Received: epochs=0")
            kw["activations"] = mode
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
        extra = {} if self.config.weight_bits == 8 else {"weight_bits": self.config.weight_bits}
        mode = self.config.activations
        if mode is None and self.config.epochs > 0:
            mode = "ema"  # with no training the engine's fallback: keras3 calibrates
        if mode is not None:
            extra["activations"] = mode
        quantized, self.output_only, self.left_float = ctx.engine.quantize(
            model, select=self.config.layers.matches, preserve_sparsity=self.preserve_sparsity,
            **extra)
        cannot = [entry for entry in self.left_float if not entry.endswith(f"({UNSELECTED})")]
        if cannot and ctx.edgetpu_targets:
            raise UnsupportedLayerError(
                f"{ctx.edgetpu_targets[0]}: the Edge TPU runs int8 only, and the "
                f"{ctx.engine.name} engine cannot quantize {len(cannot)} layer(s), which would "
                f"stay float in training. Received: {'; '.join(cannot)}",
                hint="keep the layer's weight in a `kernel` (or depthwise_kernel / "
                     "pointwise_kernel) attribute, which QAT fake-quantizes, or drop the "
                     "Edge TPU target (CPU targets run the model with the layer converted "
                     "after training)")
        return quantized

    def finalize(self, model: Any, ctx: StageContext) -> tuple[Any, dict]:
        model = ctx.engine.finalize_quantized(model)
        details = {
            "scheme": ("default_8bit" if ctx.engine.name == "tfmot" else
                       f"weights_int{self.config.weight_bits}_per_channel") + ("+prune_preserve"
                                                      if self.preserve_sparsity else "")
            + ("+cluster_preserve" if "cluster" in ctx.previous_kinds else ""),
            "preserve_sparsity": self.preserve_sparsity,
            "output_only_layers": self.output_only,
            "float_layers": self.left_float,
            **ctx.engine.activation_ranges(model),
        }
        return model, details
