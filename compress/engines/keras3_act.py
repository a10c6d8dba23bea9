"""Activation fake-quantization with EMA ranges for the keras3 engine's QAT
(``qat: {activations: ema}``).

Each chosen layer's output is fake-quantized per tensor (asymmetric int8, straight-through
gradient inside the range) with a range the layer learns while training: the batch min and max
(always including zero), folded into an exponential moving average (the first batch sets it).
The range lives in two non-trainable variables on the layer, so it is saved with the QAT
model's weights (checkpoints, resume) and traced into the exported graph as
``FakeQuantWithMinMaxVars``, which the TFLite converter takes as that tensor's int8 range:
the ranges trained with are the ranges the int8 file uses. Tensors without one (the model
input, layers left out) are calibrated from the representative samples as before.

Where the fake-quant goes follows what the converter fuses, so it never splits an op TFLite
runs as one:

* not after a Conv/Dense/DepthwiseConv whose every consumer is a BatchNormalization (folded
  into it) or a ReLU/ReLU6 (fused into it), nor after a BatchNormalization or Add feeding only
  such an activation: the range goes on the activation's output;
* not after pass-through layers (Flatten, Reshape, pooling by max, Dropout, padding,
  cropping), which keep their input's range, nor after layers with a fixed int8 output range
  (softmax, sigmoid), nor on LayerNormalization (traced in an int8-friendly form at export);
* not where the consumers are unknown (the call of a subclassed model, a nested model's
  output) and the layer could be fused with them: those tensors are calibrated at conversion.

The layers are not wrapped: as for the kernels, each chosen layer's class is swapped for a
subclass whose ``call`` fake-quantizes the original ``call``'s output.
"""

from __future__ import annotations

from typing import Any

import keras

from compress.engines import keras3_cluster

#: EMA decay of the ranges per training step (tfmot's moving-average quantizer uses 0.999 over
#: long schedules; QAT here runs an epoch or two)
EMA_DECAY = 0.99
_PASS_THROUGH = ("Flatten", "Reshape", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
                 "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "Dropout",
                 "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout",
                 "AlphaDropout", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
                 "Cropping1D", "Cropping2D", "Cropping3D", "Permute", "Identity", "InputLayer",
                 "RepeatVector")
_FIXED_RANGE = ("Softmax",)
_FIXED_ACTIVATIONS = ("softmax", "sigmoid", "log_softmax")
_FOLDS_BN = ("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D",
             "SeparableConv1D", "SeparableConv2D", "Conv1DTranspose", "Conv2DTranspose",
             "Dense")
#: producers a following ReLU/ReLU6 is fused into
_FUSES_ACTIVATION = _FOLDS_BN + ("BatchNormalization", "Add")


def choose(model: Any, layers: list, paths: dict[int, str]) -> tuple[list, list[str]]:
    """The layers whose output gets an EMA range, and those left to calibration (with why)."""
    chosen, calibrated = [], []
    outputs = {id(_producer(t)) for t in (getattr(model, "outputs", None) or [])}
    for layer in layers:
        cls = type(layer).__name__
        why = _skip_reason(layer, cls, id(layer) in outputs)
        if why is None:
            chosen.append(layer)
        elif why:
            calibrated.append(f"{paths.get(id(layer), layer.name)} ({why})")
    return chosen, calibrated


def _producer(tensor: Any) -> Any:
    history = getattr(tensor, "_keras_history", None)
    return getattr(history, "operation", None)


def _skip_reason(layer: Any, cls: str, is_output: bool) -> str | None:
    """Why ``layer``'s output gets no fake-quant ("" when that needs no mention), or None.
    ``is_output``: the layer gives the (top-level) model's output."""
    if cls in _PASS_THROUGH or isinstance(layer, keras.Model):
        return ""
    if cls in _FIXED_RANGE or _activation_name(layer) in _FIXED_ACTIVATIONS:
        return ""
    if cls == "LayerNormalization":
        return "LayerNormalization: calibrated at conversion"
    consumers = _consumers(layer)
    if not consumers:
        if (cls in _FUSES_ACTIVATION or _owns_kernel(layer)) and not is_output:
            return "its consumers are not known (a subclassed model's call or a nested " \
                   "model's output): calibrated at conversion"
        return None
    # a custom layer that owns a kernel converts to the same CONV/FULLY_CONNECTED ops
    folds = cls in _FOLDS_BN or _owns_kernel(layer)
    if folds and all(type(c).__name__ == "BatchNormalization" for c in consumers):
        return ""  # folded into the convolution
    if (folds or cls in _FUSES_ACTIVATION) and all(_fusable_activation(c) for c in consumers):
        return ""  # the activation is fused: its output carries the range
    return None


