"""Issue 13's five kinds of Keras 3 model through the foundation recipe, tfmot blocked.

With ``tf_keras`` and ``tensorflow_model_optimization`` blocked from import (as the runner's
test does), each model is trained briefly (the baseline), then prune 50 % + QAT to
``[float32, int8]`` runs under the default engine (``engine: auto``):

* ``cnn``: a Functional CNN (Conv2D without bias -> BatchNormalization -> ReLU -> Dense);
* ``sequential``: a Sequential CNN;
* ``subclassed``: a subclassed ``keras.Model`` (its own ``call``: Conv2D, BatchNormalization,
  ReLU, a residual add, Dense);
* ``custom``: a Functional model with a custom layer that owns a kernel;
* ``mobilenet``: MobileNetV2 (alpha 0.35, 96x96, weights=None) nested in a transfer model.

The first four train on the bundled Fashion-MNIST subset (or ``--data``); MobileNetV2 on
seeded random 96x96 images whose label is the quadrant holding a bright square (learnable, no
download). Per model: the engine used, whether the int8 file is full-integer (only int8/int32
tensors), its measured sparsity, and the top-1 agreement of the int8 file with the compressed
Keras 3 model it was exported from (``RunResult.quant_model``) on the test split.

Usage:
    .venv/bin/python benchmarks/keras3_five_kinds.py [--data fashion-mnist-subset]
        [--train-samples N] [--test-samples N] [--calibration-samples 200] [--epochs 5]
        [--quadrant-samples 1024 512] [--activations calibrated|ema]
        [--out runs/keras3_five_kinds] [--results-name NAME] [--no-results]

Prints one JSON line per model and, last, one line with all of them; writes
``benchmarks/results/<results-name>.{json,md}`` unless ``--no-results`` (the slow test in
``tests/compress/test_keras3_engine.py`` runs this script small, with ``--no-results``).
"""

from __future__ import annotations

import sys

sys.modules["tf_keras"] = None  # blocked: importing either raises ImportError
sys.modules["tensorflow_model_optimization"] = None

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _conditions import conditions, describe  # noqa: E402

HERE = Path(__file__).resolve().parent
TARGETS = {"agreement": 0.99, "sparsity": 0.5, "sparsity_tolerance": 0.01}
KINDS = ("cnn", "sequential", "subclassed", "custom", "mobilenet")


class Own(keras.layers.Layer):
    """A custom layer that owns a kernel."""

    def build(self, shape):
        self.kernel = self.add_weight(shape=(shape[-1], 16), name="kernel")

    def call(self, x):
        return keras.ops.matmul(x, self.kernel)


