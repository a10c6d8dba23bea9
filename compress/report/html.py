"""``report.html``: one self-contained page (inline CSS, plots as inline base64 PNG).

The page loads nothing from the network: no scripts, fonts or images from elsewhere, so it
can be mailed, attached to a CI run, or opened offline. Plots are drawn with matplotlib's Agg
canvas (no pyplot, no global backend switch); without matplotlib (the optional ``[report]``
extra) the page keeps its tables and says why the plots are missing.

Every energy number carries a badge with its method: green ``measured-*``, amber
``estimated-*`` (hatched bars in the plots), and a numbered source. Timings taken under
emulation (qemu) carry a grey ``emulated`` badge beside a device's latency, never in its place.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from compress.report.clusters import clusters_html
from compress.report.channels import channels_html
from compress.report.markdown import fmt_energy, fmt_ms, fmt_pct, fmt_size
from compress.report.precision import precision_html

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
  margin:0;background:#f6f7f9;color:#1d2330;font-size:14px;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 10px;
  border-bottom:1px solid #d8dce3;padding-bottom:4px}
.meta{color:#5b6474;margin:0}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d8dce3}
th,td{padding:6px 9px;border-bottom:1px solid #e8eaef;text-align:right;vertical-align:top}
th{background:#eef1f5;font-weight:600}
td.l,th.l{text-align:left}tr.grp td{border-top:2px solid #c9ced8}tr.base td{background:#fafbfc;font-style:italic}
.range{color:#5b6474;font-size:12px;white-space:nowrap}
.badge{display:inline-block;font-size:11px;font-weight:600;padding:1px 6px;border-radius:9px;
  margin-left:4px;white-space:nowrap;font-style:normal}
.badge.measured{background:#d5f2dc;color:#13652b;border:1px solid #8fd3a0}
.badge.estimated{background:#fff0cc;color:#7a5200;border:1px dashed #d9a93a}
.badge.conf{background:#eef1f5;color:#3d4656;border:1px solid #cfd5de}
.badge.emulated{background:#e9e6f5;color:#463a7a;border:1px dotted #8b80c0}
.callout{background:#fff;border-left:4px solid #d9a93a;padding:10px 14px;margin:16px 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:16px}
figure.wide{grid-column:1/-1}
figure{margin:0;background:#fff;border:1px solid #d8dce3;padding:8px}
figure img{width:100%;height:auto;display:block}
figcaption{color:#5b6474;font-size:12px;padding:4px 2px 0}
ol.src{font-size:12px;color:#3d4656}ol.src li{margin-bottom:4px}
sup{color:#5b6474}.nw{white-space:nowrap}code{background:#eef1f5;padding:0 3px;border-radius:3px}
"""

_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]


