"""Acceptance benchmark of the foundation pipeline on the full Fashion-MNIST.

Trains the baseline CNN (``compress.zoo.fashion_cnn``) on the full 60k training set, then
runs two recipes through ``compress_model`` exactly as ``edgecompress run`` does:

* ``recipes/prune50-qat-int8.yaml`` (the issue's contract recipe), and
* ``recipes/max-compression.yaml`` (>= 75 % sparsity + QAT + int8),

and writes ``benchmarks/results/foundation.json`` and ``foundation.md`` with the figures the
acceptance criteria name (int8 vs baseline accuracy, measured sparsity, size and gzip ratios,
time outside training).

Usage:
    .venv/bin/python benchmarks/foundation.py [--epochs 12] [--out runs/foundation]
    .venv/bin/python benchmarks/foundation.py --render-only   # foundation.md from the .json

Needs Debian's ``dataset-fashion-mnist`` (``make sysdeps`` installs it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _conditions import conditions, describe

HERE = Path(__file__).resolve().parent
RECIPES = HERE / "recipes"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12, help="baseline training epochs")
    parser.add_argument("--out", default="runs/foundation", help="work folder for the runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline", default=None, help="reuse a trained baseline .keras")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite foundation.md from foundation.json; run nothing")
    args = parser.parse_args()
    if args.render_only:
        results = json.loads((HERE / "results" / "foundation.json").read_text())
        (HERE / "results" / "foundation.md").write_text(render(results))
        print(render(results))
        return 0

    from calibration import sources
    from compress import zoo
    from compress.pipeline import compress_model
    from compress.progress import Progress

    progress = Progress(enabled=True)
    data = sources.load_dataset("fashion-mnist")
    if "full" not in data.source:
        print(f"needs the full Fashion-MNIST; got {data.source}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    baseline_path = Path(args.baseline) if args.baseline else out / "baseline.keras"
    train_s = None
    if not baseline_path.exists():
        model = zoo.fashion_cnn(data.x_train.shape[1:], data.num_classes)
        start = time.perf_counter()
        zoo.train_baseline(model, data.x_train, data.y_train, epochs=args.epochs, seed=args.seed,
                           callbacks=[progress.keras_callback("baseline", args.epochs, -1)])
        train_s = time.perf_counter() - start
        model.save(str(baseline_path))

    results = {"conditions": conditions(seed=args.seed, runs_per_recipe=1),
               "data": data.source, "baseline_model": str(baseline_path),
               "baseline_epochs": args.epochs, "baseline_train_seconds": train_s, "runs": {}}
    for name in ("prune50-qat-int8", "max-compression"):
        result = compress_model(str(baseline_path), RECIPES / f"{name}.yaml", data=data,
                                out_dir=out / name, overwrite=True, progress=progress)
        results["runs"][name] = summarize(result.report)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "foundation.json").write_text(json.dumps(results, indent=2) + "\n")
    (HERE / "results" / "foundation.md").write_text(render(results))
    print(render(results))
    return 0


def summarize(report: dict) -> dict:
    """The acceptance figures of one run."""
    arts = {a["target"]: a for a in report["artifacts"]}
    f32, i8 = arts["float32"], arts["int8"]
    base = report["baseline"]["accuracy"]
    prune = next((s for s in report["stages"] if s["kind"] == "prune"), {})
    t = report["timings"]
    return {
        "baseline_accuracy": base,
        "float32_accuracy": f32["accuracy"],
        "int8_accuracy": i8["accuracy"],
        "int8_delta_pp": 100 * (i8["accuracy"] - base),
        "target_sparsity": prune.get("final_sparsity"),
        "int8_measured_sparsity": i8["sparsity"],
        "float32_measured_sparsity": f32["sparsity"],
        "int8_size_ratio": i8["size_bytes"] / f32["size_bytes"],
        "int8_gzip_ratio_vs_float32_gzip": i8["gzip_bytes"] / f32["gzip_bytes"],
        # the float32 TFLite of the original (uncompressed) model, converted in the same run
        "int8_gzip_ratio_vs_baseline_float32_gzip":
            i8["gzip_bytes"] / report["baseline"]["tflite_float32"]["gzip_bytes"],
        "int8_size_ratio_vs_baseline_float32":
            i8["size_bytes"] / report["baseline"]["tflite_float32"]["size_bytes"],
        "sizes": {k: {"size_bytes": a["size_bytes"], "gzip_bytes": a["gzip_bytes"]}
                  for k, a in arts.items()},
        "stage_seconds": {s["kind"]: s["seconds"] for s in report["stages"]},
        "timings": t,
        "outside_training_fraction": t["outside_training_fraction"],
    }


def render(results: dict) -> str:
    trained = (f"trained {results['baseline_epochs']} epochs in "
               f"{results['baseline_train_seconds']:.0f} s" if results["baseline_train_seconds"]
               else f"trained {results['baseline_epochs']} epochs in an earlier invocation "
                    f"and reused from {results['baseline_model']} (its training time is not "
                    "recorded)")
    if "conditions" in results:
        cond = describe(results["conditions"]) + " One run per recipe."
    else:
        cond = ("Conditions: not recorded in foundation.json (it predates the script "
                "recording them); one run per recipe, recipe seed 0 (the default).")
    lines = [f"Data: {results['data']}; baseline {trained}", "", cond, "",
             "| run | baseline acc | int8 acc | Δ pp | sparsity (int8, measured) | "
             "int8/float32 size | int8 gzip / original float32 gzip | "
             "int8 gzip / pruned float32 gzip | time outside training |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results["runs"].items():
        lines.append(
            f"| {name} | {100 * r['baseline_accuracy']:.2f} % | {100 * r['int8_accuracy']:.2f} % "
            f"| {r['int8_delta_pp']:+.2f} | {100 * r['int8_measured_sparsity']:.2f} % | "
            f"{r['int8_size_ratio']:.3f} | {r['int8_gzip_ratio_vs_baseline_float32_gzip']:.3f} | "
            f"{r['int8_gzip_ratio_vs_float32_gzip']:.3f} | "
            f"{100 * r['outside_training_fraction']:.1f} % |")
    lines.append("")
    for name, r in results["runs"].items():
        stages = ", ".join(f"{k} {v:.0f} s" for k, v in r["stage_seconds"].items())
        t = r["timings"]
        lines.append(f"- {name}: stages {stages}; conversion {t['conversion_s']:.1f} s, "
                     f"evaluation {t['evaluation_s']:.1f} s, benchmark {t['benchmark_s']:.1f} s, "
                     f"total {t['total_s']:.0f} s")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
