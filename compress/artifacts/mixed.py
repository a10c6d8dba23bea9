"""Per-layer mixed precision under an accuracy budget, and the ``int4``/``mixed`` exports.

``mixed`` chooses, for each weight layer, int4 (weights; int8 activations), int8 or float16
(kept in float) so that the file is as cheap as possible (``objective``: its size in bytes, or
its op-level energy estimate, ``targets.energy.estimate_from_ops``) while its accuracy drop
stays within ``max_accuracy_drop`` percentage points of the float32 file. Every accuracy here
is measured with the LiteRT interpreter on a held-out part of the TRAINING split (a seeded
draw, ``holdout_indices``), never on the test split; the test split only evaluates the final
file, like any other artifact.

1. Scan: the all-int8 file, then each int4-capable layer alone at int4 (the rest int8); a
   layer's sensitivity is the accuracy it loses against all-int8, in pp.
2. When all-int8 is already over budget: each layer alone kept float16; the layers that win
   back most accuracy per byte are kept float16, one at a time, until a measured file is
   within budget. If none is, the all-int8 file is kept and the report says so.
3. Greedy: layers go to int4 in order of cost saved per pp of sensitivity; each step builds and
   measures the file and keeps the change only when the measured drop is within budget. The
   result is therefore a file whose own measured drop is within budget.

Calibration is done once per float file and shared by every candidate.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from compress.artifacts import quantizer
from compress.errors import DataError
from compress.recipe import MIXED_DEFAULTS

#: training-split samples held out to measure the candidates (capped at half the split)
DEFAULT_HOLDOUT = MIXED_DEFAULTS["holdout_samples"]
#: formats made by the LiteRT quantizer
SUB8BIT_FORMATS = ("int4", "mixed")
#: sensitivity below this (pp) counts as this, so ordering never divides by zero
_MIN_SENSITIVITY_PP = 0.01
#: float rounding of 100 * (a - b): a drop of exactly the budget is within it
_EPS_PP = 1e-9


def holdout_indices(n_train: int, samples: int = DEFAULT_HOLDOUT, *, seed: int = 0) -> np.ndarray:
    """Sorted indices of the held-out part of a training split of ``n_train`` samples.

    A benchmark that wants these samples unseen by training drops the same indices from its
    training set (same arguments, same indices).
    """
    n = min(int(samples), n_train // 2)
    if n < 1:
        raise DataError(f"mixed precision needs a held-out part of the training split. "
                        f"Received: {n_train} training samples",
                        hint="pass a dataset with at least 2 training samples")
    rng = np.random.default_rng([int(seed), 15])
    return np.sort(rng.choice(n_train, size=n, replace=False))


@dataclass(frozen=True)
class Candidate:
    """One measured file: its per-layer choice, held-out accuracy and cost."""

    precision: dict[str, str]
    accuracy: float
    drop_pp: float
    size_bytes: int
    energy_mj: float

    def cost(self, objective: str) -> float:
        return float(self.size_bytes if objective == "size" else self.energy_mj)

    def to_dict(self) -> dict:
        return {"precision": {k: v for k, v in self.precision.items() if v != "int8"},
                "holdout_accuracy": self.accuracy, "drop_pp": round(self.drop_pp, 4),
                "size_bytes": self.size_bytes, "energy_mj": self.energy_mj}


@dataclass
class Search:
    """A float file, its calibration and held-out data: measures any precision assignment."""

    float_blob: bytes
    layers: list[quantizer.WeightLayer]
    calibration: dict
    x: np.ndarray
    y: np.ndarray
    float_accuracy: float = 0.0
    measured: list[Candidate] = field(default_factory=list)

    @classmethod
    def start(cls, float_blob: bytes, *, representative: np.ndarray, x: np.ndarray,
              y: np.ndarray, layer_names: Iterable[str] = ()) -> "Search":
        search = cls(float_blob, quantizer.weight_layers(float_blob, layer_names),
                     quantizer.calibrate(float_blob, representative), x, y)
        search.float_accuracy = _accuracy(float_blob, x, y)
        return search

    def measure(self, precision: dict[str, str]) -> tuple[Candidate, bytes]:
        blob = quantizer.quantize(self.float_blob, self.calibration, precision=precision,
                                  layers=self.layers)
        from targets.energy import estimate_from_ops
        from targets.tflite_graph import read_model

        accuracy = _accuracy(blob, self.x, self.y)
        candidate = Candidate(precision=dict(precision), accuracy=accuracy,
                              drop_pp=100.0 * (self.float_accuracy - accuracy),
                              size_bytes=len(blob),
                              energy_mj=float(estimate_from_ops(read_model(blob)).value))
        self.measured.append(candidate)
        return candidate, blob


def _accuracy(blob: bytes, x: np.ndarray, y: np.ndarray) -> float:
    from compress.artifacts.evaluate import evaluate_tflite

    with tempfile.TemporaryDirectory(prefix="edgecompress-mixed-") as tmp:
        path = Path(tmp) / "candidate.tflite"
        path.write_bytes(blob)
        return evaluate_tflite(path, x, y)


def scan(search: Search, *, progress: Any = None) -> dict:
    """Each int4-capable layer alone at int4 (the rest int8), against all-int8.

    Returns:
        ``{float_accuracy, int8: Candidate, int8_blob, layers: [{layer, op, params,
        int4_capable, int4_accuracy, int4_drop_pp, sensitivity_pp, candidate}]}``.
    """
    int8, int8_blob = search.measure({})
    rows = []
    for layer in search.layers:
        row = {**layer.to_dict(), "int4_accuracy": None, "int4_drop_pp": None,
               "sensitivity_pp": None, "candidate": None}
        if layer.int4:
            cand, _ = search.measure({layer.name: "int4"})
            row.update(int4_accuracy=cand.accuracy, int4_drop_pp=round(cand.drop_pp, 4),
                       sensitivity_pp=round(100.0 * (int8.accuracy - cand.accuracy), 4),
                       candidate=cand)
            _say(progress, f"{layer.name} at int4: held-out {100 * cand.accuracy:.2f} % "
                           f"({-row['sensitivity_pp']:+.2f} pp vs all-int8)")
        rows.append(row)
    return {"float_accuracy": search.float_accuracy, "int8": int8, "int8_blob": int8_blob,
            "layers": rows}


def assign(search: Search, scanned: dict, *, max_accuracy_drop: float, objective: str,
           progress: Any = None) -> dict:
    """The cheapest assignment found whose measured drop is within ``max_accuracy_drop`` pp.

    Returns:
        ``{candidate, blob, budget_met, steps: [{change, drop_pp, cost, accepted}]}``;
        ``budget_met`` False means no assignment met the budget and ``candidate``/``blob``
        are the all-int8 file.
    """
    int8, steps = scanned["int8"], []
    best, blob = int8, scanned["int8_blob"]
    if int8.drop_pp > max_accuracy_drop + _EPS_PP:
        best, blob = _keep_float16(search, int8, max_accuracy_drop, objective, steps, progress)
        if best is None:
            return {"candidate": int8, "blob": scanned["int8_blob"], "budget_met": False,
                    "steps": steps}
    current = dict(best.precision)
    for row in sorted((r for r in scanned["layers"] if r["candidate"] is not None
                       and current.get(r["layer"], "int8") == "int8"),
                      key=lambda r: -_saving(int8, r["candidate"], objective)
                      / max(r["sensitivity_pp"], _MIN_SENSITIVITY_PP)):
        if _saving(int8, row["candidate"], objective) <= 0:
            continue
        trial = {**current, row["layer"]: "int4"}
        cand, trial_blob = search.measure(trial)
        within = cand.drop_pp <= max_accuracy_drop + _EPS_PP
        ok = within and cand.cost(objective) < best.cost(objective)
        steps.append({"change": f"{row['layer']} -> int4", "drop_pp": round(cand.drop_pp, 4),
                      "cost": cand.cost(objective), "accepted": ok})
        verdict = "kept" if ok else "not cheaper, reverted" if within \
            else "over budget, reverted"
        _say(progress, f"try {row['layer']} at int4: held-out drop {cand.drop_pp:.2f} pp "
                       f"({verdict})")
        if ok:
            current, best, blob = trial, cand, trial_blob
    return {"candidate": best, "blob": blob, "budget_met": True, "steps": steps}


def _keep_float16(search: Search, int8: Candidate, budget: float, objective: str,
                  steps: list, progress: Any) -> tuple[Candidate | None, bytes | None]:
    """Keep layers in float16, most accuracy won back per extra cost first, until a measured
    file is within budget (None when even all of them is not)."""
    alone = []
    for layer in search.layers:
        cand, _ = search.measure({layer.name: "float16"})
        gain = 100.0 * (cand.accuracy - int8.accuracy)
        extra = max(cand.cost(objective) - int8.cost(objective), 1e-12)
        alone.append((gain / extra, layer.name))
        _say(progress, f"{layer.name} kept float16: held-out drop {cand.drop_pp:.2f} pp")
    current: dict[str, str] = {}
    for _, name in sorted(alone, reverse=True):
        current = {**current, name: "float16"}
        cand, blob = search.measure(current)
        ok = cand.drop_pp <= budget + _EPS_PP
        steps.append({"change": f"{name} -> float16", "drop_pp": round(cand.drop_pp, 4),
                      "cost": cand.cost(objective), "accepted": ok})
        if ok:
            return cand, blob
    return None, None


def _saving(int8: Candidate, cand: Candidate, objective: str) -> float:
    return int8.cost(objective) - cand.cost(objective)


def _say(progress: Any, text: str) -> None:
    if progress is not None:
        progress.info(f"mixed: {text}")


def export(spec: Any, model: Any, *, representative: np.ndarray, dataset: Any, seed: int = 0,
           progress: Any = None) -> tuple[bytes, dict]:
    """An ``int4`` or ``mixed`` file for ``spec``, and what it holds (report ``precision``).

    ``mixed`` draws its held-out samples from ``dataset``'s training split (``seed``).
    """
    from compress.artifacts import export as exporter
    from compress.recipe import TargetSpec
    from targets.tflite_graph import read_model

    names = quantizer.kernel_layer_names(model)
    if spec.format == "int4":
        blob = exporter.convert(model, spec, representative=representative)
        return blob, quantizer.describe(read_model(blob), names)
    float_blob = exporter.convert(model, TargetSpec("float32", static_batch=spec.static_batch))
    keep = holdout_indices(len(dataset.x_train), spec.holdout_samples, seed=seed)
    x, y = dataset.x_train[keep], dataset.y_train[keep]
    search = Search.start(float_blob, representative=representative, x=x, y=y,
                          layer_names=names)
    scanned = scan(search, progress=progress)
    chosen = assign(search, scanned, max_accuracy_drop=spec.max_accuracy_drop,
                    objective=spec.objective, progress=progress)
    details = quantizer.describe(read_model(chosen["blob"]), names)
    by_layer = {r["layer"]: r for r in scanned["layers"]}
    for row in details["layers"]:
        found = by_layer.get(row["layer"], {})
        row["sensitivity_pp"] = found.get("sensitivity_pp")
        row["int4_holdout_accuracy"] = found.get("int4_accuracy")
    cand = chosen["candidate"]
    details["mixed"] = {
        "max_accuracy_drop_pp": spec.max_accuracy_drop, "objective": spec.objective,
        "holdout": {"split": "train", "samples": int(len(keep)), "seed": int(seed)},
        "float_holdout_accuracy": scanned["float_accuracy"],
        "int8_holdout_accuracy": scanned["int8"].accuracy,
        "int8_drop_pp": round(scanned["int8"].drop_pp, 4),
        "holdout_accuracy": cand.accuracy, "holdout_drop_pp": round(cand.drop_pp, 4),
        "budget_met": chosen["budget_met"],
        "note": _note(chosen, spec.max_accuracy_drop, scanned["int8"]),
        "steps": chosen["steps"], "files_measured": len(search.measured)}
    return chosen["blob"], details


def _note(chosen: dict, budget: float, int8: Candidate) -> str:
    cand = chosen["candidate"]
    if not chosen["budget_met"]:
        return (f"no assignment met max_accuracy_drop {budget:g} pp (all-int8 drops "
                f"{int8.drop_pp:.2f} pp on the held-out samples, and keeping layers in "
                f"float16 did not bring it within budget): the all-int8 file is kept")
    n4 = sum(v == "int4" for v in cand.precision.values())
    n16 = sum(v == "float16" for v in cand.precision.values())
    return (f"{n4} layer(s) int4, {n16} float16, the rest int8: held-out drop "
            f"{cand.drop_pp:.2f} pp <= {budget:g} pp")


def sensitivity(model: Any, *, data: Any = "fashion-mnist", data_dir: str | None = None,
                train_samples: int | None = None, holdout_samples: int = DEFAULT_HOLDOUT,
                calibration_samples: int = 200, seed: int = 0, trust_model_code: bool = False,
                progress: Any = None) -> dict:
    """The precision scan of ``edgecompress sensitivity --kind precision`` (no file written).

    Args:
        model: a model or its path / ``module:function`` (``compress.models.load_model``).
        data: a dataset spec; only its training split is used.
        train_samples: a seeded subset of the training split first (quick scans).

    Returns:
        ``{kind: precision, model, data, holdout, float_accuracy, int8_accuracy,
        int8_size_bytes, layers: [{layer, op, tensor, params, int4_capable, int4_accuracy,
        int4_drop_pp, sensitivity_pp, int4_size_bytes}]}``.
    """
    from calibration import sources
    from compress import models
    from compress.artifacts import export as exporter
    from compress.recipe import TargetSpec

    dataset = sources.load_dataset(data, data_dir=data_dir)
    if train_samples:
        dataset = sources.subsample(dataset, train=train_samples, seed=seed)
    loaded, source = models.load_model(model, trust_model_code=trust_model_code,
                                       native_keras3=True)
    keep = holdout_indices(len(dataset.x_train), holdout_samples, seed=seed)
    names = quantizer.kernel_layer_names(loaded)
    float_blob = exporter.convert(loaded, TargetSpec("float32"))
    search = Search.start(float_blob, x=dataset.x_train[keep], y=dataset.y_train[keep],
                          representative=sources.representative_samples(
                              dataset, calibration_samples, seed=seed), layer_names=names)
    scanned = scan(search, progress=progress)
    layers = [{k: v for k, v in r.items() if k != "candidate"}
              | {"int4_size_bytes": r["candidate"].size_bytes if r["candidate"] else None}
              for r in scanned["layers"]]
    return {"kind": "precision", "model": source.location, "data": dataset.source,
            "holdout": {"split": "train", "samples": int(len(keep)), "seed": int(seed)},
            "float_accuracy": scanned["float_accuracy"],
            "int8_accuracy": scanned["int8"].accuracy,
            "int8_size_bytes": scanned["int8"].size_bytes, "layers": layers}


def render_scan(result: dict) -> str:
    """The scan as a plain-text table (what ``edgecompress sensitivity`` prints)."""
    hold = result["holdout"]
    rows = [("layer", "op", "params", "int4 acc", "vs int8 (pp)", "int4 file")]
    for r in result["layers"]:
        acc = r["int4_accuracy"]
        rows.append((r["layer"], r["op"], str(r["params"]),
                     "n/a" if acc is None else f"{100 * acc:.2f} %",
                     "int8 only" if r["sensitivity_pp"] is None
                     else f"{-r['sensitivity_pp']:+.2f}",
                     "" if r["int4_size_bytes"] is None else f"{r['int4_size_bytes']} B"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([
        f"Precision sensitivity of {result['model']}: each layer alone at int4 (int4 weights, "
        "int8 activations), the rest int8",
        f"measured on {hold['samples']} held-out samples of the training split (seed "
        f"{hold['seed']}; never the test split) of {result['data']}",
        f"float32 {100 * result['float_accuracy']:.2f} %, all-int8 "
        f"{100 * result['int8_accuracy']:.2f} % ({result['int8_size_bytes']} B)", "", *lines])
