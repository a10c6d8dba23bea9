"""What every stage shares: the ``Stage`` protocol, the context a stage runs in, the recipe
field helpers and layer selection of stage configs, and the measurement of weight sparsity.

No TensorFlow here: the recipe loader reads stage configs through this package, and a stage
reaches the framework only through ``ctx.engine`` (``compress.engines``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from compress.errors import RecipeError
from targets.validate import Fields

#: Weight attributes that pruning acts on, per layer class (biases are never pruned).
KERNEL_ATTRS = ("kernel", "depthwise_kernel", "pointwise_kernel")

#: Recipe field validators: every message names the key path (``stages[1].epochs``).
FIELDS = Fields(RecipeError, indexed_names=True)


@dataclass
class StageContext:
    """What a stage knows about the run.

    Attributes:
        steps_per_epoch: training steps per epoch (schedules are in steps).
        previous_kinds: the kinds of the recipe's earlier stages.
        seed: this stage's seed.
        engine: the framework engine (``compress.engines``): every framework call goes there.
        teacher: returns the frozen original model (made on first call), for stages that
            learn from it (distillation).
        data: the training data of our own loop, or None.
        edgetpu_targets: the recipe's Edge TPU target devices (``coral-usb``...).
    """

    steps_per_epoch: int
    previous_kinds: tuple[str, ...] = ()
    seed: int = 0
    notes: list[str] = field(default_factory=list)
    engine: Any = None
    teacher: Callable[[], Any] | None = None
    #: the training data ``(x, y)`` of our own loop (stages that measure accuracy on it:
    #: prune_channels' sensitivity scan); None inside the user's own fit
    data: tuple[Any, Any] | None = None
    #: the recipe's Edge TPU targets (device ids): layers left float stop the run there
    edgetpu_targets: tuple[str, ...] = ()


class Stage(Protocol):
    """A technique: its config class, its order rules, and its training-time behaviour.

    Class attributes:
        kind: the recipe's ``kind``.
        config_class: the frozen config (``from_dict(data, path)``, ``to_dict()``).
        quantizes: optional, default False: its result is the model integer formats export
            (QAT), and later stages train that model.

    A stage may also define ``check_order(config, kinds, index)`` (raise ``RecipeError`` when
    its place in the recipe is wrong), ``wrap_later(config, kind, ctx)`` (a function wrapping
    the model of a later stage of that kind, e.g. to train it with a distillation loss),
    ``restore(details, model, engine)`` (on ``--resume``: put back on the checkpointed model
    what the stage left on the model in memory and a file does not keep, from the stage's
    report ``details``), and the optional training hooks ``callbacks(ctx)`` (Keras callbacks for our loop) and
    ``hooks_ran(model)`` and
    ``fit_hooks()`` (per-step work inside the user's own ``fit``: ``on_fit_begin(total_steps)``,
    ``on_batch_begin(model)``, ``epoch_logs(model) -> dict``).
    """

    kind: str
    config_class: type
    config: Any

    def prepare(self, model: Any, ctx: StageContext) -> Any: ...

    def callbacks(self, ctx: StageContext) -> list: ...

    def hooks_ran(self, model: Any) -> bool: ...

    def finalize(self, model: Any, ctx: StageContext) -> tuple[Any, dict]: ...


# -- config fields ---------------------------------------------------------------------------

def epochs_field(value: Any, path: str) -> int:
    FIELDS.number(value, path, integer=True)
    if value < 0:
        raise FIELDS.fail(path, f"must be >= 0. Received: epochs={value}")
    return value


def learning_rate_field(value: Any, path: str) -> float | None:
    if value is None:
        return None
    FIELDS.number(value, path)
    if not value > 0:
        raise FIELDS.fail(path, f"must be > 0. Received: learning_rate={value}")
    return float(value)


def training_fields(config_class: type, data: Mapping[str, Any], path: str, *,
                    null_epochs: bool = False) -> dict[str, Any]:
    """Check a stage mapping's keys against ``config_class.KEYS`` and read the fields every
    training stage has (``epochs``, ``learning_rate``); the stage reads the rest.

    ``null_epochs``: ``epochs: null`` means the stage's automatic default (else an error).
    """
    FIELDS.keys(data, config_class.KEYS, path)
    kw: dict[str, Any] = {}
    if "epochs" in data and not (null_epochs and data["epochs"] is None):
        kw["epochs"] = epochs_field(data["epochs"], f"{path}.epochs")
    kw["learning_rate"] = learning_rate_field(data.get("learning_rate"), f"{path}.learning_rate")
    return kw


def build(cls: type, kw: dict, path: str) -> Any:
    """``cls(**kw)`` with a cross-field error re-raised under the stage's path."""
    try:
        return cls(**kw)
    except RecipeError as exc:
        raise FIELDS.fail(path, exc.message, hint=exc.hint) from None


@dataclass(frozen=True)
class LayerSelection:
    """Which layers a stage applies to: name patterns (``fnmatch``/regex) and layer types.

    A layer is selected when it matches ``include`` (default: all) and ``types`` (default:
    all prunable types) and does not match ``exclude``.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    types: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str) -> "LayerSelection":
        if data is None:
            return cls()
        FIELDS.keys(data, ("include", "exclude", "types"), path)
        return cls(
            include=FIELDS.str_list(data.get("include", []), f"{path}.include"),
            exclude=FIELDS.str_list(data.get("exclude", []), f"{path}.exclude"),
            types=FIELDS.str_list(data.get("types", []), f"{path}.types"),
        )

    def matches(self, name: str, class_name: str) -> bool:
        """True if a layer with this name and class is selected."""
        if self.types and class_name not in self.types:
            return False
        if self.include and not any(_name_match(p, name) for p in self.include):
            return False
        return not any(_name_match(p, name) for p in self.exclude)

    def to_dict(self) -> dict:
        return {"include": list(self.include), "exclude": list(self.exclude),
                "types": list(self.types)}


def _name_match(pattern: str, name: str) -> bool:
    import fnmatch

    if fnmatch.fnmatchcase(name, pattern):
        return True
    try:
        return re.fullmatch(pattern, name) is not None
    except re.error:
        return False


def config_to_dict(config: Any) -> dict:
    """A stage config as a plain mapping (what ``recipe.resolved.yaml`` holds)."""
    from dataclasses import fields

    out: dict[str, Any] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if hasattr(value, "to_dict"):
            value = value.to_dict()
        elif isinstance(value, tuple):
            value = [v.to_dict() if hasattr(v, "to_dict") else v for v in value]
        out[f.name] = value
    return out


# -- weights -----------------------------------------------------------------------------------

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


def sparsity_of(arrays: Mapping[str, np.ndarray]) -> tuple[float, dict[str, float]]:
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
