"""Records of what a run did and measured: ``StageReport``, ``ArtifactReport``, ``Report``.

Units live in field names (``size_bytes``, ``latency_ms``, ``seconds``). ``to_dict`` gives the
``report.json`` contract (schema ``edgecompress.report/1``); ``render_markdown`` gives
``report.md``. No TensorFlow here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA = "edgecompress.report/1"


@dataclass
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


@dataclass
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
    params: int = 0
    nonzero_params: int = 0
    convert_seconds: float = 0.0
    eval_seconds: float = 0.0
    bench_seconds: float = 0.0

    def to_dict(self) -> dict:
        out = asdict(self)
        out["sparsity"] = round(self.sparsity, 5)
        for key in ("convert_seconds", "eval_seconds", "bench_seconds"):
            out[key] = round(out[key], 3)
        return out


@dataclass
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
    #: a Keras 3 model's bridge checks (``compress.keras3``); None for tf_keras models
    keras3: dict[str, Any] | None = None

    def to_dict(self) -> dict:
        extra = {} if self.keras3 is None else {"keras3": self.keras3}
        return {
            "schema": SCHEMA,
            "recipe": self.recipe,
            "dataset": self.dataset,
            "baseline": self.baseline,
            "artifacts": [a.to_dict() for a in self.artifacts],
            "stages": [s.to_dict() for s in self.stages],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "environment": self.environment,
            "notes": list(self.notes),
            **extra,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f} %"


def _delta_pp(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.2f} pp"


def _size(n: int | None) -> str:
    if n is None:
        return "n/a"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.2f} MiB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.1f} KiB"
    return f"{n} B"


def render_markdown(report: dict) -> str:
    """``report.md``: the comparison table and stage timings, readable in a terminal or PR."""
    base = report["baseline"]
    lines = [f"# edgecompress report: {report['recipe']}", ""]
    ds = report.get("dataset") or {}
    if ds:
        lines += [f"Data: {ds.get('source', ds.get('name', '?'))}", ""]
    lat = base.get("latency_ms") or {}
    lines += [
        "| artifact | accuracy | Δ vs baseline | size | gzip | sparsity | p50 ms | p90 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| baseline (Keras, {base.get('device', '?')}) | {_pct(base.get('accuracy'))} | | "
        f"{_size(base.get('size_bytes'))} | | | {lat.get('p50', float('nan')):.3f} | "
        f"{lat.get('p90', float('nan')):.3f} |",
    ]
    for a in report["artifacts"]:
        lat = a["latency_ms"]
        lines.append(
            f"| {a['target']} (`{a['path']}`) | {_pct(a['accuracy'])} | "
            f"{_delta_pp(a['accuracy_delta'])} | {_size(a['size_bytes'])} | "
            f"{_size(a['gzip_bytes'])} | {100 * a['sparsity']:.1f} % | "
            f"{lat['p50']:.3f} | {lat['p90']:.3f} |")
    lines += ["", "Latency: host CPU, batch 1, LiteRT interpreter for artifacts "
              "(Keras for the baseline); host figures are not a proxy for edge devices.", ""]
    if report["stages"]:
        lines += ["| stage | epochs | seconds | details |", "|---|---:|---:|---|"]
        for s in report["stages"]:
            details = {k: v for k, v in s.items()
                       if k not in ("kind", "seconds", "epochs", "history")}
            lines.append(f"| {s['kind']} | {s.get('epochs', 0)} | {s['seconds']:.1f} | "
                         f"{_short(details)} |")
        lines.append("")
    t = report.get("timings") or {}
    if t:
        lines += ["Timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()), ""]
    for note in report.get("notes") or []:
        lines.append(f"- {note}")
    env = report.get("environment") or {}
    if env:
        lines += ["", "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items())]
    return "\n".join(lines).rstrip() + "\n"


def _short(details: dict) -> str:
    parts = []
    for k, v in details.items():
        if isinstance(v, float):
            v = round(v, 4)
        if isinstance(v, (list, dict)) and len(str(v)) > 80:
            v = f"{len(v)} entries"
        parts.append(f"{k}={v}")
    return "; ".join(parts)
