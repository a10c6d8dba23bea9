"""Sub-8-bit .tflite files with the LiteRT quantizer: int4 weights with int8 activations.

The TFLite converter has no int4 mode, so ``int4`` and ``mixed`` artifacts are made in two
steps: the converter writes the float32 file, then the LiteRT quantizer (PyPI
``litert-quantizer``, formerly ``ai-edge-quantizer``) quantizes it from a recipe built here:

* every op it can quantize statically gets int8 weights (per channel) and int8 activations
  (its ``static_wi8_ai8`` config, as the converter's full-integer int8);
* the layers chosen for int4 get 4-bit weights (per channel, symmetric) with the same int8
  activations: LiteRT runs that for CONV_2D and FULLY_CONNECTED only (the quantizer's
  ``static_wi4_ai8`` policy; XNNPACK has the kernels), so other weight ops (DEPTHWISE_CONV_2D,
  TRANSPOSE_CONV) stay int8 and are listed as such;
* layers kept in float16 (``mixed`` only) store float16 weights and compute in float, with a
  DEQUANTIZE/QUANTIZE around them.

The file's input and output are int8, as for our ``int8`` format. Calibration keeps the
global min/max of each tensor over the representative samples, as the converter does: the
quantizer's default moving average of per-sample ranges can clip the largest activations and
logits (on a small trial CNN it lost several pp of int8 accuracy; on the foundation CNN both
give the same file accuracy, ``benchmarks/results/sub8bit_formats.recipes.md``).

What a file holds is read back from the file (``describe``), never assumed from the recipe.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import re
import warnings
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Iterable, Mapping

import numpy as np

from compress.errors import ConversionError, DataError

#: what to install when the quantizer is missing (the version this code was written against)
REQUIREMENT = "litert-quantizer==0.11.0"
#: import names, newest first (the package was renamed in 2026)
MODULE_NAMES = ("litert_quantizer", "ai_edge_quantizer")
#: per-layer precisions of a quantized file
PRECISIONS = ("int4", "int8", "float16")
#: weight ops LiteRT runs with int4 weights and int8 activations
INT4_OPS = ("CONV_2D", "FULLY_CONNECTED")
#: ops whose input 1 is a weight tensor (the layers a precision is chosen for)
WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")
#: stand-ins between a stored constant and its consumer (float16 weights)
_PASS_THROUGH = ("DEQUANTIZE", "DENSIFY")


def modules() -> SimpleNamespace:
    """The LiteRT quantizer's modules (``quantizer``, ``qtyping``, ``calibrator``,
    ``recipe_manager``, ``algorithm_manager``, ``qsv_utils``), new name first.

    Raises:
        ConversionError: neither ``litert_quantizer`` nor ``ai_edge_quantizer`` is installed.
    """
    for name in MODULE_NAMES:
        try:
            parts = {sub: importlib.import_module(f"{name}.{sub}")
                     for sub in ("quantizer", "qtyping", "calibrator", "recipe_manager",
                                 "algorithm_manager")}
            parts["qsv_utils"] = importlib.import_module(f"{name}.utils.qsv_utils")
        except ImportError:
            continue
        return SimpleNamespace(name=name, **parts)
    raise ConversionError("formats int4 and mixed need the LiteRT quantizer, which is not "
                          "installed. Received: no module litert_quantizer or ai_edge_quantizer",
                          hint=f"pip install {REQUIREMENT} (make install installs it)")


@dataclass(frozen=True)
class WeightLayer:
    """One weight op of a float .tflite file: what a precision is chosen for.

    Attributes:
        name: the Keras layer it came from (found in the weight tensor's name), else the
            weight tensor's name.
        op: the TFLite op (``CONV_2D``, ...).
        tensor: the weight tensor's name.
        scope: the quantizer's scope of the op (its output tensor names, ``;``-terminated).
        params: weights in the tensor.
        int4: whether LiteRT runs this op with int4 weights (``INT4_OPS``).
    """

    name: str
    op: str
    tensor: str
    scope: str
    params: int
    int4: bool

    def to_dict(self) -> dict:
        return {"layer": self.name, "op": self.op, "tensor": self.tensor,
                "params": self.params, "int4_capable": self.int4}


def kernel_layer_names(model: Any) -> list[str]:
    """Names of the model's layers with a kernel (Conv, Dense, ...), to name weight ops by."""
    names = []
    for layer in getattr(model, "layers", []):
        if any(getattr(w, "name", "").split("/")[-1].split(":")[0] in
               ("kernel", "depthwise_kernel") for w in getattr(layer, "weights", [])):
            names.append(layer.name)
    return names


def weight_layers(float_blob: bytes, layer_names: Iterable[str] = ()) -> list[WeightLayer]:
    """The weight ops of a float .tflite file, in execution order, each named by its layer.

    Args:
        float_blob: the float32 .tflite file's bytes.
        layer_names: Keras layer names to recognise in the weight tensors' names.
    """
    from targets.tflite_graph import read_model

    graph = read_model(float_blob)
    known = set(layer_names)
    out: list[WeightLayer] = []
    seen: dict[str, int] = {}
    for op in graph.ops:
        if op.op not in WEIGHT_OPS or len(op.inputs) < 2 or op.inputs[1] < 0:
            continue
        weight = graph.tensors[op.inputs[1]]
        scope = ";".join(graph.tensors[i].name for i in op.outputs if i >= 0
                         and graph.tensors[i].name) + ";"
        name = _layer_name(weight.name, known)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:  # one Keras layer called twice: two ops, two choices
            name = f"{name}#{seen[name]}"
        out.append(WeightLayer(name=name, op=op.op, tensor=weight.name, scope=scope,
                               params=int(np.prod(weight.shape)), int4=op.op in INT4_OPS))
    return out


def _layer_name(tensor_name: str, known: set[str]) -> str:
    """The Keras layer in a converter tensor name (``model_1/conv1_1/convolution`` -> conv1)."""
    for segment in re.split(r"[/;]", tensor_name):
        if segment in known:
            return segment
        bare = re.sub(r"_\d+$", "", segment)  # Keras 3's tracing suffix
        if bare in known:
            return bare
    return tensor_name


def calibrate(float_blob: bytes, representative: np.ndarray, *, threads: int = 2) -> dict:
    """Activation ranges of the float file: global min/max over the samples (see module doc).

    The result serves every precision assignment of the same file (``quantize``).

    Raises:
        DataError: no samples, or samples that do not fit the model input.
        ConversionError: the file has no signature the quantizer can run.
    """
    q = modules()
    if representative is None or len(representative) == 0:
        raise DataError("int4 and mixed need representative samples for calibration. "
                        "Received: none", hint="pass training data (--data)")
    key, name, shape = _signature(float_blob)
    samples = np.asarray(representative, dtype=np.float32)
    if tuple(samples.shape[1:]) != tuple(shape[1:]):
        raise DataError(f"calibration samples do not fit the model input. Received sample "
                        f"shape {tuple(samples.shape[1:])}, model expects {tuple(shape[1:])}")
    manager = q.recipe_manager.RecipeManager()
    manager.load_quantization_recipe(_recipe(q, []))
    data = {key: [{name: samples[i:i + 1]} for i in range(len(samples))]}
    try:
        # its interpreter keeps every tensor (it warns so each time) and shows a tqdm bar
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore", UserWarning)
            calib = q.calibrator.Calibrator(bytes(float_blob), num_threads=threads,
                                            qsv_update_func=q.qsv_utils.min_max_update)
            calib.calibrate(data, manager)
    except (ValueError, RuntimeError) as exc:
        raise ConversionError(f"LiteRT quantizer calibration failed: {_first(exc)}") from None
    return calib.get_model_qsvs()


def quantize(float_blob: bytes, calibration: dict, *,
             precision: Mapping[str, str] | None = None,
             layers: list[WeightLayer] | None = None) -> bytes:
    """Quantize a float .tflite file: int8 everywhere, except the layers ``precision`` names.

    Args:
        float_blob: the float32 .tflite file's bytes.
        calibration: ``calibrate``'s result for that file.
        precision: layer name -> ``int4`` | ``int8`` | ``float16`` (others: int8).
        layers: ``weight_layers(float_blob, ...)`` (names the keys of ``precision``).

    Raises:
        ConversionError: an unknown layer or precision, int4 for an op LiteRT does not run
            with int4 weights, or a quantizer failure.
    """
    q = modules()
    precision = dict(precision or {})
    by_name = {layer.name: layer for layer in layers or []}
    chosen = []
    for name, bits in precision.items():
        if bits not in PRECISIONS:
            raise ConversionError(f"precision must be one of {', '.join(PRECISIONS)}. "
                                  f"Received: {name}={bits!r}")
        if name not in by_name:
            raise ConversionError(f"no weight layer named {name!r} in the model. Received: "
                                  f"{name!r}", hint=f"layers: {', '.join(by_name) or 'none'}")
        layer = by_name[name]
        if bits == "int4" and not layer.int4:
            raise ConversionError(f"LiteRT runs int4 weights with int8 activations for "
                                  f"{' and '.join(INT4_OPS)} only. Received: int4 for "
                                  f"{name} ({layer.op})", hint="keep it int8 or float16")
        if bits != "int8":
            chosen.append((layer, bits))
    try:
        with warnings.catch_warnings():  # its interpreter keeps every tensor, and warns so
            warnings.simplefilter("ignore", UserWarning)
            quantizer = q.quantizer.Quantizer(bytearray(float_blob), _recipe(q, chosen))
            result = quantizer.quantize(copy.deepcopy(calibration),
                                        enable_progress_report=False)
    except (ValueError, RuntimeError, KeyError) as exc:
        raise ConversionError(f"LiteRT quantizer failed: {_first(exc)}") from None
    return bytes(result.quantized_model)


def _recipe(q: SimpleNamespace, chosen: list[tuple[WeightLayer, str]]) -> list:
    """The quantizer recipe: static int8 for all ops, then one exact-scope rule per choice
    (a later rule wins in the quantizer)."""
    ops = q.qtyping.TFLOperationName
    manager = q.recipe_manager.RecipeManager()
    manager.add_static_config(".*", ops.ALL_SUPPORTED, activation_num_bits=8, weight_num_bits=8)
    for layer, bits in chosen:
        scope = "^" + re.escape(layer.scope) + "$"
        if bits == "int4":
            manager.add_static_config(scope, ops.ALL_SUPPORTED, activation_num_bits=8,
                                      weight_num_bits=4)
        else:  # float16: weights stored as float16, the op computes in float
            manager.add_weight_only_config(
                scope, ops.ALL_SUPPORTED, num_bits=16,
                algorithm_key=q.algorithm_manager.AlgorithmName.FLOAT_CASTING)
    return manager.get_quantization_recipe()


def int4_file(float_blob: bytes, representative: np.ndarray, *,
              layer_names: Iterable[str] = ()) -> bytes:
    """The ``int4`` format: every CONV_2D / FULLY_CONNECTED at int4, the rest int8."""
    layers = weight_layers(float_blob, layer_names)
    calibration = calibrate(float_blob, representative)
    return quantize(float_blob, calibration, layers=layers,
                    precision={layer.name: "int4" for layer in layers if layer.int4})


def describe(graph: Any, layer_names: Iterable[str] = ()) -> dict:
    """What precision each op of a quantized file runs at, read from the file.

    Args:
        graph: the file, read by ``targets.tflite_graph.read_model``.
        layer_names: Keras layer names to name weight ops by.

    Returns:
        ``{layers: [{layer, op, tensor, params, precision, weights_dtype,
        activations_dtype}], other_ops: [{op, precision, count}]}``: a weight op's precision
        is ``int4`` (int4 weights, int8 activations), ``int8``, ``float16`` (float16 weights,
        float compute), ``float32``, or ``dynamic-int4``/``dynamic-int8`` (integer weights on
        float activations); other ops by the dtype of their first activation input.
    """
    known = set(layer_names)
    producers = {o: op for op in graph.ops for o in op.outputs}
    layers, others = [], {}
    seen: dict[str, int] = {}
    for op in graph.ops:
        if op.op in ("QUANTIZE", "DEQUANTIZE"):
            continue
        acts = [graph.tensors[i] for i in op.inputs if i >= 0 and not graph.tensors[i].is_constant
                and not _from_constant(graph, producers, i)]
        act = acts[0].dtype if acts else "none"
        if op.op in WEIGHT_OPS and len(op.inputs) > 1 and op.inputs[1] >= 0:
            weight = _stored(graph, producers, op.inputs[1])
            name = _layer_name(weight.name, known)
            seen[name] = seen.get(name, 0) + 1
            layers.append({"layer": name if seen[name] == 1 else f"{name}#{seen[name]}",
                           "op": op.op, "tensor": weight.name,
                           "params": int(np.prod(weight.shape)),
                           "precision": _precision(weight.dtype, act),
                           "weights_dtype": weight.dtype, "activations_dtype": act})
            continue
        key = (op.op, act)
        others[key] = others.get(key, 0) + 1
    return {"layers": layers,
            "other_ops": [{"op": o, "precision": p, "count": n}
                          for (o, p), n in others.items()]}


def _precision(weights: str, activations: str) -> str:
    if activations in ("int8", "uint8"):
        return "int4" if weights == "int4" else "int8"
    if weights in ("int4", "int8"):
        return f"dynamic-{weights}"
    return "float16" if weights == "float16" else activations


def _stored(graph: Any, producers: dict, index: int) -> Any:
    """The constant a weight input reads, through a load-time DEQUANTIZE (float16 weights)."""
    tensor = graph.tensors[index]
    producer = producers.get(index)
    if not tensor.is_constant and producer is not None and producer.op in _PASS_THROUGH:
        return graph.tensors[producer.inputs[0]]
    return tensor


def _from_constant(graph: Any, producers: dict, index: int) -> bool:
    producer = producers.get(index)
    return (producer is not None and producer.op in _PASS_THROUGH and producer.inputs
            and graph.tensors[producer.inputs[0]].is_constant)


def _signature(blob: bytes) -> tuple[str, str, list[int]]:
    """(signature key, input name, input shape) of a one-input model."""
    from ai_edge_litert.interpreter import Interpreter  # the quantizer's own dependency

    interpreter = Interpreter(model_content=bytes(blob))
    signatures = interpreter.get_signature_list()
    if not signatures:
        raise ConversionError("the LiteRT quantizer needs a model with a signature. Received: "
                              "a .tflite file with none",
                              hint="convert from a Keras model (edgecompress does) and retry")
    key = next(iter(signatures))
    inputs = signatures[key]["inputs"]
    if len(inputs) != 1:
        raise ConversionError(f"int4 and mixed support one-input models. Received: "
                              f"{len(inputs)} inputs ({', '.join(inputs)})")
    runner = interpreter.get_signature_runner(key)
    shape = [int(d) for d in runner.get_input_details()[inputs[0]]["shape"]]
    return key, inputs[0], shape


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:400]
