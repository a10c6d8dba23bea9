"""After channel pruning: each artifact against the unpruned model in the same format.

For every target of a run with a ``prune_channels`` stage, the model the run started from is
converted by the run's own converter path (``measure.convert_target``: same format, same
calibration samples; integer formats are post-training quantized, since the original model
has no QAT) into ``unpruned/<target>.tflite``; then the pruned artifact and that file are
benchmarked on the host with the runner's code (``evaluate.benchmark_tflite``, 1 thread),
alternating, the order flipped every round, and the median of the per-round p50 is kept.

The cost is bounded by the recipe's ``benchmark`` settings: each file gets the recipe's
``warmup`` before every round and ``runs`` timed invokes in all, split over ``ROUNDS``
rounds. This is a host x86 measurement: it says nothing about a device's latency.
"""

from __future__ import annotations

import math
import platform
import statistics
import time
from pathlib import Path
from typing import Any

#: alternating rounds per target (each round: both files, order flipped every round)
ROUNDS = 5
#: the comparison always runs single-threaded (the issue's measurement condition)
THREADS = 1
#: the folder of the unpruned files, inside the run folder
FOLDER = "unpruned"


def runs_per_round(runs: int) -> int:
    """Timed invokes per round, so that each file gets about the recipe's ``runs`` in all."""
    return max(1, math.ceil(runs / ROUNDS))


def compare_unpruned(original: Any, specs: list, *, artifacts: list, artifact_graphs: dict,
                     run_dir: Path, representative: Any, dataset: Any, benchmark: Any,
                     progress: Any, seed: int = 0) -> tuple[dict, dict[str, Any]]:
    """The run's ``channel_pruning`` record and the unpruned files' graphs.

    Args:
        original: the model the run started from (before any stage).
        specs: the recipe's targets; ``artifacts``: their records (``ArtifactReport``), whose
            files are in ``run_dir``; ``artifact_graphs``: their graphs, by target.
        benchmark: the recipe's ``BenchmarkConfig`` (warm-up and runs).

    Returns:
        ``({"host_latency": [entry per target], "method": ...}, {target: TFLiteGraph})``.
        Every entry is complete: ``target``, ``format``, ``measured`` (``"host"``),
        ``device``, ``p50_ms``, ``unpruned_p50_ms``, ``speedup`` (unpruned / pruned),
        the per-round p50s, ``macs``/``unpruned_macs`` and ``size_bytes``/
        ``unpruned_size_bytes`` from the two files, ``unpruned_path``.

    Raises:
        ConversionError: the original model does not convert for a target (the run fails:
            its output folder is not written).
        BenchmarkError: a file does not run.
    """
    from compress.artifacts import evaluate
    from compress.artifacts.measure import write_target
    from targets.tflite_graph import read_model

    folder = run_dir / FOLDER
    folder.mkdir(exist_ok=True)
    by_target = {a.target: a for a in artifacts}
    sample = dataset.x_test[:1]
    per_round = runs_per_round(benchmark.runs)
    entries, graphs = [], {}
    for spec in specs:
        art = by_target[spec.name]
        progress.info(f"{spec.name}: converting the unpruned model for comparison")
        path, blob, _, convert_s = write_target(
            spec, original, folder, representative=representative, dataset=dataset,
            seed=seed, progress=progress)
        graphs[spec.name] = read_model(blob)
        files = {"pruned": run_dir / art.path, "unpruned": path}
        p50: dict[str, list[float]] = {k: [] for k in files}
        t0 = time.perf_counter()
        for r in range(ROUNDS):
            for name in (("pruned", "unpruned") if r % 2 == 0 else ("unpruned", "pruned")):
                res = evaluate.benchmark_tflite(files[name], sample, warmup=benchmark.warmup,
                                                runs=per_round, threads=THREADS)
                p50[name].append(float(res["latency_ms"]["p50"]))
        pruned, unpruned = (statistics.median(p50[k]) for k in ("pruned", "unpruned"))
        pruned_graph = artifact_graphs[spec.name]  # read once, when the artifact was written
        entries.append({
            "target": spec.name, "format": spec.format, "measured": "host",
            "device": f"host CPU ({platform.machine()})", "threads": THREADS,
            "rounds": ROUNDS,
            "warmup": benchmark.warmup, "runs_per_round": per_round,
            "p50_ms": round(pruned, 5), "unpruned_p50_ms": round(unpruned, 5),
            "speedup": round(unpruned / pruned, 4) if pruned > 0 else None,
            "p50_ms_per_round": [round(v, 5) for v in p50["pruned"]],
            "unpruned_p50_ms_per_round": [round(v, 5) for v in p50["unpruned"]],
            "macs": int(pruned_graph.macs()["total"]),
            "unpruned_macs": int(graphs[spec.name].macs()["total"]),
            "size_bytes": int(art.size_bytes), "unpruned_size_bytes": len(blob),
            "unpruned_path": f"{FOLDER}/{spec.name}.tflite",
            "convert_seconds": round(convert_s, 3),
            "bench_seconds": round(time.perf_counter() - t0, 3)})
        e = entries[-1]
        progress.info(f"{spec.name}: host p50 {e['p50_ms']:.3f} ms vs unpruned "
                      f"{e['unpruned_p50_ms']:.3f} ms ({e['speedup']}x, 1 thread)")
    return {"host_latency": entries, "method": METHOD}, graphs


METHOD = ("host x86 latency (not a device figure): each artifact and the unpruned model "
          "converted to the same format by the same converter path (integer formats "
          "post-training quantized from the run's calibration samples), benchmarked with the "
          f"runner's code on one thread, alternating, {ROUNDS} rounds, median of the "
          "per-round p50; speedup = unpruned p50 / pruned p50")


__all__ = ["compare_unpruned", "runs_per_round", "ROUNDS", "THREADS", "FOLDER", "METHOD"]
