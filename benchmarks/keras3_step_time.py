"""Where training time goes: keras3 engine vs tfmot engine, plain fit vs prune vs QAT.

One Keras 3 baseline file (its tf_keras twin for the tfmot engine), the first ``--samples``
training images of the data, batch 128. Per round, in alternating order, each configuration
trains from the baseline file:

* ``fit``: the engine's own ``fit`` (Adam, the same loss), no edgecompress stage: for keras3
  that is ``model.fit`` with BatchNormalization on TensorFlow's fused kernel
  (``compress.engines.keras3_bn``), for tfmot tf_keras' ``model.fit``;
* ``keras-fit`` (``--keras-fit``): Keras 3's own ``model.fit`` on the keras3 model against
  tf_keras' on its twin, for reference (no edgecompress code in the step);
* ``prune``: a ``prune`` stage (75 %, polynomial) through ``Session.train``;
* ``qat``: a ``qat`` stage through ``Session.train``;

on each engine, ``--epochs`` epochs each (the first includes tracing, as in a real run).
Seconds are the training call's wall time; the median over rounds is kept and the
keras3 / tfmot ratio given per configuration.

Usage:
    .venv/bin/python benchmarks/keras3_step_time.py --baseline FILE.keras [--samples 15360]
        [--epochs 2] [--rounds 3] [--results-name keras3_step_time]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from functools import partial
from pathlib import Path

from _conditions import conditions, describe

HERE = Path(__file__).resolve().parent
STAGES = {"prune": {"kind": "prune", "final_sparsity": 0.75, "schedule": "polynomial"},
          "qat": {"kind": "qat"}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--samples", type=int, default=15360)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--results-name", default="keras3_step_time")
    parser.add_argument("--keras-fit", action="store_true",
                        help="also time Keras 3's own model.fit (unfused BatchNormalization)")
    args = parser.parse_args()

    from calibration import sources

    data = sources.load_dataset(args.data)
    x, y = data.x_train[:args.samples], data.y_train[:args.samples]
    results = {"conditions": conditions(samples=len(x), epochs=args.epochs, rounds=args.rounds,
                                        batch_size=128, baseline=args.baseline),
               "data": data.source, "seconds": {}, "order": []}
    kinds = ("keras-fit",) * args.keras_fit + ("fit", "prune", "qat")
    configs = [(kind, engine) for kind in kinds
               for engine in ("keras3", "tfmot")]
    for r in range(args.rounds):
        order = configs if r % 2 == 0 else configs[::-1]
        for kind, engine in order:
            seconds = run(kind, engine, args.baseline, x, y, args.epochs)
            results["seconds"].setdefault(f"{kind}/{engine}", []).append(seconds)
            results["order"].append(f"{kind}/{engine}")
            print(json.dumps({"round": r, "config": f"{kind}/{engine}", "seconds": seconds}),
                  flush=True)
            write(results, args.results_name)
    print((HERE / "results" / f"{args.results_name}.md").read_text())
    return 0


def run(kind: str, engine: str, baseline: str, x, y, epochs: int) -> float:
    from compress.engines import get_engine
    from compress.models import load_model
    from compress.session import Session

    model, _ = load_model(baseline, native_keras3=engine == "keras3")
    if kind in ("fit", "keras-fit"):
        eng = get_engine(engine)
        eng.compile(model, learning_rate=1e-3, probabilities=False)
        fit = model.fit if kind == "keras-fit" else partial(eng.fit, model)
        began = time.perf_counter()
        fit(x, y, batch_size=128, epochs=epochs, verbose=0)
        return time.perf_counter() - began
    session = Session({"name": "t", "engine": engine, "targets": ["int8"],
                       "training": {"batch_size": 128},
                       "stages": [{**STAGES[kind], "epochs": epochs}]})
    trained = session.train(model, x, y)
    return trained.stages[0].seconds


def write(results: dict, name: str) -> None:
    med = {k: statistics.median(v) for k, v in results["seconds"].items()}
    c = results["conditions"]
    lines = ["# Training time: keras3 vs tfmot engine, plain fit vs prune vs QAT", "",
             describe(c), "",
             f"Data: {results['data']}, first {c['samples']} training images, batch 128, "
             f"{c['epochs']} epochs per training call (the first includes tracing); "
             f"baseline `{c['baseline']}`. Configurations alternate, order reversed every "
             f"round; median over {len(next(iter(results['seconds'].values())))} round(s).",
             "", "| training | keras3 s | tfmot s | keras3 / tfmot | keras3 runs | tfmot runs |",
             "|---|---:|---:|---:|---|---|"]
    for kind in ("keras-fit", "fit", "prune", "qat"):
        k, t = med.get(f"{kind}/keras3"), med.get(f"{kind}/tfmot")
        if k is None or t is None:
            continue
        runs = [", ".join(f"{v:.1f}" for v in results["seconds"][f"{kind}/{e}"])
                for e in ("keras3", "tfmot")]
        lines.append(f"| {kind} | {k:.1f} | {t:.1f} | {k / t:.2f}x | {runs[0]} | {runs[1]} |")
    stem = HERE / "results" / name
    stem.with_suffix(".json").write_text(json.dumps({**results, "median": med}, indent=2) + "\n")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
