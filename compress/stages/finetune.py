"""Plain fine-tuning of the current model (e.g. after a surgery or to recover accuracy).

Recipe::

    - kind: finetune
      epochs: 1
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from compress.stages.base import FIELDS, StageContext, build, epochs_field, learning_rate_field


@dataclass(frozen=True)
class FinetuneStage:
    """Plain training of the current model."""

    kind: str = "finetune"
    epochs: int = 1
    learning_rate: float | None = None

    KEYS = ("kind", "epochs", "learning_rate")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> "FinetuneStage":
        FIELDS.keys(data, cls.KEYS, path)
        kw: dict[str, Any] = {}
        if "epochs" in data:
            kw["epochs"] = epochs_field(data["epochs"], f"{path}.epochs")
        kw["learning_rate"] = learning_rate_field(data.get("learning_rate"),
                                                  f"{path}.learning_rate")
        return build(cls, kw, path)


class Finetune:
    """Trains the model as it is: nothing to wrap, nothing to strip."""

    kind = "finetune"
    config_class = FinetuneStage
    quantizes = False
    needs_teacher = False

    def __init__(self, config: FinetuneStage) -> None:
        self.config = config

    def prepare(self, model: Any, ctx: StageContext) -> Any:
        return model

    def finalize(self, model: Any, ctx: StageContext) -> tuple[Any, dict]:
        return model, {}
