"""Edge TPU compatibility of a .tflite file: which ops the compiler will map, and where it splits.

A static prediction from the flatbuffer (no TensorFlow, no compiler needed), plus the real
``edgetpu_compiler`` when it is on PATH. The rules are Coral's, kept below as data:

- the model must be full-integer: 8-bit activations (int8/uint8), constant parameters
  (weights, biases) and constant tensor sizes;
- activation tensors have at most 3 dimensions that can be > 1 (the innermost three);
- only the ops in ``SUPPORTED_OPS`` run on the Edge TPU, each with its documented limitations;
- the compiler cuts the graph ONCE: at the first op it cannot map (in execution order), that op
  and every op after it run on the CPU, even ops the Edge TPU supports.

Float I/O is the one exception to the cut: a QUANTIZE that converts a float model input to int8
and a DEQUANTIZE that produces a float model output run on the CPU around the Edge TPU segment
without splitting it (they are counted in ``cpu_ops``).

Example:
    >>> report = analyze("model_int8.tflite", profile=get_profile("coral-usb"))
    >>> report.mapped_ops, report.total_ops, report.first_unmapped
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from targets.edgetpu_compiler import (COMPILER, COMPILER_TIMEOUT_S, NOT_FOUND_NOTE,
                                      compiler_path, parse_compiler_log, run_compiler)
from targets.errors import TargetError
from targets.tflite_graph import OpInfo, TensorInfo, TFLiteGraph, read_model

RULES_SOURCE = ("Coral, 'TensorFlow models on the Edge TPU' (coral.ai/docs/edgetpu/models-intro): "
                "'Model requirements' and the 'Supported operations' table (Edge TPU compiler "
                "16, runtime 14+); the single split point is from the same page, 'Compiling'")
#: Roughly 8 MB of on-chip SRAM caches parameters (Edge TPU compiler docs, "Parameter data
#: caching"); used when no profile gives ``edgetpu.cache_bytes``.
DEFAULT_CACHE_BYTES = 8 * 1024 * 1024
EDGETPU_CUSTOM_OP = "CUSTOM:edgetpu-custom-op"
#: Why Edge TPU targets refuse the sub-8-bit formats (``int4``, ``mixed``).
SUB8BIT_REFUSAL = ("the Edge TPU runs int8 only (8-bit weights and activations; its compiler "
                   "rejects 4-bit weights and float layers)")

_EIGHT_BIT = ("int8", "uint8")
_FLOAT = ("float32", "float16", "bfloat16", "float64")
_CONSTANT_DTYPES = ("int8", "uint8", "int32", "int64")
# Inputs that must be stored in the file (Coral: "model parameters are constant at compile time").
_PARAMETER_INPUTS = {"CONV_2D": (1, 2), "DEPTHWISE_CONV_2D": (1, 2), "FULLY_CONNECTED": (1, 2),
                     "TRANSPOSE_CONV": (0, 1, 3), "PRELU": (1,)}


@dataclass(frozen=True)
class OpRule:
    """One row of Coral's supported-operations table.

    Attributes:
        op: the TFLite schema name ("CONV_2D").
        doc_name: the name in Coral's table ("Conv2d").
        runtime: the Edge TPU runtime versions that support it ("all", "13+", "14+").
        limitation: Coral's "known limitations" text ("" when none).
        checks: names of the limitations this module verifies from the graph (``_CHECKS``).
        caveat: a limitation that cannot be decided from the graph (reported, not enforced).
    """

    op: str
    doc_name: str
    runtime: str
    limitation: str = ""
    checks: tuple[str, ...] = ()
    caveat: str = ""


_NO_ACT = "No fused activation function."
_RESIZE = ("Input/output is a 3-dimensional tensor. Depending on input/output size, this "
           "operation may not be mapped to the Edge TPU to avoid loss in precision.")

#: Coral's supported-operations table (source: ``RULES_SOURCE``). Every op not listed, e.g.
#: EXP, LEAKY_RELU, HARD_SWISH, GATHER, SPLIT_V, PADV2, DEQUANTIZE, runs on the CPU.
SUPPORTED_OPS: dict[str, OpRule] = {r.op: r for r in (
    # Ops with no documented limitation (op, Coral's name, runtime versions):
    *(OpRule(*row) for row in (
        ("ADD", "Add", "all"), ("EXPAND_DIMS", "ExpandDims", "13+"),
        ("L2_NORMALIZATION", "L2Normalization", "all"), ("LOGISTIC", "Logistic", "all"),
        ("MAXIMUM", "Maximum", "all"), ("MINIMUM", "Minimum", "all"), ("MUL", "Mul", "all"),
        ("QUANTIZE", "Quantize", "13+"), ("RELU", "ReLU", "all"), ("RELU6", "ReLU6", "all"),
        ("RELU_N1_TO_1", "ReLUN1To1", "all"), ("RSQRT", "Rsqrt", "14+"),
        ("SLICE", "Slice", "all"), ("SPACE_TO_DEPTH", "SpaceToDepth", "all"),
        ("SQUARED_DIFFERENCE", "SquaredDifference", "14+"), ("SQUEEZE", "Squeeze", "13+"),
        ("SUB", "Sub", "all"), ("TANH", "Tanh", "all"), ("TRANSPOSE", "Transpose", "14+"),
        ("TRANSPOSE_CONV", "TransposeConv", "13+"),)),
    OpRule("AVERAGE_POOL_2D", "AveragePool2d", "all", _NO_ACT, ("no_fused_activation",)),
    OpRule("CONCATENATION", "Concatenation", "all",
           _NO_ACT + " If any input is a compile-time constant tensor, there must be only 2 "
           "inputs, and this constant tensor must be all zeroes (effectively, a zero-padding op).",
           ("no_fused_activation", "concat_constants")),
    OpRule("CONV_2D", "Conv2d", "all", "Must use the same dilation in x and y dimensions.",
           ("same_dilation",)),
    OpRule("DEPTHWISE_CONV_2D", "DepthwiseConv2d", "all",
           "Must use the same dilation in x and y dimensions.", ("same_dilation",)),
    OpRule("FULLY_CONNECTED", "FullyConnected", "all",
           "Only the default format is supported for fully-connected weights. Output tensor is "
           "one-dimensional.", ("default_weights_format", "one_dimensional_output")),
    OpRule("LSTM", "LSTM", "14+", "Unidirectional LSTM only."),
    OpRule("UNIDIRECTIONAL_SEQUENCE_LSTM", "LSTM", "14+", "Unidirectional LSTM only."),
    OpRule("MAX_POOL_2D", "MaxPool2d", "all", _NO_ACT, ("no_fused_activation",)),
    OpRule("MEAN", "Mean", "13+", "No reduction in batch dimension.", ("no_batch_axes",)),
    OpRule("PACK", "Pack", "13+", "No packing in batch dimension.", ("no_batch_pack",)),
    OpRule("PAD", "Pad", "13+", "No padding in batch dimension.", ("no_batch_padding",)),
    OpRule("PRELU", "PReLU", "13+", "Alpha needs to be constant."),
    OpRule("REDUCE_MAX", "ReduceMax", "14+", "Cannot operate on the batch dimension.",
           ("no_batch_axes",)),
    OpRule("REDUCE_MIN", "ReduceMin", "14+", "Cannot operate on the batch dimension.",
           ("no_batch_axes",)),
    OpRule("RESHAPE", "Reshape", "all",
           "Certain reshapes might not be mapped for large tensor sizes.",
           caveat="certain reshapes of large tensors may not be mapped"),
    OpRule("RESIZE_BILINEAR", "ResizeBilinear", "all", _RESIZE,
           caveat="may not be mapped for some input/output sizes (precision)"),
    OpRule("RESIZE_NEAREST_NEIGHBOR", "ResizeNearestNeighbor", "all", _RESIZE,
           caveat="may not be mapped for some input/output sizes (precision)"),
    OpRule("SOFTMAX", "Softmax", "all",
           "Supports only 1-D input tensor with a max of 16,000 elements.", ("softmax_1d",)),
    OpRule("SPLIT", "Split", "all", "No splitting in batch dimension.", ("no_batch_split",)),
    OpRule("STRIDED_SLICE", "StridedSlice", "all",
           "Supported only when all strides are equal to 1 (that is, effectively a Stride op), "
           "and with ellipsis-axis-mask == 0, and new-axis-max == 0.", ("unit_strides",)),
    OpRule("SUM", "Sum", "13+", "Cannot operate on the batch dimension.", ("no_batch_axes",)),
)}

#: The model-level requirements (same page, "Model requirements"), in the order they are checked.
MODEL_RULES = (
    "Tensor parameters are quantized (8-bit fixed-point numbers; int8 or uint8).",
    "Tensor sizes are constant at compile-time (no dynamic sizes).",
    "Model parameters (such as bias tensors) are constant at compile-time.",
    "Tensors are either 1-, 2-, or 3-dimensional. If a tensor has more than 3 dimensions, then "
    "only the 3 innermost dimensions may have a size greater than 1.",
    "The model uses only the operations supported by the Edge TPU.",
)


@dataclass(frozen=True)
class OpMapping:
    """The verdict for one op of the main subgraph.

    Attributes:
        index: position in execution order.
        op: TFLite schema name.
        supported: the Edge TPU can run this op here (it passes every rule).
        mapped: predicted to run on the Edge TPU (supported and before the split).
        reason: why, in words.
        caveat: a documented limitation that the graph cannot decide ("" when none).
    """

    index: int
    op: str
    supported: bool
    mapped: bool
    reason: str
    caveat: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = {"index": self.index, "op": self.op, "supported": self.supported,
               "mapped": self.mapped, "reason": self.reason}
        if self.caveat:
            out["caveat"] = self.caveat
        return out


@dataclass(frozen=True)
class EdgeTPUReport:
    """What ``analyze`` found. ``mapped_ops``/``cpu_ops`` are the static prediction;
    ``compiler`` holds the real compiler's figures when it ran (it is authoritative).

    Attributes:
        path: the analysed file (None for in-memory graphs).
        profile: the device profile id, if one was given.
        total_ops: ops in the main subgraph.
        mapped_ops: ops predicted to run on the Edge TPU.
        cpu_ops: the others.
        first_unmapped: ``{index, op, reason}`` of the split point, or None.
        ops: one ``OpMapping`` per op.
        parameter_bytes: bytes of every constant tensor in the file.
        mapped_parameter_bytes: bytes of the constants the mapped ops read.
        cache_bytes: the Edge TPU's on-chip parameter cache (from the profile).
        compiler: the parsed ``edgetpu_compiler`` run, or None.
        notes: model-level remarks (one line each).
    """

    path: str | None
    profile: str | None
    total_ops: int
    mapped_ops: int
    cpu_ops: int
    first_unmapped: dict[str, Any] | None
    ops: tuple[OpMapping, ...]
    parameter_bytes: int
    mapped_parameter_bytes: int
    cache_bytes: int
    compiler: dict[str, Any] | None
    notes: tuple[str, ...] = field(default=())

    @property
    def fully_mapped(self) -> bool:
        return self.first_unmapped is None and self.mapped_ops == self.total_ops

    @property
    def fits_on_chip(self) -> bool:
        """Whether the mapped ops' parameters fit the on-chip cache (else they stream)."""
        return self.mapped_parameter_bytes <= self.cache_bytes

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (what ``edgecompress inspect --target coral-usb --json`` prints)."""
        off_chip = max(0, self.mapped_parameter_bytes - self.cache_bytes)
        return {
            "path": self.path, "profile": self.profile,
            "total_ops": self.total_ops, "mapped_ops": self.mapped_ops, "cpu_ops": self.cpu_ops,
            "fully_mapped": self.fully_mapped, "first_unmapped": self.first_unmapped,
            "parameter_bytes": self.parameter_bytes,
            "mapped_parameter_bytes": self.mapped_parameter_bytes,
            "cache_bytes": self.cache_bytes, "fits_on_chip": self.fits_on_chip,
            "off_chip_bytes_estimate": off_chip,
            "parameter_memory": ("on-chip" if not off_chip else
                                 f"streams about {off_chip} bytes off-chip per inference"),
            "compiler": self.compiler, "notes": list(self.notes),
            "ops": [op.to_dict() for op in self.ops], "rules_source": RULES_SOURCE,
        }


# --- the static analysis ----------------------------------------------------------------------


def analyze(graph_or_path: TFLiteGraph | str | Path, *, profile: Any = None,
            use_compiler: bool = True, out_dir: str | Path | None = None,
            timeout_s: float = COMPILER_TIMEOUT_S) -> EdgeTPUReport:
    """Predict how ``edgetpu_compiler`` maps a .tflite model, and run it when it is installed.

    Args:
        graph_or_path: a parsed graph or a .tflite path.
        profile: a ``DeviceProfile`` (its ``edgetpu.cache_bytes`` and id are used), or None.
        use_compiler: run ``edgetpu_compiler`` when it is on PATH (needs a file on disk).
        out_dir: where the compiler's ``<name>_edgetpu.tflite`` and ``.log`` go (default:
            next to the input).
        timeout_s: limit for the compiler run.

    Raises:
        TargetError: the model is not full-integer (float or int16 activations), or the
            compiler failed or timed out.
    """
    graph = graph_or_path if isinstance(graph_or_path, TFLiteGraph) else read_model(graph_or_path)
    pid = getattr(profile, "id", None)
    edges = _edge_ops(graph)
    _require_full_integer(graph, edges, pid)
    mappings, first = _map_ops(graph, edges)
    mapped = sum(m.mapped for m in mappings)
    notes = _model_notes(graph, edges)
    consts = _constant_bytes(graph, [m.index for m in mappings if m.mapped])
    cache = int((getattr(profile, "edgetpu", None) or {}).get("cache_bytes", DEFAULT_CACHE_BYTES))
    if consts > cache:
        notes.append(f"the mapped ops' parameters ({consts} bytes) exceed the on-chip cache "
                     f"({cache} bytes): about {consts - cache} bytes stream from the host on "
                     "every inference, which is slower (the compiler reports the exact split)")
    compiler = None
    if any(op.op == EDGETPU_CUSTOM_OP for op in graph.ops):
        notes.append("this model is already compiled for the Edge TPU (it holds an "
                     "edgetpu-custom-op); the compiler was not run again")
    elif use_compiler:
        compiler, note = _maybe_compile(graph, out_dir=out_dir, timeout_s=timeout_s)
        if note:
            notes.append(note)
        if compiler and compiler.get("mapped_ops") is not None \
                and compiler["mapped_ops"] != mapped:
            notes.append(f"edgetpu_compiler mapped {compiler['mapped_ops']} ops, the static "
                         f"prediction {mapped}: the compiler's figure is authoritative")
    return EdgeTPUReport(
        path=graph.path, profile=pid, total_ops=len(graph.ops), mapped_ops=mapped,
        cpu_ops=len(graph.ops) - mapped, first_unmapped=first, ops=tuple(mappings),
        parameter_bytes=int(graph.weight_stats()["parameter_bytes"]),
        mapped_parameter_bytes=consts, cache_bytes=cache, compiler=compiler, notes=tuple(notes))


def _map_ops(graph: TFLiteGraph,
             edges: dict[int, str]) -> tuple[list[OpMapping], dict[str, Any] | None]:
    """Every op's verdict in execution order, and the split point (the first unmapped op)."""
    mappings: list[OpMapping] = []
    first: dict[str, Any] | None = None
    for op in graph.ops:
        rule = SUPPORTED_OPS.get(op.op)
        caveat = rule.caveat if rule else ""
        if op.index in edges:
            mappings.append(OpMapping(op.index, op.op, False, False, edges[op.index]))
            continue
        problem = _problem(op, graph, rule)
        if problem is None and first is None:
            mappings.append(OpMapping(op.index, op.op, True, True, _supported_text(op, rule),
                                      caveat))
        elif problem is None:
            mappings.append(OpMapping(
                op.index, op.op, True, False,
                f"supported, but after the first unmapped op ({first['op']} at index "
                f"{first['index']}): the compiler splits the graph once, so it runs on the CPU "
                "(compiler status: More than one subgraph is not supported)", caveat))
        else:
            if first is None:
                first = {"index": op.index, "op": op.op, "reason": problem}
            mappings.append(OpMapping(op.index, op.op, False, False, problem, caveat))
    return mappings, first