class Residual(keras.Model):
    """A subclassed model: its own call with Conv2D, BatchNormalization, a residual add."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.c1 = keras.layers.Conv2D(8, 3, padding="same")
        self.bn = keras.layers.BatchNormalization()
        self.c2 = keras.layers.Conv2D(8, 3, padding="same")
        self.head = keras.layers.Dense(10)

    def call(self, x, training=False):
        h = keras.ops.relu(self.bn(self.c1(x), training=training))
        return self.head(keras.layers.Flatten()(keras.layers.MaxPooling2D(4)(h + self.c2(h))))


def cnn():
    inp = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(8, 3, use_bias=False)(inp)
    x = keras.layers.Flatten()(keras.layers.ReLU()(keras.layers.BatchNormalization()(x)))
    return keras.Model(inp, keras.layers.Dense(10)(x))


def sequential():
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3),
                             keras.layers.ReLU(), keras.layers.MaxPooling2D(),
                             keras.layers.Flatten(), keras.layers.Dense(10)])


def custom():
    inp = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(keras.layers.MaxPooling2D()(keras.layers.Conv2D(8, 3)(inp)))
    return keras.Model(inp, keras.layers.Dense(10)(keras.layers.ReLU()(Own()(x))))


def subclassed():
    model = Residual()
    model(np.zeros((1, 28, 28, 1), np.float32))
    return model


def mobilenet():
    base = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None,
                                          include_top=False)
    # Keras's BatchNormalization momentum here is 0.999: after the few hundred steps of this
    # brief training its moving statistics are still near their start and the model predicts
    # one class at inference (chance accuracy, trivially "agreeing"); 0.9 lets them settle
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    inp = keras.Input((96, 96, 3))
    x = keras.layers.GlobalAveragePooling2D()(base(inp))
    return keras.Model(inp, keras.layers.Dense(4)(x))


BUILD = {"cnn": cnn, "sequential": sequential, "subclassed": subclassed, "custom": custom,
         "mobilenet": mobilenet}


def quadrants(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random 96x96 images whose label is the quadrant holding a bright square."""
    x = rng.random((n, 96, 96, 3), dtype=np.float32) * 0.5
    y = rng.integers(0, 4, n)
    for i, q in enumerate(y):
        r, c = 48 * (q // 2), 48 * (q % 2)
        x[i, r + 8:r + 40, c + 8:c + 40] += 0.5
    return x, y


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion-mnist-subset")
    parser.add_argument("--train-samples", type=int, default=None)
    parser.add_argument("--test-samples", type=int, default=None)
    parser.add_argument("--calibration-samples", type=int, default=200,
                        help="representative samples for the int8 file (the recipe default)")
    parser.add_argument("--epochs", type=int, default=5, help="baseline training epochs")
    parser.add_argument("--quadrant-samples", type=int, nargs=2, default=[1024, 512],
                        metavar=("TRAIN", "TEST"), help="MobileNetV2's random images")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--activations", choices=("calibrated", "ema"), default=None,
                        help="qat's activations (default: the engine's, calibrated)")
    parser.add_argument("--out", default="runs/keras3_five_kinds")
    parser.add_argument("--results-name", default="keras3_five_kinds")
    parser.add_argument("--no-results", action="store_true")
    parser.add_argument("--append", action="store_true",
                        help="replace these kinds' rows in the existing results file (the "
                             "others and their conditions kept)")
    args = parser.parse_args()

    from calibration import sources
    from calibration.sources import Dataset
    from compress import compress_model
    from compress.artifacts.evaluate import evaluate_tflite
    from targets.tflite_graph import read_model

    fashion = sources.load_dataset(args.data)
    if args.train_samples or args.test_samples:
        fashion = sources.subsample(fashion, train=args.train_samples, test=args.test_samples,
                                    seed=0)
    rng = np.random.default_rng(0)
    (x96, y96), (t96, u96) = (quadrants(args.quadrant_samples[0], rng),
                              quadrants(args.quadrant_samples[1], rng))
    random96 = Dataset(name="quadrants96", source="seeded random, bright quadrant",
                       num_classes=4, x_train=x96, y_train=y96, x_test=t96, y_test=u96)
    settings = {"data": fashion.source, "train_samples": len(fashion.x_train),
                "test_samples": len(fashion.x_test), "quadrant_samples": args.quadrant_samples,
                "calibration_samples": args.calibration_samples, "epochs": args.epochs,
                "activations": args.activations or "calibrated (engine default)"}
    results = {"settings": settings, "targets": TARGETS, "models": {}}
    if not args.no_results:
        results["conditions"] = conditions(kinds=args.kinds)
        earlier = HERE / "results" / f"{args.results_name}.json"
        if args.append and earlier.exists():
            before = json.loads(earlier.read_text())
            before.setdefault("invocations", []).append(
                {"kinds": args.kinds, "settings": settings,
                 "conditions": results["conditions"]})
            results = before
    for name in args.kinds:
        data = random96 if name == "mobilenet" else fashion
        began = time.perf_counter()
        keras.utils.set_random_seed(0)
        model = BUILD[name]()
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(data.x_train, data.y_train, epochs=args.epochs, batch_size=32, verbose=0)
        recipe = {"name": name, "targets": ["float32", "int8"],
                  "stages": [{"kind": "prune", "final_sparsity": 0.5, "epochs": 1},
                             {"kind": "qat", "epochs": 1,
                              **({"activations": args.activations} if args.activations
                                 else {})}],
                  "training": {"batch_size": 32},
                  "calibration": {"samples": args.calibration_samples},
                  "benchmark": {"warmup": 1, "runs": 2}}
        result = compress_model(model, recipe, data=data, out_dir=Path(args.out) / name,
                                overwrite=True)
        int8 = next(a for a in result.report["artifacts"] if a["target"] == "int8")
        path = result.out_dir / int8["path"]
        quant = result.quant_model  # the QAT model the int8 file was exported from
        keras_top1 = np.argmax(np.asarray(quant.predict(data.x_test, verbose=0)), axis=-1)
        agreement = evaluate_tflite(path, data.x_test, keras_top1)
        results["models"][name] = {
            "engine": result.report["engine"], "sparsity": int8["sparsity"],
            "dtypes": sorted(read_model(path.read_bytes()).dtype_counts()),
            "agreement": agreement, "test_samples": len(data.x_test),
            "disagreements": int(round((1 - agreement) * len(data.x_test))),
            "int8_accuracy": int8["accuracy"],
            "keras_accuracy": float(np.mean(keras_top1 == data.y_test)),
            "seconds": round(time.perf_counter() - began, 1)}
        print(json.dumps({name: results["models"][name]}), flush=True)
        if not args.no_results:
            write(results, HERE / "results" / args.results_name)
    loaded = sorted(m for m, module in sys.modules.items() if module is not None
                    and m.split(".")[0] in ("tf_keras", "tensorflow_model_optimization"))
    if loaded:
        raise SystemExit(f"tf_keras/tfmot were imported: {loaded}")
    print(json.dumps(results["models"]))
    return 0


