"""Where Keras 3's training step loses to tf_keras's on a CPU: BatchNormalization.

``compress.zoo.fashion_cnn`` (Conv-BN-ReLU blocks) trained one step at a time on random
28x28 images, batch 128, Adam, in a fresh process per configuration:

* ``tf_keras``: tf_keras' ``model.fit`` (its BatchNormalization calls the fused kernel);
* ``keras3``: Keras 3's own ``model.fit`` (moments and normalization as separate ops);
* ``keras3 engine``: the keras3 engine's ``fit`` (``compress.engines.keras3_bn``: the fused
  kernel while the engine trains);
* the same CNN without its BatchNormalization layers on tf_keras and on Keras 3, to show
  what is left when BN is out of the picture.

Each configuration runs ``--epochs`` epochs of ``--steps`` steps; the first epoch (tracing)
is dropped and the median epoch gives ms per step. Configurations alternate, in reversed order
every other round; the median over rounds is reported, with each ratio to tf_keras.

Usage:
    .venv/bin/python benchmarks/keras3_bn_step.py [--rounds 3] [--steps 60] [--epochs 4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _conditions import conditions, describe

HERE = Path(__file__).resolve().parent
CONFIGS = ("tf_keras", "keras3", "keras3 engine", "tf_keras, no BN", "keras3, no BN")


def child(config: str, steps: int, epochs: int) -> float:
    """Train once in this process; the median steady epoch in ms per step."""
    import time

    import numpy as np

    if config.startswith("tf_keras"):
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        import tf_keras as keras
    else:
        import keras
    from compress.zoo import fashion_cnn

    keras.utils.set_random_seed(0)
    if config.endswith("no BN"):
        inp = keras.Input((28, 28, 1))
        x = inp
        for filters in (32, 64):
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = keras.layers.MaxPooling2D()(keras.layers.ReLU()(x))
        x = keras.layers.Dropout(0.3)(keras.layers.Flatten()(x))
        x = keras.layers.Dense(128, activation="relu")(x)
        model = keras.Model(inp, keras.layers.Dense(10)(x))
    else:
        model = fashion_cnn(keras=keras)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.random((128 * steps, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.began)

    if config == "keras3 engine":
        from compress.engines import get_engine

        get_engine("keras3").fit(model, x, y, batch_size=128, epochs=epochs, verbose=0,
                                 callbacks=[Timer()])
    else:
        model.fit(x, y, batch_size=128, epochs=epochs, verbose=0, callbacks=[Timer()])
    return 1000 * statistics.median(times[1:]) / steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps({"ms_per_step": child(args.child, args.steps, args.epochs)}))
        return 0

    results = {"conditions": conditions(rounds=args.rounds, steps=args.steps,
                                        epochs=args.epochs, batch_size=128),
               "ms_per_step": {c: [] for c in CONFIGS}}
    root = HERE.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root), os.environ.get("PYTHONPATH", "")]), "TF_CPP_MIN_LOG_LEVEL": "3"}
    for r in range(args.rounds):
        for config in (CONFIGS if r % 2 == 0 else CONFIGS[::-1]):
            out = subprocess.run([sys.executable, __file__, "--child", config, "--steps",
                                  str(args.steps), "--epochs", str(args.epochs)],
                                 env=env, capture_output=True, text=True, check=True)
            ms = json.loads(out.stdout.strip().splitlines()[-1])["ms_per_step"]
            results["ms_per_step"][config].append(ms)
            print(json.dumps({"round": r, "config": config, "ms_per_step": round(ms, 1)}),
                  flush=True)
    med = {c: statistics.median(v) for c, v in results["ms_per_step"].items()}
    results["median_ms_per_step"] = med
    lines = ["# Training step on a CPU: Keras 3 vs tf_keras, and BatchNormalization", "",
             describe(results["conditions"]), "",
             f"`fashion_cnn` (two Conv-BN-ReLU blocks), random data, batch 128, Adam; "
             f"{args.epochs} epochs of {args.steps} steps per process, the first (tracing) "
             f"dropped; median over {args.rounds} alternating rounds.", "",
             "| training | ms / step | vs tf_keras | runs |", "|---|---:|---:|---|"]
    for config in CONFIGS:
        ref = med["tf_keras, no BN" if config.endswith("no BN") else "tf_keras"]
        runs = ", ".join(f"{v:.1f}" for v in results["ms_per_step"][config])
        lines.append(f"| {config} | {med[config]:.1f} | {med[config] / ref:.2f}x | {runs} |")
    stem = HERE / "results" / "keras3_bn_step"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