def _supported_text(op: OpInfo, rule: OpRule | None) -> str:
    if op.op == EDGETPU_CUSTOM_OP:
        return "an Edge TPU segment already compiled by edgetpu_compiler"
    if rule is None:  # not reached: _problem rejects ops outside the table
        return "supported"
    runtime = "all runtimes" if rule.runtime == "all" else f"runtime {rule.runtime}"
    return f"supported ({rule.doc_name}, {runtime})"


def _activation(t: TensorInfo) -> bool:
    return not t.is_constant and not t.is_variable


def _tensors(graph: TFLiteGraph, indices: list[int]) -> list[TensorInfo]:
    return [graph.tensors[i] for i in indices if 0 <= i < len(graph.tensors)]


def _edge_ops(graph: TFLiteGraph) -> dict[int, str]:
    """Float-I/O conversions at the model's edges: they run on the CPU without splitting."""
    edges = {}
    for op in graph.ops:
        ins, outs = _tensors(graph, op.inputs), _tensors(graph, op.outputs)
        if op.op == "QUANTIZE" and ins and ins[0].dtype in _FLOAT \
                and op.inputs[0] in graph.inputs:
            edges[op.index] = ("converts the float model input to 8-bit on the CPU before "
                               "the Edge TPU segment (float I/O; does not split the graph)")
        elif op.op == "DEQUANTIZE" and outs and outs[0].dtype in _FLOAT \
                and op.outputs[0] in graph.outputs and ins and _activation(ins[0]):
            edges[op.index] = ("converts an 8-bit result to the float model output on the "
                               "CPU after the Edge TPU segment (float I/O)")
    return edges


