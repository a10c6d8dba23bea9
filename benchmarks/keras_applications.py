"""Keras's own models through prune 50 % + QAT to a full-integer int8 file (issue 13).

Each ``keras.applications`` model is built with random weights at 96x96x3 (32x32x3 where a
model needs less memory is not tried: the shape is the model's input), trained on random data
for one prune epoch and one QAT epoch on the chosen engine (default keras3), converted to int8
and checked: did it run, is the file full-integer (only int8/int32 tensors), its measured
sparsity, and the layers left out of fake-quantization with their reasons. This measures
whether the pipeline takes the architecture, not accuracy (the data are random).

Usage:
    .venv/bin/python benchmarks/keras_applications.py [--models MobileNetV2 ...]
        [--engine keras3|auto|tfmot] [--size 96] [--results-name keras_applications]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _conditions import conditions, describe

HERE = Path(__file__).resolve().parent
LIGHT = ("MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large", "EfficientNetB0",
         "EfficientNetV2B0", "NASNetMobile", "DenseNet121", "ResNet50")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(LIGHT))
    parser.add_argument("--engine", default="keras3")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--results-name", default="keras_applications")
    args = parser.parse_args()

    import numpy as np

    rng = np.random.default_rng(0)
    shape = (args.size, args.size, 3)
    work = Path(tempfile.mkdtemp(prefix="keras-apps-"))
    data = work / "random.npz"
    np.savez(data, x_train=rng.random((128, *shape), dtype=np.float32),
             y_train=rng.integers(0, 10, 128), x_test=rng.random((32, *shape), dtype=np.float32),
             y_test=rng.integers(0, 10, 32))
    results = {"conditions": conditions(engine=args.engine, input_shape=list(shape),
                                        train_samples=128, test_samples=32,
                                        calibration_samples=16),
               "models": []}
    stem = HERE / "results" / args.results_name
    for name in args.models:
        row = run_one(name, shape, data, work, args.engine)
        results["models"].append(row)
        results["planned"] = list(args.models)
        print(json.dumps(row), flush=True)
        stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
        stem.with_suffix(".md").write_text(render(results))  # a partial run leaves its file
    print(render(results))
    return 0


def run_one(name: str, shape: tuple, data: Path, work: Path, engine: str) -> dict:
    import keras

    from compress import compress_model
    from compress.errors import CompressError
    from targets.tflite_graph import read_model

    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    try:
        model = getattr(keras.applications, name)(input_shape=shape, weights=None, classes=10,
                                                  classifier_activation=None)
        recipe = {"name": name, "engine": engine, "targets": ["int8"],
                  "stages": [{"kind": "prune", "final_sparsity": 0.5, "epochs": 1},
                             {"kind": "qat", "epochs": 1}],
                  "training": {"batch_size": 32}, "calibration": {"samples": 16},
                  "benchmark": {"warmup": 1, "runs": 2}}
        report = compress_model(model, recipe, data=str(data), out_dir=work / name).report
    except (CompressError, ValueError, TypeError, RuntimeError) as exc:
        return {"model": name, "ok": False, "error": f"{type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:300]}", "seconds": time.perf_counter() - start}
    graph = read_model(str(work / name / "artifacts" / "int8.tflite"))
    dtypes = graph.dtype_counts()
    qat = next(s for s in report["stages"] if s["kind"] == "qat")
    return {"model": name, "ok": True, "engine": report["engine"],
            "params": report["baseline"]["params"],
            "full_integer": set(dtypes) <= {"int8", "int32"}, "dtypes": dtypes,
            "int8_sparsity": report["artifacts"][0]["sparsity"],
            "not_fake_quantized": len(qat["float_layers"]),
            "reasons": sorted({r.split("(", 1)[-1].rstrip(")") for r in qat["float_layers"]}),
            "seconds": time.perf_counter() - start}


def render(results: dict) -> str:
    lines = ["# keras.applications through prune 50 % + QAT to int8", "",
             describe(results["conditions"]), "",
             "Random weights and random data: this checks the pipeline takes each architecture "
             "(full-integer file, sparsity kept), not accuracy. Engine asked for: "
             f"`{results['conditions'].get('engine')}`.", "",
             *([f"**Partial run: {len(results['models'])} of {len(results['planned'])} models "
                "finished.**", ""] if len(results["models"]) < len(results.get("planned", []))
               else []),
             "| model | params | ran | full-integer int8 | int8 sparsity | kernels not "
             "fake-quantized (why) | seconds |", "|---|---:|---|---|---:|---|---:|"]
    for r in results["models"]:
        if not r["ok"]:
            lines.append(f"| {r['model']} | | no: {r['error']} | | | | {r['seconds']:.0f} |")
            continue
        lines.append(f"| {r['model']} | {r['params']:,} | yes ({r['engine']}) | "
                     f"{'yes' if r['full_integer'] else 'no: ' + str(r['dtypes'])} | "
                     f"{100 * r['int8_sparsity']:.1f} % | {r['not_fake_quantized']} "
                     f"({'; '.join(r['reasons'])}) | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
