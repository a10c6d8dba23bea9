"""Which channels to keep: importance, MAC and parameter counts, allocation, sensitivity.

MACs are counted per layer from the channel counts the way ``targets.tflite_graph`` counts
them in a ``.tflite`` graph (convolutions, depthwise, fully connected, transpose conv, ADD/
MUL/SUB and pooling; BatchNormalization folds away), so a plan's MAC fraction is what the
converted file will show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from compress.channels.graph import ChannelGraph, Group
from compress.errors import RecipeError

IMPORTANCE = ("l1", "l2", "bn")
SCAN_RATIOS = (0.25, 0.5, 0.75)


# -- importance -----------------------------------------------------------------------------

def importance(graph: ChannelGraph, group: Group, kind: str) -> np.ndarray:
    """One score per channel of ``group`` (higher: more important), summed over its members.

    ``l1``/``l2``: norms of each producer's filters (each producer's scores normalized by
    their mean, so residual-group members weigh alike); ``bn``: ``|gamma|`` of the group's
    BatchNormalization layers (``l1`` when the group has none).
    """
    if kind == "bn":
        gammas = []
        for p in group.passthrough:
            use = graph.uses[p]
            if use.class_name == "BatchNormalization" and \
                    graph.configs[p]["config"].get("scale", True):
                gamma = np.abs(graph.layers[p].get_weights()[0])
                gammas.append(_group_slice(graph, group, use.inputs, gamma))
        if gammas:
            return np.sum([g / (np.mean(g) + 1e-12) for g in gammas], axis=0)
        kind = "l1"
    order = 1 if kind == "l1" else 2
    total = np.zeros(group.size)
    for path in group.producers:
        use = graph.uses[path]
        weights = graph.layers[path].get_weights()
        kernel = weights[1] if use.class_name.startswith("SeparableConv") else weights[0]
        if "Transpose" in use.class_name:
            kernel = np.moveaxis(kernel, -2, -1)
        flat = np.moveaxis(kernel, -1, 0).reshape(kernel.shape[-1], -1)
        norms = np.linalg.norm(flat, ord=order, axis=1)
        total += norms / (np.mean(norms) + 1e-12)
    return total


def _group_slice(graph: ChannelGraph, group: Group, layout: Any, values: np.ndarray) -> np.ndarray:
    """The entries of a per-channel array (over ``layout``) that belong to ``group``."""
    offset = 0
    for s in layout.segments:
        size = graph.size(s)
        if graph.root(s) == group.id:
            return values[offset:offset + size]
        offset += size
    return np.ones(group.size)


def kept_indices(scores: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` highest-scoring channels, in their original order (ties: lower index)."""
    order = np.argsort(-scores, kind="stable")
    return np.sort(order[:count])


# -- counting -------------------------------------------------------------------------------

def layer_macs(graph: ChannelGraph, counts: dict[int, int]) -> dict[str, float]:
    """MACs per layer (batch 1) when each group keeps ``counts[group]`` channels."""
    out: dict[str, float] = {}
    for path, use in graph.uses.items():
        macs = use.fixed_macs
        if use.role == "producer":
            cin = graph.kept_width(use.inputs, counts)
            cout = counts.get(graph.root(use.output), graph.size(use.output))
            macs += use.mac_coef * cin * cout + use.depthwise_coef * cin
        elif use.role in ("passthrough", "counted") and use.mac_coef:
            macs += use.mac_coef * graph.kept_width(use.inputs, counts)
        if macs:
            out[path] = float(macs)
    return out


def total_macs(graph: ChannelGraph, counts: dict[int, int]) -> float:
    return float(sum(layer_macs(graph, counts).values()))


def layer_params(model: Any, paths: list[str]) -> dict[str, int]:
    """Parameters of each layer at ``paths`` (weights of every kind, BN statistics included)."""
    from compress.channels.cut import _layer

    out = {}
    for path in paths:
        try:
            layer = _layer(model, path)
        except (ValueError, KeyError):
            continue
        n = int(sum(int(np.prod(w.shape)) for w in layer.get_weights()))
        if n:
            out[path] = n
    return out


# -- allocation -----------------------------------------------------------------------------

def allowed_counts(size: int, round_to: int) -> list[int]:
    """Channel counts a group may keep: multiples of ``round_to`` below ``size``, and ``size``."""
    step = max(1, round_to)
    return sorted({size, *range(step, size, step)}) if size > step else [size]