def _require_full_integer(graph: TFLiteGraph, edges: dict[int, str],
                          profile_id: str | None) -> None:
    """Float or int16 activations (outside float-I/O edges) mean the compiler refuses the model."""
    edge_tensors = {i for op in graph.ops if op.index in edges
                    for i in (op.inputs[:1] if op.op == "QUANTIZE" else op.outputs[:1])}
    offenders: list[str] = []
    dtypes: set[str] = set()
    for op in graph.ops:
        bad = [t for t in _tensors(graph, op.inputs + op.outputs)
               if _activation(t) and t.index not in edge_tensors
               and (t.dtype in _FLOAT or t.dtype == "int16")]
        if bad:
            offenders.append(f"{op.op} (op {op.index})")
            dtypes.update(t.dtype for t in bad)
    if not offenders:
        return
    shown = ", ".join(offenders[:6]) + (f" and {len(offenders) - 6} more"
                                        if len(offenders) > 6 else "")
    where = f" ({profile_id})" if profile_id else ""
    raise TargetError(
        f"{graph.path or 'the model'} must be full-integer (int8/uint8) for the Edge TPU{where}; "
        f"found {'/'.join(sorted(dtypes))} ops/tensors: {shown}; convert with --format int8",
        hint="edgecompress convert MODEL --format int8 --io-dtype uint8 -o model_int8.tflite "
             "(full-integer post-training quantization), then inspect that file")


