"""The tfmot engine: tf_keras models, TensorFlow Model Optimization for pruning and QAT.

The only module that calls tfmot (``compress._keras`` selects tf_keras and imports it). The
stages decide what to apply to which layer and report it; this module does it with tfmot:
``prune_low_magnitude`` wrappers and their schedules, ``quantize_apply`` with the default 8-bit
(or prune-preserving) scheme, and the ``Distiller`` training wrapper (``engines.distiller``).

tfmot rejects layers outside its registry. Weight-free pass-through layers that carry no
arithmetic worth simulating (Rescaling, ...) get an output-only quantize config so a standard
model still goes through QAT; tfmot's RuntimeError for anything else becomes an
``UnsupportedLayerError`` that names the layer and says what to do.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any, Callable


from compress import _keras
from compress.engines import common
from compress.errors import UnsupportedLayerError
from compress.stages.qat import UNSELECTED

keras, tf, tfmot = _keras.keras, _keras.tf, _keras.tfmot
sparsity_api = tfmot.sparsity.keras
qkeras = tfmot.quantization.keras

#: Layers without weights whose output we quantize as-is (tfmot has no config for them).
OUTPUT_ONLY_TYPES = ("Rescaling", "Normalization", "Resizing", "CenterCrop", "UpSampling2D",
                     "Cropping2D", "Multiply", "Maximum", "Minimum", "Subtract", "Average",
                     "Softmax", "LeakyReLU", "PReLU", "ELU")

#: Layers whose kernel tfmot's clustering registry clusters (DepthwiseConv2D: none of its weights).
CLUSTERABLE_TYPES = ("Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose", "Conv3D",
                     "Conv3DTranspose", "Dense")
_CLUSTERED = "_edgecompress_clustered"  # on a stripped clustered model

_UNSUPPORTED = re.compile(r"Layer (\S+?):<class '([\w.]+)'> is not supported")


class TfmotEngine(common.Distillation):
    """tf_keras + tfmot behind the ``compress.engines.Engine`` interface."""

    name = "tfmot"
    keras = keras

    # -- models ------------------------------------------------------------------------------
    def require(self, model: Any, *, what: str = "model") -> None:
        _keras.require_tf_keras(model, what=what)

    def set_seed(self, seed: int) -> None:
        _keras.set_seed(seed)

    def copy(self, model: Any, *, flatten: bool = False) -> Any:
        """A clone of ``model`` with its weights (nested models flattened when ``flatten``)."""
        from compress.models.graph import flatten_nested

        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        return flatten_nested(clone) if flatten else clone

    def flatten(self, model: Any) -> Any:
        from compress.models.graph import flatten_nested

        return flatten_nested(model)

    # compile, fit, the hook callback, the strategy-scope check: as every engine does them
    compile = staticmethod(partial(common.compile_model, keras))
    fit = staticmethod(common.fit)
    callback = staticmethod(partial(common.hook_callback, keras))
    check_strategy_scope = staticmethod(partial(common.check_strategy_scope,
                                                strategy_attr="_distribution_strategy", what="the wrappers' variables"))

    # -- pruning -----------------------------------------------------------------------------
    def prunable(self, layer: Any) -> bool:
        """The layer classes tfmot's ``prune_low_magnitude`` takes."""
        from compress.stages.prune import PRUNABLE_TYPES

        return type(layer).__name__ in PRUNABLE_TYPES

    def prune(self, model: Any, choose: Callable[[Any], bool], *, schedule: dict,
              block: tuple[int, int] | None) -> tuple[Any, Any]:
        """Clone ``model`` with the layers ``choose`` accepts wrapped by ``prune_low_magnitude``.

        ``schedule``: ``{"kind": "polynomial" | "constant", "initial", "final", "end_step",
        "frequency"}``. Returns the wrapped model and the tfmot schedule object (which
        ``stretch_schedule`` adjusts for a user's ``fit``).
        """
        if schedule["kind"] == "constant":
            tf_schedule = sparsity_api.ConstantSparsity(
                schedule["final"], begin_step=0, end_step=-1, frequency=schedule["frequency"])
        else:
            tf_schedule = sparsity_api.PolynomialDecay(
                schedule["initial"], schedule["final"], begin_step=0,
                end_step=schedule["end_step"], frequency=schedule["frequency"])
        kwargs: dict[str, Any] = {"pruning_schedule": tf_schedule}
        if block is not None:
            kwargs["sparsity_m_by_n"] = block

        def clone(layer):
            # Returning the layer itself (or a wrapper around it) keeps its weights: the
            # session works on its own copy of the user's model, so sharing is safe.
            return sparsity_api.prune_low_magnitude(layer, **kwargs) if choose(layer) else layer

        return keras.models.clone_model(model, clone_function=clone), tf_schedule

    def stretch_schedule(self, schedule: Any, *, end_step: int, frequency: int) -> None:
        """Callback mode: the schedule over the user's ``fit`` (set before it traces)."""
        schedule.frequency = frequency
        if isinstance(schedule, sparsity_api.PolynomialDecay):
            schedule.end_step = end_step

    def pruning_callbacks(self) -> list:
        return [sparsity_api.UpdatePruningStep()]

    def pruning_step(self, model: Any) -> int:
        """The wrappers' step counter (0 until ``UpdatePruningStep`` advanced it)."""
        for layer in model.layers:
            step = getattr(layer, "pruning_step", None)
            if step is not None:
                return int(keras.backend.get_value(step))
        return 0

    def mask_sparsity(self, model: Any) -> float:
        """Fraction of zeros in the pruning masks of a wrapped model (what training sees now)."""
        zeros = total = 0
        for layer in model.layers:
            for _, mask, _ in getattr(layer, "pruning_vars", []) or []:
                values = mask.numpy()
                zeros += int((values == 0).sum())
                total += values.size
        return zeros / total if total else 0.0

    def strip_pruning(self, model: Any) -> Any:
        """``model`` without pruning wrappers (itself when it has none)."""
        if any(hasattr(layer, "pruning_vars") for layer in model.layers):
            return sparsity_api.strip_pruning(model)
        return model

    # -- quantization-aware training ---------------------------------------------------------
    def quantize(self, model: Any, *, select: Callable[[str, str], bool],
                 preserve_sparsity: bool, weight_bits: int = 8, activations: str = "ema"
                 ) -> tuple[Any, list[str], list[str]]:
        """QAT-wrap the layers ``select(name, class)`` accepts (default 8-bit scheme, or the
        prune-preserving one; activation ranges are moving averages learned in training).
        Returns the model, the output-only layers and those left float.
        """
        if activations != "ema":
            raise UnsupportedLayerError(
                f"the tfmot engine's QAT learns activation ranges (moving averages) and "
                f"carries them into the int8 file. Received: activations={activations!r}",
                hint="drop activations (or use ema); calibrated ranges are a keras3 engine "
                     "option")
        if weight_bits != 8:
            raise UnsupportedLayerError(
                f"the tfmot engine's QAT trains 8-bit weights only. Received: "
                f"weight_bits={weight_bits}",
                hint="use the keras3 engine (a Keras 3 model, engine: keras3 or auto), or "
                     "drop weight_bits")
        registry = _keras.quantize_registry()
        output_only: list[str] = []
        left_float: list[str] = []

        def annotate(layer):
            cls = type(layer).__name__
            if cls == "InputLayer":
                return layer
            if not select(layer.name, cls):
                left_float.append(f"{layer.name} ({UNSELECTED})")
                return layer
            if not registry.supports(layer) and cls in OUTPUT_ONLY_TYPES and not layer.weights:
                output_only.append(layer.name)
                return qkeras.quantize_annotate_layer(
                    layer, quantize_config=_keras.output_quantize_config())
            return qkeras.quantize_annotate_layer(layer)

        _check_quantizable(model)
        with qkeras.quantize_scope():
            annotated = keras.models.clone_model(model, clone_function=annotate)
        scheme = (tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
                  if preserve_sparsity else qkeras.default_8bit.Default8BitQuantizeScheme())
        if getattr(model, _CLUSTERED, False):  # cluster-preserving QAT (zeros too, if asked)
            scheme = tfmot.experimental.combine.Default8BitClusterPreserveQuantizeScheme(
                preserve_sparsity=preserve_sparsity)
        try:
            with qkeras.quantize_scope():
                quantized = qkeras.quantize_apply(annotated, scheme)
        except (RuntimeError, ValueError) as exc:
            raise _unsupported_error(exc) from None
        return quantized, output_only, left_float

    def activation_ranges(self, model: Any) -> dict:
        return {"activations": "ema"}

    def finalize_quantized(self, model: Any) -> Any:
        """The QAT model exports as it is (its quantizers carry the ranges)."""
        return model

    # -- weight clustering (tfmot.clustering) ------------------------------------------------
    def clusterable(self, layer: Any) -> bool:
        """The layer classes whose kernel tfmot's ``cluster_weights`` clusters."""
        return type(layer).__name__ in CLUSTERABLE_TYPES

    def cluster(self, model: Any, choose: Callable[[Any], bool], *, clusters: int, init: str,
                preserve_sparsity: bool, seed: int) -> Any:
        """Clone ``model`` with the layers ``choose`` accepts wrapped by ``cluster_weights``.

        With ``preserve_sparsity`` tfmot pins its smallest centroid to zero, so it gets one
        centroid more: ``clusters`` for the non-zero weights, as on the keras3 engine.
        tfmot's k-means++ draws from TensorFlow's generator, which the session seeds before
        each stage (``seed`` is the keras3 engine's).
        """
        # tfmot 0.8.1 exports preserve_sparsity only from this module (its api package's
        # clustering.keras.experimental is empty)
        from tensorflow_model_optimization.python.core.clustering.keras.experimental import (
            cluster as experimental)

        ckeras = tfmot.clustering.keras
        params = {"number_of_clusters": clusters + 1 if preserve_sparsity else clusters,
                  "cluster_centroids_init": ckeras.CentroidInitialization.LINEAR
                  if init == "linear" else ckeras.CentroidInitialization.KMEANS_PLUS_PLUS,
                  "preserve_sparsity": preserve_sparsity}

        def clone(layer):
            return experimental.cluster_weights(layer, **params) if choose(layer) \
                else layer

        with ckeras.cluster_scope():
            return keras.models.clone_model(model, clone_function=clone)

    def strip_clustering(self, model: Any) -> Any:
        """``model`` without clustering wrappers, marked so a later ``quantize`` uses the
        cluster-preserving scheme."""
        stripped = tfmot.clustering.keras.strip_clustering(model)
        self.mark_clustered(stripped, {})
        return stripped

    def mark_clustered(self, model: Any, layers: dict[str, bool]) -> None:
        """A later ``quantize`` uses tfmot's cluster-preserving scheme (for the whole model:
        ``layers`` is not needed)."""
        setattr(model, _CLUSTERED, True)

    # -- distillation (``common.Distillation``; the student loaded as a flat tf_keras model) --
    def load_student(self, spec: str) -> Any:
        from compress.engines.distiller import load_student

        return load_student(spec)


