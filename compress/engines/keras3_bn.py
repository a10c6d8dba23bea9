"""BatchNormalization trained with TensorFlow's fused kernel in the keras3 engine's fits.

Keras 3's ``BatchNormalization`` computes the batch moments and the normalization as separate
ops (two reductions, then ``(x - mean) * rsqrt(var + eps) * gamma + beta``), forward and
backward; tf_keras, and so the tfmot engine, calls ``FusedBatchNormV3``, one kernel each way.
On a CPU that is most of the difference in step time between the two (``fashion_cnn``, batch
128: ``benchmarks/keras3_bn_step.py``, ``benchmarks/results/keras3_bn_step.md``).

While the engine trains (``Keras3Engine.fit``), each plain ``keras.layers.BatchNormalization``
in the model (nested models and a distiller's student and teacher included) has its class
swapped for a subclass whose training call on a 4-D channels-last input runs the fused kernel;
the classes are swapped back when ``fit`` returns, so nothing saved or exported sees them. The
arithmetic is Keras 3's: the output normalizes with the biased batch variance, and the moving
statistics are updated with the biased variance and the layer's momentum, as
``BatchNormalization.call`` does (the fused op reports the unbiased variance: it is scaled
back by (n - 1) / n). Every other case (inference, masks, renorm, synchronized statistics,
other ranks or axes, float64 inputs, a user subclass of BatchNormalization) runs Keras' own ``call``. A
layer whose output the QAT engine fake-quantizes (``keras3_act``) keeps that.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import keras

from compress.engines import keras3_act

_FUSED_CLASSES: dict[type, type] = {}


def _fusable(layer: Any, inputs: Any, training: Any, mask: Any) -> bool:
    rank = len(inputs.shape)
    if keras.backend.standardize_dtype(inputs.dtype) not in ("float16", "bfloat16", "float32"):
        return False  # float64 stays float64 in Keras' call
    return (training is True or (isinstance(training, int) and training == 1)) \
        and layer.trainable and mask is None and rank == 4 and layer.axis in (rank - 1, -1) \
        and not layer.renorm and not layer.synchronized


def _fused_call(layer: Any, inputs: Any) -> Any:
    import tensorflow as tf

    x = tf.cast(inputs, "float32")  # as Keras does: statistics in float32
    channels = x.shape[-1]
    gamma = tf.cast(layer.gamma, x.dtype) if layer.scale else tf.ones((channels,), x.dtype)
    beta = tf.cast(layer.beta, x.dtype) if layer.center else tf.zeros((channels,), x.dtype)
    y, mean, unbiased, *_ = tf.raw_ops.FusedBatchNormV3(
        x=x, scale=gamma, offset=beta, mean=tf.zeros((0,), x.dtype),
        variance=tf.zeros((0,), x.dtype), epsilon=layer.epsilon, exponential_avg_factor=1.0,
        data_format="NHWC", is_training=True)
    n = tf.cast(tf.size(x) // channels, x.dtype)
    variance = unbiased * (n - 1.0) / tf.maximum(n, 1.0)
    momentum = layer.momentum
    layer.moving_mean.assign(tf.cast(
        tf.cast(layer.moving_mean, x.dtype) * momentum + mean * (1.0 - momentum),
        layer.moving_mean.dtype))
    layer.moving_variance.assign(tf.cast(
        tf.cast(layer.moving_variance, x.dtype) * momentum + variance * (1.0 - momentum),
        layer.moving_variance.dtype))
    return tf.cast(y, layer.compute_dtype)


def _fused_class(cls: type) -> type:
    """``cls`` (BatchNormalization, or the QAT engine's subclass of it) with a fused training
    ``call``; anything the fused kernel does not cover goes to ``cls.call``."""
    if cls not in _FUSED_CLASSES:
        observe = keras3_act.observe if getattr(cls, "_edgecompress_act", False) else None

        def call(self, inputs, training=None, mask=None):
            if not _fusable(self, inputs, training, mask):
                return cls.call(self, inputs, training=training, mask=mask)
            outputs = _fused_call(self, inputs)
            return observe(self, outputs) if observe is not None else outputs

        _FUSED_CLASSES[cls] = type(cls.__name__, (cls,), {
            "call": call, "_edgecompress_fused_from": cls, "__module__": cls.__module__})
    return _FUSED_CLASSES[cls]


def _batchnorms(model: Any) -> list:
    """The model's plain Keras BatchNormalization layers (a QAT subclass counts as plain)."""
    found = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        cls = type(layer)
        if getattr(cls, "_edgecompress_original", cls) is keras.layers.BatchNormalization:
            found.append(layer)
    return found


@contextmanager
def fused_batchnorm(model: Any) -> Iterator[int]:
    """Within the block, ``model``'s BatchNormalization layers train fused; yields how many.

    The train function is traced afresh on entry and on exit, so a ``fit`` after the block
    does not keep the swapped classes' graph."""
    if keras.backend.backend() != "tensorflow":
        yield 0
        return
    swapped = [(layer, type(layer)) for layer in _batchnorms(model)]
    for layer, cls in swapped:
        layer.__class__ = _fused_class(cls)
    model.train_function = None
    try:
        yield len(swapped)
    finally:
        for layer, cls in swapped:
            layer.__class__ = cls
        model.train_function = None
