"""Callback-API figures: EdgeMetricsCallback overhead per epoch, and MirroredStrategy vs one device.

1. Overhead: the demo CNN on the bundled subset, epochs with and without
   ``EdgeMetricsCallback(formats=["int8"])``; per-epoch seconds (median of the epochs after the
   first) and the callback's own seconds per call.
2. Distribution: the same prune-50 % recipe through the callback API on one device and under
   ``MirroredStrategy`` over two logical CPUs (a fresh process each, same seed); measured
   sparsity and int8 accuracy of each.

Usage: .venv/bin/python benchmarks/callback_api.py [--epochs 4]
Writes benchmarks/results/callback_api.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

DIST = r"""
import json, sys
from compress import _keras
tf, keras = _keras.tf, _keras.keras
mirrored = sys.argv[2] == "mirrored"
if mirrored:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
import compress
from calibration import sources
from compress import zoo
_keras.set_seed(0)
data = sources.load_dataset("fashion-mnist-subset")
recipe = {"name": "p50", "stages": [{"kind": "prune", "final_sparsity": 0.5, "epochs": 2}],
          "targets": ["int8"]}
base = zoo.fashion_cnn()
zoo.train_baseline(base, data.x_train, data.y_train, epochs=3, seed=0)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]) if mirrored else \
    tf.distribute.get_strategy()
session = compress.Session(recipe, data=data)
with strategy.scope():
    model = zoo.fashion_cnn()
    model.set_weights(base.get_weights())
    model = session.prepare(model)
    model.compile(optimizer=keras.optimizers.Adam(1e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
model.fit(data.x_train, data.y_train, epochs=2, batch_size=128, verbose=0,
          callbacks=[session.callback()])
art = session.finalize(model, out_dir=sys.argv[1]).report["artifacts"][0]
print("RESULT " + json.dumps({"sparsity": art["sparsity"], "accuracy": art["accuracy"]}))
"""


def overhead(epochs: int) -> dict:
    import compress
    from calibration import sources
    from compress import zoo
    from compress._keras import keras

    data = sources.load_dataset("fashion-mnist-subset")
    times = {}
    per_call = []
    for mode in ("without", "with"):
        model = zoo.fashion_cnn()
        marks: list[float] = []
        timer = keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda e, logs: marks.append(time.perf_counter()),
            on_epoch_end=lambda e, logs: marks.append(time.perf_counter()))
        callbacks = []
        cb = None
        if mode == "with":
            cb = compress.EdgeMetricsCallback(["int8"], validation_data=(data.x_test, data.y_test))
            callbacks.append(cb)
        callbacks.append(timer)  # after the metrics callback: its time counts in the epoch
        zoo.train_baseline(model, data.x_train, data.y_train, epochs=epochs, seed=0,
                           callbacks=callbacks)
        epoch_s = [marks[i + 1] - marks[i] for i in range(0, len(marks), 2)]
        times[mode] = statistics.median(epoch_s[1:])
        if cb is not None:
            per_call = cb.seconds
    return {"epoch_s_without": times["without"], "epoch_s_with": times["with"],
            "callback_s_per_call_median": statistics.median(per_call),
            "overhead_fraction": times["with"] / times["without"] - 1.0,
            "epochs": epochs, "data": "bundled subset (9000 train / 2000 test)"}


def distributed() -> dict:
    out = {}
    for mode in ("single", "mirrored"):
        with tempfile.TemporaryDirectory() as tmp:
            res = subprocess.run([sys.executable, "-c", DIST, str(Path(tmp) / "o"), mode],
                                 capture_output=True, text=True, check=True)
        line = next(ln for ln in res.stdout.splitlines() if ln.startswith("RESULT "))
        out[mode] = json.loads(line[7:])
    out["accuracy_delta_pp"] = 100 * (out["mirrored"]["accuracy"] - out["single"]["accuracy"])
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    results = {"overhead": overhead(args.epochs), "distributed": distributed()}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "callback_api.json").write_text(json.dumps(results, indent=2) + "\n")
    o, d = results["overhead"], results["distributed"]
    md = (f"EdgeMetricsCallback(int8) on the demo CNN, bundled subset, {o['epochs']} epochs "
          f"(median of epochs 2..n): {o['epoch_s_without']:.1f} s/epoch without, "
          f"{o['epoch_s_with']:.1f} s/epoch with (+{100 * o['overhead_fraction']:.0f} %); "
          f"{o['callback_s_per_call_median']:.1f} s per call (convert + evaluate 2000 samples).\n\n"
          f"Prune 50 % via the callback API: single device sparsity "
          f"{d['single']['sparsity']:.4f}, int8 accuracy {d['single']['accuracy']:.4f}; "
          f"MirroredStrategy (2 logical CPUs) sparsity {d['mirrored']['sparsity']:.4f}, "
          f"int8 accuracy {d['mirrored']['accuracy']:.4f} "
          f"(Δ {d['accuracy_delta_pp']:+.2f} pp).\n")
    (HERE / "results" / "callback_api.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
