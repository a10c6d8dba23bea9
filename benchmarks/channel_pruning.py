"""Channel pruning (issue 14): fewer MACs and lower latency, not just more zeros.

Foundation CNN (``compress.zoo.fashion_cnn``, Keras 3, trained once on the data), per seed,
on the keras3 engine:

* ``unpruned``: qat 1 epoch -> int8 (the reference int8 artifact);
* ``channels``: prune_channels keep_macs 0.5 (sensitivity allocation, round_to 8, 2 recovery
  epochs) -> qat 1 epoch -> int8;
* ``channels+magnitude``: the same cut, then prune (magnitude) 0.75 -> qat -> int8; its raw
  int8 file size against the float32 artifact of the original model;
* ``channels+fc1+magnitude``: the same cut, then a second prune_channels stage that removes
  25 % of fc1's channels (fc1, the Dense after Flatten, holds most of the parameters, and a
  dense ``.tflite`` only shrinks with fewer parameters), then prune (magnitude) 0.5 -> qat ->
  int8; its raw int8 file against the float32 ``.tflite`` of the original model
  (``report.json`` ``baseline.tflite_float32``).

MACs are read from each ``.tflite`` graph (``targets.tflite_graph``). Host latency: our runner
(``targets/runner.py``), 1 thread, the pruned and the unpruned int8 file alternating in one
run (order flipped every round), p50 per round, median over rounds.

MobileNetV2 (alpha 0.35, 96x96, weights=None, Keras 3), trained briefly on Fashion-MNIST
resized to 96x96x3: ``keep_macs 0.5`` (uniform), 1 fine-tune epoch, int8 (post-training) for
both, host p50 latency alternating as above.

Usage:
    .venv/bin/python benchmarks/channel_pruning.py [--seeds 0 1 2] [--epochs 5]
        [--data fashion-mnist] [--out runs/channel_pruning] [--skip-mobilenet]
        [--recipes NAME ...] [--baseline FILE] [--append [--note TEXT]]

Writes ``benchmarks/results/channel_pruning.{json,md}`` after every run (a partial run says
what it covers). ``--append`` keeps that file's runs and summary and adds this invocation's
runs as its own section (``appended``: its conditions, baseline file and sha256, recipes;
more seeds of the same recipes on the same baseline file join that section, so its table and
mean cover them all); MobileNetV2 is not run then. Host x86 latency is not a device figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from _baseline import train_keras3_cnn
from _conditions import conditions, describe

HERE = Path(__file__).resolve().parent
CUT = {"kind": "prune_channels", "keep_macs": 0.5, "allocation": "sensitivity",
       "importance": "l1", "round_to": 8, "epochs": 2, "learning_rate": 5e-4}
FC1_CUT = {"kind": "prune_channels", "ratio": 0.25, "layers": {"include": ["fc1"]},
           "importance": "l1", "round_to": 8, "epochs": 1, "learning_rate": 5e-4}
RECIPES = {
    "unpruned": [{"kind": "qat", "epochs": 1}],
    "channels": [CUT, {"kind": "qat", "epochs": 1}],
    "channels+magnitude": [CUT, {"kind": "prune", "final_sparsity": 0.75, "epochs": 2,
                                 "learning_rate": 5e-4}, {"kind": "qat", "epochs": 1}],
    "channels+fc1+magnitude": [CUT, FC1_CUT, {"kind": "prune", "final_sparsity": 0.5,
                                              "epochs": 2, "learning_rate": 5e-4},
                               {"kind": "qat", "epochs": 1}],
}
TARGETS = {"unpruned": ["float32", "int8"], "channels": ["float32", "int8"],
           "channels+magnitude": ["int8"], "channels+fc1+magnitude": ["int8"]}
#: the size acceptance line: raw int8 file vs the original model's float32 .tflite
SIZE_TARGET = {"raw_x": 8.0, "max_loss_pp": 0.5}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=5, help="baseline training epochs")
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--out", default="runs/channel_pruning")
    parser.add_argument("--rounds", type=int, default=9, help="latency rounds (alternating)")
    parser.add_argument("--runs", type=int, default=300, help="timed invokes per round")
    parser.add_argument("--baseline", default=None,
                        help="a trained Keras 3 fashion_cnn .keras file to use instead of training "
                             "one (recorded with its sha256)")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse run folders an earlier invocation finished (report.json)")
    parser.add_argument("--skip-mobilenet", action="store_true")
    parser.add_argument("--mobilenet-samples", type=int, default=4000)
    parser.add_argument("--mobilenet-first", action="store_true")
    parser.add_argument("--results-name", default="channel_pruning")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES),
                        help="run only these recipes (host latency needs unpruned and channels)")
    parser.add_argument("--append", action="store_true",
                        help="add these runs to the existing results file as a later "
                             "invocation with its own conditions and baseline (its earlier "
                             "runs and summary are kept); MobileNetV2 is not run")
    parser.add_argument("--note", action="append", default=[],
                        help="a sentence for the results file (with --append)")
    args = parser.parse_args()


    from calibration import sources

    data = sources.load_dataset(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cond = conditions(seeds=args.seeds, rounds=args.rounds, runs=args.runs,
                      recipes=args.recipes)
    baseline, baseline_info = prepare_baseline(out, data, args)
    if args.append:
        return append(baseline, baseline_info, data, out, cond, args)
    results = {"conditions": cond,
               "data": data.source, "recipes": {n: RECIPES[n] for n in args.recipes},
               "foundation": [], "mobilenet": None,
               "planned": {"seeds": args.seeds, "mobilenet": not args.skip_mobilenet},
               "baseline": baseline_info}
    write(results, args.results_name)
    if args.mobilenet_first and not args.skip_mobilenet:
        results["mobilenet"] = mobilenet(data, out, args)
        write(results, args.results_name)
    for seed in args.seeds:
        foundation_seed(baseline, data, out, seed, args, results)
        write(results, args.results_name)
        if seed == args.seeds[0] and not args.skip_mobilenet and not args.mobilenet_first:
            results["mobilenet"] = mobilenet(data, out, args)
            write(results, args.results_name)
    print(write(results, args.results_name, done=True))
    return 0


def prepare_baseline(out: Path, data, args) -> tuple[Path, dict]:
    """``out/baseline_keras3.keras``: a copy of ``--baseline`` (recorded with its sha256), an
    earlier invocation's, or trained here."""
    baseline = out / "baseline_keras3.keras"
    if args.baseline and not baseline.exists():
        import hashlib
        import shutil

        shutil.copyfile(args.baseline, baseline)
        (out / "baseline.json").write_text(json.dumps({
            "file": str(args.baseline), "epochs": args.epochs,
            "sha256": hashlib.sha256(baseline.read_bytes()).hexdigest(),
            "note": "trained elsewhere (given with --baseline), not by this run"}))
    if baseline.exists():
        return baseline, json.loads((out / "baseline.json").read_text())
    model, seconds = train_keras3_cnn(data, args.epochs)
    info = {"epochs": args.epochs, "train_seconds": round(seconds, 1)}
    model.save(str(baseline))
    (out / "baseline.json").write_text(json.dumps(info))
    return baseline, info


