"""Distinct weight values per kernel and per output channel, read from a .tflite file.

Weight clustering (``compress.stages.cluster``) leaves each clustered kernel with a few shared
values; the int8 converter then quantizes every output channel with its own scale, so the
check that means something on the file is per output channel: how many distinct stored values
each channel of each weight tensor holds. Like ``TFLiteGraph.weight_stats`` this follows each
CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED / TRANSPOSE_CONV filter back to its stored
constant (through DEQUANTIZE/DENSIFY) and counts each stored buffer once. numpy only.

Example:
    >>> from targets.tflite_graph import read_model
    >>> summary = distinct_values(read_model("model_int8.tflite"))
    >>> summary["max_per_channel"], [k["max_per_channel"] for k in summary["kernels"]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

# The reader's own walk from a weight op to its stored constant: one definition for both.
from targets.tflite_graph import TFLiteGraph


def distinct_values(graph: TFLiteGraph) -> dict[str, Any]:
    """Distinct stored values of every weight tensor, whole and per output channel.

    The output channel axis is the tensor's ``quantized_dimension`` when it is quantized per
    channel, else the TFLite layout's (axis 0 for CONV_2D, FULLY_CONNECTED and TRANSPOSE_CONV
    filters, the last axis for DEPTHWISE_CONV_2D). Zero is counted as a value like any other
    (a pruned and clustered channel holds at most ``clusters + 1`` values). Tensors whose values
    cannot be read (sparse storage, bfloat16) are listed with ``distinct: None``.

    Returns:
        ``{max_per_channel, kernels: [{tensor, op, dtype, shape, params, distinct,
        max_per_channel, mean_per_channel, has_zero}]}``; ``max_per_channel`` overall is the
        largest over the readable kernels (None when there are none).
    """
    kernels = [_kernel_entry(graph, tensor, op.op) for op, tensor in graph.weight_tensors()]
    readable = [k["max_per_channel"] for k in kernels if k["max_per_channel"] is not None]
    return {"max_per_channel": max(readable) if readable else None, "kernels": kernels}


def per_channel_counts(values: np.ndarray, axis: int) -> list[int]:
    """The number of distinct values in each slice of ``values`` along ``axis``."""
    moved = np.moveaxis(np.asarray(values), axis, 0).reshape(values.shape[axis], -1)
    return [int(np.unique(row).size) for row in moved]


def _kernel_entry(graph: TFLiteGraph, tensor: Any, op: str) -> dict[str, Any]:
    values = graph.tensor_values(tensor)
    entry: dict[str, Any] = {"tensor": tensor.name, "op": op, "dtype": tensor.dtype,
                             "shape": list(tensor.shape), "params": int(np.prod(tensor.shape)),
                             "distinct": None, "max_per_channel": None,
                             "mean_per_channel": None, "has_zero": None}
    if values is None or values.ndim == 0:
        return entry
    axis = _channel_axis(tensor, op, values.ndim)
    counts = per_channel_counts(values, axis)
    zero = _zero_points(tensor, values, axis)
    entry.update(distinct=int(np.unique(values).size), max_per_channel=max(counts),
                 mean_per_channel=round(float(np.mean(counts)), 2),
                 has_zero=bool(np.any(values == zero)))
    return entry


def _channel_axis(tensor: Any, op: str, ndim: int) -> int:
    q = tensor.quantization
    if q and len(q["scale"]) > 1 and 0 <= q["quantized_dimension"] < ndim:
        return int(q["quantized_dimension"])
    return ndim - 1 if op == "DEPTHWISE_CONV_2D" else 0


def _zero_points(tensor: Any, values: np.ndarray, axis: int) -> Any:
    """What a stored zero looks like: the zero point (per channel, broadcastable) or 0."""
    q = tensor.quantization
    if not q or not q["zero_point"] or not np.issubdtype(values.dtype, np.integer):
        return 0
    zp = np.asarray(q["zero_point"], dtype=values.dtype)
    if zp.size > 1 and values.shape[axis] == zp.size:
        shape = [1] * values.ndim
        shape[axis] = zp.size
        return zp.reshape(shape)
    return zp.reshape(-1)[0]


__all__ = ["distinct_values", "per_channel_counts"]
