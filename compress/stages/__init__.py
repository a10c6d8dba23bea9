"""One technique per module; ``STAGES`` maps a recipe stage kind to its implementation.

Importing this package imports TensorFlow (through ``compress._keras``).
"""

from __future__ import annotations

from typing import Any, Protocol


class Stage(Protocol):
    """A training stage: wrap the model, add per-step hooks, then strip and report."""

    config: Any

    def prepare(self, model: Any, ctx: Any) -> Any: ...

    def callbacks(self, ctx: Any) -> list: ...

    def hooks_ran(self, model: Any) -> bool: ...

    def finalize(self, model: Any, ctx: Any) -> tuple[Any, dict]: ...


def make_stage(config: Any, *, teacher: Any = None) -> Stage:
    """The stage object for a recipe stage config.

    Args:
        config: a stage config from ``compress.recipe``.
        teacher: the original model; the ``distill`` stage needs it, others ignore it.
    """
    if config.kind == "distill":
        from compress.stages.distill import Distill

        return Distill(config, teacher=teacher)
    from compress.stages.finetune import Finetune
    from compress.stages.prune import Prune
    from compress.stages.qat import Qat

    stages = {"prune": Prune, "qat": Qat, "finetune": Finetune}
    return stages[config.kind](config)