def append(baseline: Path, baseline_info: dict, data, out: Path, cond: dict, args) -> int:
    """Runs ``args.recipes`` over ``args.seeds`` and adds them to the existing results file
    as one ``appended`` invocation (its own conditions, baseline, recipes, notes)."""
    path = HERE / "results" / f"{args.results_name}.json"
    if not path.exists():
        raise SystemExit(f"--append needs an existing results file. Received: {path} absent")
    results = json.loads(path.read_text())
    done = bool(results.get("complete"))  # the earlier runs' state: appending does not change it
    recipes = {n: RECIPES[n] for n in args.recipes}
    same = [inv for inv in results.get("appended", []) if inv["recipes"] == recipes
            and inv["data"] == data.source
            and inv["baseline"].get("sha256") == baseline_info.get("sha256")]
    if same:  # more seeds of the same recipes on the same baseline: one table, one mean
        inv = same[-1]
        inv["invocations"].append(cond)
        inv["notes"].extend(args.note)
        inv["planned"]["seeds"] += [s for s in args.seeds if s not in inv["planned"]["seeds"]]
    else:
        inv = {"conditions": cond, "invocations": [cond], "data": data.source,
               "baseline": baseline_info, "recipes": recipes,
               "targets": {n: TARGETS[n] for n in args.recipes}, "notes": list(args.note),
               "planned": {"seeds": list(args.seeds)}, "foundation": []}
        results.setdefault("appended", []).append(inv)
    for seed in args.seeds:
        foundation_seed(baseline, data, out, seed, args, inv,
                        save=lambda: write(results, args.results_name, done=done))
        write(results, args.results_name, done=done)
    inv["complete"] = sorted(r["seed"] for r in inv["foundation"] if "error" not in r) == \
        sorted(inv["planned"]["seeds"])
    print(write(results, args.results_name, done=done))
    return 0


