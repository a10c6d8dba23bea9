"""Device and energy figures for a run folder: MACs, energy per inference, per-device estimates.

``device_figures`` augments a report (``report.json``'s dict) with what can be said about each
artifact beyond the host measurements: its MACs, its energy per inference on the host, and a
``devices`` table (artifact x device profile: latency and energy), each figure labelled with
how it was obtained. Measurements written by ``edgecompress bench`` to
``RUN_DIR/measurements/<target>/<artifact>.json`` replace the estimates they cover.
``compress.report.files.refresh_report`` rewrites a run folder's report files with them.

Example:
    >>> report = device_figures(load_report("run1"), "run1")
    >>> [(d["target"], d["energy_mj"]["method"]) for d in report["devices"]][:2]
    [('coral-devboard', 'estimated-profile'), ('coral-usb', 'estimated-profile')]
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from compress.errors import BenchmarkError, OutputError

MEASUREMENTS_DIR = "measurements"
MEASURED_LATENCY = ("measured-on-device", "measured-on-host")
#: The runner under emulation (qemu): its timings are kept in a row's ``emulated`` field,
#: never as the device's latency and never used for energy.
EMULATED = "emulated"
MEASUREMENT_METHODS = (*MEASURED_LATENCY, EMULATED)
#: What each method label means (written into ``report.json`` under ``energy.methods``).
METHOD_NOTES = {
    "measured-meter": "power meter on the device (on-device runner), net of idle",
    "measured-rapl": "host CPU package RAPL counters, net of idle",
    "measured-nvml": "NVIDIA GPU energy counter (NVML), net of idle",
    "estimated-profile": "device profile's active power range x latency range (gross)",
    "estimated-ops": "op-level model (Horowitz ISSCC 2014 energies): relative comparison only",
    "estimated-anchors": "latency from the profile's published anchors (MACs / throughput)",
}
#: Host energy measurement windows (seconds each, how many): see ``targets.energy``.
HOST_WINDOW_S, HOST_WINDOWS = 1.0, 5


#: What the figures add to each artifact of a report, in this order.
ARTIFACT_FIGURES = ("macs", "params", "nonzero_params", "energy_mj", "energy_mj_all",
                    "energy_ops")


@dataclass(frozen=True)
class DeviceFigures:
    """A run's figures beyond the host measurements, complete before anything is written.

    Attributes:
        artifacts: per artifact name, its ``ARTIFACT_FIGURES``.
        baseline: the baseline's ``macs`` and ``energy_mj`` (no ``energy_mj``: none can be given).
        devices: one row per artifact x device profile (or measurement file).
        energy: method notes and why RAPL/NVML were (not) used.
    """

    artifacts: Mapping[str, Mapping[str, Any]]
    baseline: Mapping[str, Any]
    devices: tuple[Mapping[str, Any], ...]
    energy: Mapping[str, Any]

    def apply(self, report: dict) -> dict:
        """A copy of ``report`` (``report.json``'s content) with these figures in it."""
        out = copy.deepcopy(report)
        for art in out.get("artifacts", []):
            art.update(copy.deepcopy(dict(self.artifacts.get(art["target"], {}))))
        base = out.get("baseline") or {}
        for key in ("macs", "energy_mj"):
            if key in self.baseline:
                base[key] = copy.deepcopy(self.baseline[key])
        if "energy_mj" not in self.baseline:
            base.pop("energy_mj", None)
        out["devices"] = copy.deepcopy(list(self.devices))
        out["energy"] = copy.deepcopy(dict(self.energy))
        return out


def device_figures(report: dict, run_dir: str | Path, *, targets: list[str] | None = None,
                   measure: bool = True, graphs: dict[str, Any] | None = None,
                   profiles: list | None = None) -> dict:
    """The report augmented with MACs, energy per inference and per-device figures
    (``compute_figures(...).apply(report)``; arguments as there)."""
    return compute_figures(report, run_dir, targets=targets, measure=measure, graphs=graphs,
                           profiles=profiles).apply(report)


def compute_figures(report: dict, run_dir: str | Path, *, targets: list[str] | None = None,
                    measure: bool = True, graphs: dict[str, Any] | None = None,
                    profiles: list | None = None,
                    unpruned_graphs: dict[str, Any] | None = None) -> DeviceFigures:
    """MACs, energy per inference and per-device figures for a report's artifacts.

    Adds to each artifact ``macs``, ``params``, ``nonzero_params``, ``energy_mj`` (the best
    host figure: ``measured-rapl`` when RAPL is readable and ``measure``, else
    ``estimated-ops``), ``energy_mj_all`` (every host figure) and ``energy_ops`` (the op
    model's split); to the baseline ``macs`` and ``energy_mj`` (a measured figure already
    there is kept); ``devices`` (one entry per artifact x profile that runs its format, or
    per measurement file); ``energy`` (method notes and why RAPL/NVML were (not) used).

    Args:
        report: ``report.json``'s content (not modified).
        run_dir: the run folder (its ``artifacts/`` are read).
        targets: device profile ids or files; default: the devices the resolved recipe
            names, else every built-in profile.
        measure: measure host energy with RAPL when readable (5 s per artifact).
        graphs: the artifacts' graphs already read (``{target: TFLiteGraph}``), so a run reads
            each ``.tflite`` once; the others are read from ``run_dir``.
        profiles: the device profiles to estimate for (a run passes its recipe's devices);
            default: from ``targets``, else as described above.
        unpruned_graphs: after channel pruning, the unpruned files' graphs already read
            (``{target: TFLiteGraph}``); the baseline's MACs and energy come from them (the
            artifacts have fewer MACs than the original model), else from the files the
            report's ``channel_pruning`` names.

    Raises:
        OutputError: an artifact file is missing. BenchmarkError: a measurement file is bad.
    """
    from targets import energy
    from targets.tflite_graph import read_model

    out, run = copy.deepcopy(report), Path(run_dir)
    if profiles is None:
        profiles = _profiles(run, targets)
    known = dict(graphs or {})
    rapl_ok, rapl_reason = energy.rapl_available()
    nvml_ok, nvml_reason = energy.nvml_available()
    graphs = {}
    for art in out.get("artifacts", []):
        path = run / art["path"]
        if not path.is_file():
            raise OutputError(f"artifact file missing from the run folder. Received: {path}",
                              hint="point at a complete run folder (edgecompress run --out)")
        graph = graphs[art["target"]] = known.get(art["target"]) or read_model(path)
        stats = graph.weight_stats()
        art.update(macs=graph.macs()["total"], params=stats["params"],
                   nonzero_params=stats["nonzero_params"])
        ops = energy.estimate_from_ops(graph)
        figures = [ops.to_dict()]
        if measure and rapl_ok:
            figures.insert(0, _host_rapl(path).to_dict())
        art.update(energy_mj=figures[0], energy_mj_all=figures,
                   energy_ops={k: ops.details[k] for k in
                               ("compute_mj", "weights_mj", "activations_mj", "by_op")})
    _baseline(out, graphs, _unpruned(out, run, unpruned_graphs))
    base = out.get("baseline") or {}
    return DeviceFigures(
        artifacts={a["target"]: {k: a[k] for k in ARTIFACT_FIGURES}
                   for a in out.get("artifacts", [])},
        baseline={k: base[k] for k in ("macs", "energy_mj") if k in base},
        devices=tuple(_devices(out, run, profiles)),
        energy=_energy_notes(rapl_ok, rapl_reason, nvml_ok, nvml_reason, measure))


def _energy_notes(rapl_ok: bool, rapl_reason: str, nvml_ok: bool, nvml_reason: str,
                  measure: bool) -> dict:
    return {
        "methods": METHOD_NOTES,
        "host": {"rapl": {"available": rapl_ok, "used": bool(rapl_ok and measure),
                          "reason": rapl_reason},
                 "nvml": {"available": nvml_ok, "reason": nvml_reason}},
        "notes": ["estimates are never reported as measured: every figure carries its method "
                  "and a low-high range", "estimated-ops figures compare artifacts with each "
                  "other; they are not what a device draws"],
    }


def profiles_for(devices: list[str]) -> list:
    """The profiles of the named devices; every built-in profile when none is named."""
    from targets.spec import builtin_profiles, get_profile

    if devices:
        return [get_profile(t) for t in devices]
    return [p for _, p in sorted(builtin_profiles().items())]


def _profiles(run: Path, targets: list[str] | None) -> list:
    """The devices to estimate for a finished run: ``targets``, else those its resolved
    recipe names, else every built-in profile."""
    from targets.spec import FORMATS

    if targets:
        return profiles_for(targets)
    named: list[str] = []
    resolved = run / "recipe.resolved.yaml"
    if resolved.is_file():
        import yaml

        data = yaml.safe_load(resolved.read_text()) or {}
        for t in data.get("targets") or []:
            device = t if isinstance(t, str) and t not in FORMATS else \
                t.get("device") if isinstance(t, dict) else None
            if device and device not in named:
                named.append(device)
    return profiles_for(named)


def _host_rapl(path: Path) -> Any:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    from targets import energy

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], np.zeros(d["shape"], dtype=d["dtype"]))
    return energy.measure_rapl(interp.invoke, window_s=HOST_WINDOW_S, windows=HOST_WINDOWS)


