"""The keras3 engine: Keras 3 models (TensorFlow backend) as they are, without tf_keras or tfmot.

Pruning keeps no wrapper classes and clones nothing: each selected kernel gets a mask variable
and a constraint (``kernel * mask``) that the Keras 3 optimizer applies after every update, so
pruned weights stay zero through later training; a callback advances the schedule and
recomputes the masks (per-layer magnitude, or ``m:n`` blocks along the input channels).
Subclassed models, custom layers that own a kernel and nested models (which stay nested) are
pruned like any other. ``strip_pruning`` applies the masks a last time and removes the
constraints.

QAT fake-quantizes the selected kernels per output channel (symmetric int8, straight-through
gradient) by swapping each layer's class for a subclass whose ``kernel`` property returns the
quantized kernel; afterwards the classes are swapped back and the kernels hold int8-grid
values, so the int8 converter reproduces them exactly (a BatchNormalization folded into them
scales whole output channels, which keeps them on a per-channel grid). Activations get
ranges learned in training (``activations="ema"``, ``keras3_act``; the qat stage's default)
or are calibrated by the converter from the representative samples. Pruned zeros stay zero.

Training (``fit``) runs BatchNormalization on TensorFlow's fused kernel, as tf_keras does
(``keras3_bn``): the same arithmetic as Keras 3's own layer, about twice as fast a step on a
CPU.

Distillation uses the ``Distiller`` both engines share (``compress.engines.distiller``), built
on Keras 3's ``Model``; the pruning step finds its masks through it (on the student).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import keras
import numpy as np

from compress.engines import common, keras3_act, keras3_bn, keras3_cluster
from compress.errors import ModelLoadError
from compress.stages.base import KERNEL_ATTRS
from compress.stages.qat import UNSELECTED

_PLAN = "_edgecompress_pruning"
_ZEROS = "_edgecompress_qat_zeros"
_ACT = "_edgecompress_qat_activations"


class Keras3Engine(common.Distillation):
    """Keras 3 behind the ``compress.engines.Engine`` interface."""

    name = "keras3"
    keras = keras

    # -- models ------------------------------------------------------------------------------
    def require(self, model: Any, *, what: str = "model") -> None:
        if not isinstance(model, keras.Model):
            raise ModelLoadError(
                f"the keras3 engine works on Keras 3 models. Received: the {what} is "
                f"{type(model).__module__}.{type(model).__name__}",
                hint="use engine: tfmot (or auto) for tf_keras models")

    def set_seed(self, seed: int) -> None:
        keras.utils.set_random_seed(seed)

    def copy(self, model: Any, *, flatten: bool = False) -> Any:
        """A clone with the same weights; nested models stay nested (``flatten`` is ignored)."""
        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        return clone

    def flatten(self, model: Any) -> Any:
        return model

    # compile, the hook callback, the strategy-scope check: as every engine does them
    compile = staticmethod(partial(common.compile_model, keras))
    callback = staticmethod(partial(common.hook_callback, keras))
    check_strategy_scope = staticmethod(partial(common.check_strategy_scope,
                                                strategy_attr="_distribute_strategy", what="the mask variables"))

    def fit(self, model: Any, x: Any, y: Any, **kwargs: Any) -> dict[str, list[float]]:
        """``model.fit`` with its BatchNormalization layers on TensorFlow's fused kernel."""
        with keras3_bn.fused_batchnorm(model):
            return common.fit(model, x, y, **kwargs)

    # -- pruning -----------------------------------------------------------------------------
    def prunable(self, layer: Any) -> bool:
        """Any layer that owns a kernel (built-in or custom), not a model of its own."""
        return not isinstance(layer, keras.Model) and bool(_kernels(layer))

    def layers(self, model: Any) -> list:
        """Every leaf layer, nested models included (they stay nested)."""
        return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
                if not layer._flatten_layers(include_self=False, recursive=False)]

    def prune(self, model: Any, choose: Callable[[Any], bool], *, schedule: dict,
              block: tuple[int, int] | None) -> tuple[Any, Any]:
        """Masks on the kernels of the layers ``choose`` accepts; the model itself is kept."""
        plan = _Pruning(schedule, block)
        for layer in self.layers(model):
            if choose(layer):
                plan.add(layer)
        object.__setattr__(model, _PLAN, plan)  # found again by the step callback
        return model, plan

    def stretch_schedule(self, schedule: Any, *, end_step: int, frequency: int) -> None:
        schedule.schedule.update(end_step=end_step, frequency=frequency)

    def pruning_callbacks(self) -> list:
        return [_PruneStep()]

    def pruning_step(self, model: Any) -> int:
        plan = _plan_of(model)
        return plan.step if plan is not None else 0

    def mask_sparsity(self, model: Any) -> float:
        plan = _plan_of(model)
        return plan.mask_sparsity() if plan is not None else 0.0

    def strip_pruning(self, model: Any) -> Any:
        plan = getattr(model, _PLAN, None)
        if plan is not None:
            plan.finish()
            object.__delattr__(model, _PLAN)
        return model

    # -- quantization-aware training ---------------------------------------------------------
    def quantize(self, model: Any, *, select: Callable[[str, str], bool],
                 preserve_sparsity: bool, weight_bits: int = 8, activations: str = "calibrated"
                 ) -> tuple[Any, list[str], list[str]]:
        """A copy of ``model`` whose selected kernels are fake-quantized per output channel
        (symmetric ``weight_bits``: 8, or 4 for the int4 format, straight-through gradient)
        during training.

        The layers are not wrapped: each selected layer's class is swapped for a subclass whose
        ``kernel`` property returns the fake-quantized kernel; ``finalize_quantized`` swaps it
        back and stores the quantized values. ``activations``: ``calibrated`` (the int8
        converter calibrates them from the representative samples) or ``ema`` (layer outputs
        fake-quantized with ranges learned in training and carried into the converter:
        ``compress.engines.keras3_act``). Returns the model, the output-only layers (none
        here) and the layers left float with the reason.
        """
        quantized = self.copy(model)
        left_float: list[str] = []
        swaps: dict[int, tuple[Any, tuple[str, ...]]] = {}  # layer -> (layer, kernels)
        zeros = _Pruning({"kind": "constant", "final": 0.0, "frequency": 1}, None)
        paths = _layer_paths(quantized)
        for layer in self.layers(quantized):
            path = paths.get(id(layer), layer.name)
            if not _kernels(layer):
                held = [v.name for v in layer.trainable_weights if len(v.shape) >= 2]
                if held:  # e.g. a custom layer's matrix under another name: listed, not lost
                    left_float.append(
                        f"{path} ({type(layer).__name__} keeps its weights in "
                        f"{', '.join(held)}, not in {' / '.join(KERNEL_ATTRS)})")
                continue
            if preserve_sparsity:  # every kernel's zeros stay zero, quantized or not
                zeros.add(layer, mask=lambda w: w != 0)
            reason = _qat_refusal(layer, select)
            if reason:
                left_float.append(f"{path} ({reason})")
                continue
            swaps[id(layer)] = (layer, _quant_attrs(layer))
        ranged: set[int] = set()
        if activations == "ema":
            chosen, calibrated = keras3_act.choose(quantized, self.layers(quantized), paths)
            for layer in chosen:
                keras3_act.add_ranges(layer)
                swaps.setdefault(id(layer), (layer, ()))
                ranged.add(id(layer))
            object.__setattr__(quantized, _ACT, {"activations": "ema",
                                                 "learned_ranges": len(chosen),
                                                 "calibrated": calibrated})
        for key, (layer, attrs) in swaps.items():
            layer.__class__ = _fake_quant_class(type(layer), attrs, weight_bits,
                                                key in ranged)
        # a clustered model keeps its shared values through QAT (cluster-preserving QAT)
        keras3_cluster.keep_clusters(model, quantized, self.layers(quantized))
        object.__setattr__(quantized, _ZEROS, zeros)
        return quantized, [], left_float

    def activation_ranges(self, model: Any) -> dict:
        """How the QAT model's activations are quantized: ``{"activations": "calibrated"}``,
        or with ``ema`` the number of learned ranges and the layers left to calibration."""
        return dict(getattr(model, _ACT, {"activations": "calibrated"}))

    def finalize_quantized(self, model: Any) -> Any:
        """Swap the fake-quant classes back; kernels keep their int8-grid values."""
        keras3_cluster.release(model)
        for layer in self.layers(model):
            original = getattr(type(layer), "_edgecompress_original", None)
            if original is None:
                continue
            attrs = type(layer)._edgecompress_attrs
            grids = {attr: np.asarray(getattr(layer, attr)) for attr in attrs}  # fake-quantized
            # a learned activation range stays in the graph: the converter takes it from there
            layer.__class__ = _fake_quant_class(original, (), 8, True) \
                if type(layer)._edgecompress_act else original
            for attr, grid in grids.items():
                _weight_variable(layer, attr).assign(grid)
        zeros = getattr(model, _ZEROS, None)
        if zeros is not None:  # the preserved zeros' constraints are removed
            zeros.finish()
            object.__delattr__(model, _ZEROS)
        return model

    # -- weight clustering (compress.engines.keras3_cluster) ---------------------------------
    clusterable = keras3_cluster.clusterable
    cluster = keras3_cluster.cluster
    strip_clustering = keras3_cluster.strip_clustering
    mark_clustered = keras3_cluster.mark_clustered

    # -- distillation (``common.Distillation``; the student loaded as the Keras 3 model) -----
    def load_student(self, spec: str) -> Any:
        from compress import models

        student, _ = models.load_model(spec, native_keras3=True)
        self.require(student, what="student")
        return student


