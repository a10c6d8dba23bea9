"""Keras's own models through prune 50 % + QAT to a full-integer int8 file (issue 13).

Each ``keras.applications`` model is built with random weights at 96x96x3 (32x32x3 where a
model needs less memory is not tried: the shape is the model's input), trained on random data
for one prune epoch and one QAT epoch on the chosen engine (default keras3), converted to int8
and checked: did it run, is the file full-integer (only int8/int32 tensors), its measured
sparsity, and the layers left out of fake-quantization with their reasons. This measures
whether the pipeline takes the architecture, not accuracy (the data are random).

Where the time goes (reports of the first runs, 2 shared cores): training ~70 % (mostly
building the train step's graph: MobileNetV3Small spends ~40 s per 4-step epoch), the baseline
(Keras accuracy, latency, the float32 reference .tflite) ~15-20 %, int8 conversion ~6-10 %,
evaluating and benchmarking the .tflite < 1 %. The sample counts only scale the compute of
each step, so ``--batch-size 8 --train-samples 32`` keeps the 4 steps per epoch the pruning
schedule needs to reach its final sparsity (50 % at step 3) at a quarter of the compute per
step; ``--test-samples`` and ``--calibration-samples`` may be as small as a few samples.
Every invocation's settings are recorded with its rows.

Usage:
    .venv/bin/python benchmarks/keras_applications.py [--models MobileNetV2 ...]
        [--engine keras3|auto|tfmot] [--size 96] [--results-name keras_applications]
        [--train-samples 128] [--test-samples 32] [--calibration-samples 16] [--batch-size 32]
        [--append] [--note "..."]

``--append`` adds this invocation's rows to the results file of the same name, keeping the
earlier rows and each invocation's conditions.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import traceback
from pathlib import Path

from _conditions import conditions, describe

HERE = Path(__file__).resolve().parent
#: the recipe's host benchmark: one warm-up, two timed runs (latency is not what is checked)
BENCHMARK = {"warmup": 1, "runs": 2}
LIGHT = ("MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large", "EfficientNetB0",
         "EfficientNetV2B0", "NASNetMobile", "DenseNet121", "ResNet50")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(LIGHT))
    parser.add_argument("--engine", default="keras3")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--results-name", default="keras_applications")
    parser.add_argument("--train-samples", type=int, default=128)
    parser.add_argument("--test-samples", type=int, default=32)
    parser.add_argument("--calibration-samples", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--append", action="store_true",
                        help="add the rows to the results file of an earlier invocation")
    parser.add_argument("--note", action="append", default=[],
                        help="a sentence for the results file (e.g. why the run was stopped)")
    args = parser.parse_args()

    import numpy as np

    rng = np.random.default_rng(0)
    shape = (args.size, args.size, 3)
    work = Path(tempfile.mkdtemp(prefix="keras-apps-"))
    data = work / "random.npz"
    np.savez(data, x_train=rng.random((args.train_samples, *shape), dtype=np.float32),
             y_train=rng.integers(0, 10, args.train_samples),
             x_test=rng.random((args.test_samples, *shape), dtype=np.float32),
             y_test=rng.integers(0, 10, args.test_samples))
    settings = {"train_samples": args.train_samples, "test_samples": args.test_samples,
                "calibration_samples": args.calibration_samples, "batch_size": args.batch_size,
                "benchmark": BENCHMARK}
    invocation = {"conditions": conditions(engine=args.engine, input_shape=list(shape),
                                           **settings),
                  "planned": list(args.models), "notes": list(args.note), "finished": False}
    stem = HERE / "results" / args.results_name
    results = {"invocations": [], "models": []}
    if args.append and stem.with_suffix(".json").exists():
        results = upgrade(json.loads(stem.with_suffix(".json").read_text()))
    results["invocations"].append(invocation)
    index = len(results["invocations"]) - 1
    for name in args.models:
        row = run_one(name, shape, data, work, args.engine, settings)
        row["invocation"] = index
        results["models"].append(row)
        print(json.dumps(row), flush=True)
        write(results, stem)  # a partial run leaves its file
        shutil.rmtree(work / name, ignore_errors=True)
    invocation["finished"] = True
    write(results, stem)
    shutil.rmtree(work, ignore_errors=True)
    print(render(results))
    return 0


def upgrade(results: dict) -> dict:
    """A results file of the first format (one ``conditions``) as a list of invocations."""
    if "invocations" in results:
        return results
    planned = results.get("planned", [r["model"] for r in results["models"]])
    first = {"conditions": results["conditions"], "planned": planned, "notes": [],
             "finished": len(results["models"]) >= len(planned)}
    for row in results["models"]:
        row.setdefault("invocation", 0)
    return {"invocations": [first], "models": results["models"]}


def write(results: dict, stem: Path) -> None:
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_suffix(".md").write_text(render(results))


def run_one(name: str, shape: tuple, data: Path, work: Path, engine: str,
            settings: dict) -> dict:
    import keras

    from compress import compress_model
    from targets.tflite_graph import read_model

    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    try:
        model = getattr(keras.applications, name)(input_shape=shape, weights=None, classes=10,
                                                  classifier_activation=None)
        recipe = {"name": name, "engine": engine, "targets": ["int8"],
                  "stages": [{"kind": "prune", "final_sparsity": 0.5, "epochs": 1},
                             {"kind": "qat", "epochs": 1}],
                  "training": {"batch_size": settings["batch_size"]},
                  "calibration": {"samples": settings["calibration_samples"]},
                  "benchmark": BENCHMARK}
        report = compress_model(model, recipe, data=str(data), out_dir=work / name).report
    except Exception as exc:  # noqa: BLE001 - any failure is this model's result, not the run's
        traceback.print_exc()
        return {"model": name, "ok": False, "error": f"{type(exc).__name__}: "
                f"{(str(exc).splitlines() or [''])[0][:300]}",
                "seconds": time.perf_counter() - start}
    graph = read_model(str(work / name / "artifacts" / "int8.tflite"))
    dtypes = graph.dtype_counts()
    prune = next(s for s in report["stages"] if s["kind"] == "prune")
    qat = next(s for s in report["stages"] if s["kind"] == "qat")
    t = report["timings"]
    return {"model": name, "ok": True, "engine": report["engine"],
            "params": report["baseline"]["params"],
            "full_integer": set(dtypes) <= {"int8", "int32"}, "dtypes": dtypes,
            "int8_sparsity": report["artifacts"][0]["sparsity"],
            "not_fake_quantized": len(qat["float_layers"]),
            "reasons": sorted({r.split("(", 1)[-1].rstrip(")") for r in qat["float_layers"]}),
            "not_pruned": sorted({s["reason"] for s in prune.get("skipped_layers", [])}),
            "phases_s": {"baseline": t["baseline_s"], "prune": prune["seconds"],
                         "qat": qat["seconds"], "conversion": t["conversion_s"],
                         "evaluation_benchmark": t["evaluation_s"] + t["benchmark_s"]},
            "seconds": time.perf_counter() - start}


def render(results: dict) -> str:
    results = upgrade(results)
    invocations = results["invocations"]
    lines = ["# keras.applications through prune 50 % + QAT to int8", "",
             "Random weights and random data: this checks the pipeline takes each architecture "
             "(full-integer file, sparsity kept), not accuracy.", ""]
    for i, inv in enumerate(invocations):
        c = inv["conditions"]
        done = [r["model"] for r in results["models"] if r.get("invocation", 0) == i]
        missing = [m for m in inv["planned"] if m not in done]
        settings = (f"{c.get('train_samples', 128)} random training samples in batches of "
                    f"{c.get('batch_size', 32)}, {c.get('test_samples', 32)} test samples, "
                    f"{c.get('calibration_samples', 16)} calibration samples, input "
                    f"{'x'.join(map(str, c.get('input_shape', [])))}")
        lines += [f"**Run {i + 1}** (engine asked for: `{c.get('engine')}`; {settings}). "
                  + describe(c)]
        if missing:
            lines += ["", f"Partial: {len(done)} of {len(inv['planned'])} models finished; "
                      + "not reached (the run was stopped or is still going): "
                      + ", ".join(missing) + "."]
        for note in inv.get("notes", []):
            lines += ["", f"Note: {note}"]
        lines.append("")
    lines += ["| model | run | params | ran | full-integer int8 | int8 sparsity | kernels not "
              "fake-quantized (why) | seconds (baseline / prune / QAT / convert) |",
              "|---|---:|---:|---|---|---:|---|---:|"]
    for r in results["models"]:
        run = r.get("invocation", 0) + 1
        if not r["ok"]:
            lines.append(f"| {r['model']} | {run} | | no: {r['error']} | | | | "
                         f"{r['seconds']:.0f} |")
            continue
        p = r.get("phases_s")
        phases = (f" ({p['baseline']:.0f} / {p['prune']:.0f} / {p['qat']:.0f} / "
                  f"{p['conversion']:.0f})" if p else "")
        lines.append(f"| {r['model']} | {run} | {r['params']:,} | yes ({r['engine']}) | "
                     f"{'yes' if r['full_integer'] else 'no: ' + str(r['dtypes'])} | "
                     f"{100 * r['int8_sparsity']:.1f} % | {r['not_fake_quantized']}"
                     f"{' (' + '; '.join(r['reasons']) + ')' if r['reasons'] else ''} | "
                     f"{r['seconds']:.0f}{phases} |")
    skipped = {r["model"]: r["not_pruned"] for r in results["models"] if r.get("not_pruned")}
    if skipped:
        lines += ["", "Layers with weights left unpruned (why): " + "; ".join(
            f"{m}: {', '.join(why)}" for m, why in skipped.items()) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
