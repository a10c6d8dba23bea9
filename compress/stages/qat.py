"""Quantization-aware training with tfmot's default 8-bit scheme.

tfmot rejects layers outside its registry. We give weight-free pass-through layers that
carry no arithmetic worth simulating (Rescaling, ...) an output-only quantize config so a
standard model still goes through QAT, and turn tfmot's RuntimeError for anything else into
an ``UnsupportedLayerError`` that names the layer and says what to do. After ``prune``, the
prune-preserving scheme keeps the zeros.
"""

from __future__ import annotations

import re
from typing import Any

from compress import _keras
from compress.errors import UnsupportedLayerError
from compress.recipe import QatStage
from compress.stages.base import StageContext

keras, tfmot = _keras.keras, _keras.tfmot
qkeras = tfmot.quantization.keras

#: Layers without weights whose output we quantize as-is (tfmot has no config for them).
OUTPUT_ONLY_TYPES = ("Rescaling", "Normalization", "Resizing", "CenterCrop", "UpSampling2D",
                     "Cropping2D", "Multiply", "Maximum", "Minimum", "Subtract", "Average",
                     "Softmax", "LeakyReLU", "PReLU", "ELU")

_UNSUPPORTED = re.compile(r"Layer (\S+?):<class '([\w.]+)'> is not supported")


class Qat:
    """Annotates and applies QAT; the QAT model is exported directly to integer formats."""

    def __init__(self, config: QatStage) -> None:
        self.config = config
        self.preserve_sparsity = False
        self.output_only: list[str] = []
        self.left_float: list[str] = []
        self.float_model: Any = None

    def prepare(self, model: Any, ctx: StageContext) -> Any:
        cfg = self.config
        preserve = cfg.preserve_sparsity
        if preserve is None:
            preserve = "prune" in ctx.previous_kinds
        self.preserve_sparsity = bool(preserve)
        self.float_model = model
        registry = _keras.quantize_registry()
        self.output_only, self.left_float = [], []

        def annotate(layer):
            cls = type(layer).__name__
            if cls == "InputLayer":
                return layer
            selected = cfg.layers.matches(layer.name, cls)
            if not selected:
                self.left_float.append(layer.name)
                return layer
            if not registry.supports(layer) and cls in OUTPUT_ONLY_TYPES and not layer.weights:
                self.output_only.append(layer.name)
                return qkeras.quantize_annotate_layer(layer, quantize_config=_keras.output_quantize_config())
            return qkeras.quantize_annotate_layer(layer)

        if isinstance(model, keras.Sequential) or _is_functional(model):
            if any(isinstance(layer, keras.Model) for layer in model.layers):
                nested = [layer.name for layer in model.layers if isinstance(layer, keras.Model)]
                raise UnsupportedLayerError(
                    f"QAT cannot quantize nested models. Received nested model(s): {nested}",
                    hint="rebuild the model as one flat Functional model "
                         "(call the base model's layers directly), or leave those layers out "
                         "with the stage's layers: exclude")
        else:
            raise UnsupportedLayerError(
                f"QAT needs a Sequential or Functional model. Received: {type(model).__name__} "
                "(a subclassed model)", hint="rebuild the model with the Functional API")
        with qkeras.quantize_scope():
            annotated = keras.models.clone_model(model, clone_function=annotate)
        scheme = (tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
                  if self.preserve_sparsity else qkeras.default_8bit.Default8BitQuantizeScheme())
        try:
            with qkeras.quantize_scope():
                quantized = qkeras.quantize_apply(annotated, scheme)
        except (RuntimeError, ValueError) as exc:
            raise _unsupported_error(exc, model) from None
        return quantized

    def callbacks(self, ctx: StageContext) -> list:
        return []

    def hooks_ran(self, model: Any) -> bool:
        return True

    def finalize(self, model: Any, ctx: StageContext) -> tuple[Any, dict]:
        details = {
            "scheme": "default_8bit" + ("+prune_preserve" if self.preserve_sparsity else ""),
            "preserve_sparsity": self.preserve_sparsity,
            "output_only_layers": self.output_only,
            "float_layers": self.left_float,
        }
        return model, details


def _is_functional(model: Any) -> bool:
    return getattr(model, "_is_graph_network", False)


def _unsupported_error(exc: Exception, model: Any) -> UnsupportedLayerError:
    text = str(exc)
    match = _UNSUPPORTED.search(text)
    if not match:
        return UnsupportedLayerError(f"QAT failed: {text.splitlines()[0][:300]}",
                                     hint="leave the offending layers out with the qat stage's "
                                          "layers: exclude: [...]")
    name, cls = match.group(1), match.group(2).rsplit(".", 1)[-1]
    hint = f"leave it out of QAT with `layers: {{exclude: [{name}]}}` in the qat stage"
    if cls == "BatchNormalization":
        hint = ("put BatchNormalization directly after a Conv2D/DepthwiseConv2D/Dense with no "
                "activation in between (tfmot folds that pattern), or " + hint)
    return UnsupportedLayerError(
        f"QAT cannot quantize layer '{name}' ({cls}): tfmot's default 8-bit scheme has no "
        "quantize config for it.", hint=hint)