def meets(r: dict) -> dict:
    return {"full_integer": set(r["dtypes"]) <= {"int8", "int32"},
            "sparsity": abs(r["sparsity"] - TARGETS["sparsity"]) <= TARGETS["sparsity_tolerance"],
            "agreement": r["agreement"] >= TARGETS["agreement"]}


def write(results: dict, stem: Path) -> None:
    s = results["settings"]
    later = [f"{', '.join(inv['kinds'])} run again later (replacing the rows above "
             f"it): {describe(inv['conditions'])} Settings: {json.dumps(inv['settings'])}."
             for inv in results.get("invocations", [])]
    lines = ["# Five kinds of Keras 3 model, prune 50 % + QAT, tf_keras and tfmot blocked", "",
             describe(results["conditions"]), "", *[x + "\n" for x in later],
             f"Data: {s['data']} ({s['train_samples']} train / {s['test_samples']} test) for "
             f"the first four; MobileNetV2 on seeded random 96x96 images labelled by the "
             f"quadrant with a bright square ({s['quadrant_samples'][0]} train / "
             f"{s['quadrant_samples'][1]} test). Baselines trained {s['epochs']} epochs here; "
             f"recipe: prune 50 % (1 epoch) + QAT (1 epoch, activations: "
             f"{s.get('activations', 'calibrated (engine default)')}), engine auto, "
             f"{s['calibration_samples']} calibration samples.", "",
             "Targets (issue 13): int8 file full-integer, sparsity within 1 pp of 50 %, top-1 "
             "agreement of the int8 file with the compressed Keras 3 model >= 99 % on the test "
             "split.", "",
             "| model | engine | full-integer | int8 sparsity | agreement | disagreements | "
             "int8 acc | Keras acc | meets | seconds |",
             "|---|---|---|---:|---:|---:|---:|---:|---|---:|"]
    for name, r in results["models"].items():
        ok = meets(r)
        lines.append(f"| {name} | {r['engine']} | {'yes' if ok['full_integer'] else 'no'} | "
                     f"{100 * r['sparsity']:.1f} % | {100 * r['agreement']:.2f} % | "
                     f"{r['disagreements']} of {r['test_samples']} | "
                     f"{100 * r['int8_accuracy']:.2f} % | {100 * r['keras_accuracy']:.2f} % | "
                     f"{'yes' if all(ok.values()) else 'no'} | {r['seconds']:.0f} |")
    missing = [k for k in KINDS if k not in results["models"]]
    if missing:
        lines += ["", f"Not run (partial): {', '.join(missing)}."]
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