def _check_quantizable(model: Any) -> None:
    if isinstance(model, keras.Sequential) or getattr(model, "_is_graph_network", False):
        nested = [layer.name for layer in model.layers if isinstance(layer, keras.Model)]
        if nested:
            raise UnsupportedLayerError(
                f"QAT cannot quantize nested models. Received nested model(s): {nested}",
                hint="rebuild the model as one flat Functional model "
                     "(call the base model's layers directly), or leave those layers out "
                     "with the stage's layers: exclude")
        return
    raise UnsupportedLayerError(
        f"QAT needs a Sequential or Functional model. Received: {type(model).__name__} "
        "(a subclassed model)", hint="rebuild the model with the Functional API")


def _unsupported_error(exc: Exception) -> UnsupportedLayerError:
    text = str(exc)
    match = _UNSUPPORTED.search(text)
    if not match:
        return UnsupportedLayerError(f"QAT failed: {text.splitlines()[0][:300]}",
                                     hint="leave the offending layers out with the qat stage's "
                                          "layers: exclude: [...]")
    name, cls = match.group(1), match.group(2).rsplit(".", 1)[-1]
    hint = f"leave it out of QAT with `layers: {{exclude: [{name}]}}` in the qat stage"
    if cls == "BatchNormalization":
        hint = ("put BatchNormalization directly after a Conv2D/DepthwiseConv2D/Dense with no "
                "activation in between (tfmot folds that pattern), or " + hint)
    return UnsupportedLayerError(
        f"QAT cannot quantize layer '{name}' ({cls}): tfmot's default 8-bit scheme has no "
        "quantize config for it.", hint=hint)


#: The engine object ``compress.engines.get_engine("tfmot")`` returns.
ENGINE = TfmotEngine()
