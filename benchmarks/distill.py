"""Acceptance benchmark of the ``distill`` stage on the full Fashion-MNIST.

Teacher: ``compress.zoo.fashion_cnn`` (reuses ``runs/foundation/baseline.keras`` when it
exists, else trains one for ``--teacher-epochs``). Two comparisons, same epochs and seeds:

1. **width-0.5 student**: ``distill {student: {width: 0.5}}`` with the distillation loss vs the
   same stage with ``alpha: 1`` (labels only: the identical student, initialisation, data order
   and learning rate, without the teacher's soft targets); float accuracy on the test split,
   over ``--seeds``. Target: distilled better by >= 0.3 pp on the mean.
2. **prune 75 % + QAT + int8**: ``[prune, qat]`` vs ``[distill {student: self}, prune, qat]``
   (distilling during prune, the default ``later_stages``) and the same with ``later_stages:
   true`` (during QAT too), through ``compress_model`` (the int8 artifact's accuracy, measured
   with LiteRT). Target: the distilled artifact's accuracy loss vs the baseline is at most half
   the other's, or both within 0.3 pp of the baseline.

Results go to ``benchmarks/results/distill.json`` and ``distill.md`` (rewritten after each
run, so an interrupted benchmark keeps what it measured).

Usage:
    .venv/bin/python benchmarks/distill.py [--epochs 5] [--seeds 0,1,2] [--prune-epochs 3]
        [--qat-epochs 1] [--only width|prune] [--train-samples N]

Needs Debian's ``dataset-fashion-mnist`` (``make sysdeps`` installs it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from _conditions import conditions

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
FOUNDATION_BASELINE = Path("runs/foundation/baseline.keras")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5, help="width-student training epochs")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (width runs)")
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--temperature", type=float, default=None,
                        help="default: the distill stage's (2 for self, 4 for a new student)")
    parser.add_argument("--alpha", type=float, default=None,
                        help="default: the distill stage's (0.5 for self, 0.1 for a new student)")
    parser.add_argument("--prune-epochs", type=int, default=3)
    parser.add_argument("--prune-lr", type=float, default=5e-4)
    parser.add_argument("--qat-epochs", type=int, default=1)
    parser.add_argument("--sparsity", type=float, default=0.75)
    parser.add_argument("--prune-seeds", default="0,1,2",
                        help="comma-separated seeds (prune comparison)")
    parser.add_argument("--kd-in-qat", action="store_true",
                        help="also run `later_stages: true` (distilling during QAT too)")
    parser.add_argument("--teacher-epochs", type=int, default=10)
    parser.add_argument("--teacher", default=None, help="a trained teacher .keras to reuse")
    parser.add_argument("--only", choices=("width", "prune"), default=None)
    parser.add_argument("--train-samples", type=int, default=None,
                        help="cap the training split (quick runs; the report says so)")
    parser.add_argument("--out", default="runs/distill", help="work folder")
    parser.add_argument("--augment", default=None, type=_parse_augment,
                        help="width runs: augment both arms' training batches the same way, "
                             "e.g. shift=2,flip=1,mixup=0.2 (the distill stage's augment)")
    parser.add_argument("--results-name", default="distill",
                        help="results file stem under benchmarks/results (default distill)")
    parser.add_argument("--overwrite-results", action="store_true",
                        help="replace figures already in the results file (default: refuse, "
                             "so that a figure quoted elsewhere is not lost)")
    args = parser.parse_args()
    existing = RESULTS / f"{args.results_name}.json"
    if existing.exists() and not args.overwrite_results:
        held = json.loads(existing.read_text())
        clash = [c for c in ("width", "prune")
                 if args.only in (None, c) and held.get(c)]
        if clash:
            parser.error(f"{existing} already holds the {' and '.join(clash)} comparison; "
                         "pass --results-name NEW to keep it, or --overwrite-results to "
                         "replace it")

    from calibration import sources
    from compress import models
    from compress.progress import Progress

    progress = Progress(enabled=True)
    data = sources.load_dataset("fashion-mnist")
    if "full" not in data.source:
        print(f"needs the full Fashion-MNIST; got {data.source}", file=sys.stderr)
        return 1
    if args.train_samples:
        data = sources.subsample(data, train=args.train_samples, seed=0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    teacher_path, teacher_info = _teacher(args, data, out, progress)
    teacher, _ = models.load_model(str(teacher_path))
    results = {"conditions": conditions(argv=sys.argv[1:]),
               "data": data.source, "train_samples": len(data.x_train),
               "test_samples": len(data.x_test), "teacher": teacher_info,
               "width": None, "prune": None}
    previous = RESULTS / f"{args.results_name}.json"
    if args.only and previous.exists():  # keep the other comparison's figures
        old = json.loads(previous.read_text())
        if old.get("data") == data.source and old.get("teacher", {}).get("path") == \
                teacher_info["path"]:
            other = "prune" if args.only == "width" else "width"
            results[other] = old.get(other)
            if results[other] and "settings" not in results[other]:
                results[other]["settings"] = old.get("settings", {})
    if args.only in (None, "prune"):
        results["prune"] = prune_comparison(args, teacher_path, data, out, progress, results)
    if args.only in (None, "width"):
        results["width"] = width_comparison(args, teacher, data, progress, results)
    _write(results, args.results_name)
    print(render(results))
    return 0


def _teacher(args, data, out: Path, progress) -> tuple[Path, dict]:
    from compress import models, zoo
    from compress.artifacts import evaluate

    for candidate in (args.teacher, out / "teacher.keras", FOUNDATION_BASELINE):
        if candidate and Path(candidate).exists():
            model, _ = models.load_model(str(candidate))
            return Path(candidate), {
                "path": str(candidate), "trained_here": False,
                "accuracy": evaluate.keras_accuracy(model, data.x_test, data.y_test),
                "params": models.count_params(model)}
    model = zoo.fashion_cnn(data.x_train.shape[1:], data.num_classes)
    start = time.perf_counter()
    zoo.train_baseline(model, data.x_train, data.y_train, epochs=args.teacher_epochs, seed=0,
                       callbacks=[progress.keras_callback("teacher", args.teacher_epochs, -1)])
    path = out / "teacher.keras"
    model.save(str(path))
    return path, {"path": str(path), "trained_here": True, "epochs": args.teacher_epochs,
                  "train_seconds": time.perf_counter() - start,
                  "accuracy": evaluate.keras_accuracy(model, data.x_test, data.y_test),
                  "params": models.count_params(model)}


def width_comparison(args, teacher, data, progress, results: dict) -> dict:
    """Width student: distillation vs labels alone (alpha 1), same seeds and epochs."""
    from compress.artifacts import evaluate
    from compress.session import Session

    runs: dict[str, list[dict]] = {"distilled": [], "labels_only": []}
    temperature, alpha = _kd_settings(args, new_student=True)
    settings = {"epochs": args.epochs, "seeds": args.seeds, "width": args.width,
                "temperature": temperature, "alpha": alpha}
    if args.augment:
        settings["augment"] = args.augment
    results["width"] = {"settings": settings, "runs": runs}
    for seed in [int(s) for s in args.seeds.split(",")]:
        for variant, variant_alpha in (("distilled", alpha), ("labels_only", 1.0)):
            stage = {"kind": "distill", "student": {"width": args.width}, "epochs": args.epochs,
                     "temperature": temperature, "alpha": variant_alpha}
            if args.augment:  # the same augmentation for both arms: a fair control
                stage["augment"] = args.augment
            recipe = {"name": f"width-{variant}", "seed": seed, "stages": [stage]}
            progress.info(f"width {args.width}: {variant}, seed {seed}")
            start = time.perf_counter()
            trained = Session(recipe, progress=progress).train(teacher, data.x_train,
                                                               data.y_train)
            stage = trained.stages[0]
            runs[variant].append({
                "seed": seed, "seconds": time.perf_counter() - start,
                "accuracy": evaluate.keras_accuracy(trained.float_model, data.x_test,
                                                    data.y_test),
                "student_params": stage.details["student_params"],
                "student_macs": stage.details["student_macs"],
                "teacher_params": stage.details["teacher_params"],
                "teacher_macs": stage.details["teacher_macs"],
                "history": {k: [round(v, 5) for v in vs] for k, vs in stage.history.items()}})
            _write(results, args.results_name)
    summary = {}
    for variant, items in runs.items():
        accs = [r["accuracy"] for r in items]
        summary[variant] = {"mean": statistics.mean(accs),
                            "stdev": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                            "per_seed": accs}
    gain_pp = 100 * (summary["distilled"]["mean"] - summary["labels_only"]["mean"])
    return {"settings": settings, "runs": runs, "summary": summary, "gain_pp": gain_pp,
            "target_pp": 0.3, "met": gain_pp >= 0.3}


def prune_comparison(args, teacher_path: Path, data, out: Path, progress, results: dict) -> dict:
    """prune + QAT + int8 with and without ``distill {student: self}``."""
    from compress.pipeline import compress_model

    later = [{"kind": "prune", "final_sparsity": args.sparsity, "schedule": "polynomial",
              "epochs": args.prune_epochs, "learning_rate": args.prune_lr},
             {"kind": "qat", "epochs": args.qat_epochs}]
    temperature, alpha = _kd_settings(args, new_student=False)
    kd = {"kind": "distill", "student": "self", "temperature": temperature, "alpha": alpha}
    recipes = {
        "plain": later,
        "distilled": [kd] + later,  # default later_stages: distil during prune, plain QAT
        "distilled_incl_qat": [{**kd, "later_stages": True}] + later,
    }
    if not args.kd_in_qat:
        del recipes["distilled_incl_qat"]
    seeds = [int(x) for x in args.prune_seeds.split(",")]
    runs: dict[str, list] = {name: [] for name in recipes}
    settings = {k: getattr(args, k) for k in ("sparsity", "prune_epochs", "prune_lr",
                                               "qat_epochs", "prune_seeds")}
    settings.update(temperature=temperature, alpha=alpha)
    results["prune"] = {"settings": settings, "runs": runs}
    for seed in seeds:
        for name, stages in recipes.items():
            recipe = {"name": f"prune{int(100 * args.sparsity)}-qat-int8-{name}", "seed": seed,
                      "stages": stages, "targets": ["float32", "int8"],
                      "benchmark": {"warmup": 2, "runs": 20}}
            progress.info(f"prune {args.sparsity:.0%} + qat + int8: {name}, seed {seed}")
            report = compress_model(str(teacher_path), recipe, data=data,
                                    out_dir=out / f"{name}-s{seed}", overwrite=True,
                                    progress=progress).report
            arts = {a["target"]: a for a in report["artifacts"]}
            art = arts["int8"]
            base = report["baseline"]["accuracy"]
            runs[name].append({
                "seed": seed, "baseline_accuracy": base, "int8_accuracy": art["accuracy"],
                "pruned_float32_accuracy": arts["float32"]["accuracy"],
                "loss_pp": 100 * (base - art["accuracy"]), "sparsity": art["sparsity"],
                "stage_seconds": {s["kind"]: s["seconds"] for s in report["stages"]},
                "history": {s["kind"]: s.get("history", {}) for s in report["stages"]}})
            _write(results, args.results_name)
    summary = {name: {"mean_loss_pp": statistics.mean(r["loss_pp"] for r in rs),
                      "mean_int8_accuracy": statistics.mean(r["int8_accuracy"] for r in rs),
                      "mean_pruned_float32_accuracy": statistics.mean(
                          r["pruned_float32_accuracy"] for r in rs)}
               for name, rs in runs.items()}
    plain, distilled = summary["plain"]["mean_loss_pp"], summary["distilled"]["mean_loss_pp"]
    met = distilled <= plain / 2 or (abs(distilled) <= 0.3 and abs(plain) <= 0.3)
    return {"settings": settings, "runs": runs, "summary": summary, "met": met}


def _kd_settings(args, *, new_student: bool) -> tuple[float, float]:
    """T and alpha: the command line's, else the distill stage's defaults for the student."""
    from compress.recipe import DISTILL_DEFAULTS

    pick = 1 if new_student else 0
    return (args.temperature if args.temperature is not None
            else DISTILL_DEFAULTS["temperature"][pick],
            args.alpha if args.alpha is not None else DISTILL_DEFAULTS["alpha"][pick])


def _parse_augment(text: str) -> dict:
    """``shift=2,flip=1,mixup=0.2`` -> the distill stage's ``augment`` mapping."""
    out: dict = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in ("shift", "flip", "mixup"):
            raise argparse.ArgumentTypeError(f"expected shift=N,flip=0|1,mixup=X; got {item!r}")
        try:
            out[key] = {"shift": int, "flip": lambda v: bool(int(v)), "mixup": float}[key](value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad value in {item!r}") from None
    return out


def _write(results: dict, name: str = "distill") -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(render(results))


def render(results: dict) -> str:
    t = results["teacher"]
    lines = [f"Data: {results['data']}. Teacher: fashion_cnn, {t['params']:,} params, "
             f"{100 * t['accuracy']:.2f} % ({t['path']}).", ""]
    width = results.get("width")
    if width and width.get("summary"):
        s = width["settings"]
        runs = width["runs"]["distilled"]
        first = runs[0]
        lines += [
            f"**Width-{s['width']:g} student** ({first['student_params']:,} params, "
            f"{_macs(first['student_macs'])} MACs vs the teacher's "
            f"{first['teacher_params']:,} / {_macs(first['teacher_macs'])}), {s['epochs']} "
            f"epochs, lr 1e-3 cosine-decayed per epoch, T={s['temperature']:g}, alpha={s['alpha']:g}"
            + (f", both arms trained on the same augmentation (distill stage `augment`: "
               f"{_augment_text(s['augment'])})" if s.get("augment") else "")
            + "; float accuracy:", "",
            "| student | " + " | ".join(f"seed {r['seed']}" for r in runs) + " | mean | stdev |",
            "|---|" + "---:|" * (len(runs) + 2)]
        for variant, label in (("distilled", "distilled"), ("labels_only", "labels only")):
            sm = width["summary"][variant]
            lines.append(f"| {label} | " + " | ".join(f"{100 * a:.2f} %" for a in sm["per_seed"])
                         + f" | {100 * sm['mean']:.2f} % | {100 * sm['stdev']:.2f} pp |")
        lines += ["", f"Gain of distillation: {width['gain_pp']:+.2f} pp on the mean "
                      f"(target >= +0.30 pp: {'met' if width['met'] else 'not met'}).", ""]
    elif width:
        lines += ["Width comparison: incomplete (see distill.json).", ""]
    prune = results.get("prune")
    if prune and prune.get("met") is not None:
        s = prune["settings"]
        seeds = prune["runs"]["plain"]
        lines += [
            f"**Prune {100 * s['sparsity']:.0f} % ({s['prune_epochs']} epochs, lr "
            f"{s['prune_lr']:g}) + QAT ({s['qat_epochs']} epoch) + int8**, T="
            f"{s['temperature']:g}, alpha={s['alpha']:g}, seeds {s['prune_seeds']}; accuracy "
            "of the artifacts (LiteRT), baseline "
            f"{100 * seeds[0]['baseline_accuracy']:.2f} %:", "",
            "| recipe | seed | pruned float32 | int8 | int8 loss vs baseline | "
            "sparsity (measured) |", "|---|---:|---:|---:|---:|---:|"]
        for name, label in (("plain", "prune + qat"),
                            ("distilled", "distill self + prune + qat (default: KD in prune)"),
                            ("distilled_incl_qat", "same, `later_stages: true` (KD in QAT too)")):
            for r in prune["runs"].get(name, []):
                lines.append(f"| {label} | {r['seed']} | "
                             f"{100 * r['pruned_float32_accuracy']:.2f} % | "
                             f"{100 * r['int8_accuracy']:.2f} % | {r['loss_pp']:.2f} pp | "
                             f"{100 * r['sparsity']:.1f} % |")
            sm = prune["summary"].get(name)
            if sm:
                lines.append(f"| **{label}: mean** | | "
                             f"{100 * sm['mean_pruned_float32_accuracy']:.2f} % | "
                             f"{100 * sm['mean_int8_accuracy']:.2f} % | "
                             f"**{sm['mean_loss_pp']:.2f} pp** | |")
        lines += ["", "Target (distilled mean loss <= half the plain mean loss, or both within "
                      f"0.3 pp): {'met' if prune['met'] else 'not met'}.", ""]
    elif prune:
        lines += ["Prune comparison: incomplete (see distill.json).", ""]
    return "\n".join(lines)


def _augment_text(augment: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in augment.items())


def _macs(value) -> str:
    return "n/a" if value is None else f"{value / 1e6:.2f} M"


if __name__ == "__main__":
    sys.exit(main())