def _unpruned(out: dict, run: Path, known: dict | None) -> dict[str, tuple[str, Any]] | None:
    """After channel pruning: ``{target: (unpruned file path, graph)}``; else None."""
    from targets.tflite_graph import read_model

    entries = (out.get("channel_pruning") or {}).get("host_latency") or []
    if not entries:
        return None
    found = {}
    for e in entries:
        graph = (known or {}).get(e["target"])
        if graph is None and (run / e["unpruned_path"]).is_file():
            graph = read_model(run / e["unpruned_path"])
        if graph is not None:
            found[e["target"]] = (e["unpruned_path"], graph)
    return found


def _baseline(out: dict, graphs: dict, unpruned: dict | None = None) -> None:
    """Baseline energy: kept if measured, else the op model on a float view of an artifact
    (after channel pruning: of the unpruned file in that format, not the smaller artifact)."""
    from targets import energy

    base = out.get("baseline") or {}
    current = base.get("energy_mj")
    if isinstance(current, dict) and str(current.get("method", "")).startswith("measured-"):
        return
    if not graphs:
        base.pop("energy_mj", None)
        return
    arts = {a["target"]: a for a in out["artifacts"]}
    order = {"float32": 0, "float16": 1, "dynamic": 2}
    if unpruned is not None:  # channel pruning changed the layers: the original's files
        if not unpruned:
            base.pop("energy_mj", None)
            base.pop("macs", None)
            return
        name = min(unpruned, key=lambda t: order.get(arts[t]["format"], 3))
        path, graph = unpruned[name]
        why = "the original model converted to the same format for the channel-pruning " \
              "comparison"
    else:
        name = min(graphs, key=lambda t: order.get(arts[t]["format"], 3))
        path, graph = arts[name]["path"], graphs[name]
        why = "same layers; compression changes values and dtypes, not the MACs"
    fmt = arts[name]["format"]
    fig = energy.estimate_from_ops(graph, as_dtype=None if fmt == "float32" else "float32")
    source = f"baseline Keras model (float32) estimated from {path}'s graph ({why}): " \
        + fig.source
    base["macs"] = fig.details["macs"]
    base["energy_mj"] = dataclasses.replace(fig, source=source).to_dict()


