"""The int4 and mixed formats on the full Fashion-MNIST foundation CNN, against float32 and int8.

Per seed: the Keras 3 ``compress.zoo.fashion_cnn`` is trained on the training split minus the
held-out samples ``mixed`` measures its candidates on (``compress.artifacts.mixed.
holdout_indices``, the same draw the run makes), so those samples are unseen by training. Then
one ``compress_model`` run (no training stages) exports, evaluates on the test split and
benchmarks ``float32``, ``int8``, ``int4``, ``mixed-size`` and ``mixed-energy``
(``max_accuracy_drop`` 0.3 pp).

Measured per artifact: size raw and after gzip -9, both against the float32 file; test
accuracy; host latency, batch 1, 1 thread, with our runner (``targets/runner.py``): ROUNDS
rounds, the artifacts in a rotated order each round, the median of the rounds' p50s, and the
ratio to int8's. Then, for int4 and mixed: our runner's command line on the test split
(``--data``) must give the report's accuracy, and LiteRT's own benchmark tool
(``ai_edge_litert.tools.benchmark_litert_model``) must run the file.

Usage:
    .venv/bin/python benchmarks/sub8bit_formats.py [--seeds 0 1 2] [--epochs 4]
    .venv/bin/python benchmarks/sub8bit_formats.py --render-only

Writes ``benchmarks/results/sub8bit_formats.{json,md}`` after every seed (a partial run says
which seeds it holds). Host x86 latency: not a device figure.
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

from _baseline import train_keras3_cnn
from _conditions import conditions, describe

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RUNNER = ROOT / "targets" / "runner.py"
LITERT_TOOL = "ai_edge_litert.tools.benchmark_litert_model"
NAME = "sub8bit_formats"
BUDGET_PP = 0.3
HOLDOUT = 5000  # the mixed targets' holdout_samples (their default)
TARGETS = ["float32", "int8", "int4",
           {"format": "mixed", "name": "mixed-size", "max_accuracy_drop": BUDGET_PP,
            "objective": "size"},
           {"format": "mixed", "name": "mixed-energy", "max_accuracy_drop": BUDGET_PP,
            "objective": "energy"}]
TIMED = ("int8", "int4", "mixed-size", "mixed-energy", "float32")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=4, help="baseline training epochs")
    parser.add_argument("--rounds", type=int, default=5, help="latency rounds (alternating)")
    parser.add_argument("--runs", type=int, default=300, help="timed invokes per round")
    parser.add_argument("--out", default="runs/sub8bit_formats", help="work folder")
    parser.add_argument("--data", default="fashion-mnist",
                        help="dataset (the results need the full Fashion-MNIST; another one "
                             "only with --results-name, for a quick check of the script)")
    parser.add_argument("--results-name", default=NAME)
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument("--explore-recipes", metavar="RUN_DIR", default=None,
                        help="instead: the quantizer's ready int4/int8 recipes on RUN_DIR's "
                             "float32 file against its int8 and int4 files "
                             "(results/sub8bit_formats.recipes.{json,md})")
    args = parser.parse_args()
    if args.explore_recipes:
        return explore_recipes(Path(args.explore_recipes), args)
    stem = HERE / "results" / args.results_name
    if args.render_only:
        results = json.loads(stem.with_suffix(".json").read_text())
        stem.with_suffix(".md").write_text(render(results))
        return 0

    from calibration import sources

    data = sources.load_dataset(args.data)
    if "full" not in data.source and args.results_name == NAME:
        print(f"needs the full Fashion-MNIST; got {data.source}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {"conditions": conditions(seeds=args.seeds, epochs=args.epochs,
                                        rounds=args.rounds, runs=args.runs),
               "data": data.source, "targets": TARGETS, "budget_pp": BUDGET_PP,
               "planned_seeds": args.seeds, "seeds": []}
    for seed in args.seeds:
        results["seeds"].append(run_seed(data, seed, args, out))
        write(results, stem)
    print(stem.with_suffix(".md").read_text())
    return 0


def run_seed(data, seed: int, args, out: Path) -> dict:
    import numpy as np

    from compress.artifacts.mixed import holdout_indices
    from compress.pipeline import compress_model
    from compress.progress import Progress

    held = holdout_indices(len(data.x_train), HOLDOUT, seed=seed)
    keep = np.setdiff1d(np.arange(len(data.x_train)), held)
    model, train_s = train_keras3_cnn(data, args.epochs, seed=seed, x=data.x_train[keep],
                                      y=data.y_train[keep])
    print(f"seed {seed}: trained {args.epochs} epochs in {train_s:.0f} s", flush=True)
    recipe = {"name": f"sub8bit-s{seed}", "seed": seed, "targets": TARGETS,
              "benchmark": {"warmup": 10, "runs": 50, "threads": 1}}
    t0 = time.perf_counter()
    run = compress_model(model, recipe, data=data, out_dir=out / f"s{seed}", overwrite=True,
                         progress=Progress(enabled=True))
    run_s = time.perf_counter() - t0
    report = run.report
    arts = {a["target"]: a for a in report["artifacts"]}
    ref = arts["float32"]
    files = {name: run.out_dir / a["path"] for name, a in arts.items()}
    latency = time_artifacts(files, rounds=args.rounds, runs=args.runs)
    rows = {}
    for name, a in arts.items():
        rows[name] = {
            "format": a["format"], "size_bytes": a["size_bytes"], "gzip_bytes": a["gzip_bytes"],
            "raw_ratio_vs_float32": ref["size_bytes"] / a["size_bytes"],
            "gzip_ratio_vs_float32": ref["gzip_bytes"] / a["gzip_bytes"],
            "accuracy": a["accuracy"],
            "delta_vs_float32_pp": 100 * (a["accuracy"] - ref["accuracy"]),
            "host_p50_ms": latency[name]["median_p50_ms"],
            "host_latency_ratio_vs_int8": latency[name]["median_p50_ms"]
            / latency["int8"]["median_p50_ms"],
            "host_p50_rounds_ms": latency[name]["p50_rounds_ms"],
            "precision": a.get("precision")}
        if a["format"] in ("int4", "mixed"):
            rows[name]["runner_cli"] = runner_cli(files[name], data, a["accuracy"])
            rows[name]["litert_benchmark_tool"] = litert_tool(files[name])
    print(json.dumps({k: {kk: v[kk] for kk in ("size_bytes", "accuracy",
                                                 "host_latency_ratio_vs_int8")}
                      for k, v in rows.items()}), flush=True)
    return {"seed": seed, "train_epochs": args.epochs, "train_seconds": train_s,
            "train_samples": int(len(keep)), "heldout_samples": int(len(held)),
            "run_seconds": run_s, "baseline_accuracy": report["baseline"]["accuracy"],
            "artifacts": rows}


def time_artifacts(files: dict, *, rounds: int, runs: int) -> dict:
    """Median over rounds of each file's p50 (our runner, 1 thread); the order rotates."""
    from calibration import sources
    from targets import runner

    x = sources.load_bundled().x_test[:1]
    names = [n for n in TIMED if n in files]
    per = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            bench = runner.benchmark(str(files[name]), x=x, warmup=20, runs=runs, threads=1)
            per[name].append(bench["latency_ms"]["p50"])
    return {n: {"median_p50_ms": statistics.median(v), "p50_rounds_ms": v}
            for n, v in per.items()}


