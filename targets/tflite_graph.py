"""Read a .tflite flatbuffer without TensorFlow: ops, tensors, weight sparsity and MACs.

The parser is the generated flatbuffer code that ships with ai-edge-litert
(``ai_edge_litert.schema_py_generated``). A .tflite file comes from users and devices, so it is
untrusted input: every index is checked against its table, every vector length against the
file, constant buffers against their tensors' shapes, and the total amount of work against the
file size. Anything unreadable becomes a ``ConversionError``; callers never see an
``IndexError`` or ``struct.error`` from a truncated or mutated file.

Example:
    >>> graph = read_model("model_int8.tflite")
    >>> graph.op_counts()["CONV_2D"], graph.weight_stats()["sparsity"], graph.macs()["total"]
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from targets.errors import ConversionError

FILE_IDENTIFIER = b"TFL3"

# Ops whose filter input (index 1; TRANSPOSE_CONV: weights are input 1 as well) is a prunable
# weight tensor. Biases are deliberately excluded: nobody prunes them and they are few.
WEIGHT_OPS = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1}

# Ops that sit between a stored constant and the op that consumes it (float16 weights,
# sparse weights). weight_stats follows them back to the stored buffer.
_PASS_THROUGH_OPS = ("DEQUANTIZE", "DENSIFY")

_ELEMENTWISE_MAC_OPS = {"ADD", "MUL", "SUB", "DIV"}
_POOL_OPS = {"AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"}

# Bytes per element of the fixed-size tensor types (4-bit types are packed two per byte).
_ITEM_BYTES = {
    "float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1, "uint8": 1,
    "int16": 2, "uint16": 2, "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "bool": 1,
    "complex64": 8, "complex128": 16, "float8_e4m3fn": 1, "float8_e5m2": 1,
    "int4": 0.5, "uint4": 0.5, "int2": 0.25,
}
_NUMPY_DTYPES = {
    "float32": np.float32, "float16": np.float16, "float64": np.float64, "int8": np.int8,
    "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16, "int32": np.int32,
    "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64,
}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a subgraph.

    Attributes:
        index: position in its subgraph's tensor table.
        name: the converter's name (usually the Keras layer path).
        shape: static shape (batch 1 for models converted from Keras).
        shape_signature: shape with -1 for dynamic dimensions (``shape`` when absent).
        dtype: lower-case TFLite type name: "float32", "int8", "int4", ...
        quantization: ``{scale, zero_point, quantized_dimension}`` or None.
        buffer: index of its buffer in the model's buffer table.
        buffer_bytes: size of the constant data (0 for activations).
        is_constant: whether the tensor is stored in the file (weights, biases, shapes).
        is_variable: a state tensor (e.g. of an RNN).
        is_sparse: stored in TFLite's compressed sparse format (consumed by DENSIFY).
        subgraph: index of its subgraph.
    """

    index: int
    name: str
    shape: list[int]
    shape_signature: list[int]
    dtype: str
    quantization: dict[str, Any] | None
    buffer: int
    buffer_bytes: int
    is_constant: bool
    is_variable: bool = False
    is_sparse: bool = False
    subgraph: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"index": self.index, "name": self.name, "shape": list(self.shape),
                "shape_signature": list(self.shape_signature), "dtype": self.dtype,
                "quantization": self.quantization, "buffer_bytes": self.buffer_bytes,
                "is_constant": self.is_constant}


@dataclass(frozen=True)
class OpInfo:
    """One operator of a subgraph.

    Attributes:
        index: position in its subgraph's operator list (execution order).
        op: builtin name as in the schema ("CONV_2D", "EXP", ...) or "CUSTOM:<code>".
        inputs: tensor indices (-1 marks an omitted optional input).
        outputs: tensor indices.
        options: the builtin options, snake_case, with padding and activation as names.
        macs: multiply-accumulates for batch 1 (0 for ops that are not counted).
        version: the operator code's version.
        subgraph: index of its subgraph.
    """

    index: int
    op: str
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any]
    macs: int = 0
    version: int = 1
    subgraph: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"index": self.index, "op": self.op, "inputs": list(self.inputs),
                "outputs": list(self.outputs), "options": dict(self.options),
                "macs": self.macs}


@dataclass(frozen=True)
class SubgraphInfo:
    """One subgraph: subgraph 0 is the model's main function, others are control-flow bodies."""

    index: int
    name: str
    ops: list[OpInfo]
    tensors: list[TensorInfo]
    inputs: list[int]
    outputs: list[int]


