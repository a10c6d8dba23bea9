"""``edgecompress inspect``: ops, tensor dtypes, quantization, sizes and weight sparsity of a .tflite,
and, with a target, whether the file suits that device.

Reads the flatbuffer directly (``targets.tflite_graph``), so it needs no TensorFlow. For an
Edge TPU profile (``coral-*``) the check is ``targets.edgetpu.analyze`` (which ops the compiler
maps, where it splits, parameter memory, and the real compiler's report when it is installed);
for every profile it is ``check_target`` (format, I/O dtypes, shapes, custom ops).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compress.errors import ModelLoadError

_FLOAT = ("float32", "float16", "bfloat16", "float64")


def inspect_file(path: str | Path, *, target: str | None = None, use_compiler: bool = True,
                 compiler_out: str | Path | None = None) -> dict[str, Any]:
    """A JSON-able description of a .tflite file.

    Args:
        path: the .tflite file.
        target: a device profile id (or profile file); adds ``target`` and, for Edge TPU
            profiles, ``edgetpu``.
        use_compiler: run ``edgetpu_compiler`` when it is on PATH (Edge TPU profiles only).
        compiler_out: folder for the compiler's output (default: next to ``path``).

    Raises:
        ModelLoadError: the file does not exist.
        ConversionError: the file is not a valid .tflite.
        TargetError: unknown profile id (the message lists the valid ids), or a model that
            is not full-integer for an Edge TPU profile.
    """
    from targets import tflite_graph

    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"tflite file not found. Received: {str(path)!r}")
    profile = None
    if target is not None:  # before parsing: a wrong id fails fast
        from targets.spec import get_profile

        profile = get_profile(target)
    graph = tflite_graph.read_model(str(p))
    info = graph.to_dict()
    info["path"] = str(p)
    info["size_bytes"] = p.stat().st_size
    if profile is not None:
        info["target"] = check_target(graph, profile)
        if profile.edgetpu is not None:
            from targets import edgetpu

            info["edgetpu"] = edgetpu.analyze(graph, profile=profile, use_compiler=use_compiler,
                                              out_dir=compiler_out).to_dict()
    return info


def detect_format(graph: Any) -> str:
    """The TFLite format a graph was converted to: float32, float16, dynamic, int8 or int16x8.

    Judged from the activations inside the model (its inputs and outputs may be float for an
    integer model) and, for float activations, from the stored weight dtype.
    """
    io = set(graph.inputs) | set(graph.outputs)
    acts = [t for t in graph.tensors if not t.is_constant and not t.is_variable
            and t.index not in io] or [graph.tensors[i] for i in io]
    dtypes = {t.dtype for t in acts}
    if "int16" in dtypes:
        return "int16x8"
    if not dtypes & set(_FLOAT):
        return "int8"
    weights = {w["dtype"] for w in graph.weight_stats()["per_tensor"]}
    if weights & {"int8", "uint8", "int4"}:
        return "dynamic"
    return "float16" if "float16" in weights else "float32"


def check_target(graph: Any, profile: Any) -> dict[str, Any]:
    """Whether a parsed .tflite suits a device profile: ``{id, compatible, format, notes}``.

    Each note starts with ``error:`` (it stops the model from running there) or ``warning:``.
    ``compatible`` is False only for what stops the model from running there (ops the runtime
    lacks, dynamic sizes where the profile needs static ones, a format its op set cannot run);
    a format or I/O dtype other than the profile's preference is a note.
    """
    notes: list[str] = []
    blocking = False
    fmt = detect_format(graph)
    if fmt not in profile.formats:
        allowed = {"builtins_int8": ("int8",), "builtins_int16x8": ("int16x8",)}
        if fmt not in allowed.get(profile.op_set, (fmt,)):
            blocking = True
            notes.append(f"error: a {fmt} model cannot run on {profile.id}, whose op set is "
                         f"{profile.op_set}; convert with --format {profile.default_format}")
        else:
            notes.append(f"warning: the model is {fmt}, which is not among {profile.id}'s "
                         f"formats ({', '.join(profile.formats)}); it may run, but convert "
                         f"with --format {profile.default_format} for this device")
    if fmt == "int8":
        for kind, wanted, indices in (("input", profile.input_dtype, graph.inputs),
                                      ("output", profile.output_dtype, graph.outputs)):
            got = sorted({graph.tensors[i].dtype for i in indices})
            if got and got != [wanted]:
                fix = (f"convert with --io-dtype {wanted}" if wanted in ("int8", "uint8")
                       else "the application must convert its data")
                notes.append(f"warning: {kind} dtype {'/'.join(got)} differs from {profile.id}'s "
                             f"{wanted}: {fix}")
    ins = [graph.tensors[i] for i in graph.inputs]
    dynamic = sorted({t.name for sg in graph.subgraphs for t in sg.tensors
                      if any(d < 0 for d in t.shape_signature[1:])})
    if dynamic and profile.static_shapes:
        blocking = True
        notes.append(f"error: {profile.id} needs static tensor sizes; dynamic: {', '.join(dynamic[:5])}")
    # (an Edge TPU analysis says this itself)
    if profile.static_shapes and profile.edgetpu is None \
            and any(t.shape_signature[:1] == [-1] for t in ins):
        notes.append(f"warning: the input batch is dynamic (-1); {profile.id} needs a fixed batch of "
                     f"{profile.batch_size} (convert for the device to fix it)")
    batches = sorted({t.shape[0] for t in ins if t.shape})
    if batches and batches != [profile.batch_size]:
        notes.append(f"warning: input batch {batches} differs from {profile.id}'s batch size "
                     f"{profile.batch_size}")
    for op, count in sorted(graph.op_counts().items()):
        if not op.startswith("CUSTOM:"):
            continue
        code = op.split(":", 1)[1]
        if code.startswith("Flex") and profile.op_set == "select_tf_ops":
            continue
        if code == "edgetpu-custom-op" and profile.edgetpu is not None:
            continue
        blocking = True
        why = ("a TensorFlow (Flex) op: needs the select-TF-ops runtime"
               if code.startswith("Flex") else
               "compiled for the Edge TPU" if code == "edgetpu-custom-op" else
               "a custom op the interpreter must have registered")
        notes.append(f"error: {op} x{count} is not a builtin op ({why}); {profile.runtime['package']} "
                     f"on {profile.id} does not provide it")
    return {"id": profile.id, "compatible": not blocking, "format": fmt, "notes": notes}


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
    if "target" in info:
        lines += _render_target(info["target"], info.get("edgetpu"))
    return "\n".join(lines)


def _render_target(target: dict[str, Any], edgetpu: dict[str, Any] | None) -> list[str]:
    verdict = "compatible" if target["compatible"] else "NOT compatible"
    lines = ["", f"  target {target['id']}: {verdict} ({target['format']} model)"]
    lines += [f"    {n}" for n in target["notes"]]
    return lines + (_render_edgetpu(edgetpu) if edgetpu is not None else [])


def _render_edgetpu(r: dict[str, Any]) -> list[str]:
    """The Edge TPU verdict: mapped ops, the first unmapped op, parameter memory, compiler."""
    where = f" ({r['profile']})" if r.get("profile") else ""
    verdict = "fully mapped" if r["fully_mapped"] else f"{r['cpu_ops']} op(s) on the CPU"
    lines = [f"  Edge TPU{where}: {r['mapped_ops']}/{r['total_ops']} ops mapped, {verdict} "
             "(static prediction)"]
    first = r["first_unmapped"]
    if first:
        lines.append(f"    first unmapped: {first['op']} at index {first['index']}: "
                     f"{first['reason']}")
    lines.append(f"    parameters on the Edge TPU: {r['mapped_parameter_bytes']} bytes, cache "
                 f"{r['cache_bytes']} bytes: {r['parameter_memory']}")
    c = r["compiler"]
    if c:
        lines.append(f"    edgetpu_compiler {c.get('version') or '?'}: {c.get('mapped_ops')} "
                     f"mapped, {c.get('cpu_ops')} on the CPU; on-chip {c.get('on_chip_bytes')} "
                     f"bytes, off-chip {c.get('off_chip_bytes')} bytes; wrote "
                     f"{c.get('output_path')}")
    return lines + [f"    note: {n}" for n in r["notes"]]
