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
ENGINES = {"tfmot": "compress.engines.tfmot"}


class Engine(Protocol):
    """What the session and the stages ask of a framework."""

    name: str

    # models
    def require(self, model: Any, *, what: str = "model") -> None: ...
    def set_seed(self, seed: int) -> None: ...
    def copy(self, model: Any, *, flatten: bool = False) -> Any: ...
    def compile(self, model: Any, *, learning_rate: float, probabilities: bool) -> None: ...
    def fit(self, model: Any, x: Any, y: Any, **kwargs: Any) -> dict[str, list[float]]: ...
    def callback(self, hooks: Any) -> Any: ...
    # pruning
    def prune(self, model: Any, choose: Callable[[Any], bool], *, schedule: dict,
              block: tuple[int, int] | None) -> tuple[Any, Any]: ...
    def pruning_callbacks(self) -> list: ...
    def pruning_step(self, model: Any) -> int: ...
    def strip_pruning(self, model: Any) -> Any: ...
    # quantization-aware training
    def quantize(self, model: Any, *, select: Callable[[str, str], bool],
                 preserve_sparsity: bool) -> tuple[Any, list[str], list[str]]: ...
    # distillation
    def distiller(self, student: Any, teacher: Any, **kwargs: Any) -> Any: ...


def get_engine(name: str = "tfmot") -> Engine:
    """The engine called ``name`` (its module is imported now, with its framework)."""
    return importlib.import_module(ENGINES[name]).ENGINE