# --- devices ------------------------------------------------------------------------------


def _devices(out: dict, run: Path, profiles: list) -> list[dict]:
    rows: dict[tuple[str, str], dict] = {}
    for profile in profiles:
        for art in out.get("artifacts", []):
            if art["format"] in profile.formats:
                rows[(profile.id, art["target"])] = _estimated_row(profile, art)
    arts = {a["target"]: a for a in out.get("artifacts", [])}
    for (target, artifact), file in _measurement_files(run):
        rows[(target, artifact)] = _measured_row(file, target, artifact, arts.get(artifact),
                                                 estimate=rows.get((target, artifact)))
    return list(rows.values())


def _estimated_row(profile: Any, art: dict) -> dict:
    """Latency from the profile's anchors (``estimated-anchors``) and energy from it."""
    from targets import energy

    latency = energy.estimate_latency(art["macs"], profile, art["format"])
    fig = energy.estimate_from_profile(latency, profile).to_dict() \
        if latency["value"] is not None else None
    return {"target": profile.id, "artifact": art["target"], "format": art["format"],
            "latency_ms": latency, "energy_mj": fig}


def _measurement_files(run: Path) -> list[tuple[tuple[str, str], Path]]:
    folder = run / MEASUREMENTS_DIR
    if not folder.is_dir():
        return []
    return [((f.parent.name, f.stem), f) for f in sorted(folder.glob("*/*.json"))]


