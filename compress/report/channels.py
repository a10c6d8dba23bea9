"""Channel pruning in report.md, report.html and the CLI summary: per ``prune_channels`` stage,
the kept channel counts, MACs and parameters per layer before and after, the device budget (an
estimate, so labelled), the sensitivity scan (plotted) and the recovery curve; per artifact,
its host latency against the unpruned model in the same format (report ``channel_pruning``,
a host x86 measurement, labelled so: never a device figure).
"""

from __future__ import annotations

from html import escape
from typing import Any


def _stages(report: dict) -> list[tuple[int, dict]]:
    return [(i, s) for i, s in enumerate(report.get("stages") or [])
            if s.get("kind") == "prune_channels" and s.get("layers")]


def _budget_line(stage: dict) -> str | None:
    b = stage.get("budget")
    if not b:
        return None
    return (f"Budget {b['latency_ms']:g} ms on {b['device']} ({b['format']}) -> keep_macs "
            f"{b['keep_macs']:.4f}; unpruned model estimated at "
            f"{b['estimated_latency_ms_before']:.4g} ms ({b['method']}, an estimate: "
            f"{b['source']})")


def _summary_line(stage: dict) -> str:
    return (f"MACs {stage['macs_before']:,} -> {stage['macs_after']:,} "
            f"({stage['macs_kept']:.1%} kept; target keep_macs {stage.get('keep_macs')}), "
            f"parameters {stage['params_before']:,} -> {stage['params_after']:,}; "
            f"importance {stage.get('importance')}, allocation {stage.get('allocation')}, "
            f"round_to {stage.get('round_to')}. Kept channels: "
            + ", ".join(f"{g['layer']} {g['kept']}/{g['channels']}" for g in stage["groups"]))


LATENCY_TITLE = ("Host latency against the unpruned model (host x86 measurement, not a device "
                 "figure)")


def host_latency(report: dict) -> list[dict]:
    """The ``channel_pruning.host_latency`` entries (empty without a prune_channels stage)."""
    return list((report.get("channel_pruning") or {}).get("host_latency") or [])


def _latency_cells(e: dict) -> tuple[str, ...]:
    return (e["target"], e["format"], f"{e['p50_ms']:.4f}", f"{e['unpruned_p50_ms']:.4f}",
            "n/a" if e.get("speedup") is None else f"{e['speedup']:.2f}x",
            f"{e['macs']:,}", f"{e['unpruned_macs']:,}", f"{e['size_bytes']:,}",
            f"{e['unpruned_size_bytes']:,}")


LATENCY_HEAD = ("artifact", "format", "p50 ms", "unpruned p50 ms", "speedup", "MACs",
                "unpruned MACs", "bytes", "unpruned bytes")


def _latency_caption(report: dict) -> str:
    entries = host_latency(report)
    e = entries[0]
    return (f"Measured on {e['device']} with the runner's code, {e['threads']} thread, the "
            f"two files alternating over {e['rounds']} rounds ({e['warmup']} warm-up, "
            f"{e['runs_per_round']} timed invokes per round), median of the per-round p50. "
            "The unpruned file is the model the run started from, converted to the same "
            "format by the same converter path (integer formats post-training quantized with "
            f"the run's calibration samples): {e['unpruned_path'].split('/')[0]}/. "
            "Host x86 latency is not a device figure and does not scale to devices.")


def latency_summary_lines(report: dict) -> list[str]:
    """The CLI summary's lines for the host latency against the unpruned model."""
    entries = host_latency(report)
    if not entries:
        return []
    return ["Channel pruning, host p50 vs the unpruned model (host x86, 1 thread, alternating; "
            "not a device figure):"] + [
        f"  {e['target']}: {e['p50_ms']:.3f} ms vs {e['unpruned_p50_ms']:.3f} ms unpruned "
        f"({'n/a' if e.get('speedup') is None else format(e['speedup'], '.2f') + 'x'}); MACs "
        f"{e['macs']:,} vs {e['unpruned_macs']:,}" for e in entries]


def channels_markdown(report: dict) -> list[str]:
    """report.md lines (none without a prune_channels stage)."""
    lines: list[str] = []
    for i, stage in _stages(report):
        lines += [f"## Channel pruning (stage {i})", "", _summary_line(stage), ""]
        if _budget_line(stage):
            lines += [_budget_line(stage), ""]
        lines += ["| layer | class | MACs before | MACs after | params before | params after |",
                  "|---|---|---:|---:|---:|---:|"]
        lines += [f"| {r['layer']} | {r['class']} | {r['macs_before']:,} | {r['macs_after']:,} | "
                  f"{r['params_before']:,} | {r['params_after']:,} |" for r in stage["layers"]]
        lines.append("")
        scan = stage.get("sensitivity")
        if scan:
            lines += [f"Sensitivity (accuracy drop when only that layer loses a fraction of its "
                      f"channels; {scan['samples']} training samples, baseline "
                      f"{100 * scan['baseline_accuracy']:.2f} %):", "",
                      "| layer | " + " | ".join(f"{r:.0%}" for r in scan["ratios"]) + " |",
                      "|---|" + "---:|" * len(scan["ratios"])]
            lines += ["| " + row["layer"] + " | " + " | ".join(
                f"{100 * p['drop']:+.2f} pp" for p in row["points"]) + " |"
                for row in scan["layers"]]
            lines.append("")
        skipped = stage.get("skipped_layers") or []
        if skipped:
            lines += ["Not cut: " + "; ".join(f"{s['layer']} ({s['reason']})" for s in skipped),
                      ""]
    if host_latency(report):
        lines += [f"## {LATENCY_TITLE}", "", _latency_caption(report), "",
                  "| " + " | ".join(LATENCY_HEAD) + " |",
                  "|---|---|" + "---:|" * (len(LATENCY_HEAD) - 2)]
        lines += ["| " + " | ".join(_latency_cells(e)) + " |" for e in host_latency(report)]
        lines.append("")
    return lines