def foundation_seed(baseline: Path, data, out: Path, seed: int, args, results: dict, *,
                    save=None) -> dict:
    """``args.recipes`` on one seed, appended to ``results["foundation"]``; ``save()`` writes
    the results file after each run (default: ``write(results, ...)``)."""
    from compress.pipeline import compress_model
    from targets.tflite_graph import read_model

    row: dict = {"seed": seed, "runs": {}}
    results["foundation"].append(row)  # visible in partial writes
    try:
        for name in args.recipes:
            stages = RECIPES[name]
            recipe = {"name": name, "seed": seed, "engine": "keras3", "stages": stages,
                      "targets": TARGETS[name], "benchmark": {"warmup": 5, "runs": 50}}
            run_dir = out / f"{name.replace('+', '_')}-s{seed}"
            start = time.perf_counter()
            if args.reuse and (run_dir / "report.json").exists():  # an earlier invocation's
                report = json.loads((run_dir / "report.json").read_text())
                model = None
            else:
                result = compress_model(str(baseline), recipe, data=data, overwrite=True,
                                        out_dir=run_dir)
                report, model = result.report, result.model
            arts = {a["format"]: a for a in report["artifacts"]}
            entry = {"seconds": round(time.perf_counter() - start, 1) if model is not None
                     else round(report["timings"]["total_s"], 1), "reused": model is None,
                     "baseline_accuracy": report["baseline"]["accuracy"],
                     "baseline_float32_size_bytes": report["baseline"].get("size_bytes"),
                     "original_tflite_float32_size_bytes":
                         (report["baseline"].get("tflite_float32") or {}).get("size_bytes"),
                     "dir": str(run_dir)}
            for fmt, art in arts.items():
                path = run_dir / "artifacts" / f"{art['target']}.tflite"
                entry[fmt] = {"accuracy": art["accuracy"], "size_bytes": art["size_bytes"],
                              "macs": int(read_model(path).macs()["total"]),
                              "path": str(path)}
            if report.get("channel_pruning"):  # the run's own comparison (report.json)
                entry["run_host_latency_vs_unpruned"] = report["channel_pruning"]["host_latency"]
            cuts = [{**{k: s[k] for k in ("macs_before", "macs_after", "macs_kept",
                                          "params_before", "params_after", "groups")},
                     "recovery_history": s.get("history")}
                    for s in report["stages"] if s["kind"] == "prune_channels"]
            if cuts:
                entry["cut"] = cuts[0]
            if len(cuts) > 1:
                entry["later_cuts"] = cuts[1:]
            if name == "channels+magnitude":
                try:
                    if model is None:
                        import keras

                        model = keras.models.load_model(run_dir / "model" / "model.keras")
                    entry["int8_sparse_encoded"] = sparse_int8(model, data, run_dir)
                except Exception as exc:  # the rest of the seed still counts
                    entry["int8_sparse_encoded_error"] = f"{type(exc).__name__}: {exc}"[:500]
            row["runs"][name] = entry
            print(json.dumps({"seed": seed, "run": name, **{k: v for k, v in entry.items()
                                                            if k in ("int8", "seconds")}}),
                  flush=True)
            (save or (lambda: write(results, args.results_name)))()
        runs = row["runs"]
        if "channels" in runs and "unpruned" in runs:
            row["latency"] = alternate({"channels": runs["channels"]["int8"]["path"],
                                        "unpruned": runs["unpruned"]["int8"]["path"]},
                                       rounds=args.rounds, runs=args.runs)
    except Exception as exc:  # keep what finished; say what failed
        row["error"] = f"{type(exc).__name__}: {str(exc)[:500]}"
        print(row["error"], flush=True)
    return row