def round_count(size: int, kept: float, round_to: int) -> int:
    """``kept`` rounded to the nearest allowed count."""
    options = allowed_counts(size, round_to)
    return min(options, key=lambda c: (abs(c - kept), -c))


def uniform_counts(groups: list[Group], ratio: float, round_to: int) -> dict[int, int]:
    """Each group loses ``ratio`` of its channels (rounded; at least its minimum)."""
    return {g.id: round_count(g.size, g.size * (1.0 - ratio), round_to) for g in groups}


@dataclass
class Allocation:
    counts: dict[int, int]
    macs: float
    total: float


def minimum_counts(groups: list[Group], round_to: int) -> dict[int, int]:
    return {g.id: allowed_counts(g.size, round_to)[0] for g in groups}


def check_reachable(graph: ChannelGraph, groups: list[Group], keep_macs: float,
                    round_to: int) -> float:
    """The smallest reachable MAC fraction; raises ``RecipeError`` when ``keep_macs`` is below."""
    total = total_macs(graph, {})
    floor = total_macs(graph, minimum_counts(groups, round_to)) / total if total else 1.0
    if keep_macs < floor - 1e-9:
        raise RecipeError(
            f"keep_macs={keep_macs:g} cannot be reached: with every selectable layer at its "
            f"minimum ({round_to} channels, round_to) the model keeps {floor:.4f} of its "
            f"{total:.0f} MACs ({len(groups)} prunable groups). Received: keep_macs={keep_macs:g}",
            hint=f"use keep_macs >= {np.ceil(floor * 1e4) / 1e4:.4f}, include more layers, or "
                 "lower round_to")
    return floor


def uniform_for_macs(graph: ChannelGraph, groups: list[Group], keep_macs: float,
                     round_to: int) -> Allocation:
    """The smallest uniform ratio whose MACs are within ``keep_macs`` of the original."""
    total = total_macs(graph, {})
    check_reachable(graph, groups, keep_macs, round_to)
    lo, hi = 0.0, 1.0
    best = minimum_counts(groups, round_to)
    for _ in range(40):
        mid = (lo + hi) / 2
        counts = uniform_counts(groups, mid, round_to)
        if total_macs(graph, counts) <= keep_macs * total + 1e-6:
            hi, best = mid, counts
        else:
            lo = mid
    return Allocation(best, total_macs(graph, best), total)


def sensitivity_for_macs(graph: ChannelGraph, groups: list[Group], keep_macs: float,
                         round_to: int, curves: dict[int, dict[float, float]]) -> Allocation:
    """Greedy: remove ``round_to`` channels at a time from the group whose scanned accuracy
    drop grows least per MAC saved, until the MACs are within ``keep_macs``."""
    total = total_macs(graph, {})
    check_reachable(graph, groups, keep_macs, round_to)
    counts = {g.id: g.size for g in groups}
    options = {g.id: allowed_counts(g.size, round_to) for g in groups}
    current = total
    while current > keep_macs * total + 1e-6:
        best, best_key = None, None
        for g in groups:
            opts = options[g.id]
            i = opts.index(counts[g.id])
            if i == 0:
                continue
            trial = {**counts, g.id: opts[i - 1]}
            saved = current - total_macs(graph, trial)
            if saved <= 0:
                continue
            cost = (_drop(curves.get(g.id, {}), 1 - opts[i - 1] / g.size)
                    - _drop(curves.get(g.id, {}), 1 - counts[g.id] / g.size))
            key = (max(cost, 0.0) / saved, -saved)
            if best_key is None or key < best_key:
                best, best_key = (g.id, opts[i - 1], saved), key
        if best is None:
            break
        counts[best[0]] = best[1]
        current -= best[2]
    # the last step may overshoot: give channels back (most sensitive first) within the budget
    for g in sorted(groups, key=lambda g: -_drop(curves.get(g.id, {}), 1 - counts[g.id] / g.size)):
        opts = options[g.id]
        while counts[g.id] < g.size:
            trial = {**counts, g.id: opts[opts.index(counts[g.id]) + 1]}
            if total_macs(graph, trial) > keep_macs * total + 1e-6:
                break
            counts = trial
    return Allocation(counts, total_macs(graph, counts), total)


