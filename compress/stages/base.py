"""What every stage shares: the context it runs in and the measurement of weight sparsity."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Weight attributes that pruning acts on, per layer class (biases are never pruned).
KERNEL_ATTRS = ("kernel", "depthwise_kernel", "pointwise_kernel")


@dataclass
class StageContext:
    """What a stage knows about the run: steps for schedules, what came before it."""

    steps_per_epoch: int
    previous_kinds: tuple[str, ...] = ()
    seed: int = 0
    notes: list[str] = field(default_factory=list)


def kernel_arrays(model: Any) -> dict[str, np.ndarray]:
    """``{layer_path/attr: kernel}`` for every weight kernel in a (stripped) model."""
    out: dict[str, np.ndarray] = {}
    for layer in iter_layers(model):
        for attr in KERNEL_ATTRS:
            var = getattr(layer, attr, None)
            if var is not None and hasattr(var, "numpy"):
                out[f"{layer.name}/{attr}"] = var.numpy()
    return out


def iter_layers(model: Any):
    """All layers, descending into nested models (a layer is named by its path string)."""
    for layer in getattr(model, "layers", []):
        if hasattr(layer, "layers") and layer.layers:
            yield from iter_layers(layer)
        else:
            yield layer


def sparsity_of(arrays: dict[str, np.ndarray]) -> tuple[float, dict[str, float]]:
    """Overall and per-kernel fraction of exact zeros."""
    total = sum(a.size for a in arrays.values())
    zeros = sum(int(np.count_nonzero(a == 0)) for a in arrays.values())
    per = {k: round(float(np.mean(a == 0)), 4) for k, a in arrays.items()}
    return (zeros / total if total else 0.0), per


def output_is_probabilities(model: Any) -> bool:
    """True when the model ends in a softmax (so losses take probabilities, not logits)."""
    last = model.layers[-1]
    while hasattr(last, "layers") and last.layers:  # nested model as the last layer
        last = last.layers[-1]
    activation = getattr(last, "activation", None)
    name = getattr(activation, "__name__", "") or ""
    if type(last).__name__ == "Softmax" or name == "softmax":
        return True
    if type(last).__name__ == "Activation" and "softmax" in str(last.get_config().get("activation")):
        return True
    return False