@dataclass
class TFLiteGraph:
    """A parsed .tflite model.

    ``ops``, ``tensors``, ``inputs`` and ``outputs`` are those of the main subgraph;
    ``subgraphs`` holds all of them (methods count over all).

    Attributes:
        ops: operators of the main subgraph, in execution order.
        tensors: tensors of the main subgraph.
        inputs: tensor indices of the model inputs.
        outputs: tensor indices of the model outputs.
        size_bytes: size of the file.
        version: schema version (3).
        description: the converter's description string.
        subgraphs: every subgraph.
        path: the file it came from, when read from a file.
    """

    ops: list[OpInfo]
    tensors: list[TensorInfo]
    inputs: list[int]
    outputs: list[int]
    size_bytes: int
    version: int
    description: str
    subgraphs: list[SubgraphInfo]
    path: str | None = None
    # Constant data per buffer index (views into the file's bytes), kept out of repr.
    _buffers: list[np.ndarray] = field(default_factory=list, repr=False)

    # --- counts ---------------------------------------------------------------------------

    def op_counts(self) -> dict[str, int]:
        """Number of operators of each kind, over all subgraphs."""
        return dict(Counter(op.op for sg in self.subgraphs for op in sg.ops))

    def dtype_counts(self) -> dict[str, int]:
        """Histogram of tensor dtypes over all subgraphs (activations and constants)."""
        return dict(Counter(t.dtype for sg in self.subgraphs for t in sg.tensors))

    def input_details(self) -> list[dict[str, Any]]:
        """Name, shape, dtype and quantization of each model input."""
        return [self.tensors[i].to_dict() for i in self.inputs if i >= 0]

    def output_details(self) -> list[dict[str, Any]]:
        """Name, shape, dtype and quantization of each model output."""
        return [self.tensors[i].to_dict() for i in self.outputs if i >= 0]

    # --- weights --------------------------------------------------------------------------

    def weight_tensors(self):
        """``(op, tensor)`` for each stored weight tensor (a weight op's kernel input, behind
        any dequantize), each buffer once."""
        seen: set[int] = set()
        for sg in self.subgraphs:
            producers = {o: op for op in sg.ops for o in op.outputs}
            for op in sg.ops:
                slot = WEIGHT_OPS.get(op.op)
                if slot is None or len(op.inputs) <= slot or op.inputs[slot] < 0:
                    continue
                tensor = _stored_tensor(sg, producers, op.inputs[slot])
                if tensor is None or tensor.buffer in seen:
                    continue
                seen.add(tensor.buffer)
                yield op, tensor

    def weight_stats(self) -> dict[str, Any]:
        """Size and sparsity of the prunable weights.

        ``params``/``nonzero_params``/``sparsity`` count the filters of CONV_2D,
        DEPTHWISE_CONV_2D, FULLY_CONNECTED and TRANSPOSE_CONV (not biases), followed back
        through DEQUANTIZE/DENSIFY to the stored constant (float16 and sparse weights). A
        quantized value is zero when it equals its (per-channel) zero point; a float value
        when it is exactly 0.0. Each stored buffer is counted once however many ops share it.
        ``parameter_bytes`` and ``constant_params`` cover every constant in the file.

        Returns:
            ``{params, nonzero_params, sparsity, parameter_bytes, constant_params, per_tensor}``.
        """
        per_tensor = []
        for op, tensor in self.weight_tensors():
            params, nonzero = self._count_nonzero(tensor)
            per_tensor.append({
                "tensor": tensor.name, "op": op.op, "dtype": tensor.dtype,
                "params": params, "nonzero_params": nonzero,
                "sparsity": 1.0 - nonzero / params if params else 0.0})
        params = sum(p["params"] for p in per_tensor)
        nonzero = sum(p["nonzero_params"] for p in per_tensor)
        # Constants keyed by buffer: tensors (and subgraphs) may share one stored buffer.
        constants = {t.buffer: t for sg in self.subgraphs for t in sg.tensors if t.is_constant}
        return {
            "params": params,
            "nonzero_params": nonzero,
            "sparsity": 1.0 - nonzero / params if params else 0.0,
            "parameter_bytes": sum(t.buffer_bytes for t in constants.values()),
            "constant_params": sum(_numel(t.shape) for t in constants.values()),
            "per_tensor": per_tensor,
        }

    def tensor_values(self, tensor: TensorInfo) -> np.ndarray | None:
        """The stored (raw, not dequantized) values of a constant tensor, or None.

        4-bit types are unpacked to int8; types numpy cannot hold (bfloat16, float8) and sparse
        tensors give None.
        """
        if not tensor.is_constant or tensor.is_sparse:
            return None
        data = self._buffers[tensor.buffer]
        n = _numel(tensor.shape)
        if tensor.dtype in ("int4", "uint4"):
            low = (data & 0x0F).astype(np.int8)
            high = (data >> 4).astype(np.int8)
            if tensor.dtype == "int4":
                low = np.where(low > 7, low - 16, low).astype(np.int8)
                high = np.where(high > 7, high - 16, high).astype(np.int8)
            return np.stack([low, high], axis=-1).reshape(-1)[:n].reshape(tensor.shape)
        dtype = _NUMPY_DTYPES.get(tensor.dtype)
        if dtype is None:
            return None
        return np.frombuffer(data.tobytes(), dtype=dtype, count=n).reshape(tensor.shape)

    def _count_nonzero(self, tensor: TensorInfo) -> tuple[int, int]:
        params = _numel(tensor.shape)
        if tensor.is_sparse:
            # The buffer holds only the stored blocks: zeros outside them are implicit.
            dtype = _NUMPY_DTYPES.get(tensor.dtype)
            data = self._buffers[tensor.buffer]
            if dtype is None or len(data) % np.dtype(dtype).itemsize:
                return params, params
            stored = np.frombuffer(data.tobytes(), dtype=dtype)
            return params, min(params, int(np.count_nonzero(stored)))
        values = self.tensor_values(tensor)
        if values is None:
            return params, params
        q = tensor.quantization
        if q and q["zero_point"] and np.issubdtype(values.dtype, np.integer):
            zp = np.asarray(q["zero_point"], dtype=np.int64)
            axis = q["quantized_dimension"]
            if zp.size > 1 and values.ndim > axis and values.shape[axis] == zp.size:
                shape = [1] * values.ndim
                shape[axis] = zp.size
                zp = zp.reshape(shape)
            else:
                zp = zp.reshape(-1)[:1]
            return params, int(np.count_nonzero(values.astype(np.int64) != zp))
        return params, int(np.count_nonzero(values))

    # --- compute --------------------------------------------------------------------------

    def macs(self) -> dict[str, Any]:
        """Multiply-accumulates for batch 1 from the graph's static shapes.

        CONV_2D: out_h*out_w*out_c*k_h*k_w*in_c; DEPTHWISE_CONV_2D: out_h*out_w*out_c*k_h*k_w;
        FULLY_CONNECTED: units*in_features (times the non-batch leading rows); TRANSPOSE_CONV:
        in_h*in_w*in_c*k_h*k_w*out_c; ADD/MUL/SUB/DIV: output elements; pools: output elements
        times the window area. Every other op counts 0.

        Returns:
            ``{total, per_op: [{subgraph, index, op, macs}, ...]}`` (ops with 0 MACs omitted).
        """
        per_op = [{"subgraph": op.subgraph, "index": op.index, "op": op.op, "macs": op.macs}
                  for sg in self.subgraphs for op in sg.ops if op.macs]
        return {"total": sum(p["macs"] for p in per_op), "per_op": per_op}

    # --- summary --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (what ``edgecompress inspect --json`` prints)."""
        weights = self.weight_stats()
        macs = self.macs()
        return {
            "path": self.path,
            "size_bytes": self.size_bytes,
            "schema_version": self.version,
            "description": self.description,
            "subgraphs": len(self.subgraphs),
            "inputs": self.input_details(),
            "outputs": self.output_details(),
            "op_counts": self.op_counts(),
            "tensor_dtypes": self.dtype_counts(),
            "weights": weights,
            "macs": {"total": macs["total"], "per_op": macs["per_op"]},
            "ops": [op.to_dict() for op in self.ops],
        }