class _Sources:
    """Numbered footnotes: each distinct source text once."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def ref(self, fig: dict | None) -> str:
        if not fig or not fig.get("source"):
            return ""
        if fig["source"] not in self.items:
            self.items.append(fig["source"])
        n = self.items.index(fig["source"]) + 1
        return f'<sup><a href="#src{n}">[{n}]</a></sup>'


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _badge(method: str | None) -> str:
    if not method:
        return ""
    kind = "measured" if method.startswith("measured") else \
        "emulated" if method == "emulated" else "estimated"
    return f'<span class="badge {kind}">{_e(method)}</span>'


def _figure_cell(fig: dict | None, fmt: Any, sources: _Sources) -> str:
    if not fig or fig.get("value") is None:
        return "n/a"
    return (f"<span class=nw>{_e(fmt(fig['value']))}{_badge(fig.get('method'))}"
            f"{sources.ref(fig)}</span><br>"
            f'<span class="range">{_e(fmt(fig["low"]))} &ndash; {_e(fmt(fig["high"]))}</span>')


def _summary_table(report: dict, sources: _Sources) -> str:
    base = report.get("baseline") or {}
    head = ("<tr><th class=l>model</th><th>accuracy</th><th>&Delta; vs baseline</th>"
            "<th>size</th><th>gzip</th><th>sparsity</th><th>MACs</th><th>latency p50 "
            "(host)</th><th>energy / inference (host)</th></tr>")
    lat = (base.get("latency_ms") or {}).get("p50")
    ref = base.get("tflite_float32") or {}
    rows = [
        f"<tr class=base><td class=l>baseline (Keras, {_e(base.get('device', '?'))})</td>"
        f"<td>{fmt_pct(base.get('accuracy'))}</td><td></td><td>{fmt_size(base.get('size_bytes'))}"
        + (f'<br><span class="range">float32 TFLite {fmt_size(ref.get("size_bytes"))}</span>'
           if ref else "") +
        f"</td><td>{fmt_size(ref.get('gzip_bytes')) if ref else ''}</td><td></td>"
        f"<td>{_e(base.get('macs', ''))}</td><td>{'' if lat is None else fmt_ms(lat)}</td>"
        f"<td>{_figure_cell(base.get('energy_mj'), fmt_energy, sources)}</td></tr>"]
    for a in report.get("artifacts", []):
        d = a.get("accuracy_delta")
        rows.append(
            f"<tr><td class=l>{_e(a['target'])} <code>{_e(a['path'])}</code></td>"
            f"<td>{fmt_pct(a.get('accuracy'))}</td>"
            f"<td>{'n/a' if d is None else f'{100 * d:+.2f} pp'}</td>"
            f"<td>{fmt_size(a.get('size_bytes'))}</td><td>{fmt_size(a.get('gzip_bytes'))}</td>"
            f"<td>{100 * a.get('sparsity', 0):.1f} %</td><td>{_e(a.get('macs', ''))}</td>"
            f"<td>{fmt_ms(a['latency_ms']['p50'])}</td>"
            f"<td>{_figure_cell(a.get('energy_mj'), fmt_energy, sources)}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _devices_table(report: dict, sources: _Sources) -> str:
    devices = report.get("devices") or []
    if not devices:
        return "<p>No device figures (run <code>edgecompress report RUN_DIR</code>).</p>"
    head = ("<tr><th class=l>device</th><th class=l>artifact</th><th>latency</th>"
            "<th>confidence</th><th>energy / inference</th></tr>")
    rows, previous = [], None
    for d in devices:
        lat = d.get("latency_ms") or {}
        first = d["target"] != previous
        previous = d["target"]
        note = f"<br><span class=range>{_e(d['energy_note'])}</span>" if d.get("energy_note") \
            else ""
        emulated = _emulated_note(d.get("emulated"), sources)
        rows.append(
            f"<tr{' class=grp' if first else ''}><td class=l><b>{_e(d['target']) if first else ''}"
            f"</b></td><td class=l>{_e(d['artifact'])}</td>"
            f"<td>{_figure_cell(lat, fmt_ms, sources)}{emulated}</td>"
            f"<td><span class='badge conf'>{_e(lat.get('confidence', '?'))}</span></td>"
            f"<td>{_figure_cell(d.get('energy_mj'), fmt_energy, sources)}{note}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _emulated_note(emulated: dict | None, sources: _Sources) -> str:
    """The emulated run under a device row: its timing, never the device's latency."""
    if not emulated:
        return ""
    lat = emulated["latency_ms"]
    acc = emulated.get("accuracy")
    return (f"<br><span class=range>under emulation: {_e(fmt_ms(lat['value']))}"
            f"{_badge('emulated')}{sources.ref(lat)} (not the device's latency)"
            + (f", accuracy {_e(fmt_pct(acc))}" if acc is not None else "") + "</span>")


# --- plots --------------------------------------------------------------------------------


