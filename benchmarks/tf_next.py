"""edgecompress on the newest TensorFlow the registry serves, without the tfmot extra.

Creates a throwaway venv, installs the newest ``tensorflow`` (release candidates included:
``pip index versions tensorflow --pre``), the current ``keras`` and this checkout of
edgecompress with no extra (so neither tf-keras, which pins ``tensorflow<2.22``, nor
tensorflow-model-optimization), checks that neither got installed, trains the Keras 3
foundation CNN briefly in that venv, and runs the foundation recipe (prune 50 % + QAT,
``[float32, int8]``) with ``engine: keras3`` through ``edgecompress run``. Writes
``benchmarks/results/tf_next.{json,md}``: what was installed, the run's report figures, and
the int8 file's tensor types (full-integer or not).

Usage:
    .venv/bin/python benchmarks/tf_next.py [--venv /tmp/edgecompress-tf-next]
        [--tensorflow VERSION] [--data fashion-mnist] [--epochs 2]

Needs the package registry (pip) once; the run itself downloads nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from _conditions import conditions, describe

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RECIPE = """version: 1
name: foundation-keras3
engine: keras3
stages:
  - kind: prune
    final_sparsity: 0.5
    schedule: polynomial
    epochs: 2
  - kind: qat
    epochs: 1
targets: [float32, int8]
"""
TRAIN = """
import sys
import keras
from calibration import sources
from compress import zoo

data = sources.load_dataset(sys.argv[1])
keras.utils.set_random_seed(0)
model = zoo.fashion_cnn(data.x_train.shape[1:], data.num_classes, keras=keras)
model.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"],
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(data.x_train, data.y_train, epochs=int(sys.argv[3]), batch_size=128, verbose=0)
model.save(sys.argv[2])
"""
INSPECT = """
import json, sys
from importlib import metadata
from targets.tflite_graph import read_model

