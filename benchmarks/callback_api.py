"""Callback-API figures: EdgeMetricsCallback overhead per epoch, and MirroredStrategy vs one device.

1. Overhead: the demo CNN (``compress.zoo.fashion_cnn``) trained on the bundled subset, in
   ``--repeats`` pairs of runs that alternate a bare run (no EdgeMetricsCallback) and a run
   with ``EdgeMetricsCallback(formats=["int8"])`` (validation: the 2,000 test samples), each a
   fresh model trained ``--epochs`` epochs with seed 0. Epoch wall time is taken from
   ``on_epoch_begin`` to after every ``on_epoch_end`` (so the callback's work counts in the
   "with" epochs); the first epoch of each run (tracing) is left out. The bare epoch is the
   median over all bare runs' epochs; the epoch with the callback the median over the
   callback runs' epochs; overhead = (with - bare) / bare. The callback's own time per call
   (measured inside it) over the bare epoch is reported next to it, as it is less sensitive
   to the machine's load.
2. Distribution: the same prune-50 % recipe through the callback API on one device and under
   ``MirroredStrategy`` over two logical CPUs (a fresh process each, same seed 0); measured
   sparsity and int8 accuracy of each (one run each).

Usage: .venv/bin/python benchmarks/callback_api.py [--epochs 3] [--repeats 3] [--render-only]
Writes benchmarks/results/callback_api.{json,md}.
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


def _timed_run(data, with_callback: bool, epochs: int) -> tuple[list[float], list[float]]:
    """One fresh model trained ``epochs`` epochs; (epoch seconds after the first, callback s)."""
    import compress
    from compress import zoo
    from compress._keras import keras

    model = zoo.fashion_cnn(data.x_train.shape[1:], data.num_classes)
    marks: list[float] = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: marks.append(time.perf_counter()),
        on_epoch_end=lambda e, logs: marks.append(time.perf_counter()))
    callbacks = []
    cb = None
    if with_callback:
        cb = compress.EdgeMetricsCallback(["int8"], validation_data=(data.x_test, data.y_test))
        callbacks.append(cb)
    callbacks.append(timer)  # after the metrics callback: its time counts in the epoch
    zoo.train_baseline(model, data.x_train, data.y_train, epochs=epochs, seed=0,
                       callbacks=callbacks)
    epoch_s = [marks[i + 1] - marks[i] for i in range(0, len(marks), 2)]
    return epoch_s[1:], (list(cb.seconds) if cb is not None else [])


def overhead(epochs: int, repeats: int) -> dict:
    from calibration import sources

    data = sources.load_dataset("fashion-mnist-subset")
    runs = []
    for r in range(repeats):
        order = (False, True) if r % 2 == 0 else (True, False)
        for with_callback in order:
            epoch_s, cb_s = _timed_run(data, with_callback, epochs)
            runs.append({"repeat": r, "with_callback": with_callback, "epoch_s": epoch_s,
                         "callback_s": cb_s})
            print(f"  repeat {r + 1}/{repeats} {'with' if with_callback else 'bare'}: "
                  f"epochs {', '.join(f'{t:.1f}' for t in epoch_s)} s"
                  + (f"; callback {', '.join(f'{t:.1f}' for t in cb_s)} s" if cb_s else ""),
                  flush=True)
    bare = statistics.median(t for run in runs if not run["with_callback"] for t in run["epoch_s"])
    with_cb = statistics.median(t for run in runs if run["with_callback"] for t in run["epoch_s"])
    # the callback's calls at the end of the timed epochs (2..n), like the epoch figures
    per_call = statistics.median(t for run in runs for t in run["callback_s"][1:])
    return {"epochs_per_run": epochs, "repeats": repeats,
            "epochs_timed": "epochs 2..n of each run (the first, with tracing, left out)",
            "data": data.source,
            "validation_samples": len(data.x_test), "formats": ["int8"],
            "calibration_samples": 100, "seed": 0, "batch_size": 128,
            "bare_epoch_s_median": bare, "with_callback_epoch_s_median": with_cb,
            "callback_s_per_call_median": per_call,
            "overhead_fraction": (with_cb - bare) / bare,
            "callback_s_over_bare_epoch": per_call / bare,
            "runs": runs}


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


def render(results: dict) -> str:
    o, d, c = results["overhead"], results["distributed"], results["conditions"]
    bare_n = sum(len(r["epoch_s"]) for r in o["runs"] if not r["with_callback"])
    with_n = sum(len(r["epoch_s"]) for r in o["runs"] if r["with_callback"])
    calls = sum(len(r["callback_s"][1:]) for r in o["runs"])
    bare = o["bare_epoch_s_median"]
    residual = o["with_callback_epoch_s_median"] - bare - o["callback_s_per_call_median"]
    return (
        "# Callback API: EdgeMetricsCallback overhead, MirroredStrategy vs one device\n\n"
        f"{describe(c, load_after=results['load_after'])}\n\n"
        f"**Overhead.** `EdgeMetricsCallback(formats=[\"int8\"])` on the demo CNN "
        f"(`compress.zoo.fashion_cnn`), {o['data']}, batch {o['batch_size']}, seed "
        f"{o['seed']}; the callback converts to int8 ({o['calibration_samples']} calibration "
        f"samples) and evaluates {o['validation_samples']} samples with LiteRT each epoch. "
        f"{o['repeats']} alternating pairs of runs (bare, then with the callback; the order "
        f"swapped each pair), {o['epochs_per_run']} epochs each, timing {o['epochs_timed']}:\n\n"
        "| figure | median | from |\n|---|---:|---|\n"
        f"| bare epoch (no callback) | {o['bare_epoch_s_median']:.2f} s | {bare_n} epochs |\n"
        f"| epoch with the callback | {o['with_callback_epoch_s_median']:.2f} s | "
        f"{with_n} epochs |\n"
        f"| callback's own time per call | {o['callback_s_per_call_median']:.2f} s | "
        f"{calls} calls (epochs 2..n) |\n"
        f"| overhead = (with - bare) / bare | {100 * o['overhead_fraction']:+.0f} % | |\n"
        f"| callback time / bare epoch | {100 * o['callback_s_over_bare_epoch']:.0f} % | |\n"
        f"| with - bare - callback's own time | {residual:+.2f} s | |\n\n"
        + ("The epochs with the callback are longer than a bare epoch plus the callback's own "
           "time: training itself ran slower in the callback runs (not investigated further; "
           "on a shared machine part of it may be load).\n\n" if residual > 0.1 * bare else "")
        + "Per run (seconds of epochs 2..n; then the callback's seconds per call, every epoch):\n\n"
        + "".join(f"- repeat {r['repeat'] + 1}, {'with' if r['with_callback'] else 'bare'}: "
                  f"{', '.join(f'{t:.2f}' for t in r['epoch_s'])}"
                  + (f"; {', '.join(f'{t:.2f}' for t in r['callback_s'])}"
                     if r["callback_s"] else "") + "\n" for r in o["runs"])
        + "\n**Distribution.** Prune 50 % (2 epochs after a 3-epoch baseline, seed 0, bundled "
        "subset) through the callback API, one run each: single device sparsity "
        f"{d['single']['sparsity']:.4f}, int8 accuracy {100 * d['single']['accuracy']:.2f} %; "
        "MirroredStrategy (2 logical CPUs) sparsity "
        f"{d['mirrored']['sparsity']:.4f}, int8 accuracy {100 * d['mirrored']['accuracy']:.2f} % "
        f"(Δ {d['accuracy_delta_pp']:+.2f} pp).\n\n"
        f"Reproduce: `.venv/bin/python benchmarks/callback_api.py --epochs "
        f"{o['epochs_per_run']} --repeats {o['repeats']}`\n")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (>= 2)")
    parser.add_argument("--repeats", type=int, default=3, help="bare/with pairs of runs")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite callback_api.md from callback_api.json; run nothing")
    args = parser.parse_args()
    if args.render_only:
        md = render(json.loads((HERE / "results" / "callback_api.json").read_text()))
        (HERE / "results" / "callback_api.md").write_text(md)
        print(md)
        return 0
    if args.epochs < 2:
        parser.error("--epochs must be >= 2 (the first epoch is not timed)")
    cond = conditions()
    results = {"conditions": cond, "overhead": overhead(args.epochs, args.repeats),
               "distributed": distributed()}
    results["load_after"] = round(os.getloadavg()[0], 2)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "callback_api.json").write_text(json.dumps(results, indent=2) + "\n")
    md = render(results)
    (HERE / "results" / "callback_api.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