def _png(fig: Any) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _points(report: dict, metric: str) -> list[tuple[str, float, float, bool]]:
    """(label, x, accuracy %, is_baseline) for the accuracy trade-off plots."""
    base = report.get("baseline") or {}
    out = []
    if metric == "size":
        ref = (base.get("tflite_float32") or {}).get("size_bytes")
        x = ref or base.get("size_bytes")
        label = "baseline (float32 TFLite)" if ref else "baseline (Keras file)"
    else:
        x = (base.get("latency_ms") or {}).get("p50")
        label = "baseline (Keras)"
    if x and base.get("accuracy") is not None:
        out.append((label, x / 1024 if metric == "size" else x, 100 * base["accuracy"], True))
    for a in report.get("artifacts", []):
        x = a["size_bytes"] / 1024 if metric == "size" else a["latency_ms"]["p50"]
        if a.get("accuracy") is not None:
            out.append((a["target"], x, 100 * a["accuracy"], False))
    return out


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points no other point beats (smaller or equal x and higher or equal y)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _tradeoff_plot(report: dict, metric: str, colors: dict) -> str | None:
    from matplotlib.figure import Figure

    pts = _points(report, metric)
    if len(pts) < 2:
        return None
    fig = Figure(figsize=(6.4, 4.6))
    ax = fig.add_subplot()
    front = pareto_front([(p[1], p[2]) for p in pts])
    fx = [pts[i][1] for i in front]
    fy = [pts[i][2] for i in front]
    ax.step(fx, fy, where="post", color="#9aa3b2", lw=1.2, ls="--", zorder=1,
            label="Pareto front")
    for i, (label, x, y, is_base) in enumerate(pts):
        ax.scatter([x], [y], s=70, marker="s" if is_base else "o", zorder=3,
                   color="#555" if is_base else colors.get(label, "#333"),
                   edgecolors="black" if i in front else "none", linewidths=1.5,
                   label=label + (" (Pareto)" if i in front else ""))
    ax.margins(x=0.08, y=0.12)
    xs = [p[1] for p in pts]
    if min(xs) > 0 and max(xs) / min(xs) > 20:
        from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on short ranges
    ax.set_xlabel("size (KiB)" if metric == "size" else "latency p50 on the host (ms)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"Accuracy vs {'size' if metric == 'size' else 'host latency'} "
                 "(black outline: Pareto front)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2,
              frameon=False)
    return _png(fig)


def _device_energy_plot(report: dict, colors: dict) -> str | None:
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    devices = [d for d in report.get("devices") or [] if (d.get("energy_mj") or {}).get("value")]
    if not devices:
        return None
    targets = list(dict.fromkeys(d["target"] for d in devices))
    artifacts = list(dict.fromkeys(d["artifact"] for d in devices))
    width = 0.8 / len(artifacts)
    fig = Figure(figsize=(max(10.0, 1.2 * len(targets) + 3), 4.2))
    ax = fig.add_subplot()
    for j, name in enumerate(artifacts):
        for i, t in enumerate(targets):
            d = next((d for d in devices if d["target"] == t and d["artifact"] == name), None)
            if d is None:
                continue
            e = d["energy_mj"]
            measured = e["method"].startswith("measured")
            x = i - 0.4 + width * (j + 0.5)
            ax.bar(x, e["value"], width * 0.9, color=colors.get(name, "#333"),
                   alpha=1.0 if measured else 0.45, hatch=None if measured else "///",
                   edgecolor=colors.get(name, "#333"), linewidth=1.0)
            ax.errorbar(x, e["value"], yerr=[[e["value"] - e["low"]], [e["high"] - e["value"]]],
                        fmt="none", ecolor="#222", elinewidth=1, capsize=3)
    ax.set_xticks(range(len(targets)), targets, fontsize=9)
    ax.set_yscale("log")
    ax.set_ylabel("energy per inference (mJ, log)")
    ax.set_title("Energy per inference per device (bars: value; whiskers: low-high)",
                 fontsize=10)
    ax.grid(axis="y", alpha=0.3, which="both")
    handles = [Patch(facecolor=colors.get(a, "#333"), label=a) for a in artifacts]
    handles += [Patch(facecolor="#ccc", hatch="///", edgecolor="#777", label="estimated"),
                Patch(facecolor="#777", edgecolor="#777", label="measured")]
    ax.legend(handles=handles, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5),
              frameon=False)
    return _png(fig)