def _layer_paths(model: Any) -> dict[int, str]:
    """Each layer's path in ``model`` (``outer/inner/conv`` for a nested model's layer), by
    ``id``."""
    paths: dict[int, str] = {}

    def walk(parent: Any, prefix: str) -> None:
        for layer in parent._flatten_layers(include_self=False, recursive=False):
            if id(layer) not in paths:
                paths[id(layer)] = prefix + layer.name
                walk(layer, paths[id(layer)] + "/")

    walk(model, "")
    return paths


def _qat_refusal(layer: Any, select: Callable[[str, str], bool]) -> str | None:
    """Why a layer with a kernel is not fake-quantized, or None."""
    cls = type(layer)
    if not select(layer.name, cls.__name__):
        return UNSELECTED
    if not _quant_attrs(layer):
        return f"{cls.__name__} keeps its weights elsewhere than in {' / '.join(KERNEL_ATTRS)}"
    return None


def _quant_attrs(layer: Any) -> tuple[str, ...]:
    """The kernel attributes of ``layer`` that fake-quantization covers (a variable behind
    each): ``kernel``, or a separable convolution's ``depthwise_kernel`` and
    ``pointwise_kernel``."""
    return tuple(a for a in KERNEL_ATTRS if _weight_variable(layer, a) is not None)


