"""Two finished runs side by side: ``compare_reports`` and ``render_comparison``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compress.report.figures import device_figures
from compress.report.files import load_report
from compress.report.markdown import fmt_energy, fmt_size

_COMPARED = ("accuracy", "size_bytes", "gzip_bytes", "latency_ms", "energy_mj")


def _metrics(item: dict) -> dict:
    lat = item.get("latency_ms") or {}
    return {"accuracy": item.get("accuracy"), "size_bytes": item.get("size_bytes"),
            "gzip_bytes": item.get("gzip_bytes"), "latency_ms": lat.get("p50"),
            "energy_mj": item.get("energy_mj")}


def _delta(key: str, a: Any, b: Any) -> dict | None:
    if key == "energy_mj":
        if not a or not b:
            return None
        if a["method"] != b["method"]:
            return {"value": None, "ratio": None,
                    "note": f"methods differ ({a['method']} vs {b['method']}): not compared"}
        a, b = a["value"], b["value"]
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return None
    return {"value": b - a, "ratio": (b / a) if a else None}


def compare_reports(run_a: str | Path, run_b: str | Path) -> dict:
    """Two runs artifact by artifact: accuracy, size, gzip, host latency p50, host energy.

    Deltas are B - A (``ratio`` B / A). Energy is compared only when both figures share a
    method. Runs written before energy figures existed get them computed in memory
    (estimated, nothing written).
    """
    reports = []
    for run in (run_a, run_b):
        report = load_report(run)
        if any("energy_mj" not in a for a in report.get("artifacts", [])):
            report = device_figures(report, run, measure=False)
        reports.append(report)
    items = []
    for report in reports:
        named = {"baseline": report.get("baseline") or {}}
        named.update({a["target"]: a for a in report.get("artifacts", [])})
        items.append(named)
    names = list(dict.fromkeys([*items[0], *items[1]]))
    rows = []
    for name in names:
        a, b = (_metrics(i[name]) if name in i else None for i in items)
        rows.append({"artifact": name, "a": a, "b": b,
                     "delta": {k: _delta(k, a[k], b[k]) for k in _COMPARED} if a and b else None})
    return {"a": {"run": str(run_a), "recipe": reports[0].get("recipe")},
            "b": {"run": str(run_b), "recipe": reports[1].get("recipe")}, "rows": rows}


def render_comparison(data: dict) -> str:
    """Plain-text blocks, one per artifact: metric, A, B, delta."""
    def show(key: str, v: Any) -> str:
        if v is None:
            return "n/a"
        if key == "accuracy":
            return f"{100 * v:.2f} %"
        if key in ("size_bytes", "gzip_bytes"):
            return fmt_size(v)
        if key == "latency_ms":
            return f"{v:.3f} ms"
        return f"{fmt_energy(v['value'])} [{v['method']}]"

    def delta(key: str, d: dict | None) -> str:
        if d is None:
            return ""
        if d.get("note"):
            return d["note"]
        if key == "accuracy":
            return f"{100 * d['value']:+.2f} pp"
        return f"{100 * (d['ratio'] - 1):+.1f} %" if d["ratio"] is not None else ""

    labels = {"accuracy": "accuracy", "size_bytes": "size", "gzip_bytes": "gzip",
              "latency_ms": "latency p50 (host)", "energy_mj": "energy / inference (host)"}
    lines = [f"A: {data['a']['run']} ({data['a']['recipe']})",
             f"B: {data['b']['run']} ({data['b']['recipe']})"]
    for row in data["rows"]:
        lines += ["", row["artifact"]]
        table = [("  metric", "A", "B", "B vs A")]
        for key in _COMPARED:
            a = show(key, row["a"][key]) if row["a"] else "absent"
            b = show(key, row["b"][key]) if row["b"] else "absent"
            d = delta(key, (row["delta"] or {}).get(key))
            table.append((f"  {labels[key]}", a, b, d))
        widths = [max(len(r[i]) for r in table) for i in range(3)]
        lines += ["  ".join([*(c.ljust(w) for c, w in zip(r[:3], widths)), r[3]]).rstrip()
                  for r in table]
    return "\n".join(lines) + "\n"