def _ops_plot(report: dict) -> str | None:
    from matplotlib.figure import Figure

    rows = [(a["target"], a["energy_ops"], a.get("energy_mj_all") or [a.get("energy_mj")])
            for a in report.get("artifacts", []) if a.get("energy_ops")]
    if not rows:
        return None
    fig = Figure(figsize=(6.2, 0.55 * len(rows) + 1.6))
    ax = fig.add_subplot()
    names = [r[0] for r in rows]
    left = [0.0] * len(rows)
    parts = (("compute_mj", "arithmetic", "#4c72b0"), ("weights_mj", "weight reads", "#dd8452"),
             ("activations_mj", "activation traffic", "#55a868"))
    for key, label, color in parts:
        vals = [r[1][key] * 1e3 for r in rows]  # µJ
        ax.barh(names, vals, left=left, color=color, alpha=0.55, hatch="///",
                edgecolor=color, label=label)
        left = [a + b for a, b in zip(left, vals)]
    for i, r in enumerate(rows):
        ops = next((f for f in r[2] if f and f["method"] == "estimated-ops"), None)
        if ops:
            ax.errorbar(ops["value"] * 1e3, i, xerr=[[(ops["value"] - ops["low"]) * 1e3],
                                                      [(ops["high"] - ops["value"]) * 1e3]],
                        fmt="none", ecolor="#222", capsize=3)
    ax.invert_yaxis()
    ax.set_xlabel("µJ per inference (estimated-ops: relative comparison only)")
    ax.set_title("Op-level energy model, by part (hatched: estimated)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _png(fig)


def _sparsity_plots(report: dict) -> list[tuple[str, str]]:
    from matplotlib.figure import Figure

    out = []
    for n, stage in enumerate(report.get("stages") or []):
        per_layer = stage.get("per_layer_sparsity") if stage.get("kind") == "prune" else None
        if not per_layer:
            continue
        names = list(per_layer)
        fig = Figure(figsize=(6.2, 0.32 * len(names) + 1.6))
        ax = fig.add_subplot()
        ax.barh(names, [100 * per_layer[k] for k in names], color="#4c72b0")
        target = stage.get("final_sparsity")
        if isinstance(target, (int, float)):
            ax.axvline(100 * target, color="#c44e52", ls="--", lw=1.2,
                       label=f"target {100 * target:.0f} %")
            ax.legend(fontsize=8, loc="lower right")
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("zero weights (%)")
        ax.tick_params(axis="y", labelsize=8)
        ax.set_title(f"Per-layer sparsity after stage {n} (prune)", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        out.append((f"Per-layer sparsity measured on the pruned Keras kernels (stage {n}).",
                    _png(fig)))
    return out


def _plots(report: dict) -> str:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return ("<p class=callout>Plots need matplotlib: <code>pip install "
                "'edgecompress[report]'</code>, then <code>edgecompress report RUN_DIR</code>.</p>")
    names = [a["target"] for a in report.get("artifacts", [])]
    colors = {n: _COLORS[i % len(_COLORS)] for i, n in enumerate(names)}
    figures = [
        ("Accuracy vs size; baseline at its float32 TFLite size.",
         _tradeoff_plot(report, "size", colors), False),
        ("Accuracy vs host latency (batch 1); the baseline runs in Keras, artifacts in LiteRT.",
         _tradeoff_plot(report, "latency", colors), False),
        ("Energy per inference on each device profile: hatched bars are estimates "
         "(estimated-profile), solid bars measurements (measured-meter); log scale.",
         _device_energy_plot(report, colors), True),
        ("Host-independent op-level model (estimated-ops): for comparing artifacts only.",
         _ops_plot(report), False),
        *((cap, png, False) for cap, png in _sparsity_plots(report)),
    ]
    cells = [f'<figure{" class=wide" if wide else ""}><img src="data:image/png;base64,{png}" '
             f'alt="{_e(cap)}"><figcaption>{_e(cap)}</figcaption></figure>'
             for cap, png, wide in figures if png]
    return f'<div class="grid">{"".join(cells)}</div>' if cells else "<p>Nothing to plot.</p>"


def _stages(report: dict) -> str:
    stages = report.get("stages") or []
    if not stages:
        return "<p>No training stages (post-training conversion only).</p>"
    rows = []
    for s in stages:
        details = {k: v for k, v in s.items() if k not in ("kind", "seconds", "epochs",
                                                           "history", "per_layer_sparsity")}
        text = "; ".join(f"{k}={v}" if len(str(v)) <= 80 else f"{k}=({len(v)} entries)"
                         for k, v in details.items())
        rows.append(f"<tr><td class=l>{_e(s['kind'])}</td><td>{_e(s.get('epochs', 0))}</td>"
                    f"<td>{s['seconds']:.1f}</td><td class=l>{_e(text)}</td></tr>")
    return ("<table><tr><th class=l>stage</th><th>epochs</th><th>seconds</th>"
            f"<th class=l>details</th></tr>{''.join(rows)}</table>")


def render_html(report: dict) -> str:
    """The whole report as one self-contained HTML page (no network requests)."""
    sources = _Sources()
    summary = _summary_table(report, sources)
    devices = _devices_table(report, sources)
    plots = _plots(report)
    ds = report.get("dataset") or {}
    env = report.get("environment") or {}
    host = (report.get("energy") or {}).get("host") or {}
    host_lines = "".join(
        f"<li>{label}: {'used' if info.get('used') else 'available' if info.get('available') else 'unavailable'}"
        f" &mdash; {_e(info.get('reason', ''))}</li>"
        for key, label in (("rapl", "Host RAPL counters"), ("nvml", "NVIDIA NVML"))
        if (info := host.get(key)))
    notes = "".join(f"<li>{_e(n)}</li>" for n in report.get("notes") or [])
    src = "".join(f'<li id="src{i}">{_e(s)}</li>' for i, s in enumerate(sources.items, 1))
    title = f"edgecompress report: {report.get('recipe', '?')}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style></head>
<body><main>
<h1>{_e(title)}</h1>
<p class="meta">Data: {_e(ds.get('source', ds.get('name', '?')))} &middot;
{('engine ' + _e(report['engine']) + ' &middot;') if report.get('engine') else ''}
{_e(env.get('machine', ''))} &middot; TensorFlow {_e(env.get('tensorflow', '?'))},
LiteRT {_e(env.get('litert', '?'))} &middot; schema {_e(report.get('schema', '?'))}</p>
<div class="callout"><b>Reading energy figures.</b> Every energy number carries its method:
{_badge('measured-meter')} {_badge('measured-rapl')} {_badge('measured-nvml')} come from a
meter or a hardware counter; {_badge('estimated-profile')} (device power &times; latency),
{_badge('estimated-ops')} (op-level model, for comparing artifacts only) and
{_badge('estimated-anchors')} (latency from published anchors) are estimates, shown with a
low&ndash;high range and hatched in plots. {_badge('emulated')} timings ran the device's
userland under an emulator (qemu): they check that the artifact runs and what it computes, not
how fast the device is, and are never used for energy. Numbers in brackets link to
sources.</div>
<h2>Summary</h2>{summary}
<p class="meta">Accuracy, size and latency are measured on this host (batch 1, LiteRT for
artifacts, Keras for the baseline); host latency is not a proxy for an edge device.</p>
<h2>Plots</h2>{plots}
<h2>Devices</h2>{devices}
<ul>{host_lines}</ul>
<h2>Training stages</h2>{_stages(report)}
{channels_html(report)}
{clusters_html(report)}
{precision_html(report)}
{f'<h2>Notes</h2><ul>{notes}</ul>' if notes else ''}
<h2>Sources</h2><ol class="src">{src}</ol>
</main></body></html>
"""