def read_model(path_or_bytes: str | Path | bytes | bytearray | memoryview) -> TFLiteGraph:
    """Parse a .tflite file (or its bytes).

    Args:
        path_or_bytes: a path to a .tflite file, or the file's content.

    Returns:
        The parsed graph.

    Raises:
        ConversionError: the file cannot be read, is not a TFLite flatbuffer, or is
            truncated or inconsistent.
    """
    path = None
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
    else:
        path = str(path_or_bytes)
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ConversionError(f"cannot read the .tflite file. Received: {path!r} "
                                  f"({exc.strerror or exc})") from None
    where = f" {path!r}" if path else ""
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise ConversionError(
            f"not a TFLite model{where}: the file identifier is not {FILE_IDENTIFIER.decode()}. "
            f"Received: {data[4:8]!r} in {len(data)} bytes",
            hint="pass a .tflite file written by the TFLite converter")
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError as exc:  # flatbuffers missing, or an old ai-edge-litert
        raise ConversionError(f"cannot parse .tflite files: {exc}",
                              hint="pip install ai-edge-litert flatbuffers") from None
    try:
        graph = _Parser(data, schema).parse()
    except ConversionError as exc:
        raise ConversionError(f"invalid TFLite model{where}: {exc.message}",
                              hint="the file is truncated or corrupted; convert it again") from None
    except Exception as exc:  # noqa: BLE001 - untrusted bytes: every parser failure is "corrupt"
        raise ConversionError(
            f"invalid TFLite model{where}: the flatbuffer cannot be parsed "
            f"({type(exc).__module__}.{type(exc).__name__}: {exc})".replace("builtins.", ""),
            hint="the file is truncated or corrupted; convert it again") from None
    graph.path = path
    return graph


