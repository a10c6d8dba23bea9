"""Peak memory of converting and inspecting a 25.6M-parameter model (ResNet50, weights=None).

Builds tf_keras ``ResNet50(weights=None)`` (random weights: memory does not depend on their
values), saves it as ``.keras``, writes a 224x224x3 PNG image folder big enough to be
streamed (its decoded float32 size exceeds ``calibration.sources.STREAM_MB``), then runs each
command in a fresh process and reads that process's peak RSS from ``os.wait4`` (``ru_maxrss``
of the child; the command starts no processes of its own):

* ``edgecompress convert resnet50.keras --format float32``
* ``edgecompress convert resnet50.keras --format int8 --data FOLDER --calibration-samples N``
  (the folder streamed: only the N drawn images are decoded)
* the same int8 conversion with the folder loaded into memory (``EDGECOMPRESS_STREAM_MB``
  set high): what streaming saves
* ``edgecompress inspect`` of both files (``--json``; int8 also ``--target coral-usb``)
* ``edgecompress eval`` of the int8 file on the folder's test split (streamed, evaluated in
  chunks)

Each command runs ``--runs`` times (default 3; the in-memory and eval comparisons once);
the result is the median and the maximum of the peaks, and the results file says for each
row how many runs it is from (a row from one run is that run, not a median). The int8
conversions use ``--calibration-samples`` (default 200, the CLI's default); the results file
states the number used. Target: every peak <= 4 GB.

Usage:
    .venv/bin/python benchmarks/resnet50_memory.py [--runs 3] [--train 600] [--test 64]
        [--calibration-samples 200] [--work DIR] [--out benchmarks/results/resnet50_memory]
    .venv/bin/python benchmarks/resnet50_memory.py --render-only   # <out>.md from <out>.json

Writes ``<out>.json`` and ``<out>.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EDGECOMPRESS = Path(sys.executable).parent / "edgecompress"
LIMIT_BYTES = 4 * 10 ** 9
CLI_DEFAULT_CALIBRATION_SAMPLES = 200  # `edgecompress convert --calibration-samples` default
BUILD = """
import os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import tf_keras as keras
model = keras.applications.ResNet50(weights=None)
model.save(sys.argv[1])
print(model.count_params())
"""


def run(argv: list[str], *, env: dict | None = None) -> dict:
    """Runs ``argv`` in a child process; its peak RSS from ``os.wait4``, wall time, output."""
    environ = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, environ,
                             file_actions=[(os.POSIX_SPAWN_DUP2, out.fileno(), 1),
                                           (os.POSIX_SPAWN_DUP2, err.fileno(), 2)])
        _, status, usage = os.wait4(pid, 0)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {code}:\n{stderr[-2000:]}")
    return {"peak_rss_bytes": usage.ru_maxrss * 1024, "seconds": seconds, "stdout": stdout}


def write_png(path: Path, pixels: np.ndarray) -> None:
    """An 8-bit RGB PNG, filter 0 on every row (a fast writer for the benchmark's data)."""
    h, w, _ = pixels.shape
    rows = np.concatenate([np.zeros((h, 1), np.uint8), pixels.reshape(h, -1)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)) + chunk(b"IEND", b""))


def image_folder(root: Path, *, train: int, test: int, classes: int = 10) -> Path:
    """DIR/train|test/c<k>/*.png, 224x224x3, smooth random images (they compress a little)."""
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, 224, dtype=np.float32)
    for split, n in (("train", train), ("test", test)):
        for i in range(n):
            c = i % classes
            folder = root / split / f"c{c}"
            folder.mkdir(parents=True, exist_ok=True)
            image = (base[None, :, None] * rng.random(3) + rng.normal(0, 20, (224, 224, 3)))
            write_png(folder / f"{i:05d}.png", np.clip(image, 0, 255).astype(np.uint8))
    return root


def summarise(name: str, argv: list[str], results: list[dict], work: Path) -> dict:
    peaks = [r["peak_rss_bytes"] for r in results]
    words = ["edgecompress" if a == str(EDGECOMPRESS) else a.replace(str(work), "WORK")
             for a in argv]
    return {"name": name, "command": " ".join(words),
            "runs": len(results), "peak_rss_bytes": peaks,
            "median_peak_rss_bytes": int(statistics.median(peaks)),
            "max_peak_rss_bytes": max(peaks),
            "median_seconds": statistics.median(r["seconds"] for r in results),
            "within_limit": max(peaks) <= LIMIT_BYTES}