def _weight_variable(layer: Any, attr: str = "kernel", cls: type | None = None) -> Any:
    """The variable behind ``layer.<attr>``: ``_<attr>`` under a Keras property (``kernel`` of
    Conv, Dense), else a plain attribute (DepthwiseConv2D, SeparableConv2D, custom layers).
    ``cls``: judge by this class (a swapped fake-quant class always has the property)."""
    prop = getattr(cls or type(layer), attr, None)
    if not isinstance(prop, property):
        var = vars(layer).get(attr)
    elif cls is not None:
        return prop.fget(layer)  # what the original class's call reads
    else:
        var = getattr(layer, f"_{attr}", None)
    return var if isinstance(var, keras.Variable) else None


def _channel_axes(layer: Any, attr: str, ndim: int) -> tuple[int, ...]:
    """The axes one scale covers: all but the output channels, as TFLite quantizes them.
    A depthwise kernel (kh, kw, in, multiplier) has in x multiplier output channels; a
    transposed convolution's kernel (kh, kw, out, in) has them on its next-to-last axis."""
    name = type(layer).__name__
    if attr == "depthwise_kernel" or ("Depthwise" in name and ndim == 4):
        return tuple(range(ndim - 2))
    if "Transpose" in name:
        return tuple(a for a in range(ndim) if a != ndim - 2)
    return tuple(range(ndim - 1))