def _owns_kernel(layer: Any) -> bool:
    return bool(keras3_cluster.kernels(layer))


def _consumers(layer: Any) -> list:
    return [node.operation for node in getattr(layer, "_outbound_nodes", [])
            if getattr(node, "operation", None) is not None]


def _activation_name(layer: Any) -> str | None:
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", None) if act is not None else None


def _fusable_activation(layer: Any) -> bool:
    """A ReLU or ReLU6 TFLite fuses into the op before it."""
    cls = type(layer).__name__
    if cls == "ReLU":
        return (float(layer.negative_slope) == 0 and float(layer.threshold) == 0
                and layer.max_value in (None, 6, 6.0))
    return cls == "Activation" and _activation_name(layer) in ("relu", "relu6")


def add_ranges(layer: Any) -> None:
    """The range variables (min, max, whether any batch was seen) on a built layer."""
    tracker = getattr(layer, "_tracker", None)
    if tracker is not None:
        tracker.unlock()
    try:
        layer._edgecompress_act_min = keras.Variable(0.0, trainable=False, name="act_min")
        layer._edgecompress_act_max = keras.Variable(0.0, trainable=False, name="act_max")
        layer._edgecompress_act_seen = keras.Variable(0.0, trainable=False, name="act_seen")
    finally:
        if tracker is not None:
            tracker.lock()


def ranges(layer: Any) -> tuple[float, float] | None:
    """The learned (min, max) of ``layer``'s output, or None (not fake-quantized or unseen)."""
    seen = getattr(layer, "_edgecompress_act_seen", None)
    if seen is None or float(seen.numpy()) == 0:
        return None
    return (float(layer._edgecompress_act_min.numpy()),
            float(layer._edgecompress_act_max.numpy()))


def observe(layer: Any, y: Any) -> Any:
    """``y`` fake-quantized with the layer's range, updated first when training. An output
    that is not one floating-point tensor (a tuple, integer ids) passes unchanged."""
    ops = keras.ops
    dtype = getattr(y, "dtype", None)
    if dtype is None or not keras.backend.is_float_dtype(keras.backend.standardize_dtype(dtype)):
        return y
    lo, hi, seen = (layer._edgecompress_act_min, layer._edgecompress_act_max,
                    layer._edgecompress_act_seen)
    context = layer._get_call_context()
    training = bool(getattr(context, "training", False))
    if training:
        y32 = ops.cast(y, "float32")
        batch_lo = ops.minimum(ops.min(y32), 0.0)
        batch_hi = ops.maximum(ops.max(y32), 0.0)
        first = ops.equal(seen, 0.0)
        new_lo = ops.where(first, batch_lo, EMA_DECAY * lo + (1 - EMA_DECAY) * batch_lo)
        new_hi = ops.where(first, batch_hi, EMA_DECAY * hi + (1 - EMA_DECAY) * batch_hi)
        lo.assign(new_lo)
        hi.assign(new_hi)
        seen.assign(1.0)
        # the range follows the batches, not the loss: no gradient flows into it (through the
        # batch min/max that would be a full-tensor pass per bound for nothing: tfmot's moving-
        # average quantizer also quantizes with its range held constant)
        low = ops.stop_gradient(new_lo)
        high = ops.stop_gradient(ops.maximum(new_hi, new_lo + 1e-6))
    else:
        # the variables themselves, so the exported graph holds constants the converter reads
        # (a range is set by the first training batch; a qat stage trains at least one step)
        low, high = lo, hi
    out = keras.quantizers.fake_quant_with_min_max_vars(
        ops.cast(y, "float32"), low, high, num_bits=8, narrow_range=False)
    return ops.cast(out, y.dtype)