def _problem(op: OpInfo, graph: TFLiteGraph, rule: OpRule | None) -> str | None:
    """Why ``op`` cannot run on the Edge TPU, or None when it can."""
    if op.op == EDGETPU_CUSTOM_OP:
        return None
    if rule is None:
        kind = "custom op" if op.op.startswith("CUSTOM:") else "op"
        return (f"{op.op} is not a supported Edge TPU {kind} (not in Coral's supported-"
                "operations table)")
    for slot in _PARAMETER_INPUTS.get(op.op, ()):
        if slot < len(op.inputs) and op.inputs[slot] >= 0 \
                and not graph.tensors[op.inputs[slot]].is_constant:
            name = graph.tensors[op.inputs[slot]].name
            return (f"input {slot} ('{name}') is computed at run time: model parameters "
                    "(weights, biases, PReLU alpha) must be constant at compile time")
    for t in _tensors(graph, op.inputs + op.outputs):
        if _activation(t):
            if t.dtype not in _EIGHT_BIT:
                return (f"tensor '{t.name}' is {t.dtype}: the Edge TPU computes on 8-bit "
                        "(int8/uint8) tensors only")
            dynamic = [i for i, d in enumerate(t.shape_signature) if d < 0 and i > 0]
            if dynamic:
                return (f"tensor '{t.name}' has a dynamic size (shape_signature "
                        f"{t.shape_signature}): tensor sizes must be constant at compile time")
            if len(t.shape) > 3 and any(d > 1 for d in t.shape[:-3]):
                return (f"tensor '{t.name}' has shape {t.shape}: only the 3 innermost "
                        "dimensions may be larger than 1")
        elif t.is_constant and t.dtype not in _CONSTANT_DTYPES:
            return (f"constant '{t.name}' is {t.dtype}: parameters must be 8-bit "
                    "(32-bit integer biases)")
    for check in rule.checks:
        problem = _CHECKS[check](op, graph)
        if problem:
            return f"{problem} (Coral: {rule.limitation})"
    return None