def _fake_quant(w: Any, axes: tuple[int, ...], bits: int = 8) -> Any:
    """Symmetric ``bits``-bit per output channel (levels -(2^(b-1)-1)..2^(b-1)-1, as TFLite's
    int8 and int4 weights), straight-through gradient."""
    top = float(2 ** (bits - 1) - 1)
    scale = keras.ops.maximum(keras.ops.max(keras.ops.abs(w), axis=axes, keepdims=True),
                              1e-12) / top
    q = keras.ops.clip(keras.ops.round(w / scale), -top, top) * scale
    return w + keras.ops.stop_gradient(q - w)


_FAKE_QUANT_CLASSES: dict[tuple, type] = {}


def _fake_quant_class(cls: type, attrs: tuple[str, ...], bits: int = 8,
                      act: bool = False) -> type:
    """``cls`` with a property per kernel attribute in ``attrs`` that returns the
    fake-quantized kernel (a property on the class wins over a plain instance attribute of
    the same name) and, with ``act``, a ``call`` whose output is fake-quantized with the
    layer's learned range (``keras3_act``)."""
    key = (cls, attrs, bits, act)
    if key not in _FAKE_QUANT_CLASSES:
        def quantized(attr: str) -> property:
            def get(self):
                w = _weight_variable(self, attr, cls)
                return _fake_quant(w, _channel_axes(self, attr, len(w.shape)), bits)
            return property(get)

        namespace = {attr: quantized(attr) for attr in attrs}
        if act:
            def call(self, *args, **kwargs):
                return keras3_act.observe(self, cls.call(self, *args, **kwargs))
            namespace["call"] = call
        _FAKE_QUANT_CLASSES[key] = type(cls.__name__, (cls,), {
            **namespace, "_edgecompress_original": cls, "_edgecompress_attrs": attrs,
            "_edgecompress_act": act, "__module__": cls.__module__})
    return _FAKE_QUANT_CLASSES[key]


def _kernels(layer: Any) -> list:
    out = []
    for attr in KERNEL_ATTRS:
        var = getattr(layer, attr, None)
        if isinstance(var, keras.Variable) and var.trainable:
            out.append(var)
    return out


class _MaskConstraint(keras.constraints.Constraint):
    """``kernel * mask``: applied by the optimizer after each update."""

    def __init__(self, mask: Any, previous: Any = None) -> None:
        self.mask = mask
        self.previous = previous

    def __call__(self, w: Any) -> Any:
        if self.previous is not None:
            w = self.previous(w)
        return w * self.mask


