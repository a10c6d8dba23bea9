"""The keras3 engine against the tfmot engine on the same Keras 3 CNN (issue 13's comparison).

Trains ``compress.zoo.fashion_cnn`` built with Keras 3 on the data, saves it as a Keras 3
``.keras`` file, then runs each recipe with ``engine: keras3`` and ``engine: tfmot`` (the
Keras 3 bridge), alternating which engine goes first per seed, and writes
``benchmarks/results/keras3_engine.{json,md}``: int8 accuracy per run, the mean per engine
and recipe, and training seconds per epoch (prune and QAT stages) as a keras3/tfmot ratio.

Usage:
    .venv/bin/python benchmarks/keras3_engine.py [--seeds 0 1 2] [--recipes foundation prune75]
        [--epochs 5] [--data fashion-mnist] [--out runs/keras3_engine] [--results-name NAME]
        [--baseline FILE.keras] [--previous RESULTS.json --previous-seeds 0]
        [--engines keras3 tfmot] [--activations calibrated|ema]

``--previous`` takes the runs of ``--previous-seeds`` from an earlier results file of this
script (same data, same baseline recipe; the file's conditions are kept under ``previous``)
so that a run can add seeds to it; accuracy means cover every seed, and the s/epoch ratio is
given for this run's own runs too (its runs alternate the engines under one set of
conditions); a run of one engine (``--engines keras3``) takes the other engine's runs of the
same seeds from ``--previous``. ``--activations`` sets the keras3 engine's QAT
``activations`` (default: the qat stage's default, ema). The loop goes recipe by recipe, then
seed by seed, so a partial run has whole seeds of the first recipe.

The issue's figures need the full Fashion-MNIST (Debian's ``dataset-fashion-mnist``) and
seeds 0 1 2; a smaller run says what it ran in its results file.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from _baseline import train_keras3_cnn
from _conditions import conditions, describe

HERE = Path(__file__).resolve().parent
RECIPES = {
    "foundation": [{"kind": "prune", "final_sparsity": 0.5, "schedule": "polynomial",
                    "epochs": 2}, {"kind": "qat", "epochs": 1}],
    "prune75": [{"kind": "prune", "final_sparsity": 0.75, "schedule": "polynomial",
                 "epochs": 2}, {"kind": "qat", "epochs": 1}],
}
ENGINES = ("keras3", "tfmot")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--epochs", type=int, default=5, help="baseline training epochs")
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--out", default="runs/keras3_engine")
    parser.add_argument("--results-name", default="keras3_engine")
    parser.add_argument("--baseline", default=None, help="reuse this trained baseline .keras")
    parser.add_argument("--previous", default=None, help="an earlier results .json")
    parser.add_argument("--previous-seeds", type=int, nargs="*", default=[])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    parser.add_argument("--activations", choices=["calibrated", "ema"], default=None,
                        help="the keras3 engine's qat activations (default: its default)")
    args = parser.parse_args()


    from calibration import sources
    from compress.pipeline import compress_model

    data = sources.load_dataset(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    baseline = out / "baseline_keras3.keras"
    train_s = None
    if args.baseline:
        baseline = Path(args.baseline)
    else:
        model, train_s = train_keras3_cnn(data, args.epochs)
        model.save(str(baseline))

    results = {"conditions": conditions(seeds=args.seeds, recipes=args.recipes,
                                        engines=args.engines, activations=args.activations),
               "data": data.source, "baseline": {"epochs": args.epochs,
                                                 "train_seconds": train_s},
               "recipes": {name: RECIPES[name] for name in args.recipes}, "runs": []}
    if args.baseline:
        results["baseline"]["file"] = str(baseline)
    if args.previous:
        earlier = json.loads(Path(args.previous).read_text())
        kept = [dict(r, previous=True) for r in earlier["runs"]
                if r["seed"] in args.previous_seeds and r["recipe"] in args.recipes
                and not (r["seed"] in args.seeds and r["engine"] in args.engines)]
        results["previous"] = {"file": args.previous, "conditions": earlier["conditions"],
                               "baseline": earlier["baseline"], "seeds": args.previous_seeds}
        results["runs"] += kept
    planned = len(results["runs"]) + len(args.seeds) * len(args.recipes) * len(args.engines)
    for name in args.recipes:
        for seed in args.seeds:
            order = args.engines if seed % 2 == 0 else args.engines[::-1]
            for engine in order:
                stages = RECIPES[name]
                if engine == "keras3" and args.activations:
                    stages = [dict(st, activations=args.activations) if st["kind"] == "qat"
                              else st for st in stages]
                recipe = {"name": f"{name}-{engine}", "seed": seed, "engine": engine,
                          "stages": stages, "targets": ["float32", "int8"]}
                result = compress_model(str(baseline), recipe, data=data, overwrite=True,
                                        out_dir=out / f"{name}-{engine}-s{seed}")
                results["runs"].append(summarize(result.report, name, engine, seed))
                print(json.dumps(results["runs"][-1]), flush=True)
                write(results, args.results_name, planned)  # a partial run leaves its file
    print(write(results, args.results_name, planned))
    return 0


def write(results: dict, name: str, planned: int) -> str:
    """Write the results so far (``complete`` says whether every planned run is in)."""
    results["summary"] = summary(results["runs"])
    results["complete"] = len(results["runs"]) == planned
    results["planned_runs"] = planned
    (HERE / "results").mkdir(exist_ok=True)
    stem = HERE / "results" / name
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    text = render(results)
    stem.with_suffix(".md").write_text(text)
    return text


def summarize(report: dict, recipe: str, engine: str, seed: int) -> dict:
    arts = {a["target"]: a for a in report["artifacts"]}
    per_epoch = {s["kind"]: s["seconds"] / max(1, s["epochs"]) for s in report["stages"]}
    return {"recipe": recipe, "engine": report.get("engine", engine), "seed": seed,
            "baseline_accuracy": report["baseline"]["accuracy"],
            "int8_accuracy": arts["int8"]["accuracy"],
            "float32_accuracy": arts["float32"]["accuracy"],
            "int8_sparsity": arts["int8"]["sparsity"],
            "seconds_per_epoch": per_epoch,
            "training_seconds_per_epoch": sum(s["seconds"] for s in report["stages"])
            / max(1, sum(s["epochs"] for s in report["stages"]))}


def summary(runs: list[dict]) -> dict:
    out = {}
    for recipe in dict.fromkeys(r["recipe"] for r in runs):
        by = {e: [r for r in runs if r["recipe"] == recipe and r["engine"] == e]
              for e in ENGINES}
        if not all(by.values()):
            continue
        acc = {e: statistics.mean(r["int8_accuracy"] for r in rs) for e, rs in by.items()}
        sec = {e: statistics.median(r["training_seconds_per_epoch"] for r in rs)
               for e, rs in by.items()}
        own = {e: [r["training_seconds_per_epoch"] for r in rs if not r.get("previous")]
               for e, rs in by.items()}
        out[recipe] = {"mean_int8_accuracy": acc,
                       "keras3_minus_tfmot_pp": 100 * (acc["keras3"] - acc["tfmot"]),
                       "median_training_seconds_per_epoch": sec,
                       "keras3_over_tfmot_seconds": sec["keras3"] / sec["tfmot"],
                       "keras3_over_tfmot_seconds_this_run":
                           statistics.median(own["keras3"]) / statistics.median(own["tfmot"])
                           if all(own.values()) else None,
                       "seeds": sorted(r["seed"] for r in by["keras3"])}
    return out


def render(results: dict) -> str:
    base = results["baseline"]
    trained = (f"{base['train_seconds']:.0f} s" if base.get("train_seconds") is not None
               else f"reused: `{base.get('file')}`")
    prev = results.get("previous")
    lines = ["# keras3 engine vs tfmot engine (Keras 3 CNN, bridged for tfmot)", "",
             f"Data: {results['data']}; baseline: Keras 3 `fashion_cnn`, "
             f"{base['epochs']} epochs ({trained}), one file for every run.", "",
             describe(results["conditions"]), "",
             "keras3 engine QAT activations: "
             f"{results['conditions'].get('activations') or 'the qat stage default (ema)'}.", "",
             *([] if not prev else [
                 f"Seeds {prev['seeds']} (rows marked `previous`) are taken from an earlier run "
                 f"of this script (`{prev['file']}`, the same data and baseline recipe; its "
                 f"baseline scored {100 * next(r['baseline_accuracy'] for r in results['runs'] if r.get('previous')):.2f} %): "
                 + describe(prev["conditions"]), ""]),
             *([] if results.get("complete", True) else [
                 f"**Partial run: {len(results['runs'])} of {results['planned_runs']} planned "
                 "runs finished.**", ""]),
             "Targets: mean int8 accuracy of keras3 >= tfmot - 0.2 pp; training seconds per "
             "epoch of keras3 <= 1.25x tfmot.", "",
             "| recipe | seeds | int8 keras3 | int8 tfmot | keras3 - tfmot | s/epoch keras3 | "
             "s/epoch tfmot | ratio | ratio, this run only |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in results["summary"].items():
        acc, sec = s["mean_int8_accuracy"], s["median_training_seconds_per_epoch"]
        lines.append(f"| {name} | {s['seeds']} | {100 * acc['keras3']:.2f} % | "
                     f"{100 * acc['tfmot']:.2f} % | {s['keras3_minus_tfmot_pp']:+.2f} pp | "
                     f"{sec['keras3']:.1f} | {sec['tfmot']:.1f} | "
                     f"{s['keras3_over_tfmot_seconds']:.2f} | "
                     + (f"{s['keras3_over_tfmot_seconds_this_run']:.2f} |"
                        if s.get("keras3_over_tfmot_seconds_this_run") else "- |"))
    lines += ["", "| recipe | engine | seed | baseline | int8 | float32 | int8 sparsity | "
              "s/epoch |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in results["runs"]:
        lines.append(f"| {r['recipe']} | {r['engine']} | {r['seed']}"
                     f"{' (previous)' if r.get('previous') else ''} | "
                     f"{100 * r['baseline_accuracy']:.2f} % | {100 * r['int8_accuracy']:.2f} % | "
                     f"{100 * r['float32_accuracy']:.2f} % | {100 * r['int8_sparsity']:.1f} % | "
                     f"{r['training_seconds_per_epoch']:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