# --- parsing ------------------------------------------------------------------------------


class _Parser:
    """One pass over the flatbuffer with bounds and a work budget."""

    def __init__(self, data: bytes, schema: Any) -> None:
        self.data = data
        self.schema = schema
        # A well-formed file holds every vector element in its own 4+ bytes, so the total
        # number of elements visited is bounded by the file size; a mutated file that points
        # many entries at the same large table would otherwise cost quadratic time.
        self.budget = len(data) // 2 + 10_000
        self.op_names = {v: k for k, v in vars(schema.BuiltinOperator).items()
                         if not k.startswith("_")}
        self.type_names = {v: k.lower() for k, v in vars(schema.TensorType).items()
                           if not k.startswith("_")}
        self.act_names = {v: k for k, v in vars(schema.ActivationFunctionType).items()
                          if not k.startswith("_")}
        self.pad_names = {v: k for k, v in vars(schema.Padding).items()
                          if not k.startswith("_")}

    def count(self, n: int, what: str) -> int:
        if n < 0 or n * 4 > len(self.data):
            raise ConversionError(f"{what} has {n} entries, more than the file can hold")
        self.budget -= n
        if self.budget < 0:
            raise ConversionError("the tables reference more entries than the file holds")
        return n

    def ints(self, obj: Any, name: str, what: str) -> list[int]:
        if getattr(obj, f"{name}IsNone")():
            return []
        self.count(getattr(obj, f"{name}Length")(), what)
        return [int(v) for v in getattr(obj, f"{name}AsNumpy")()]

    def parse(self) -> TFLiteGraph:
        s = self.schema
        model = s.Model.GetRootAs(self.data, 0)
        version = int(model.Version())
        if version != 3:
            raise ConversionError(f"unsupported schema version {version} (expected 3)")
        opcodes = [self.opcode(model.OperatorCodes(i))
                   for i in range(self.count(model.OperatorCodesLength(), "operator_codes"))]
        buffers = [self.buffer(model.Buffers(i), i)
                   for i in range(self.count(model.BuffersLength(), "buffers"))]
        n_sub = self.count(model.SubgraphsLength(), "subgraphs")
        if n_sub == 0:
            raise ConversionError("the model has no subgraph")
        subgraphs = [self.subgraph(model.Subgraphs(i), i, opcodes, buffers) for i in range(n_sub)]
        description = model.Description()
        main = subgraphs[0]
        return TFLiteGraph(
            ops=main.ops, tensors=main.tensors, inputs=main.inputs, outputs=main.outputs,
            size_bytes=len(self.data), version=version,
            description=description.decode("utf-8", "replace") if description else "",
            subgraphs=subgraphs, _buffers=buffers)

    def opcode(self, oc: Any) -> tuple[str, int]:
        code = max(int(oc.DeprecatedBuiltinCode()), int(oc.BuiltinCode()))
        name = self.op_names.get(code)
        if name is None:
            raise ConversionError(f"unknown builtin operator code {code}")
        if name == "CUSTOM":
            custom = oc.CustomCode()
            name = "CUSTOM:" + (custom.decode("utf-8", "replace") if custom else "")
        return name, int(oc.Version())

    def buffer(self, buf: Any, index: int) -> np.ndarray:
        offset, size = int(buf.Offset()), int(buf.Size())
        if offset > 1:  # large models keep data after the flatbuffer (offset from file start)
            if offset + size > len(self.data):
                raise ConversionError(f"buffer {index} points past the end of the file")
            return np.frombuffer(self.data, dtype=np.uint8, count=size, offset=offset)
        if buf.DataIsNone():
            return np.zeros(0, dtype=np.uint8)
        self.count(buf.DataLength() // 4, f"buffer {index}")
        return buf.DataAsNumpy()

    def subgraph(self, sg: Any, index: int, opcodes: list[tuple[str, int]],
                 buffers: list[np.ndarray]) -> SubgraphInfo:
        tensors = [self.tensor(sg.Tensors(i), i, index, buffers)
                   for i in range(self.count(sg.TensorsLength(), "tensors"))]
        inputs = self.ints(sg, "Inputs", "subgraph inputs")
        outputs = self.ints(sg, "Outputs", "subgraph outputs")
        _check_indices(inputs + outputs, len(tensors), f"subgraph {index} inputs/outputs",
                       optional=False)
        ops = []
        for i in range(self.count(sg.OperatorsLength(), "operators")):
            ops.append(self.operator(sg.Operators(i), i, index, opcodes, tensors))
        name = sg.Name()
        return SubgraphInfo(index=index, name=name.decode("utf-8", "replace") if name else "",
                            ops=ops, tensors=tensors, inputs=inputs, outputs=outputs)

    def tensor(self, t: Any, index: int, subgraph: int,
               buffers: list[np.ndarray]) -> TensorInfo:
        shape = self.ints(t, "Shape", f"tensor {index} shape")
        signature = self.ints(t, "ShapeSignature", f"tensor {index} shape_signature") or shape
        dtype = self.type_names.get(int(t.Type()))
        if dtype is None:
            raise ConversionError(f"tensor {index} has unknown type {t.Type()}")
        buffer = int(t.Buffer())
        if not 0 <= buffer < max(len(buffers), 1):
            raise ConversionError(f"tensor {index} uses buffer {buffer} of {len(buffers)}")
        data = buffers[buffer] if buffers else np.zeros(0, dtype=np.uint8)
        is_sparse = t.Sparsity() is not None
        name = t.Name()
        info = TensorInfo(
            index=index, name=name.decode("utf-8", "replace") if name else "",
            shape=shape, shape_signature=signature, dtype=dtype,
            quantization=self.quantization(t.Quantization(), index),
            buffer=buffer, buffer_bytes=len(data), is_constant=len(data) > 0,
            is_variable=bool(t.IsVariable()), is_sparse=is_sparse, subgraph=subgraph)
        if info.is_constant and not is_sparse and dtype in _ITEM_BYTES:
            if any(d < 0 for d in shape):
                raise ConversionError(f"constant tensor {index} has a dynamic shape {shape}")
            expected = math.ceil(_numel(shape) * _ITEM_BYTES[dtype])
            if expected != len(data):
                raise ConversionError(f"constant tensor {index} ({dtype} {shape}) needs "
                                      f"{expected} bytes, its buffer holds {len(data)}")
        return info

    def quantization(self, q: Any, index: int) -> dict[str, Any] | None:
        if q is None or q.ScaleIsNone() or q.ScaleLength() == 0:
            return None
        scale = [float(v) for v in self.ints_float(q, "Scale", f"tensor {index} scale")]
        zero_point = self.ints(q, "ZeroPoint", f"tensor {index} zero_point")
        return {"scale": scale, "zero_point": zero_point,
                "quantized_dimension": int(q.QuantizedDimension())}

    def ints_float(self, obj: Any, name: str, what: str) -> list[float]:
        self.count(getattr(obj, f"{name}Length")(), what)
        return [float(v) for v in getattr(obj, f"{name}AsNumpy")()]

    def operator(self, o: Any, index: int, subgraph: int, opcodes: list[tuple[str, int]],
                 tensors: list[TensorInfo]) -> OpInfo:
        code = int(o.OpcodeIndex())
        if not 0 <= code < len(opcodes):
            raise ConversionError(f"operator {index} uses opcode {code} of {len(opcodes)}")
        name, version = opcodes[code]
        inputs = self.ints(o, "Inputs", f"operator {index} inputs")
        outputs = self.ints(o, "Outputs", f"operator {index} outputs")
        _check_indices(inputs, len(tensors), f"operator {index} inputs", optional=True)
        _check_indices(outputs, len(tensors), f"operator {index} outputs", optional=True)
        options = self.options(o)
        return OpInfo(index=index, op=name, inputs=inputs, outputs=outputs, options=options,
                      macs=_op_macs(name, inputs, outputs, options, tensors),
                      version=version, subgraph=subgraph)

    def options(self, o: Any) -> dict[str, Any]:
        s = self.schema
        obj = None
        if o.BuiltinOptionsType():
            obj = s.BuiltinOptionsCreator(o.BuiltinOptionsType(), o.BuiltinOptions())
        elif hasattr(o, "BuiltinOptions2Type") and o.BuiltinOptions2Type():
            obj = s.BuiltinOptions2Creator(o.BuiltinOptions2Type(), o.BuiltinOptions2())
        if obj is None:
            return {}
        out: dict[str, Any] = {}
        for key, value in vars(obj).items():
            key = _snake(key)
            if key == "fused_activation_function":
                out["activation"] = self.act_names.get(value, str(value))
            elif key == "padding" and isinstance(value, int):
                out["padding"] = self.pad_names.get(value, str(value))
            elif isinstance(value, (bool, int, float, str)):
                out[key] = value
            elif isinstance(value, np.generic):
                out[key] = value.item()
            elif isinstance(value, (np.ndarray, list)) and len(value) <= 64:
                self.count(len(value), "options")
                out[key] = [v.item() if isinstance(v, np.generic) else v for v in value
                            if isinstance(v, (bool, int, float, np.generic))]
        return out


def _check_indices(indices: list[int], n: int, what: str, *, optional: bool) -> None:
    low = -1 if optional else 0
    for i in indices:
        if not low <= i < n:
            raise ConversionError(f"{what} reference tensor {i} of {n}")


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d) if d >= 0 else 1  # a dynamic (-1) dimension counts as 1
    return n


