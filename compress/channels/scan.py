"""``edgecompress sensitivity --kind channels``: the accuracy each prunable layer (channel group)
loses when only it loses 25 / 50 / 75 % of its channels, and the MACs each cut saves.

The same scan ``allocation: sensitivity`` of a ``prune_channels`` stage runs
(``compress.channels.plan.scan``), here on a seeded held-out part of the training split (the
test split stays for the final evaluation).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: training samples held out for the scan by default
DEFAULT_HOLDOUT = 2000


def sensitivity(model: Any, *, data: Any = "fashion-mnist", data_dir: str | None = None,
                train_samples: int | None = None, holdout_samples: int = DEFAULT_HOLDOUT,
                importance: str = "l1", round_to: int = 1, seed: int = 0,
                trust_model_code: bool = False, progress: Any = None) -> dict:
    """The channel scan of a model (a model, its path, or ``module:function``).

    Returns:
        ``{kind: channels, model, data, holdout, baseline_accuracy, total_macs, importance,
        ratios, layers: [{group, layer, members, channels, points: [{ratio, kept, accuracy,
        drop, macs_saved}]}], fixed_layers: [{layer, reason}]}``
    """
    from calibration import sources
    from compress import channels, models
    from compress.errors import DataError

    dataset = sources.load_dataset(data, data_dir=data_dir)
    if train_samples:
        dataset = sources.subsample(dataset, train=train_samples, seed=seed)
    n = min(int(holdout_samples), len(dataset.x_train))
    if n < 1:
        raise DataError(f"the channel scan needs labelled training samples. Received: "
                        f"{len(dataset.x_train)} training samples", hint="pass another --data")
    idx = np.sort(np.random.default_rng([int(seed), 14]).choice(len(dataset.x_train), n,
                                                                 replace=False))
    loaded, source = models.load_model(model, trust_model_code=trust_model_code,
                                       native_keras3=True)
    graph = channels.analyze(loaded)
    groups, skipped = channels.select_groups(graph)
    say = getattr(progress, "info", None)
    result = channels.plan.scan(graph, groups, dataset.x_train[idx], dataset.y_train[idx],
                                importance_kind=importance, round_to=round_to, progress=say)
    return {"kind": "channels", "model": source.location, "data": dataset.source,
            "holdout": {"split": "train", "samples": int(n), "seed": int(seed)},
            **result, "fixed_layers": skipped}


def render_scan(result: dict) -> str:
    """The scan as a terminal table (accuracy drop in pp and MACs saved per ratio)."""
    ratios = result["ratios"]
    head = "".join(f" | drop@{r:.0%}  MACs saved" for r in ratios)
    lines = [f"{result['model']}: baseline accuracy {100 * result['baseline_accuracy']:.2f} % "
             f"on {result['holdout']['samples']} held-out training samples; "
             f"{result['total_macs']:,} MACs; importance {result['importance']}",
             f"{'layer':<28} {'ch':>5}{head}"]
    for row in result["layers"]:
        cells = "".join(f" | {100 * p['drop']:+7.2f} pp {p['macs_saved'] / result['total_macs']:>6.1%}"
                        for p in row["points"])
        lines.append(f"{row['layer'][:28]:<28} {row['channels']:>5}{cells}")
    if result.get("fixed_layers"):
        lines.append(f"not prunable: {len(result['fixed_layers'])} layers (model outputs, "
                     "unknown layers; see --json)")
    return "\n".join(lines)
