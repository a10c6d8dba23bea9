"""Plain fine-tuning of the current model (e.g. after a surgery or to recover accuracy).

Recipe::

    - kind: finetune
      epochs: 1
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from compress.stages.base import StageContext, build, training_fields


@dataclass(frozen=True)
class FinetuneStage:
    """Plain training of the current model."""

    kind: str = "finetune"
    epochs: int = 1
    learning_rate: float | None = None

    KEYS = ("kind", "epochs", "learning_rate")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> "FinetuneStage":
        kw = training_fields(cls, data, path)
        return build(cls, kw, path)


@dataclass
class Finetune:
    """Trains the model as it is: nothing to wrap, nothing to strip."""

    config: FinetuneStage
    kind: ClassVar[str] = "finetune"
    config_class: ClassVar[type] = FinetuneStage

    def prepare(self, model: Any, ctx: StageContext) -> Any:
        return model

    def finalize(self, model: Any, ctx: StageContext) -> tuple[Any, dict]:
        return model, {}
