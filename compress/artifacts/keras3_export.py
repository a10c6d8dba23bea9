"""Keras 3 layers traced for conversion in an equivalent form whose ops all have int8 kernels.

Keras 3's ``LayerNormalization`` computes ``x * inv + (-mean * inv + beta)``: the negation
becomes a TFLite ``NEG``, which the int8 quantizer leaves float (``DEQUANTIZE`` -> ``NEG`` ->
``QUANTIZE``), so a model with it (ConvNeXt, transformers) is not full-integer.
``(x - mean) * inv + beta`` is the same function with ``SUB`` instead, which has an int8
kernel. ``int8_friendly`` swaps such layers' classes for the conversion only (the way the
keras3 engine swaps classes for QAT) and swaps them back afterwards; the model's weights and
structure are untouched.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from compress import _tf

_REWRITTEN: dict[type, type] = {}


@contextlib.contextmanager
def int8_friendly(model: Any) -> Iterator[list[str]]:
    """While open, the Keras 3 layers of ``model`` that would trace an op without an int8
    kernel trace an equivalent form; yields their names. A tf_keras model is left as it is."""
    if not _tf.is_keras3_model(model):
        yield []
        return
    swapped = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        export_cls = _export_class(type(layer))
        if export_cls is not None and not getattr(layer, "rms_scaling", False):
            swapped.append((layer, type(layer)))
            layer.__class__ = export_cls
    try:
        yield [layer.name for layer, _ in swapped]
    finally:
        for layer, cls in swapped:
            layer.__class__ = cls


def _export_class(cls: type) -> type | None:
    """The export form of ``cls``, or None (only the built-in class itself: a subclass may
    have its own ``call``)."""
    import keras

    if cls is not keras.layers.LayerNormalization:
        return None
    if cls not in _REWRITTEN:
        _REWRITTEN[cls] = type(cls.__name__, (cls,), {
            "call": _layer_normalization_call, "__module__": cls.__module__,
            "_edgecompress_export_of": cls})
    return _REWRITTEN[cls]


def _layer_normalization_call(self: Any, inputs: Any) -> Any:
    """``LayerNormalization.call`` (not RMS scaling) as ``(x - mean) * inv + beta``, in at
    least float32 as Keras computes it."""
    from keras import ops

    x = ops.cast(inputs, "float32")
    axes = sorted([self.axis] if isinstance(self.axis, int) else self.axis)
    ndims = len(x.shape)
    axes = [a % ndims for a in axes]
    shape = [1] * ndims
    for a in axes:
        shape[a] = x.shape[a]

    def broadcast(v: Any) -> Any:
        v = ops.cast(v, "float32")
        return v if axes == [ndims - 1] else ops.reshape(v, shape)

    mean, variance = ops.moments(x, axes=axes, keepdims=True)
    inv = ops.rsqrt(variance + self.epsilon)
    if self.gamma is not None:
        inv = inv * broadcast(self.gamma)
    out = (x - mean) * inv
    if self.beta is not None:
        out = out + broadcast(self.beta)
    return ops.cast(out, self.compute_dtype)
