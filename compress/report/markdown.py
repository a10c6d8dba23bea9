"""``report.md``: the comparison table, stage timings, and the energy/devices section.

Also the number formats the HTML report and ``compare`` share (``fmt_size``, ``fmt_energy``,
``fmt_range``). No TensorFlow here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from compress.report.channels import channels_markdown, latency_summary_lines
from compress.report.precision import precision_markdown
from compress.report.clusters import clusters_markdown


def fmt_pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f} %"


def _delta_pp(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.2f} pp"


def fmt_size(n: int | None) -> str:
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
    if report.get("engine"):
        lines += [f"Engine: {report['engine']} (compress.engines)", ""]
    lat = base.get("latency_ms") or {}
    lines += [
        "| artifact | accuracy | Δ vs baseline | size | gzip | sparsity | p50 ms | p90 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| baseline (Keras, {base.get('device', '?')}) | {fmt_pct(base.get('accuracy'))} | | "
        f"{fmt_size(base.get('size_bytes'))} | | | {lat.get('p50', float('nan')):.3f} | "
        f"{lat.get('p90', float('nan')):.3f} |",
    ]
    for a in report["artifacts"]:
        lat = a["latency_ms"]
        lines.append(
            f"| {a['target']} (`{a['path']}`) | {fmt_pct(a['accuracy'])} | "
            f"{_delta_pp(a['accuracy_delta'])} | {fmt_size(a['size_bytes'])} | "
            f"{fmt_size(a['gzip_bytes'])} | {100 * a['sparsity']:.1f} % | "
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
    lines += clusters_markdown(report)
    lines += channels_markdown(report)
    lines += precision_markdown(report)
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


def fmt_energy(mj: float | None) -> str:
    """Energy with a readable unit: mJ, µJ or nJ (the value is mJ)."""
    if mj is None:
        return "n/a"
    for scale, unit in ((1.0, "mJ"), (1e-3, "µJ"), (1e-6, "nJ")):
        if abs(mj) >= scale * 0.1 or unit == "nJ":
            return f"{mj / scale:.3g} {unit}"
    return f"{mj:.3g} mJ"


def fmt_range(fig: dict | None, fmt: Callable[[float], str]) -> str:
    """``value (low-high) [method]``."""
    if not fig or fig.get("value") is None:
        return "n/a"
    return f"{fmt(fig['value'])} ({fmt(fig['low'])} - {fmt(fig['high'])}) [{fig['method']}]"


def fmt_ms(v: float) -> str:
    return f"{v:.3g} ms"


def render_devices_markdown(report: dict) -> str:
    """The ``report.md`` section on energy and devices (every figure with its method)."""
    lines = ["## Energy and devices", "",
             "Energy per inference. Every figure names its method; `measured-*` only for "
             "measurements, `estimated-*` for estimates, with a low-high range. `emulated` "
             "timings (the device's userland under qemu) are shown beside a device's latency, "
             "never as it, and never used for energy.", "",
             "| model | MACs | energy / inference (host, low - high) [method] |",
             "|---|---:|---|"]
    base = report.get("baseline") or {}
    sources: list[str] = []

    def ref(fig: dict | None) -> str:
        if not fig or not fig.get("source"):
            return ""
        if fig["source"] not in sources:
            sources.append(fig["source"])
        return f" [{sources.index(fig['source']) + 1}]"

    rows = [("baseline (Keras)", base)] + [(a["target"], a) for a in report.get("artifacts", [])]
    for name, item in rows:
        fig = item.get("energy_mj")
        macs = item.get("macs")
        lines.append(f"| {name} | {macs if macs is not None else 'n/a'} | "
                     f"{fmt_range(fig, fmt_energy)}{ref(fig)} |")
    devices = report.get("devices") or []
    if devices:
        lines += ["", "| device | artifact | latency (low - high) [method] | confidence | "
                      "energy / inference (low - high) [method] |", "|---|---|---|---|---|"]
        for d in devices:
            lat = d["latency_ms"]
            emu = (d.get("emulated") or {}).get("latency_ms")
            emulated = (f"; under emulation {fmt_ms(emu['value'])} [emulated]{ref(emu)}, not the "
                        f"device's latency" if emu else "")
            lines.append(f"| {d['target']} | {d['artifact']} | {fmt_range(lat, fmt_ms)}{ref(lat)}"
                         f"{emulated} "
                         f"| {lat.get('confidence', '?')} | "
                         f"{fmt_range(d.get('energy_mj'), fmt_energy)}{ref(d.get('energy_mj'))} |")
    host = (report.get("energy") or {}).get("host") or {}
    for key, label in (("rapl", "Host RAPL"), ("nvml", "NVML")):
        info = host.get(key)
        if info:
            state = "used" if info.get("used") else "available" if info["available"] \
                else "unavailable"
            lines += ["", f"{label}: {state}: {info['reason']}"]
    if sources:
        lines += ["", "Sources:", ""] + [f"{i}. {s}" for i, s in enumerate(sources, 1)]
    return "\n".join(lines).rstrip() + "\n"


def render_summary(report: dict, out_dir: Any) -> str:
    """What ``run`` and ``demo`` print at the end: one line per artifact and where the full
    report is (``--verbose`` prints ``report.md`` instead)."""
    base = report["baseline"]
    lat = (base.get("latency_ms") or {}).get("p50")
    rows = [("baseline (Keras)", fmt_pct(base.get("accuracy")), "", fmt_size(base.get("size_bytes")),
             "", "", "n/a" if lat is None else f"{lat:.3f} ms")]
    for a in report["artifacts"]:
        rows.append((a["target"], fmt_pct(a["accuracy"]), _delta_pp(a["accuracy_delta"]),
                     fmt_size(a["size_bytes"]), fmt_size(a["gzip_bytes"]),
                     f"{100 * a['sparsity']:.1f} %", f"{a['latency_ms']['p50']:.3f} ms"))
    head = ("artifact", "accuracy", "delta", "size", "gzip", "sparsity", "host p50")
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    lines = [f"{report['recipe']}: {len(report['artifacts'])} artifact(s) in {out_dir}", ""]
    lines += ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))).rstrip()
              for r in (head, *rows)]
    channel_lines = latency_summary_lines(report)
    if channel_lines:
        lines += ["", *channel_lines]
    lines += ["", f"Report: {Path(str(out_dir)) / 'report.html'} (also report.md, report.json; "
                  "--verbose prints report.md)"]
    return "\n".join(lines) + "\n"