def _stored_tensor(sg: SubgraphInfo, producers: dict[int, OpInfo],
                   index: int) -> TensorInfo | None:
    """The constant that feeds ``index``, through at most a few DEQUANTIZE/DENSIFY ops."""
    for _ in range(4):
        tensor = sg.tensors[index]
        if tensor.is_constant:
            return tensor
        producer = producers.get(index)
        if producer is None or producer.op not in _PASS_THROUGH_OPS or not producer.inputs:
            return None
        index = producer.inputs[0]
        if index < 0:
            return None
    return None


def _op_macs(name: str, inputs: list[int], outputs: list[int], options: dict[str, Any],
             tensors: list[TensorInfo]) -> int:
    """MACs of one op for batch 1 (0 when the shapes are not the expected ranks)."""

    def shape(i: int) -> list[int] | None:
        if i >= len(inputs) or inputs[i] < 0:
            return None
        return [max(d, 1) for d in tensors[inputs[i]].shape]

    out = [max(d, 1) for d in tensors[outputs[0]].shape] if outputs and outputs[0] >= 0 else None
    if out is None:
        return 0
    if name == "CONV_2D":
        w = shape(1)
        if w and len(w) == 4 and len(out) == 4:
            return out[1] * out[2] * out[3] * w[1] * w[2] * w[3]
    elif name == "DEPTHWISE_CONV_2D":
        w = shape(1)
        if w and len(w) == 4 and len(out) == 4:
            return out[1] * out[2] * out[3] * w[1] * w[2]
    elif name == "FULLY_CONNECTED":
        w = shape(1)
        if w and len(w) == 2 and out:
            rows = _numel(out[1:-1]) if len(out) >= 3 else 1
            return rows * w[0] * w[1]
    elif name == "TRANSPOSE_CONV":
        w, x = shape(1), shape(2)
        if w and x and len(w) == 4 and len(x) == 4:
            return x[1] * x[2] * x[3] * w[1] * w[2] * w[0]
    elif name in _ELEMENTWISE_MAC_OPS:
        return _numel(out[1:]) if len(out) >= 2 else _numel(out)
    elif name in _POOL_OPS and len(out) == 4:
        area = int(options.get("filter_width", 1)) * int(options.get("filter_height", 1))
        return _numel(out[1:]) * max(area, 1)
    return 0


__all__ = ["read_model", "TFLiteGraph", "OpInfo", "TensorInfo", "SubgraphInfo", "WEIGHT_OPS"]