def _drop(curve: dict[float, float], ratio: float) -> float:
    """Accuracy drop at ``ratio`` from the scanned points (piecewise linear, monotone,
    extrapolated past the last point along its last segment)."""
    points = sorted({0.0: 0.0, **curve}.items())
    xs = [p[0] for p in points]
    ys = list(np.maximum.accumulate([max(p[1], 0.0) for p in points]))
    if ratio <= xs[-1]:
        return float(np.interp(ratio, xs, ys))
    slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]) if len(xs) > 1 else 0.0
    return float(ys[-1] + max(slope, 0.0) * (ratio - xs[-1]) + (ratio - xs[-1]))


# -- sensitivity ----------------------------------------------------------------------------

def accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    pred = np.asarray(model.predict(x, batch_size=256, verbose=0))
    labels = y.argmax(-1) if y.ndim > 1 else y
    return float(np.mean(pred.argmax(-1) == labels))


def scan(graph: ChannelGraph, groups: list[Group], x: np.ndarray, y: np.ndarray, *,
         importance_kind: str = "l1", ratios: tuple[float, ...] = SCAN_RATIOS,
         round_to: int = 1, progress: Callable[[str], None] | None = None) -> dict:
    """Accuracy drop when only one group loses each fraction of its channels.

    Removing a channel is exactly zeroing its rows in the kernels that read it (the consumers),
    so the scan sets those rows to zero on the model itself, evaluates, and restores them:
    no model is rebuilt.

    Returns:
        ``{baseline_accuracy, samples, ratios, layers: [{group, layer, channels, macs,
        points: [{ratio, kept, accuracy, drop, macs_saved}]}]}``
    """
    model = graph.model
    base = accuracy(model, x, y)
    total = total_macs(graph, {})
    rows = []
    for g in groups:
        scores = importance(graph, g, importance_kind)
        saved_weights = {p: graph.layers[p].get_weights() for p in g.consumers}
        points = []
        for ratio in ratios:
            kept = round_count(g.size, g.size * (1 - ratio), round_to)
            drop_idx = np.setdiff1d(np.arange(g.size), kept_indices(scores, kept))
            for path in g.consumers:
                graph.layers[path].set_weights(_zero_inputs(graph, path, g, drop_idx,
                                                            saved_weights[path]))
            acc = accuracy(model, x, y)
            for path in g.consumers:
                graph.layers[path].set_weights(saved_weights[path])
            macs = total_macs(graph, {g.id: kept})
            points.append({"ratio": ratio, "kept": kept, "accuracy": round(acc, 5),
                           "drop": round(base - acc, 5), "macs_saved": int(round(total - macs))})
        rows.append({"group": g.id, "layer": g.name, "members": list(g.producers),
                     "channels": g.size, "points": points})
        if progress is not None:
            progress(f"sensitivity: {g.name} " + ", ".join(
                f"{p['ratio']:.0%} -> {100 * p['drop']:+.2f} pp" for p in points))
    return {"baseline_accuracy": round(base, 5), "samples": int(len(x)), "ratios": list(ratios),
            "importance": importance_kind, "total_macs": int(round(total)), "layers": rows}


def curves_of(scan_result: dict) -> dict[int, dict[float, float]]:
    return {row["group"]: {p["ratio"]: p["drop"] for p in row["points"]}
            for row in scan_result["layers"]}


def _zero_inputs(graph: ChannelGraph, path: str, group: Group, drop: np.ndarray,
                 weights: list[np.ndarray]) -> list[np.ndarray]:
    """``path``'s weights with the rows reading ``group``'s channels ``drop`` set to zero."""
    use = graph.uses[path]
    keep_all = {group.id: np.arange(group.size)}
    rows = np.setdiff1d(graph.positions(use.inputs, keep_all),
                        graph.positions(use.inputs, {group.id: np.setdiff1d(
                            np.arange(group.size), drop)}))
    out = [w.copy() for w in weights]
    kernel = out[0]
    if "Transpose" in use.class_name:
        kernel[..., rows] = 0
    else:  # Conv/Dense (..., in, out); SeparableConv's depthwise half (..., in, mult)
        index = [slice(None)] * kernel.ndim
        index[kernel.ndim - 2] = rows
        kernel[tuple(index)] = 0
    return out