# --- per-op checks (the verifiable "known limitations") -----------------------------------------


def _const(graph: TFLiteGraph, op: OpInfo, slot: int) -> Any:
    if slot >= len(op.inputs) or op.inputs[slot] < 0:
        return None
    return graph.tensor_values(graph.tensors[op.inputs[slot]])


def _rank(graph: TFLiteGraph, op: OpInfo, slot: int) -> int:
    if slot >= len(op.inputs) or op.inputs[slot] < 0:
        return 0
    return len(graph.tensors[op.inputs[slot]].shape)


def _no_fused_activation(op: OpInfo, graph: TFLiteGraph) -> str | None:
    act = op.options.get("activation", "NONE")
    return None if act in ("NONE", 0, None) else f"fused activation {act}"


def _concat_constants(op: OpInfo, graph: TFLiteGraph) -> str | None:
    consts = [graph.tensors[i] for i in op.inputs if i >= 0 and graph.tensors[i].is_constant]
    if not consts:
        return None
    if len(op.inputs) != 2:
        return f"a constant input among {len(op.inputs)} inputs"
    t = consts[0]
    values, q = graph.tensor_values(t), t.quantization
    zero = (q or {}).get("zero_point") or [0]
    if values is None or (values != zero[0]).any():
        return f"constant input '{t.name}' is not all zeroes"
    return None