class _Pruning:
    """The masks of one pruned model and their schedule (in optimizer steps)."""

    def __init__(self, schedule: dict, block: tuple[int, int] | None) -> None:
        self.schedule = dict(schedule)
        self.block = block
        self.step = 0
        self.entries: list[tuple[Any, Any, Any]] = []  # (kernel, mask variable, old constraint)

    def add(self, layer: Any, *, mask: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        """Mask the layer's kernels: all ones, or ``mask(kernel)`` (keep where True)."""
        for var in _kernels(layer):
            start = np.ones(tuple(var.shape), dtype="float32") if mask is None \
                else mask(np.asarray(var.numpy())).astype("float32")
            mask_var = keras.Variable(start, trainable=False, dtype=var.dtype,
                                      name=f"{layer.name}_mask")
            self.entries.append((var, mask_var, var.constraint))
            var.constraint = _MaskConstraint(mask_var, var.constraint)

    def target(self, step: int) -> float:
        s = self.schedule
        if s["kind"] == "constant":
            return s["final"]
        progress = min(1.0, step / max(1, s["end_step"]))
        return s["final"] + (s["initial"] - s["final"]) * (1.0 - progress) ** 3

    def due(self, step: int) -> bool:
        s = self.schedule
        if s["kind"] != "constant" and step > s["end_step"]:
            return False
        return step % max(1, s["frequency"]) == 0

    def update(self, step: int) -> None:
        """Recompute every mask for this step's target sparsity and zero the pruned weights."""
        sparsity = self.target(step)
        for var, mask, _ in self.entries:
            w = np.asarray(var.numpy())
            new = _block_mask(w, self.block) if self.block else _magnitude_mask(w, sparsity)
            mask.assign(new.astype("float32"))
            var.assign(w * new)

    def mask_sparsity(self) -> float:
        zeros = sum(int(np.sum(np.asarray(m.numpy()) == 0)) for _, m, _ in self.entries)
        total = sum(int(np.prod(m.shape)) for _, m, _ in self.entries)
        return zeros / total if total else 0.0

    def finish(self) -> None:
        for var, mask, previous in self.entries:
            var.assign(np.asarray(var.numpy()) * np.asarray(mask.numpy()))
            var.constraint = previous


def _magnitude_mask(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Zero the ``sparsity`` fraction of smallest-magnitude weights."""
    k = int(round(sparsity * w.size))
    if k <= 0:
        return np.ones_like(w, dtype=bool)
    flat = np.abs(w).ravel()
    threshold = np.partition(flat, k - 1)[k - 1]
    mask = np.abs(w) > threshold
    # ties at the threshold: keep exactly size - k weights
    extra = int(mask.size - k - mask.sum())
    if extra > 0:
        ties = np.flatnonzero((np.abs(w) == threshold).ravel())[:extra]
        mask.ravel()[ties] = True
    return mask


def _block_mask(w: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """``m:n``: the m largest of every n consecutive weights along the input channels."""
    m, n = block
    moved = np.moveaxis(w, -2, -1) if w.ndim >= 2 else w
    shape = moved.shape
    flat = moved.reshape(-1, shape[-1])
    pad = (-flat.shape[1]) % n
    padded = np.pad(np.abs(flat), ((0, 0), (0, pad)))
    groups = padded.reshape(flat.shape[0], -1, n)
    order = np.argsort(-groups, axis=-1, kind="stable")
    keep = np.zeros_like(groups, dtype=bool)
    np.put_along_axis(keep, order[..., :m], True, axis=-1)
    keep = keep.reshape(flat.shape[0], -1)[:, :flat.shape[1]].reshape(shape)
    return np.moveaxis(keep, -1, -2) if w.ndim >= 2 else keep


def _plan_of(model: Any) -> Any:
    """The pruning plan of ``model``, or of the student a ``Distiller`` trains."""
    plan = getattr(model, _PLAN, None)
    return plan if plan is not None else getattr(getattr(model, "student", None), _PLAN, None)


class _PruneStep(keras.callbacks.Callback):
    """Advances the pruning step and updates the masks when the schedule says so."""

    def on_train_batch_begin(self, batch, logs=None):
        plan = _plan_of(self.model)
        if plan is None:
            return
        if plan.due(plan.step):
            plan.update(plan.step)
        plan.step += 1


#: The engine object ``compress.engines.get_engine("keras3")`` returns.
ENGINE = Keras3Engine()