def _measured_row(file: Path, target: str, artifact: str, art: dict | None, *,
                  estimate: dict | None = None) -> dict:
    from targets import energy
    from targets.errors import TargetError
    from targets.spec import get_profile

    bad = lambda why: BenchmarkError(  # noqa: E731
        f"measurement file {file}: {why}",
        hint="write it with `edgecompress bench`, or remove the file")
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise bad(f"cannot read it as JSON ({exc})") from None
    runner = data.get("runner") if isinstance(data, dict) else None
    method = data.get("method") if isinstance(data, dict) else None
    if method not in MEASUREMENT_METHODS:
        raise bad(f"method must be one of {', '.join(MEASUREMENT_METHODS)}. "
                  f"Received: {method!r}")
    lat = runner.get("latency_ms") if isinstance(runner, dict) else None
    if not isinstance(lat, dict) or not isinstance(lat.get("p50"), (int, float)):
        raise bad("runner.latency_ms.p50 is missing")
    device = runner.get("device") if isinstance(runner.get("device"), dict) else {}
    host = data.get("host") or device.get("machine") or "?"
    p50 = float(lat["p50"])
    latency = {"value": p50, "low": float(min(lat.get("min", p50), p50)),
               "high": float(max(lat.get("p99", lat.get("p90", p50)), p50)), "method": method,
               "source": f"on-device runner {runner.get('runner_version', '?')} on {host}: "
                         f"p50 of {runner.get('runs', '?')} runs after "
                         f"{runner.get('warmup', '?')} warm-up (low: min, high: p99)",
               "confidence": "high"}
    measurement = f"{MEASUREMENTS_DIR}/{target}/{file.name}"
    meter = runner.get("energy_mj")
    if method == EMULATED:
        if meter is not None:
            raise bad("runner.energy_mj under emulation is not a device's energy. Received: "
                      "an energy figure with method 'emulated'")
        return _emulated_row(target, artifact, art, estimate, latency, runner, device,
                             measurement)
    row = {"target": target, "artifact": artifact,
           "format": art["format"] if art else None, "latency_ms": latency,
           "energy_mj": None, "measurement": measurement}
    if isinstance(meter, dict):
        row["energy_mj"] = _meter_figure(meter, host, bad)
        return row
    try:
        profile = get_profile(target)
    except TargetError:
        row["energy_note"] = f"no power meter reading and no profile '{target}' to estimate from"
        return row
    row["energy_mj"] = energy.estimate_from_profile(latency, profile).to_dict()
    return row


def _meter_figure(meter: dict, host: str, bad: Callable[[str], Exception]) -> dict:
    from targets import energy

    method = meter.get("method")
    if method != "measured-meter":  # never promoted: a figure must say it was measured
        why = ("has no method" if method is None else
               "is an estimate" if str(method).startswith("estimated-") else "is not measured")
        raise bad(f"runner.energy_mj {why}: a measurement file holds measured-meter figures "
                  f"only. Received: method={method!r}")
    if not isinstance(meter.get("value"), (int, float)):
        raise bad(f"runner.energy_mj has no numeric value. Received: {meter!r}")
    value = max(float(meter["value"]), 0.0)
    nets = [max(float(w["net_mj"]), 0.0) for w in meter.get("per_window") or []
            if isinstance(w, dict) and isinstance(w.get("net_mj"), (int, float))] or [value]
    gross = meter.get("gross")
    source = (f"power meter `{meter.get('source', '?')}` on {host}: net of idle "
              f"({meter.get('idle_w', float('nan')):.3g} W); median of "
              f"{meter.get('windows', len(nets))} windows of {meter.get('window_s', '?')} s; "
              f"low/high: smallest/largest window"
              + (f"; gross {gross:.4g} mJ" if isinstance(gross, (int, float)) else ""))
    return energy.EnergyFigure(value=value, low=min(nets + [value]), high=max(nets + [value]),
                               method="measured-meter", source=source).to_dict()


def _emulated_row(target: str, artifact: str, art: dict | None, estimate: dict | None,
                  timing: dict, runner: dict, device: dict, measurement: str) -> dict:
    """A device row whose latency and energy stay estimates; the emulated run is kept beside
    them under ``emulated`` (its timings say nothing about the device's speed)."""
    from targets.errors import TargetError
    from targets.spec import get_profile

    row = copy.deepcopy(estimate) if estimate else None
    if row is None and art is not None and "macs" in art:
        try:
            profile = get_profile(target)
        except TargetError:
            profile = None
        if profile is not None and art["format"] in profile.formats:
            row = _estimated_row(profile, art)
    if row is None:
        row = {"target": target, "artifact": artifact,
               "format": art["format"] if art else None,
               "latency_ms": {"value": None, "low": None, "high": None,
                              "method": "estimated-anchors",
                              "source": f"no profile '{target}' running this format to "
                                        f"estimate from", "confidence": "none"},
               "energy_mj": None}
    reason = device.get("emulated") or "declared emulated by `edgecompress bench --emulated`"
    row["emulated"] = {
        "latency_ms": dict(timing, method=EMULATED, confidence="none",
                           source=timing["source"].replace("on-device runner", "runner") +
                           f"; under emulation ({reason}): not a device latency"),
        "accuracy": runner.get("accuracy"), "samples": runner.get("samples"),
        "machine": device.get("machine"), "runtime": runner.get("runtime"),
        "measurement": measurement}
    return row
