"""Channel pruning: remove whole filters and every channel that depends on them.

``graph`` finds the coupled channels (Conv -> BatchNorm -> activation -> Conv, depthwise in/out,
SeparableConv, residual ``Add`` groups, ``Concatenate``, Flatten/GlobalPooling -> Dense, nested
models); ``plan`` scores channels (l1 / l2 / BatchNorm gamma), counts MACs per layer and
allocates the cut (uniform or by measured sensitivity); ``cut`` rebuilds a smaller dense model
from the config with sliced weights. Keras 3 and tf_keras, Functional and Sequential models;
subclassed models are refused.

``shrink`` is the one entry point the stage, the ``sensitivity`` command and the benchmark use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from compress.channels.cut import cut
from compress.channels.graph import ChannelGraph, Group, analyze
from compress.channels import plan
from compress.errors import RecipeError

__all__ = ["analyze", "cut", "shrink", "Shrunk", "select_groups", "ChannelGraph", "Group",
           "plan"]


@dataclass
class Shrunk:
    """What ``shrink`` returns: the smaller model and the record of the cut."""

    model: Any
    details: dict = field(default_factory=dict)


def select_groups(graph: ChannelGraph, matches: Callable[[str, str], bool] | None = None
                  ) -> tuple[list[Group], list[dict]]:
    """The groups whose every producer ``matches(name, class)`` accepts, and the layers left
    out with the reason (fixed channels or not selected)."""
    chosen, skipped = [], []
    for g in graph.groups:
        rejected = [p for p in g.producers if matches is not None and not matches(
            p.rpartition("/")[2], graph.uses[p].class_name)]
        if rejected:
            skipped.extend({"layer": p, "reason": "not selected by layers:" if p in rejected else
                            f"coupled with {', '.join(rejected)} (not selected)"}
                           for p in g.producers)
        else:
            chosen.append(g)
    skipped.extend({"layer": p, "reason": reason} for p, reason in graph.fixed_spaces().items())
    return chosen, skipped


def shrink(model: Any, *, ratio: float | None = None, keep_macs: float | None = None,
           importance: str = "l1", allocation: str = "uniform", round_to: int = 1,
           matches: Callable[[str, str], bool] | None = None,
           data: tuple[np.ndarray, np.ndarray] | None = None,
           progress: Callable[[str], None] | None = None) -> Shrunk:
    """Cut ``model``'s channels: ``ratio`` of each selected group, or down to ``keep_macs`` of
    its MACs (``allocation``: ``uniform`` ratio, or ``sensitivity`` measured on ``data``).

    Raises:
        RecipeError: ``keep_macs`` below what the selected layers can reach (the message
            gives the reachable minimum); ``sensitivity`` without data.
        UnsupportedLayerError: a subclassed model.
    """
    graph = analyze(model)
    groups, skipped = select_groups(graph, matches)
    scan_result = None
    if keep_macs is not None and allocation == "sensitivity":
        plan.check_reachable(graph, groups, keep_macs, round_to)  # before the slow scan
        if data is None:
            raise RecipeError("allocation: sensitivity needs labelled data to measure each "
                              "layer's accuracy drop. Received: no data",
                              hint="pass data, or use allocation: uniform")
        scan_result = plan.scan(graph, groups, *data, importance_kind=importance,
                                round_to=round_to, progress=progress)
        alloc = plan.sensitivity_for_macs(graph, groups, keep_macs, round_to,
                                          plan.curves_of(scan_result))
        counts = alloc.counts
    elif keep_macs is not None:
        counts = plan.uniform_for_macs(graph, groups, keep_macs, round_to).counts
    else:
        counts = plan.uniform_counts(groups, ratio or 0.0, round_to)
    keep = {}
    for g in groups:
        if counts.get(g.id, g.size) < g.size:
            keep[g.id] = plan.kept_indices(plan.importance(graph, g, importance), counts[g.id])
    new = cut(graph, keep, name=model.name) if keep else _same(model)
    before = plan.layer_macs(graph, {})
    after = plan.layer_macs(graph, {g: len(i) for g, i in keep.items()})
    paths = list(graph.uses)
    params_before = plan.layer_params(model, paths)
    params_after = plan.layer_params(new, paths)
    layers = [{"layer": p, "class": graph.uses[p].class_name,
               "macs_before": int(round(before.get(p, 0))), "macs_after": int(round(after.get(p, 0))),
               "params_before": params_before.get(p, 0), "params_after": params_after.get(p, 0)}
              for p in paths if before.get(p) or params_before.get(p)]
    total_before, total_after = sum(before.values()), sum(after.values())
    details = {
        "macs_before": int(round(total_before)), "macs_after": int(round(total_after)),
        "macs_kept": round(total_after / total_before, 5) if total_before else 1.0,
        "params_before": int(sum(params_before.values())),
        "params_after": int(sum(params_after.values())),
        "groups": [{"layer": g.name, "members": list(g.producers), "channels": g.size,
                    "kept": int(counts.get(g.id, g.size))} for g in groups],
        "layers": layers,
        "skipped_layers": skipped,
    }
    if scan_result is not None:
        details["sensitivity"] = scan_result
    return Shrunk(new, details)


def _same(model: Any) -> Any:
    """Nothing to cut: a copy with the same weights (the model's own Keras)."""
    new = type(model).from_config(model.get_config())
    new.set_weights(model.get_weights())
    return new