graph = read_model(open(sys.argv[1], "rb").read())
installed = {}
for name in ("tensorflow", "keras", "ai-edge-litert", "numpy", "tf-keras",
             "tensorflow-model-optimization", "edgecompress"):
    try:
        installed[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        installed[name] = None
print(json.dumps({"int8_dtypes": graph.dtype_counts(), "installed": installed}))
"""


def newest_tensorflow(pip: Path) -> str:
    out = subprocess.run([str(pip), "index", "versions", "tensorflow", "--pre"],
                         capture_output=True, text=True, check=True).stdout
    match = re.search(r"^tensorflow \(([^)]+)\)", out, re.M)
    if not match:
        raise SystemExit(f"could not read the newest tensorflow from pip: {out[:300]}")
    return match.group(1)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, text=True, **kwargs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", default="/tmp/edgecompress-tf-next")
    parser.add_argument("--tensorflow", default=None, help="default: the newest, --pre")
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--epochs", type=int, default=2, help="baseline training epochs")
    parser.add_argument("--out", default="/tmp/edgecompress-tf-next-run")
    args = parser.parse_args()

    venv, out = Path(args.venv), Path(args.out)
    started = time.perf_counter()
    if not (venv / "bin" / "python").exists():
        run([sys.executable, "-m", "venv", str(venv)])
    py, pip = venv / "bin" / "python", venv / "bin" / "pip"
    run([str(pip), "install", "-q", "--upgrade", "pip"])
    version = args.tensorflow or newest_tensorflow(pip)
    run([str(pip), "install", "-q", f"tensorflow=={version}", "keras"])
    # this checkout, no extra: neither tf-keras nor tensorflow-model-optimization
    run([str(pip), "install", "-q", str(ROOT)])
    install_s = time.perf_counter() - started

    out.mkdir(parents=True, exist_ok=True)
    model, recipe = out / "baseline_keras3.keras", out / "foundation-keras3.yaml"
    recipe.write_text(RECIPE)
    began = time.perf_counter()
    run([str(py), "-c", TRAIN, args.data, str(model), str(args.epochs)], cwd=out)
    train_s = time.perf_counter() - began
    began = time.perf_counter()
    cli = run([str(venv / "bin" / "edgecompress"), "run", str(recipe), "--model", str(model),
               "--data", args.data, "--out", str(out / "run"), "--overwrite", "--quiet"],
              cwd=out, capture_output=True)
    run_s = time.perf_counter() - began
    report = json.loads((out / "run" / "report.json").read_text())
    facts = json.loads(run([str(py), "-c", INSPECT,
                            str(out / "run" / "artifacts" / "int8.tflite")], cwd=out,
                           capture_output=True).stdout.strip().splitlines()[-1])

    results = {
        "conditions": conditions(root=ROOT, venv=str(venv), data=args.data,
                                 baseline_epochs=args.epochs),
        "venv_installed": facts["installed"],
        "tensorflow_requested": version,
        "recipe": RECIPE,
        "engine": report.get("engine"),
        "baseline_accuracy": report["baseline"]["accuracy"],
        "artifacts": [{k: a.get(k) for k in ("target", "accuracy", "sparsity", "size_bytes",
                                             "gzip_bytes")} for a in report["artifacts"]],
        "int8_dtypes": facts["int8_dtypes"],
        "full_integer": set(facts["int8_dtypes"]) <= {"int8", "int32"},
        "seconds": {"install": round(install_s), "baseline_training": round(train_s),
                    "edgecompress_run": round(run_s)},
        "cli_summary": cli.stdout.strip().splitlines()[-12:],
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "tf_next.json").write_text(json.dumps(results, indent=2) + "\n")
    text = render(results)
    (HERE / "results" / "tf_next.md").write_text(text)
    print(text)
    ok = (results["engine"] == "keras3" and results["full_integer"]
          and not facts["installed"]["tf-keras"]
          and not facts["installed"]["tensorflow-model-optimization"])
    return 0 if ok else 1


def render(r: dict) -> str:
    inst = r["venv_installed"]
    lines = ["# edgecompress on the newest TensorFlow, without the tfmot extra", "",
             "The host that ran this script (its own environment, not the venv's): "
             + describe(r["conditions"]), "",
             f"Throwaway venv `{r['conditions']['venv']}`: tensorflow {inst['tensorflow']} "
             f"(newest the registry serves, --pre), keras {inst['keras']}, ai-edge-litert "
             f"{inst['ai-edge-litert']}, numpy {inst['numpy']}; edgecompress "
             f"{inst['edgecompress']} installed from this checkout with no extra. "
             f"tf-keras: {inst['tf-keras'] or 'not installed'}; "
             f"tensorflow-model-optimization: "
             f"{inst['tensorflow-model-optimization'] or 'not installed'}.", "",
             f"Baseline: Keras 3 `fashion_cnn`, {r['conditions']['baseline_epochs']} epochs on "
             f"`{r['conditions']['data']}`, {100 * r['baseline_accuracy']:.2f} %. Recipe: "
             f"prune 50 % + QAT, `[float32, int8]`, `engine: keras3`, run with "
             f"`edgecompress run`; the report says engine `{r['engine']}`.", "",
             "| artifact | accuracy | sparsity | size | gzip |", "|---|---:|---:|---:|---:|"]
    for a in r["artifacts"]:
        lines.append(f"| {a['target']} | {100 * a['accuracy']:.2f} % | "
                     f"{100 * (a['sparsity'] or 0):.1f} % | {a['size_bytes']:,} B | "
                     f"{a['gzip_bytes']:,} B |")
    lines += ["", f"int8 file tensor types: {r['int8_dtypes']} (full-integer: "
              f"{'yes' if r['full_integer'] else 'NO'}).", "",
              f"Seconds: install {r['seconds']['install']}, baseline training "
              f"{r['seconds']['baseline_training']}, edgecompress run "
              f"{r['seconds']['edgecompress_run']}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