def _same_dilation(op: OpInfo, graph: TFLiteGraph) -> str | None:
    h, w = op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1)
    return None if h == w else f"dilation {h} (y) differs from {w} (x)"


def _default_weights_format(op: OpInfo, graph: TFLiteGraph) -> str | None:
    fmt = op.options.get("weights_format", 0)
    return None if fmt in (0, "DEFAULT") else f"weights format {fmt}"


def _one_dimensional_output(op: OpInfo, graph: TFLiteGraph) -> str | None:
    shape = graph.tensors[op.outputs[0]].shape
    return None if len(shape) <= 2 else f"output shape {shape} is not one-dimensional"


def _axes(op: OpInfo, graph: TFLiteGraph, *, axes_slot: int,
          data_slot: int) -> tuple[list[int] | None, int]:
    """Constant axes (normalised to >= 0) and the rank of the data input."""
    values, rank = _const(graph, op, axes_slot), _rank(graph, op, data_slot)
    if values is None:
        return None, rank
    return [int(a) % rank if rank else int(a) for a in values.reshape(-1)], rank


def _no_batch_axes(op: OpInfo, graph: TFLiteGraph) -> str | None:
    axes, rank = _axes(op, graph, axes_slot=1, data_slot=0)
    if axes is None:
        return "the reduction axes are not constant"
    return f"reduces over the batch dimension (axes {axes})" if rank > 1 and 0 in axes else None


