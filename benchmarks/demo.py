"""The demo's wall time and figures: ``edgecompress demo`` run as a user runs it.

Each run is a fresh ``edgecompress demo --out DIR --quiet`` process (the venv's console
script; install excluded): it trains ``compress.zoo.fashion_cnn`` on the bundled subset for
the demo's epochs, then runs the built-in ``prune50-qat-int8`` recipe. The wall time is the
whole process, start to exit; accuracies, sizes, sparsity and latency come from the run's
``report.json``. ``--runs`` runs (default 2), one after the other; the summary is the median.

Usage:
    .venv/bin/python benchmarks/demo.py [--runs 2] [--out benchmarks/results/demo]

Writes ``<out>.json`` and ``<out>.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _conditions import conditions, describe

HERE = Path(__file__).resolve().parent
EDGECOMPRESS = Path(sys.executable).parent / "edgecompress"


def one_run(folder: Path) -> dict:
    out = folder / "demo-run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    proc = subprocess.run([str(EDGECOMPRESS), "demo", "--out", str(out), "--quiet"],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"edgecompress demo exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    report = json.loads((out / "report.json").read_text())
    arts = {}
    for a in report["artifacts"]:
        arts[a["target"]] = {"accuracy": a["accuracy"], "size_bytes": a["size_bytes"],
                             "gzip_bytes": a.get("gzip_bytes"), "sparsity": a.get("sparsity"),
                             "latency_ms_p50": (a.get("latency_ms") or {}).get("p50")}
    base = report["baseline"]
    return {"wall_s": wall, "recipe": report["recipe"], "dataset": report["dataset"],
            "baseline_accuracy": base["accuracy"],
            "baseline_tflite_float32_bytes": (base.get("tflite_float32") or {}).get("size_bytes"),
            "artifacts": arts,
            "stage_seconds": {s["kind"]: s["seconds"] for s in report["stages"]},
            "report_timings": report["timings"]}


def render(data: dict) -> str:
    runs, s = data["runs"], data["summary"]
    first = runs[0]
    ds = first["dataset"]
    lines = [
        "# `edgecompress demo`: wall time and figures",
        "",
        describe(data["conditions"], load_after=data["load_after"]),
        "",
        f"Command: `edgecompress demo --out DIR --quiet` (a fresh process per run, install "
        f"excluded), {len(runs)} runs one after the other. The demo trains "
        f"`compress.zoo.fashion_cnn` on {ds.get('source', ds)} for {data['demo_epochs']} "
        f"epochs (seed {data['seed']}), then runs the built-in `{first['recipe']}` recipe. "
        "Wall time: the whole process, start to exit. Figures: the run's `report.json`.",
        "",
        f"**Median wall time: {s['wall_s_median']:.0f} s "
        f"({int(s['wall_s_median'] // 60)} min {s['wall_s_median'] % 60:.0f} s)** "
        f"over {len(runs)} runs.",
        "",
        "| run | wall time | baseline acc | " + " | ".join(
            f"{t} acc | {t} size | {t} sparsity" for t in first["artifacts"]) + " |",
        "|---:|---:|---:|" + "---:|---:|---:|" * len(first["artifacts"]),
    ]
    for i, r in enumerate(runs, 1):
        cells = " | ".join(f"{100 * a['accuracy']:.2f} % | {a['size_bytes']:,} B | "
                           f"{100 * (a['sparsity'] or 0):.2f} %" for a in r["artifacts"].values())
        lines.append(f"| {i} | {r['wall_s']:.0f} s | {100 * r['baseline_accuracy']:.2f} % | "
                     f"{cells} |")
    lines += ["", "Inside each run (`report.json` timings, s; the baseline's training before "
                  "`compress_model` is not in them):", ""]
    for i, r in enumerate(runs, 1):
        stages = ", ".join(f"{k} {v:.0f}" for k, v in r["stage_seconds"].items())
        t = r["report_timings"]
        lines.append(f"- run {i}: stages {stages}; compress_model total {t.get('total_s', 0):.0f}")
    lines += ["", f"Reproduce: `.venv/bin/python benchmarks/demo.py --runs {len(runs)}`", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--out", default=str(HERE / "results" / "demo"))
    args = parser.parse_args()
    from compress import demo as demo_module
    from compress.recipe import BUILTIN_RECIPES, load_recipe

    seed = load_recipe(BUILTIN_RECIPES[demo_module.DEMO_RECIPE]).seed

    cond = conditions()
    runs = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="demo-bench-") as tmp:
            runs.append(one_run(Path(tmp)))
        print(f"run {i + 1}/{args.runs}: {runs[-1]['wall_s']:.0f} s", flush=True)
    walls = [r["wall_s"] for r in runs]
    data = {"conditions": cond, "demo_epochs": demo_module.DEMO_EPOCHS, "seed": seed,
            "command": "edgecompress demo --out DIR --quiet", "runs": runs,
            "summary": {"runs": len(runs), "wall_s_median": statistics.median(walls),
                        "wall_s_min": min(walls), "wall_s_max": max(walls)},
            "load_after": round(os.getloadavg()[0], 2)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    out.with_suffix(".md").write_text(render(data))
    print(render(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
