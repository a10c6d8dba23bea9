"""The distinct weight values per kernel of a clustered run, as report.md and report.html show
them: measured in each ``.tflite`` (``artifacts[].distinct_values``, ``targets.clusters``).
"""

from __future__ import annotations

from html import escape


def _rows(report: dict) -> list[tuple[str, dict]]:
    return [(a["target"], k) for a in report.get("artifacts") or []
            for k in (a.get("distinct_values") or {}).get("kernels") or []]


def clusters_markdown(report: dict) -> list[str]:
    """report.md lines (none when no artifact carries the measurement)."""
    rows = _rows(report)
    if not rows:
        return []
    lines = ["Distinct weight values per kernel, read from each .tflite (per output channel: "
             "max / mean; int8 scales are per channel):", "",
             "| artifact | kernel | op | dtype | distinct | per channel max | per channel mean |",
             "|---|---|---|---|---:|---:|---:|"]
    for target, k in rows:
        lines.append(f"| {target} | `{k['tensor']}` | {k['op']} | {k['dtype']} | "
                     f"{_n(k['distinct'])} | {_n(k['max_per_channel'])} | "
                     f"{_n(k['mean_per_channel'])} |")
    return lines + [""]


def clusters_html(report: dict) -> str:
    """report.html section (empty when no artifact carries the measurement)."""
    rows = _rows(report)
    if not rows:
        return ""
    body = "".join(
        f"<tr><td class=l>{escape(t)}</td><td class=l>{escape(k['tensor'])}</td>"
        f"<td class=l>{escape(k['op'])}</td><td class=l>{escape(k['dtype'])}</td>"
        f"<td>{_n(k['distinct'])}</td><td>{_n(k['max_per_channel'])}</td>"
        f"<td>{_n(k['mean_per_channel'])}</td></tr>" for t, k in rows)
    return ("<h2>Weight clusters in the files</h2><p class=\"meta\">Distinct stored values "
            "of each weight tensor, read from the .tflite; int8 scales are per output "
            "channel, so the per-channel count is the one clustering bounds.</p>"
            "<table><tr><th class=l>artifact</th><th class=l>kernel</th><th class=l>op</th>"
            "<th class=l>dtype</th><th>distinct</th><th>per channel max</th>"
            f"<th>per channel mean</th></tr>{body}</table>")


def _n(value: object) -> str:
    return "n/a" if value is None else str(value)
