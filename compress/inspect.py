"""``edgecompress inspect``: ops, tensor dtypes, quantization, sizes and weight sparsity of a .tflite.

Reads the flatbuffer directly (``targets.tflite_graph``), so it needs no TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compress.errors import ModelLoadError


def inspect_file(path: str | Path) -> dict[str, Any]:
    """A JSON-able description of a .tflite file."""
    from targets import tflite_graph

    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"tflite file not found. Received: {str(path)!r}")
    graph = tflite_graph.read_model(str(p))
    info = graph.to_dict()
    info["path"] = str(p)
    info["size_bytes"] = p.stat().st_size
    return info


def render_inspect(info: dict[str, Any]) -> str:
    """Human-readable text of ``inspect_file``'s result."""
    lines = [f"{info['path']}: {info['size_bytes']} bytes"]
    for kind in ("inputs", "outputs"):
        for t in info.get(kind, []):
            q = t.get("quantization")
            qtext = ""
            if q and q.get("scale"):
                qtext = f", scale {q['scale'][0]:.6g}, zero_point {q['zero_point'][0]}"
            lines.append(f"  {kind[:-1]} {t['name']}: {t['dtype']} {t['shape']}{qtext}")
    ws = info.get("weights", {})
    if ws:
        lines.append(f"  weights: {ws.get('params', 0)} params, {ws.get('nonzero_params', 0)} "
                     f"non-zero, sparsity {100 * ws.get('sparsity', 0):.2f} %, "
                     f"{ws.get('parameter_bytes', 0)} bytes")
    macs = info.get("macs", {})
    if macs:
        lines.append(f"  MACs (batch 1): {macs.get('total', 0):,}")
    lines.append("  ops:")
    for op, count in sorted(info.get("op_counts", {}).items(), key=lambda kv: -kv[1]):
        lines.append(f"    {op:<28} {count}")
    dtypes = info.get("tensor_dtypes", {})
    if dtypes:
        lines.append("  tensor dtypes: " + ", ".join(f"{k} {v}" for k, v in sorted(dtypes.items())))
    return "\n".join(lines)