def channels_html(report: dict) -> str:
    """report.html section (empty without a prune_channels stage)."""
    parts = []
    for i, stage in _stages(report):
        rows = "".join(
            f"<tr><td class=l>{escape(r['layer'])}</td><td class=l>{escape(r['class'])}</td>"
            f"<td>{r['macs_before']:,}</td><td>{r['macs_after']:,}</td>"
            f"<td>{r['params_before']:,}</td><td>{r['params_after']:,}</td></tr>"
            for r in stage["layers"])
        budget = _budget_line(stage)
        figures = "".join(f'<figure><img src="data:image/png;base64,{png}" alt="{escape(cap)}">'
                          f"<figcaption>{escape(cap)}</figcaption></figure>"
                          for cap, png in _plots(stage, i) if png)
        parts.append(
            f"<h2>Channel pruning (stage {i})</h2><p>{escape(_summary_line(stage))}</p>"
            + (f"<p class=meta>{escape(budget)}</p>" if budget else "")
            + (f'<div class="grid">{figures}</div>' if figures else "")
            + "<table><tr><th class=l>layer</th><th class=l>class</th><th>MACs before</th>"
              f"<th>MACs after</th><th>params before</th><th>params after</th></tr>{rows}</table>")
    if host_latency(report):
        head = "".join(f"<th{' class=l' if i < 2 else ''}>{escape(h)}</th>"
                       for i, h in enumerate(LATENCY_HEAD))
        body = "".join("<tr>" + "".join(f"<td{' class=l' if i < 2 else ''}>{escape(c)}</td>"
                                        for i, c in enumerate(_latency_cells(e))) + "</tr>"
                       for e in host_latency(report))
        parts.append(f"<h2>{escape(LATENCY_TITLE)}</h2><p class=meta>"
                     f"{escape(_latency_caption(report))}</p>"
                     f"<table><tr>{head}</tr>{body}</table>")
    return "".join(parts)


def _plots(stage: dict, index: int) -> list[tuple[str, str | None]]:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return []
    out: list[tuple[str, str | None]] = []
    layers = [r for r in stage["layers"] if r["macs_before"]]
    if layers:
        fig = Figure(figsize=(6.2, 0.32 * len(layers) + 1.6))
        ax = fig.add_subplot()
        names = [r["layer"] for r in layers]
        pos = list(range(len(names)))
        ax.barh([p - 0.2 for p in pos], [r["macs_before"] for r in layers], height=0.4,
                color="#999999", label="before")
        ax.barh([p + 0.2 for p in pos], [r["macs_after"] for r in layers], height=0.4,
                color="#4c72b0", label="after")
        ax.set_yticks(pos, names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("MACs per image")
        ax.legend(fontsize=8, loc="lower right")
        ax.set_title(f"MACs per layer, before and after the cut (stage {index})", fontsize=10)
        out.append((f"MACs per layer before and after channel pruning (stage {index}).",
                    _png(fig)))
    scan = stage.get("sensitivity")
    if scan and scan.get("layers"):
        fig = Figure(figsize=(6.2, 3.6))
        ax = fig.add_subplot()
        for row in scan["layers"]:
            ax.plot([0] + [100 * p["ratio"] for p in row["points"]],
                    [0] + [100 * p["drop"] for p in row["points"]], marker="o", label=row["layer"])
        ax.set_xlabel("channels removed from that layer only (%)")
        ax.set_ylabel("accuracy drop (pp)")
        ax.set_title("Channel sensitivity per layer", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
        out.append((f"Channel sensitivity: accuracy drop when only one layer is cut, on "
                    f"{scan['samples']} training samples (stage {index}).", _png(fig)))
    history = stage.get("history") or {}
    curves = {k: v for k, v in history.items() if isinstance(v, list) and v and
              ("loss" in k or "acc" in k)}
    if curves:
        fig = Figure(figsize=(6.2, 3.2))
        ax = fig.add_subplot()
        for key, values in curves.items():
            ax.plot(range(1, len(values) + 1), values, marker="o", label=key)
        ax.set_xlabel("recovery epoch")
        ax.set_title("Recovery fine-tune after the cut", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        out.append((f"Recovery curve of the fine-tune after the cut (stage {index}).", _png(fig)))
    return out


def _png(fig: Any) -> str:
    """A matplotlib figure as base64 PNG (as ``report.html`` embeds its plots)."""
    import base64
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


__all__ = ["channels_markdown", "channels_html", "host_latency", "latency_summary_lines"]