def render(data: dict) -> str:
    env = data["environment"]
    cal = data["calibration_samples"]
    cal_note = ("the CLI's default" if cal == CLI_DEFAULT_CALIBRATION_SAMPLES
                else f"not the CLI's default {CLI_DEFAULT_CALIBRATION_SAMPLES}: peak memory "
                     f"with {CLI_DEFAULT_CALIBRATION_SAMPLES} samples is not measured here")
    runs = sorted({row["runs"] for row in data["commands"]})
    lines = [
        "# Peak memory: converting and inspecting ResNet50 (25.6M parameters)",
        "",
        f"`benchmarks/resnet50_memory.py`: tf_keras `ResNet50(weights=None)`, "
        f"{data['params']:,} parameters, saved as `.keras` ({data['keras_bytes'] / 1e6:.1f} MB). "
        f"Calibration/evaluation data: a folder of {data['train']} + {data['test']} PNG images "
        f"224x224x3 ({data['folder_decoded_bytes'] / 2 ** 20:.0f} MiB decoded as float32: "
        f"{'streamed' if data['streamed'] else 'under the streaming threshold'}, "
        f"`EDGECOMPRESS_STREAM_MB`={data['stream_mb']}). "
        f"Each command ran in a fresh process; peak RSS is the child's "
        f"`ru_maxrss` from `os.wait4`. Machine: {env['cpus']} shared cores, "
        f"{env['memory_gib']:.0f} GiB RAM, {env['machine']}, Python {env['python']}, "
        f"TensorFlow {env['tensorflow']}.",
        "",
        f"**What ran:** int8 conversions calibrated on **{cal} samples** "
        f"(`--calibration-samples {cal}`; {cal_note}). Runs per row: "
        + "; ".join(f"{row['name']}: {row['runs']}" for row in data["commands"])
        + (". A row from 1 run is that single run's figure, not a median." if 1 in runs
           else "."),
        "",
        f"Limit: {LIMIT_BYTES / 1e9:.0f} GB. Result: "
        + ("every peak within the limit." if data["all_within_limit"]
           else "**some peaks exceed the limit.**"),
        "",
        "| command | runs (fresh processes) | peak RSS: median of the runs (1 run: that run) | "
        "max peak RSS | time: median of the runs | within 4 GB |",
        "|---|---:|---:|---:|---:|:---:|",
    ]
    for row in data["commands"]:
        lines.append(f"| {row['name']}: `{row['command']}` | {row['runs']} | "
                     f"{row['median_peak_rss_bytes'] / 1e9:.2f} GB | "
                     f"{row['max_peak_rss_bytes'] / 1e9:.2f} GB | "
                     f"{row['median_seconds']:.1f} s | "
                     f"{'yes' if row['within_limit'] else 'NO'} |")
    lines += ["", f"Files: float32 `.tflite` {data['tflite_bytes']['float32'] / 1e6:.1f} MB, "
                  f"int8 `.tflite` {data['tflite_bytes']['int8'] / 1e6:.1f} MB. "
                  f"Building and saving the model (not an edgecompress command): "
                  f"{data['build_peak_rss_bytes'] / 1e9:.2f} GB peak."]
    if data.get("notes"):
        lines += [""] + [f"- {n}" for n in data["notes"]]
    main_runs = max(runs)
    lines += ["", f"Reproduce: `.venv/bin/python benchmarks/resnet50_memory.py --runs {main_runs} "
                  f"--train {data['train']} --test {data['test']} --calibration-samples {cal}`",
              ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--train", type=int, default=600)
    parser.add_argument("--test", type=int, default=64)
    parser.add_argument("--calibration-samples", type=int,
                        default=CLI_DEFAULT_CALIBRATION_SAMPLES)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "resnet50_memory")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite <out>.md from <out>.json; run nothing")
    args = parser.parse_args()
    if args.render_only:
        data = json.loads(args.out.with_suffix(".json").read_text())
        args.out.with_suffix(".md").write_text(render(data))
        print(render(data))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="resnet50-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    keras_path = work / "resnet50.keras"
    f32, i8 = work / "r50_float32.tflite", work / "r50_int8.tflite"

    print(f"building ResNet50 in {work}", flush=True)
    build = run([sys.executable, "-c", BUILD, str(keras_path)])
    params = int(build["stdout"].split()[-1])
    folder = work / "images"
    if not folder.exists():
        print(f"writing {args.train} + {args.test} PNGs", flush=True)
        image_folder(folder, train=args.train, test=args.test)
    decoded = (args.train + args.test) * 224 * 224 * 3 * 4

    ec = str(EDGECOMPRESS)
    int8 = [ec, "convert", str(keras_path), "--format", "int8", "--data", str(folder),
            "--calibration-samples", str(args.calibration_samples), "-o", str(i8), "--overwrite"]
    plan = [
        ("convert float32", [ec, "convert", str(keras_path), "--format", "float32", "-o",
                             str(f32), "--overwrite"], args.runs, None),
        ("convert int8, folder streamed", int8, args.runs, None),
        ("convert int8, folder in memory", int8, 1, {"EDGECOMPRESS_STREAM_MB": "100000"}),
        ("inspect float32", [ec, "inspect", str(f32), "--json"], args.runs, None),
        ("inspect int8 for coral-usb", [ec, "inspect", str(i8), "--target", "coral-usb",
                                        "--no-compile", "--json"], args.runs, None),
        ("eval int8 on the streamed test split", [ec, "eval", str(i8), "--data", str(folder),
                                                  "--runs", "3", "--json"], 1, None),
    ]
    commands = []
    for name, argv, runs, env in plan:
        results = []
        for i in range(runs):
            results.append(run(argv, env=env))
            print(f"  {name} ({i + 1}/{runs}): {results[-1]['peak_rss_bytes'] / 1e9:.2f} GB, "
                  f"{results[-1]['seconds']:.1f} s", flush=True)
        commands.append(summarise(name, argv, results, work))
        if name.startswith("eval"):
            commands[-1]["result"] = json.loads(results[-1]["stdout"])

    from calibration.sources import STREAM_MB
    from compress import _keras

    data = {
        "params": params, "keras_bytes": keras_path.stat().st_size,
        "train": args.train, "test": args.test, "folder_decoded_bytes": decoded,
        "calibration_samples": args.calibration_samples,
        "stream_mb": STREAM_MB, "streamed": decoded > STREAM_MB * 2 ** 20,
        "tflite_bytes": {"float32": f32.stat().st_size, "int8": i8.stat().st_size},
        "build_peak_rss_bytes": build["peak_rss_bytes"],
        "limit_bytes": LIMIT_BYTES, "commands": commands,
        "all_within_limit": all(c["within_limit"] for c in commands),
        "environment": {"cpus": os.cpu_count(), "machine": platform.machine(),
                        "python": platform.python_version(),
                        "tensorflow": _keras.versions()["tensorflow"],
                        "memory_gib": os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
                        / 2 ** 30},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(render(data))
    print(render(data))


if __name__ == "__main__":
    main()
