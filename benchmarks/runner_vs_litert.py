"""Our on-device runner against LiteRT's own benchmark tool: same model, same machine, 1 thread.

For each model (by default ``compress.zoo.fashion_cnn`` at widths 32 and 96, converted to
float32 and int8), the rounds alternate which tool goes first; each round runs, in a fresh
process each:

* ours: ``targets/runner.py MODEL --warmup W --runs N --threads 1 --json -`` (``benchmark()``:
  the Interpreter API, XNNPACK; inputs set outside the timed ``invoke()``), and
* theirs: ``python -m ai_edge_litert.tools.benchmark_litert_model --model MODEL --num_runs N
  --warmup_runs W --num_threads 1 --result_json F`` (the CompiledModel API, CPU accelerator;
  times ``run_by_name`` on buffers written once).

Both tools report a median and a mean per round; the result is the median over rounds of each,
and the ratio ours / theirs (target: the p50 within +/-10 %). LiteRT's tool rounds its figures
to 0.01 ms, which bounds the precision of the ratio for sub-millisecond models.

Usage:
    .venv/bin/python benchmarks/runner_vs_litert.py [--rounds 5] [--runs 500] [--warmup 50]
        [--width 32 --width 96 | --model M.tflite ...]
        [--out benchmarks/results/runner_vs_litert]

Writes ``<out>.json`` and ``<out>.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RUNNER = ROOT / "targets" / "runner.py"
LITERT_TOOL = "ai_edge_litert.tools.benchmark_litert_model"
TOLERANCE = 0.10


def build_models(folder: Path, widths: list[int]) -> list[Path]:
    """fashion_cnn at each width, as float32 and int8.

    Untrained: latency does not depend on the weights' values. Width 32 is the project's
    baseline (~4.2M MACs); a wider one (96: ~34M MACs) runs long enough that LiteRT's 0.01 ms
    rounding and fixed per-call overheads matter less.
    """
    from calibration import sources
    from compress import export, zoo
    from compress.recipe import TargetSpec

    data = sources.load_dataset("fashion-mnist-subset")
    paths = []
    for width in widths:
        model = zoo.fashion_cnn(data.x_train.shape[1:], data.num_classes, width=width)
        for fmt in ("float32", "int8"):
            path = folder / f"fashion_cnn_w{width}_{fmt}.tflite"
            path.write_bytes(export.convert(model, TargetSpec(fmt),
                                            representative=data.x_train[:200]))
            paths.append(path)
    return paths


def _env() -> dict:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def ours(model: Path, *, runs: int, warmup: int) -> dict:
    proc = subprocess.run([sys.executable, str(RUNNER), str(model), "--warmup", str(warmup),
                           "--runs", str(runs), "--threads", "1", "--json", "-"],
                          capture_output=True, text=True, env=_env(), check=True)
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    lat = result["latency_ms"]
    return {"median_ms": lat["p50"], "mean_ms": lat["mean"]}


def theirs(model: Path, *, runs: int, warmup: int, scratch: Path) -> dict:
    out = scratch / "litert.json"
    subprocess.run([sys.executable, "-m", LITERT_TOOL, "--model", str(model),
                    "--num_runs", str(runs), "--warmup_runs", str(warmup), "--num_threads", "1",
                    "--result_json", str(out)],
                   capture_output=True, text=True, env=_env(), check=True)
    lat = json.loads(out.read_text())["latency"]
    return {"median_ms": lat["median_ms"], "mean_ms": lat["avg_ms"]}


def compare(model: Path, *, rounds: int, runs: int, warmup: int, scratch: Path) -> dict:
    per_round = []
    for r in range(rounds):
        order = ("ours", "theirs") if r % 2 == 0 else ("theirs", "ours")
        row: dict = {"first": order[0]}
        for tool in order:
            row[tool] = (ours(model, runs=runs, warmup=warmup) if tool == "ours"
                         else theirs(model, runs=runs, warmup=warmup, scratch=scratch))
        per_round.append(row)
        print(f"  round {r + 1}: ours p50 {row['ours']['median_ms']:.4f} ms, "
              f"theirs median {row['theirs']['median_ms']:.2f} ms", flush=True)
    summary = {}
    for stat in ("median_ms", "mean_ms"):
        a = statistics.median(row["ours"][stat] for row in per_round)
        b = statistics.median(row["theirs"][stat] for row in per_round)
        summary[stat] = {"ours": a, "theirs": b, "ratio": a / b if b else None}
    for tool in ("ours", "theirs"):  # how much the round medians moved: the noise floor
        medians = [row[tool]["median_ms"] for row in per_round]
        summary["median_ms"][f"{tool}_range"] = [min(medians), max(medians)]
    ratio = summary["median_ms"]["ratio"]
    return {"model": model.name, "size_bytes": model.stat().st_size, "rounds": per_round,
            "median_of_medians": summary["median_ms"], "median_of_means": summary["mean_ms"],
            "p50_within_10pct": ratio is not None and abs(ratio - 1) <= TOLERANCE}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def render(data: dict) -> str:
    env = data["environment"]
    lines = [
        "# Our runner vs LiteRT's benchmark tool",
        "",
        f"Same machine ({env['cpu']}, {env['cpus']} cores shared, load average "
        f"{env['load_before']} before / {env['load_after']} after), 1 thread, "
        f"{data['rounds']} alternating rounds of {data['warmup']} warm-up + {data['runs']} "
        "timed runs per tool, each in a fresh process. Ours: `targets/runner.py` "
        "(`benchmark()`, Interpreter API). Theirs: `python -m "
        f"{LITERT_TOOL}` (CompiledModel API), ai-edge-litert {env['ai_edge_litert']}.",
        "",
        "| model | ours p50 (ms) | theirs median (ms) | ratio | p50 within ±10 % | "
        "ours mean | theirs mean | ratio | round medians, ours / theirs (ms) |",
        "|---|---:|---:|---:|:---:|---:|---:|---:|---|",
    ]
    spreads = []
    for m in data["models"]:
        med, mean = m["median_of_medians"], m["median_of_means"]
        (a_lo, a_hi), (b_lo, b_hi) = med["ours_range"], med["theirs_range"]
        spreads += [a_hi / a_lo - 1, b_hi / b_lo - 1]
        lines.append(f"| {m['model']} ({m['size_bytes'] / 1024:.0f} KiB) | {med['ours']:.4f} | "
                     f"{med['theirs']:.2f} | {med['ratio']:.3f} | "
                     f"{'yes' if m['p50_within_10pct'] else 'no'} | {mean['ours']:.4f} | "
                     f"{mean['theirs']:.2f} | {mean['ratio']:.3f} | "
                     f"{a_lo:.3f}-{a_hi:.3f} / {b_lo:.2f}-{b_hi:.2f} |")
    lines += [
        "",
        "Figures are the median over rounds of each round's median (p50) and mean. LiteRT's "
        "tool reports its median and mean rounded to 0.01 ms, so a ratio is only as precise "
        "as ±0.005 ms over its median. Both time one inference call with inputs already in "
        "place (ours sets a new input before each timed `invoke()`; theirs writes random "
        "inputs once).",
    ]
    if env["load_before"] > env["cpus"] or max(spreads) > 2 * TOLERANCE:
        lines += ["", f"Caveat: the machine was shared (load average above its {env['cpus']} "
                      f"cores) and a tool's round medians moved by up to "
                      f"{100 * max(spreads):.0f} % between rounds, which is noise on both "
                      "tools alike (hence alternating rounds and medians over them): a single "
                      "round cannot tell the tools apart at ±10 %. Re-run on an idle machine "
                      "for tighter figures."]
    lines += [
        "",
        "Per round (ours p50 / theirs median, ms):",
        "",
    ]
    for m in data["models"]:
        cells = ", ".join(f"{r['ours']['median_ms']:.4f} / {r['theirs']['median_ms']:.2f}"
                          f" ({r['first']} first)" for r in m["rounds"])
        lines.append(f"- {m['model']}: {cells}")
    lines += ["", f"Reproduce: `.venv/bin/python benchmarks/runner_vs_litert.py --rounds "
                  f"{data['rounds']} --runs {data['runs']} --warmup {data['warmup']}`", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--model", action="append", default=[],
                        help=".tflite to compare (repeatable; default: fashion_cnn float32+int8)")
    parser.add_argument("--width", type=int, action="append", default=[],
                        help="fashion_cnn widths to build (repeatable; default: 32 and 96)")
    parser.add_argument("--out", default=str(HERE / "results" / "runner_vs_litert"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="runner-vs-litert-") as tmp:
        scratch = Path(tmp)
        models = [Path(m) for m in args.model] or build_models(scratch, args.width or [32, 96])
        load_before = os.getloadavg()[0]
        results = []
        for model in models:
            print(f"{model.name}:", flush=True)
            results.append(compare(model, rounds=args.rounds, runs=args.runs,
                                   warmup=args.warmup, scratch=scratch))
        load_after = os.getloadavg()[0]
    data = {
        "rounds": args.rounds, "runs": args.runs, "warmup": args.warmup, "threads": 1,
        "tolerance": TOLERANCE, "models": results,
        "environment": {"cpu": _cpu(), "cpus": os.cpu_count(), "machine": platform.machine(),
                        "python": platform.python_version(),
                        "ai_edge_litert": metadata.version("ai-edge-litert"),
                        "load_before": round(load_before, 2), "load_after": round(load_after, 2)},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    out.with_suffix(".md").write_text(render(data))
    print(render(data))
    return 0 if all(m["p50_within_10pct"] for m in results) else 1


if __name__ == "__main__":
    sys.exit(main())