def runner_cli(path: Path, data, report_accuracy: float) -> dict:
    """Our runner's command line on the test split: its accuracy against the report's."""
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "test.npz"
        np.savez(npz, x=data.x_test, y=data.y_test)
        proc = subprocess.run([sys.executable, str(RUNNER), str(path), "--data", str(npz),
                               "--runs", "10", "--warmup", "2", "--json", "-"],
                              capture_output=True, text=True, env=_env())
    if proc.returncode:
        return {"ran": False, "error": proc.stderr.strip()[-300:]}
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    acc = result["accuracy"]
    return {"ran": True, "accuracy": acc, "equals_report": abs(acc - report_accuracy) < 1e-12}


def litert_tool(path: Path) -> dict:
    """LiteRT's benchmark tool on the file (1 thread): does it run, and its median."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "litert.json"
        proc = subprocess.run([sys.executable, "-m", LITERT_TOOL, "--model", str(path),
                               "--num_runs", "200", "--warmup_runs", "20", "--num_threads", "1",
                               "--result_json", str(out)],
                              capture_output=True, text=True, env=_env())
        if proc.returncode or not out.exists():
            return {"ran": False, "error": (proc.stderr or proc.stdout).strip()[-300:]}
        lat = json.loads(out.read_text())["latency"]
    return {"ran": True, "median_ms": lat["median_ms"], "avg_ms": lat["avg_ms"]}


def explore_recipes(run_dir: Path, args) -> int:
    """What the LiteRT quantizer's ready recipes give on a run's float32 file, next to the
    run's converter int8 file and our int4 (static int4-weight/int8-activation) file."""
    import gzip

    from calibration import sources
    from compress.artifacts import quantizer
    from targets import runner

    data = sources.load_dataset(args.data)
    q = quantizer.modules()
    recipes = __import__(f"{q.name}.recipe", fromlist=["recipe"])
    arts = run_dir / "artifacts"
    float_blob = (arts / "float32.tflite").read_bytes()
    rep = sources.representative_samples(data, 200, seed=0)
    folder = Path(tempfile.mkdtemp(prefix="sub8bit-recipes-"))
    files = {"int8 (converter)": arts / "int8.tflite",
             "int4 (ours: static w4 a8, min/max calibration)": arts / "int4.tflite"}

    def ready(name: str, calibrate: str | None) -> None:
        quant = q.quantizer.Quantizer(bytearray(float_blob), getattr(recipes, name)())
        calib = None
        if calibrate == "quantizer default":
            key, inp, _ = quantizer._signature(float_blob)
            calib = quant.calibrate({key: [{inp: rep[i:i + 1]} for i in range(len(rep))]})
        elif calibrate == "min/max":
            calib = quantizer.calibrate(float_blob, rep)
        blob = bytes(quant.quantize(calib, enable_progress_report=False).quantized_model)
        label = name + (f" ({calibrate} calibration)" if calibrate else "")
        files[label] = folder / f"{len(files)}.tflite"
        files[label].write_bytes(blob)

    ready("dynamic_wi4_afp32", None)
    ready("weight_only_wi4_afp32", None)
    ready("static_wi8_ai8", "quantizer default")
    ready("static_wi8_ai8", "min/max")
    x = sources.load_bundled().x_test[:1]
    names = list(files)
    per = {n: [] for n in names}
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            per[name].append(runner.benchmark(str(files[name]), x=x, warmup=20, runs=args.runs,
                                              threads=1)["latency_ms"]["p50"])
    base = statistics.median(per["int8 (converter)"])
    rows = []
    for name in names:
        blob = files[name].read_bytes()
        from targets.tflite_graph import read_model

        acc = runner.evaluate(str(files[name]), data.x_test, data.y_test)["accuracy"]
        med = statistics.median(per[name])
        rows.append({"file": name, "size_bytes": len(blob),
                     "gzip_bytes": len(gzip.compress(blob, compresslevel=9, mtime=0)),
                     "accuracy": acc, "weight_dtypes": sorted({
                         w["dtype"] for w in read_model(blob).weight_stats()["per_tensor"]}),
                     "host_p50_ms": med, "host_latency_ratio_vs_int8": med / base,
                     "host_p50_rounds_ms": per[name]})
    result = {"conditions": conditions(rounds=args.rounds, runs=args.runs),
              "data": data.source, "run_dir": str(run_dir),
              "float32_size_bytes": len(float_blob), "rows": rows}
    out = HERE / "results" / f"{NAME}.recipes"  # .json and .md appended (not with_suffix)
    Path(f"{out}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# LiteRT quantizer recipes on the foundation CNN's float32 file", "",
             f"Data: {result['data']} (test split, 10000). Float32 file of {run_dir} "
             f"({len(float_blob)} B). Host latency: x86, batch 1, 1 thread, our runner, median "
             f"of {args.rounds} rotated rounds of {args.runs} runs; not a device figure.", "",
             describe(result["conditions"]), "",
             "| file | weights | size | gzip | accuracy | host p50 ms | vs int8 |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['file']} | {'/'.join(r['weight_dtypes'])} | {r['size_bytes']} B | "
                     f"{r['gzip_bytes']} B | {100 * r['accuracy']:.2f} % | "
                     f"{r['host_p50_ms']:.4f} | {r['host_latency_ratio_vs_int8']:.2f}x |")
    Path(f"{out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def _env() -> dict:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def write(results: dict, stem: Path) -> None:
    results["complete"] = len(results["seeds"]) == len(results["planned_seeds"])
    results["summary"] = summary(results["seeds"])
    stem.parent.mkdir(exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    stem.with_suffix(".md").write_text(render(results))


def summary(seeds: list[dict]) -> dict:
    out = {}
    if not seeds:
        return out
    for name in seeds[0]["artifacts"]:
        rows = [s["artifacts"][name] for s in seeds if name in s["artifacts"]]
        out[name] = {k: statistics.mean(r[k] for r in rows) for k in (
            "size_bytes", "gzip_bytes", "raw_ratio_vs_float32", "gzip_ratio_vs_float32",
            "accuracy", "delta_vs_float32_pp", "host_latency_ratio_vs_int8")}
        out[name]["seeds"] = len(rows)
    return out


def render(results: dict) -> str:
    done = [s["seed"] for s in results["seeds"]]
    lines = ["# int4 and mixed formats vs float32 and int8 (full Fashion-MNIST, foundation CNN)",
             "", f"Data: {results['data']}. Baseline: Keras 3 `compress.zoo.fashion_cnn` "
             f"trained {results['conditions']['epochs']} epochs on the training split minus the "
             "5000 held-out samples mixed measures on (unseen by training); mixed budget "
             f"{results['budget_pp']} pp on those held-out samples; accuracy below is on the "
             "10000 test samples.", "", describe(results["conditions"]), ""]
    if not results.get("complete"):
        lines += [f"**Partial run: seeds {done} of {results['planned_seeds']}.**", ""]
    lines += [f"Means over seeds {done}. Host latency: x86 host, batch 1, 1 thread, our runner "
              "(medians of rotated rounds): a trade-off on this host, not a device figure. "
              "A layer's sensitivity: the held-out accuracy it loses alone at int4 (the rest "
              "int8), in pp (negative: it gained).", "",
              "| artifact | size | gzip | raw x vs float32 | gzip x vs float32 | accuracy | "
              "vs float32 | host latency vs int8 |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in results["summary"].items():
        lines.append(f"| {name} | {s['size_bytes']:.0f} B | {s['gzip_bytes']:.0f} B | "
                     f"{s['raw_ratio_vs_float32']:.2f}x | {s['gzip_ratio_vs_float32']:.2f}x | "
                     f"{100 * s['accuracy']:.2f} % | {s['delta_vs_float32_pp']:+.2f} pp | "
                     f"{s['host_latency_ratio_vs_int8']:.2f}x |")
    for seed in results["seeds"]:
        lines += ["", f"## Seed {seed['seed']}", "",
                  f"Baseline (Keras) {100 * seed['baseline_accuracy']:.2f} %; trained on "
                  f"{seed['train_samples']} samples in {seed['train_seconds']:.0f} s; the "
                  f"run (export, held-out search, test evaluation) {seed['run_seconds']:.0f} s.",
                  "", "| artifact | size | gzip | accuracy | host p50 ms | vs int8 | our runner "
                  "CLI = report | LiteRT benchmark tool |", "|---|---:|---:|---:|---:|---:|---|---|"]
        for name, r in seed["artifacts"].items():
            cli, tool = r.get("runner_cli"), r.get("litert_benchmark_tool")
            cli_text = "" if cli is None else (
                f"{100 * cli['accuracy']:.2f} % ({'equal' if cli['equals_report'] else 'DIFFERS'})"
                if cli["ran"] else f"failed: {cli['error']}")
            tool_text = "" if tool is None else (f"ran, median {tool['median_ms']} ms"
                                                 if tool["ran"] else f"failed: {tool['error']}")
            lines.append(f"| {name} | {r['size_bytes']} B | {r['gzip_bytes']} B | "
                         f"{100 * r['accuracy']:.2f} % | {r['host_p50_ms']:.4f} | "
                         f"{r['host_latency_ratio_vs_int8']:.2f}x | {cli_text} | {tool_text} |")
        for name, r in seed["artifacts"].items():
            p = r.get("precision")
            if not p:
                continue
            layers = ", ".join(f"{row['layer']} {row['precision']}"
                               + (f" (sensitivity {row['sensitivity_pp']:+.2f} pp)"
                                  if row.get("sensitivity_pp") is not None else "")
                               for row in p["layers"])
            lines += ["", f"{name}: {layers}."]
            if p.get("mixed"):
                m = p["mixed"]
                lines.append(f"{name} search: {m['note']} (float32 held-out "
                             f"{100 * m['float_holdout_accuracy']:.2f} %, all-int8 "
                             f"{100 * m['int8_holdout_accuracy']:.2f} %, {m['files_measured']} "
                             "files measured).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
