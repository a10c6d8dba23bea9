"""A technique written outside the package: one module, registered with one line.

``kind: round_weights`` rounds every kernel to ``decimals`` decimal places after an optional
fine-tune (the tests register it with ``STAGES["round_weights"] = RoundWeights``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from compress.errors import RecipeError
from compress.stages.base import FIELDS, StageContext, build, iter_layers, training_fields


@dataclass(frozen=True)
class RoundWeightsConfig:
    kind: str = "round_weights"
    decimals: int = 2
    epochs: int = 0
    learning_rate: float | None = None

    KEYS = ("kind", "decimals", "epochs", "learning_rate")

    def __post_init__(self) -> None:
        if not 0 <= self.decimals <= 6:
            raise RecipeError(f"decimals must be in [0, 6]. Received: decimals={self.decimals}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> "RoundWeightsConfig":
        kw = training_fields(cls, data, path)
        if "decimals" in data:
            kw["decimals"] = FIELDS.number(data["decimals"], f"{path}.decimals", integer=True)
        return build(cls, kw, path)


class RoundWeights:
    kind = "round_weights"
    config_class = RoundWeightsConfig

    def __init__(self, config: RoundWeightsConfig) -> None:
        self.config = config

    @staticmethod
    def check_order(config: RoundWeightsConfig, kinds: list[str], index: int) -> None:
        if "qat" in kinds[:index]:
            raise RecipeError(f"stages: round_weights must come before qat. "
                              f"Received stage order: {kinds}")

    def prepare(self, model: Any, ctx: StageContext) -> Any:
        return model

    def finalize(self, model: Any, ctx: StageContext) -> tuple[Any, dict]:
        changed = 0
        for layer in iter_layers(model):
            kernel = getattr(layer, "kernel", None)
            if kernel is None:
                continue
            values = kernel.numpy()
            rounded = np.round(values, self.config.decimals)
            changed += int(np.count_nonzero(rounded != values))
            kernel.assign(rounded)
        return model, {"decimals": self.config.decimals, "changed_weights": changed}