def sparse_int8(model, data, run_dir: Path) -> dict:
    """The run's pruned float model (after its magnitude stage, before QAT: the run keeps no
    QAT model file) converted to int8 post-training with the converter's sparse weight
    encoding (``EXPERIMENTAL_SPARSITY``), which ``.tflite`` needs for zeros to shrink the raw
    file; accuracy with our runner on the test split."""
    import sys

    import tensorflow as tf

    sys.path.insert(0, str(HERE.parent))
    from targets import runner

    rep = data.x_train[:200]
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT, tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    conv.representative_dataset = lambda: ([r[None].astype("float32")] for r in rep)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    blob = conv.convert()
    path = run_dir / "int8_sparse_encoded.tflite"
    path.write_bytes(blob)
    # XNNPACK (the runner's default delegate) refuses the sparse FULLY_CONNECTED: the builtin
    # kernels run it
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_path=str(path), num_threads=1,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    xq = runner.quantize_input(data.x_test.astype("float32"), inp)
    pred = []
    for k in range(len(xq)):
        interp.set_tensor(inp["index"], xq[k:k + 1])
        interp.invoke()
        pred.append(int(np.argmax(interp.get_tensor(out["index"])[0])))
    acc = float(np.mean(np.asarray(pred) == data.y_test))
    return {"size_bytes": len(blob), "accuracy": acc, "path": str(path),
            "runtime": "ai-edge-litert builtin kernels, no XNNPACK (it refuses the sparse "
                       "FULLY_CONNECTED)",
            "how": "post-training int8 of the run's float model after the prune stage, "
                   "EXPERIMENTAL_SPARSITY weight encoding"}


def alternate(paths: dict[str, str], *, rounds: int, runs: int) -> dict:
    """p50 latency (ms) per round of each file with our runner, 1 thread, alternating."""
    import sys

    sys.path.insert(0, str(HERE.parent))
    from targets import runner

    names = list(paths)
    p50: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            res = runner.benchmark(paths[name], warmup=30, runs=runs, threads=1)
            p50[name].append(res["latency_ms"]["p50"])
    med = {n: statistics.median(v) for n, v in p50.items()}
    return {"threads": 1, "rounds": rounds, "runs_per_round": runs, "p50_ms_per_round": p50,
            "median_p50_ms": med, "speedup": med[names[1]] / med[names[0]]}


