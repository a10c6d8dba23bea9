"""Plain fine-tuning of the current model."""

from __future__ import annotations

from typing import Any

from compress.recipe import FinetuneStage
from compress.stages.base import StageContext


class Finetune:
    def __init__(self, config: FinetuneStage) -> None:
        self.config = config

    def prepare(self, model: Any, ctx: StageContext) -> Any:
        return model

    def callbacks(self, ctx: StageContext) -> list:
        return []

    def hooks_ran(self, model: Any) -> bool:
        return True

    def finalize(self, model: Any, ctx: StageContext) -> tuple[Any, dict]:
        return model, {}
