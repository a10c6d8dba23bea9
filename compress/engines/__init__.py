"""Engines: the one seam between the techniques and a training framework.

A stage (``compress.stages``) never imports a framework: it calls the engine in its context
(``ctx.engine``). The ``tfmot`` engine (``compress.engines.tfmot``) works on tf_keras models
with TensorFlow Model Optimization; it is the only module that imports tfmot. A native Keras 3
engine plugs in beside it: one module implementing ``Engine`` and one entry in ``ENGINES``.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Protocol

#: engine name -> module holding its ``ENGINE`` object (imported on first use)
ENGINES = {"tfmot": "compress.engines.tfmot", "keras3": "compress.engines.keras3"}
#: engine name -> the stage kinds it runs (None: every kind); read by the recipe loader
STAGES = {"tfmot": None, "keras3": ("prune", "finetune", "qat", "distill", "cluster",
                                                "prune_channels")}
#: the stage kinds ``engine: auto`` hands to the keras3 engine (a Keras 3 model with any other
#: kind is bridged to tf_keras and runs on tfmot). QAT: benchmarks/results/keras3_engine.md
AUTO_KERAS3_STAGES = ("prune", "finetune", "qat", "distill", "cluster", "prune_channels")


def runs_stages(engine: str, kinds: list[str] | tuple[str, ...]) -> bool:
    """True when ``engine`` runs every stage kind in ``kinds``."""
    supported = STAGES.get(engine)
    return supported is None or all(k in supported for k in kinds)


def choose_engine(requested: str, *, keras3_model: bool, kinds: tuple[str, ...]) -> str:
    """The engine for a run: ``requested`` unless ``auto``; ``auto`` takes keras3 for a Keras 3
    model when every stage is one it takes (``AUTO_KERAS3_STAGES``), else tfmot (a Keras 3
    model is bridged)."""
    if requested != "auto":
        return requested
    auto = keras3_model and all(k in AUTO_KERAS3_STAGES for k in kinds)
    return "keras3" if auto else "tfmot"


class Engine(Protocol):
    """What the session and the stages ask of a framework."""

    name: str
    keras: Any  # the Keras module its models belong to

    # models
    def require(self, model: Any, *, what: str = "model") -> None: ...
    def set_seed(self, seed: int) -> None: ...
    def copy(self, model: Any, *, flatten: bool = False) -> Any: ...
    def compile(self, model: Any, *, learning_rate: float, probabilities: bool) -> None: ...
    def fit(self, model: Any, x: Any, y: Any, **kwargs: Any) -> dict[str, list[float]]: ...
    def callback(self, hooks: Any) -> Any: ...
    # pruning
    def prunable(self, layer: Any) -> bool: ...
    def prune(self, model: Any, choose: Callable[[Any], bool], *, schedule: dict,
              block: tuple[int, int] | None) -> tuple[Any, Any]: ...
    def pruning_callbacks(self) -> list: ...
    def pruning_step(self, model: Any) -> int: ...
    def strip_pruning(self, model: Any) -> Any: ...
    # quantization-aware training
    def quantize(self, model: Any, *, select: Callable[[str, str], bool],
                 preserve_sparsity: bool, weight_bits: int = 8, activations: str = ...
                 ) -> tuple[Any, list[str], list[str]]: ...
    def finalize_quantized(self, model: Any) -> Any: ...
    def activation_ranges(self, model: Any) -> dict: ...
    # weight clustering (a later quantize keeps a clustered model's shared values)
    def clusterable(self, layer: Any) -> bool: ...
    def cluster(self, model: Any, choose: Callable[[Any], bool], *, clusters: int, init: str,
                preserve_sparsity: bool, seed: int) -> Any: ...
    def strip_clustering(self, model: Any) -> Any: ...
    def mark_clustered(self, model: Any, layers: dict[str, bool]) -> None: ...
    # distillation
    def distiller(self, student: Any, teacher: Any, **kwargs: Any) -> Any: ...


def get_engine(name: str = "tfmot") -> Engine:
    """The engine called ``name`` (its module is imported now, with its framework)."""
    return importlib.import_module(ENGINES[name]).ENGINE
