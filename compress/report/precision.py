"""Per-layer precision of ``int4`` and ``mixed`` artifacts, as report.md and report.html show
it: read from each ``.tflite`` (``artifacts[].precision``, ``compress.artifacts.quantizer``),
with each layer's measured sensitivity and the accuracy budget's outcome for ``mixed``.
"""

from __future__ import annotations

from html import escape

#: weight bits per precision (float16 kept layers store 16-bit weights)
BITS = {"int4": 4, "int8": 8, "float16": 16, "float32": 32, "dynamic-int4": 4,
        "dynamic-int8": 8}


def _artifacts(report: dict) -> list[dict]:
    return [a for a in report.get("artifacts") or [] if a.get("precision")]


def _sens(row: dict) -> str:
    value = row.get("sensitivity_pp")
    return "n/a" if value is None else f"{value:+.2f}"


def _others(precision: dict) -> str:
    rest = [f"{o['op']} x{o['count']} {o['precision']}" for o in precision.get("other_ops") or []]
    return ", ".join(rest) or "none"


def _outcome(mixed: dict) -> str:
    hold = mixed["holdout"]
    return (f"budget {mixed['max_accuracy_drop_pp']:g} pp, objective {mixed['objective']}; "
            f"measured on {hold['samples']} held-out training samples (seed {hold['seed']}), "
            f"never the test split: float32 {100 * mixed['float_holdout_accuracy']:.2f} %, "
            f"all-int8 {100 * mixed['int8_holdout_accuracy']:.2f} %, this file "
            f"{100 * mixed['holdout_accuracy']:.2f} % (drop {mixed['holdout_drop_pp']:.2f} pp). "
            f"{'Budget met' if mixed['budget_met'] else 'BUDGET NOT MET'}: {mixed['note']}")


def precision_markdown(report: dict) -> list[str]:
    """report.md lines (none when no artifact is int4 or mixed)."""
    lines = []
    for art in _artifacts(report):
        p = art["precision"]
        lines += [f"Per-layer precision of `{art['target']}` ({art['format']}), read from the "
                  "file (sensitivity: held-out accuracy lost with that layer alone at int4, "
                  "vs all-int8):", "",
                  "| layer | op | params | precision | weight bits | sensitivity (pp) |",
                  "|---|---|---:|---|---:|---:|"]
        for row in p["layers"]:
            lines.append(f"| {row['layer']} | {row['op']} | {row['params']} | "
                         f"{row['precision']} | {BITS.get(row['precision'], 'n/a')} | "
                         f"{_sens(row)} |")
        lines += ["", f"Other ops: {_others(p)}."]
        if p.get("mixed"):
            lines += ["", _outcome(p["mixed"])]
        lines.append("")
    return lines


def precision_html(report: dict) -> str:
    """report.html section (empty when no artifact is int4 or mixed)."""
    parts = []
    for art in _artifacts(report):
        p = art["precision"]
        body = "".join(
            f"<tr><td class=l>{escape(r['layer'])}</td><td class=l>{escape(r['op'])}</td>"
            f"<td>{r['params']}</td><td class=l>{escape(r['precision'])}</td>"
            f"<td>{BITS.get(r['precision'], 'n/a')}</td><td>{_sens(r)}</td></tr>"
            for r in p["layers"])
        outcome = (f"<p class=callout>{escape(_outcome(p['mixed']))}</p>"
                   if p.get("mixed") else "")
        parts.append(
            f"<h3>{escape(art['target'])} ({escape(art['format'])})</h3>{outcome}"
            "<table><tr><th class=l>layer</th><th class=l>op</th><th>params</th>"
            "<th class=l>precision</th><th>weight bits</th><th>sensitivity (pp)</th></tr>"
            f"{body}</table><p class=\"meta\">Other ops: {escape(_others(p))}.</p>")
    if not parts:
        return ""
    return ("<h2>Per-layer precision</h2><p class=\"meta\">Read from each .tflite. Sensitivity: "
            "held-out training-split accuracy lost with that layer alone at int4 (the rest "
            "int8), in pp.</p>" + "".join(parts))