def _no_batch_split(op: OpInfo, graph: TFLiteGraph) -> str | None:
    axes, rank = _axes(op, graph, axes_slot=0, data_slot=1)
    if axes is None:
        return "the split axis is not constant"
    return "splits along the batch dimension" if rank > 1 and 0 in axes else None


def _no_batch_pack(op: OpInfo, graph: TFLiteGraph) -> str | None:
    return "packs along the batch dimension" if op.options.get("axis", 0) == 0 else None


def _no_batch_padding(op: OpInfo, graph: TFLiteGraph) -> str | None:
    pads = _const(graph, op, 1)
    if pads is None:
        return "the paddings are not constant"
    pads = pads.reshape(-1, 2)
    if len(pads) > 1 and pads[0].any():
        return f"pads the batch dimension ({pads[0].tolist()})"
    return None


def _softmax_1d(op: OpInfo, graph: TFLiteGraph) -> str | None:
    shape = graph.tensors[op.inputs[0]].shape
    size = 1
    for d in shape:
        size *= d
    if sum(d > 1 for d in shape) > 1:
        return f"input shape {shape} is not 1-D"
    return f"input has {size} elements (max 16,000)" if size > 16000 else None


def _unit_strides(op: OpInfo, graph: TFLiteGraph) -> str | None:
    strides = _const(graph, op, 3)
    if strides is None:
        return "the strides are not constant"
    if (strides != 1).any():
        return f"strides {strides.tolist()}"
    for mask in ("ellipsis_mask", "new_axis_mask"):
        if op.options.get(mask, 0):
            return f"{mask} {op.options[mask]}"
    return None


_CHECKS: dict[str, Callable[[OpInfo, TFLiteGraph], str | None]] = {
    "no_fused_activation": _no_fused_activation, "concat_constants": _concat_constants,
    "same_dilation": _same_dilation, "default_weights_format": _default_weights_format,
    "one_dimensional_output": _one_dimensional_output, "no_batch_axes": _no_batch_axes,
    "no_batch_split": _no_batch_split, "no_batch_pack": _no_batch_pack,
    "no_batch_padding": _no_batch_padding, "softmax_1d": _softmax_1d,
    "unit_strides": _unit_strides,
}


def _model_notes(graph: TFLiteGraph, edges: dict[int, str]) -> list[str]:
    notes = []
    if any(t.shape_signature[:1] == [-1] for t in _tensors(graph, graph.inputs)):
        notes.append("the input signature has a dynamic batch (-1): the compiler uses the "
                     "stored batch of 1 and the Edge TPU cannot be resized at run time; "
                     "convert for the device (static batch) to fix it in the file")
    if edges:
        notes.append(f"{len(edges)} float-I/O conversion op(s) run on the CPU at the model's "
                     "edges; uint8/int8 I/O (--io-dtype uint8) keeps them off the host")
    if len(graph.subgraphs) > 1:
        notes.append(f"the model has {len(graph.subgraphs)} subgraphs (control flow); only "
                     "the main subgraph is analysed")
    return notes


def _constant_bytes(graph: TFLiteGraph, op_indices: list[int]) -> int:
    seen: dict[int, int] = {}
    for i in op_indices:
        for t in _tensors(graph, graph.ops[i].inputs):
            if t.is_constant:
                seen[t.buffer] = t.buffer_bytes
    return sum(seen.values())


# --- the real compiler ---------------------------------------------------------------------------


def _maybe_compile(graph: TFLiteGraph, *, out_dir: str | Path | None,
                   timeout_s: float) -> tuple[dict[str, Any] | None, str | None]:
    if compiler_path() is None:
        return None, NOT_FOUND_NOTE
    if not graph.path:
        return None, "edgetpu_compiler needs a file on disk; static prediction only"
    return run_compiler(graph.path, out_dir=out_dir, timeout_s=timeout_s), None


__all__ = ["COMPILER", "NOT_FOUND_NOTE", "RULES_SOURCE", "MODEL_RULES", "SUPPORTED_OPS", "DEFAULT_CACHE_BYTES", "OpRule",
           "OpMapping", "EdgeTPUReport", "analyze", "compiler_path", "run_compiler",
           "parse_compiler_log"]