def mobilenet(data, out: Path, args) -> dict:
    """MobileNetV2 0.35 96x96: keep_macs 0.5 uniform, int8 PTQ, host latency alternating."""
    import keras
    import tensorflow as tf

    from compress import channels
    from compress.artifacts import export
    from compress.recipe import TargetSpec
    from targets.tflite_graph import read_model

    rng = np.random.default_rng(0)
    idx = rng.choice(len(data.x_train), min(args.mobilenet_samples, len(data.x_train)),
                     replace=False)

    def prep(x):
        x = tf.image.resize(x, (96, 96)).numpy()
        return np.repeat(x, 3, axis=-1).astype("float32")

    x, y = prep(data.x_train[idx]), data.y_train[idx]
    xt, yt = prep(data.x_test[:1000]), data.y_test[:1000]
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None,
                                           classes=data.num_classes, classifier_activation=None)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(1e-3), loss, metrics=["accuracy"])
    t0 = time.perf_counter()
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    train_s = time.perf_counter() - t0
    acc = model.evaluate(xt, yt, verbose=0)[1]
    shrunk = channels.shrink(model, keep_macs=0.5, round_to=8, allocation="uniform")
    small = shrunk.model
    small.compile(keras.optimizers.Adam(5e-4), loss, metrics=["accuracy"])
    small.fit(x, y, epochs=1, batch_size=64, verbose=0)
    acc_small = small.evaluate(xt, yt, verbose=0)[1]
    rep = x[:200]
    paths, info = {}, {}
    for name, m in (("channels", small), ("unpruned", model)):
        blob = export.convert(m, TargetSpec("int8"), representative=rep)
        path = out / f"mobilenet_v2_{name}_int8.tflite"
        path.write_bytes(blob)
        paths[name] = str(path)
        info[name] = {"macs": int(read_model(blob).macs()["total"]), "size_bytes": len(blob)}
    latency = alternate(paths, rounds=args.rounds, runs=max(50, args.runs // 3))
    return {"model": "MobileNetV2 alpha 0.35 96x96 weights=None", "train_samples": len(x),
            "train_epochs": 2, "train_seconds": round(train_s, 1),
            "keras_accuracy": {"unpruned": acc, "channels": acc_small, "test_samples": 1000},
            "cut": {k: shrunk.details[k] for k in ("macs_before", "macs_after", "macs_kept",
                                                  "params_before", "params_after")},
            "int8": info, "macs_ratio": info["unpruned"]["macs"] / info["channels"]["macs"],
            "latency": latency}


def summary(results: dict) -> dict:
    rows = [r for r in results["foundation"]
            if "latency" in r and "channels+magnitude" in r["runs"]]
    if not rows:
        return {}
    def mean(f):
        return statistics.mean(f(r) for r in rows)
    base = mean(lambda r: r["runs"]["unpruned"]["baseline_accuracy"])
    sparse_rows = [r for r in rows if "int8_sparse_encoded" in r["runs"]["channels+magnitude"]]

    def mean_sparse(f):
        return statistics.mean(f(r) for r in sparse_rows) if sparse_rows else None
    out = {
        "seeds": [r["seed"] for r in rows],
        "baseline_accuracy": base,
        "macs_ratio_int8": mean(lambda r: r["runs"]["unpruned"]["int8"]["macs"]
                                / r["runs"]["channels"]["int8"]["macs"]),
        "mean_int8_accuracy": {"unpruned": mean(lambda r: r["runs"]["unpruned"]["int8"]["accuracy"]),
                               "channels": mean(lambda r: r["runs"]["channels"]["int8"]["accuracy"])},
        "latency_speedup": statistics.median(r["latency"]["speedup"] for r in rows),
        "magnitude": {
            "size_ratio_vs_float32_original": mean(
                lambda r: r["runs"]["unpruned"]["float32"]["size_bytes"]
                / r["runs"]["channels+magnitude"]["int8"]["size_bytes"]),
            "int8_accuracy": mean(lambda r: r["runs"]["channels+magnitude"]["int8"]["accuracy"]),
            "sparse_encoded_size_ratio": mean_sparse(
                lambda r: r["runs"]["unpruned"]["float32"]["size_bytes"]
                / r["runs"]["channels+magnitude"]["int8_sparse_encoded"]["size_bytes"]),
            "sparse_encoded_accuracy": mean_sparse(
                lambda r: r["runs"]["channels+magnitude"]["int8_sparse_encoded"]["accuracy"])},
    }
    out["channels_minus_baseline_pp"] = 100 * (out["mean_int8_accuracy"]["channels"] - base)
    out["magnitude"]["minus_baseline_pp"] = 100 * (out["magnitude"]["int8_accuracy"] - base)
    sparse_acc = out["magnitude"]["sparse_encoded_accuracy"]
    out["magnitude"]["sparse_minus_baseline_pp"] = None if sparse_acc is None \
        else 100 * (sparse_acc - base)
    return out


def size_summary(inv: dict) -> dict:
    """Per recipe of an appended invocation: per seed and mean, the raw int8 file against the
    original model's float32 .tflite, and the int8 accuracy against the baseline's."""
    out: dict = {}
    for name in inv["recipes"]:
        seeds = []
        for r in inv["foundation"]:
            e = r["runs"].get(name)
            if not e or not e.get("original_tflite_float32_size_bytes"):
                continue
            f32 = e["original_tflite_float32_size_bytes"]
            seeds.append({"seed": r["seed"], "int8_accuracy": e["int8"]["accuracy"],
                          "baseline_accuracy": e["baseline_accuracy"],
                          "minus_baseline_pp": 100 * (e["int8"]["accuracy"]
                                                      - e["baseline_accuracy"]),
                          "int8_size_bytes": e["int8"]["size_bytes"],
                          "original_float32_size_bytes": f32,
                          "raw_x": f32 / e["int8"]["size_bytes"],
                          "params_after": (e.get("later_cuts") or [e.get("cut") or {}])[-1]
                          .get("params_after")})
        if not seeds:
            continue
        mean = {k: statistics.mean(s[k] for s in seeds)
                for k in ("raw_x", "int8_accuracy", "baseline_accuracy", "minus_baseline_pp")}
        out[name] = {"seeds": seeds, "mean": mean,
                     "met": mean["raw_x"] >= SIZE_TARGET["raw_x"]
                     and mean["minus_baseline_pp"] >= -SIZE_TARGET["max_loss_pp"]}
    return out


def write(results: dict, name: str, done: bool = False) -> str:
    results["summary"] = summary(results)
    for inv in results.get("appended", []):
        inv["summary"] = size_summary(inv)
    finished = [r["seed"] for r in results["foundation"] if "latency" in r]
    results["complete"] = done and finished == results["planned"]["seeds"] and (
        results["mobilenet"] is not None or not results["planned"]["mobilenet"])
    (HERE / "results").mkdir(exist_ok=True)
    stem = HERE / "results" / name
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    text = render(results)
    stem.with_suffix(".md").write_text(text)
    return text


def _count(v) -> str:
    return "-" if v is None else f"{v:,}"


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f} %"


def render(results: dict) -> str:
    s = results.get("summary") or {}
    finished = [r["seed"] for r in results["foundation"] if "latency" in r]
    lines = ["# Channel pruning (prune_channels): MACs, accuracy, host latency", "",
             f"Data: {results['data']}; baseline: Keras 3 `fashion_cnn` "
             f"({results.get('baseline', {}).get('epochs', '?')} epochs, one file for every run"
             f"{'; ' + results['baseline']['note'] + ': ' + results['baseline']['file'] if results.get('baseline', {}).get('note') else ''}); "
             "keras3 engine.", "", describe(results["conditions"]), ""]
    if not results.get("complete"):
        lines += [f"**Partial run:** foundation seeds finished {finished} of "
                  f"{results['planned']['seeds']}; MobileNetV2 "
                  f"{'done' if results['mobilenet'] else 'not (yet) run'}.", ""]
    lines += ["Latency: host x86 p50 (ms), our runner, 1 thread, the two int8 files alternating "
              "in one run, median over rounds. Not a device figure.", ""]
    if s:
        mag = s["magnitude"]
        lines += ["| acceptance | target | measured |", "|---|---|---|",
                  f"| MACs unpruned int8 / pruned int8 (.tflite graph) | >= 2x | "
                  f"{s['macs_ratio_int8']:.2f}x |",
                  f"| mean int8 accuracy vs baseline (seeds {s['seeds']}) | within 0.5 pp | "
                  f"{_pct(s['mean_int8_accuracy']['channels'])} vs {_pct(s['baseline_accuracy'])}"
                  f" ({s['channels_minus_baseline_pp']:+.2f} pp); unpruned QAT int8 "
                  f"{_pct(s['mean_int8_accuracy']['unpruned'])} |",
                  f"| host p50 unpruned int8 / pruned int8 | >= 1.3x | "
                  f"{s['latency_speedup']:.2f}x |",
                  f"| + magnitude 0.75: float32 original / int8 raw size | >= 8x at <= 0.5 pp | "
                  f"{mag['size_ratio_vs_float32_original']:.2f}x at "
                  f"{mag['minus_baseline_pp']:+.2f} pp (run's int8 file: dense storage)"
                  + "".join(f"; `{n}` (appended run {k + 1}, seeds "
                            f"{[x['seed'] for x in v['seeds']]}, its own baseline): "
                            f"{v['mean']['raw_x']:.2f}x at {v['mean']['minus_baseline_pp']:+.2f}"
                            f" pp" for k, inv in enumerate(results.get("appended", []))
                            for n, v in (inv.get("summary") or {}).items())
                  + " |",
                  *([f"| same, int8 with sparse weight encoding (post-training, builtin "
                     f"kernels; see the JSON) | >= 8x at <= 0.5 pp | "
                     f"{mag['sparse_encoded_size_ratio']:.2f}x at "
                     f"{mag['sparse_minus_baseline_pp']:+.2f} pp |"]
                    if mag["sparse_encoded_size_ratio"] is not None else [])]
        mb = results.get("mobilenet")
        if mb:
            lines.append(f"| MobileNetV2 0.35 96x96 host p50 int8 ratio | >= 1.6x | "
                         f"{mb['latency']['speedup']:.2f}x (MACs {mb['macs_ratio']:.2f}x) |")
        lines.append("")
    lines += ["| seed | run | int8 acc | int8 MACs | int8 bytes | float32 bytes | seconds |",
              "|---:|---|---:|---:|---:|---:|---:|"]
    for r in results["foundation"]:
        for name, e in r["runs"].items():
            lines.append(f"| {r['seed']} | {name} | {_pct(e['int8']['accuracy'])} | "
                         f"{e['int8']['macs']:,} | {e['int8']['size_bytes']:,} | "
                         f"{e.get('float32', {}).get('size_bytes', '-')} | {e['seconds']} |")
    for r in results["foundation"]:
        if "latency" in r:
            lat = r["latency"]
            lines.append("")
            lines.append(f"Seed {r['seed']} latency (median p50 ms over {lat['rounds']} rounds): "
                         + ", ".join(f"{k} {v:.4f}" for k, v in lat["median_p50_ms"].items())
                         + f"; speedup {lat['speedup']:.2f}x")
        cut = r["runs"].get("channels", {}).get("cut")
        if cut:
            lines.append(f"Seed {r['seed']} kept channels: " + ", ".join(
                f"{g['layer']} {g['kept']}/{g['channels']}" for g in cut["groups"])
                + f"; Keras MACs kept {cut['macs_kept']:.3f}, params "
                f"{cut['params_before']:,} -> {cut['params_after']:,}")
    mb = results.get("mobilenet")
    if mb:
        lines += ["", f"MobileNetV2: {mb['model']}, trained {mb['train_epochs']} epochs on "
                  f"{mb['train_samples']} Fashion-MNIST images resized to 96x96x3; Keras "
                  f"accuracy on {mb['keras_accuracy']['test_samples']} test images: unpruned "
                  f"{_pct(mb['keras_accuracy']['unpruned'])}, cut + 1 epoch "
                  f"{_pct(mb['keras_accuracy']['channels'])}. int8 MACs "
                  f"{mb['int8']['unpruned']['macs']:,} -> {mb['int8']['channels']['macs']:,}; "
                  f"median p50 ms: " + ", ".join(f"{k} {v:.3f}" for k, v in
                                                 mb["latency"]["median_p50_ms"].items())
                  + f"; speedup {mb['latency']['speedup']:.2f}x."]
    for k, inv in enumerate(results.get("appended", [])):
        lines += render_appended(inv, k + 1)
    return "\n".join(lines) + "\n"


def render_appended(inv: dict, number: int) -> list[str]:
    b = inv["baseline"]
    lines = ["", f"## Appended run {number} (--append): " + ", ".join(
        f"`{n}`" for n in inv["recipes"]), "",
        f"Data: {inv['data']}; baseline: {b.get('file', 'trained here')}"
        + (f" (sha256 {b['sha256']})" if b.get("sha256") else "") + "; keras3 engine.", "",
        describe(inv["conditions"]), ""]
    lines += [f"More seeds added by a later invocation: {describe(c)}" for c in
              inv.get("invocations", [])[1:]] + [""] * (len(inv.get("invocations", [])) > 1)
    finished = [r["seed"] for r in inv["foundation"] if r["runs"]]
    if not inv.get("complete"):
        lines += [f"**Partial:** seeds with runs {finished} of {inv['planned']['seeds']}.", ""]
    lines += [f"Note: {n}" for n in inv.get("notes", [])] + [""] * bool(inv.get("notes"))
    for name, stages in inv["recipes"].items():
        lines.append(f"- `{name}`: " + " -> ".join(
            s["kind"] + "(" + ", ".join(f"{k}={v}" for k, v in s.items() if k != "kind") + ")"
            for s in stages) + f"; targets {', '.join(inv['targets'][name])}")
    lines.append("")
    for name, v in (inv.get("summary") or {}).items():
        lines += [f"`{name}`: raw int8 file vs the original model's float32 .tflite (target >= "
                  f"{SIZE_TARGET['raw_x']:.0f}x at <= {SIZE_TARGET['max_loss_pp']} pp loss)", "",
                  "| seed | int8 acc | baseline acc | vs baseline | params | int8 bytes | "
                  "float32 original bytes | raw x |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {x['seed']} | {_pct(x['int8_accuracy'])} | {_pct(x['baseline_accuracy'])} "
                  f"| {x['minus_baseline_pp']:+.2f} pp | {_count(x['params_after'])} | "
                  f"{x['int8_size_bytes']:,} | {x['original_float32_size_bytes']:,} | "
                  f"{x['raw_x']:.2f}x |" for x in v["seeds"]]
        m = v["mean"]
        lines += [f"| mean | {_pct(m['int8_accuracy'])} | {_pct(m['baseline_accuracy'])} | "
                  f"{m['minus_baseline_pp']:+.2f} pp | | | | {m['raw_x']:.2f}x |", "",
                  f"Met: {'yes' if v['met'] else 'no'}.", ""]
    lines += ["| seed | run | int8 acc | int8 MACs | int8 bytes | seconds | kept channels |",
              "|---:|---|---:|---:|---:|---:|---|"]
    notes: list[str] = []
    for r in inv["foundation"]:
        for name, e in r["runs"].items():
            cuts = [c for c in [e.get("cut"), *(e.get("later_cuts") or [])] if c]
            kept = "; then ".join(", ".join(f"{g['layer']} {g['kept']}/{g['channels']}"
                                            for g in c["groups"]) for c in cuts)
            lines.append(f"| {r['seed']} | {name} | {_pct(e['int8']['accuracy'])} | "
                         f"{e['int8']['macs']:,} | {e['int8']['size_bytes']:,} | "
                         f"{e['seconds']} | {kept or '-'} |")
            host = [h for h in e.get("run_host_latency_vs_unpruned") or []]
            if host:
                notes.append(f"Seed {r['seed']} `{name}`, the run's own report "
                             "(`channel_pruning.host_latency`: host x86, 1 thread, "
                             f"{host[0]['rounds']} alternating rounds of "
                             f"{host[0]['runs_per_round']} runs; the unpruned file is the "
                             "original model post-training quantized; not a device figure): "
                             + "; ".join(f"{h['target']} p50 {h['p50_ms']:.4f} ms vs unpruned "
                                         f"{h['unpruned_p50_ms']:.4f} ms ({h['speedup']:.2f}x), "
                                         f"MACs {h['macs']:,} vs {h['unpruned_macs']:,}"
                                         for h in host))
        if r.get("error"):
            lines.append(f"| {r['seed']} | error | {r['error'][:200]} | | | | |")
    for n in notes:
        lines += ["", n]
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
