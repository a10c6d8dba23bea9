"""Records of what a run did and measured: ``StageReport``, ``ArtifactReport``, ``Report``.

Units live in field names (``size_bytes``, ``latency_ms``, ``seconds``). ``to_dict`` gives the
``report.json`` contract (schema ``edgecompress.report/1``); ``compress.report.markdown`` and
``compress.report.html`` render it. No TensorFlow here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA = "edgecompress.report/1"


@dataclass(frozen=True)
class StageReport:
    """One training stage: what it applied, what it skipped and why, how long it took."""

    kind: str
    seconds: float
    epochs: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "seconds": round(self.seconds, 3), "epochs": self.epochs}
        out.update(self.details)
        if self.history:
            out["history"] = {k: [round(float(v), 5) for v in vs] for k, vs in self.history.items()}
        return out


@dataclass(frozen=True)
class ArtifactReport:
    """One exported .tflite and its measurements on the host."""

    target: str
    format: str
    path: str
    size_bytes: int
    gzip_bytes: int
    sparsity: float
    accuracy: float | None
    accuracy_delta: float | None
    latency_ms: dict[str, float]
    io_dtype: str = "float32"
    #: int4/mixed: each layer's precision read from the file (mixed: and its sensitivity)
    precision: dict[str, Any] | None = None
    params: int = 0
    nonzero_params: int = 0
    convert_seconds: float = 0.0
    eval_seconds: float = 0.0
    bench_seconds: float = 0.0
    #: clustered runs: distinct stored values per weight tensor (``targets.clusters``)
    distinct_values: dict[str, Any] | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        if out["distinct_values"] is None:
            del out["distinct_values"]
        out["sparsity"] = round(self.sparsity, 5)
        for key in ("convert_seconds", "eval_seconds", "bench_seconds"):
            out[key] = round(out[key], 3)
        if out["precision"] is None:
            del out["precision"]
        return out


@dataclass(frozen=True)
class Report:
    """The whole run: baseline, artifacts, stages, environment."""

    recipe: str
    baseline: dict[str, Any]
    artifacts: list[ArtifactReport] = field(default_factory=list)
    stages: list[StageReport] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: a Keras 3 model's bridge checks (``compress.models.keras3``); None for tf_keras models
    keras3: dict[str, Any] | None = None
    #: MACs, energy tiers and per-device figures (``compress.report.figures.DeviceFigures``)
    figures: Any = None
    #: the engine the stages ran on (``compress.engines``)
    engine: str | None = None
    #: after a prune_channels stage: each artifact vs the unpruned model in the same format,
    #: host latency (``compress.artifacts.unpruned``); None otherwise
    channel_pruning: dict[str, Any] | None = None

    def to_dict(self) -> dict:
        """``report.json``'s content (with the device figures when there are some)."""
        extra = {} if self.keras3 is None else {"keras3": self.keras3}
        out = {
            "schema": SCHEMA,
            "recipe": self.recipe,
            **({} if self.engine is None else {"engine": self.engine}),
            "dataset": self.dataset,
            "baseline": self.baseline,
            "artifacts": [a.to_dict() for a in self.artifacts],
            "stages": [s.to_dict() for s in self.stages],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "environment": self.environment,
            "notes": list(self.notes),
            **extra,
        }
        if self.channel_pruning is not None:
            out["channel_pruning"] = self.channel_pruning
        return out if self.figures is None else self.figures.apply(out)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)
