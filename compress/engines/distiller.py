"""Knowledge distillation: the ``Distiller`` training wrapper and the student builders.

``Distiller`` wraps a student and a frozen teacher; ``fit`` trains the student on

    alpha * CE(labels, student)
    + (1 - alpha) * T^2 * KL(softmax(teacher / T) || softmax(student / T))
    + sum_i weight_i * MSE(project_i(student feature_i), teacher feature_i)

with the teacher run in inference mode (``training=False``). Models that end in a softmax
are read before it: the Softmax layer's input when the softmax is a layer of its own, else
log-probabilities (they differ from the logits by a per-row constant, which softmax ignores).
``call`` returns the student's output, so ``evaluate`` / ``predict`` measure the student.
For a QAT student the teacher's logits are clipped to the student's output-quantizer range
(an int8 output cannot go beyond it; unreachable targets would only distort the rest).

Students: ``scale_width`` derives one from the teacher's Functional/Sequential graph (every
Conv/Dense layer's channels times ``width``, rounded to a multiple of 8, min 8; the classifier
and depthwise layers unchanged; fresh weights); ``load_student`` loads a user's model.

One implementation serves both engines: every function takes the Keras module from the models
it is given (``keras_of``: Keras 3 or tf_keras), and ``distiller_class(keras)`` builds the
``Distiller`` on that module's ``Model``. ``Distiller`` (this module's attribute) is the
tf_keras class, made on first use; tf_keras is imported only for tf_keras models.
"""

from __future__ import annotations

import difflib
import math
from typing import Any, Sequence

from compress import _tf
from compress.errors import RecipeError, UnsupportedLayerError

tf = _tf.tf


def keras_of(model: Any) -> Any:
    """The Keras module ``model`` belongs to: Keras 3, or tf_keras (imported now)."""
    if _tf.is_keras3_model(model):
        import keras

        return keras
    from compress import _keras

    return _keras.keras


def _history_layer(tensor: Any) -> Any:
    """The layer that produced a symbolic tensor (tf_keras: ``.layer``, Keras 3: ``.operation``)."""
    history = getattr(tensor, "_keras_history", None)
    return getattr(history, "layer", None) or getattr(history, "operation", None)


def _is_graph(model: Any) -> bool:
    """A Functional or Sequential model with a defined input (tf_keras or Keras 3)."""
    if getattr(model, "_is_graph_network", False):
        return True
    if not _tf.is_keras3_model(model):
        return False
    import keras

    functional = getattr(keras.src.models, "Functional", None) \
        or keras.src.models.functional.Functional
    return isinstance(model, (functional, keras.Sequential)) and bool(model.inputs)

#: Layer types whose output channels width scaling changes, and the config key holding them.
WIDTH_KEYS = {"Conv1D": "filters", "Conv2D": "filters", "Conv3D": "filters",
              "SeparableConv1D": "filters", "SeparableConv2D": "filters",
              "Conv1DTranspose": "filters", "Conv2DTranspose": "filters",
              "Conv3DTranspose": "filters", "Dense": "units"}


# -- students ------------------------------------------------------------------------------

def scaled_channels(channels: int, width: float) -> int:
    """``channels * width`` rounded to a multiple of 8 (min 8), never wider than ``channels``."""
    scaled = max(8, int(math.floor(channels * width / 8 + 0.5)) * 8)
    return min(scaled, channels)


def scale_width(teacher: Any, width: float, *, name: str | None = None) -> Any:
    """A fresh student with the teacher's topology and every Conv/Dense layer ``width`` times
    as wide (the classifier producing the output and depthwise layers are kept).

    Raises:
        UnsupportedLayerError: a subclassed teacher, or a layer that does not accept the
            scaled inputs (e.g. a ``Reshape`` with a hard-coded shape); the layer is named.
    """
    if _tf.is_keras3_model(teacher):
        return _scale_width_keras3(teacher, width, name=name)
    from compress.models.graph import _map_arguments, flatten_nested

    keras = keras_of(teacher)
    graph = flatten_nested(teacher)
    if not getattr(graph, "_is_graph_network", False):
        raise _subclassed_teacher_error(teacher)
    keep = classifier_layers(graph)
    new_layers: dict[int, Any] = {}
    scaled: dict[str, tuple[int, int]] = {}

    def rebuilt(layer: Any) -> Any:
        if id(layer) not in new_layers:
            new_layers[id(layer)] = _scaled_layer(layer, width, keep, scaled)
        return new_layers[id(layer)]

    inputs = [keras.Input(batch_shape=t.shape, dtype=t.dtype,
                          name=t._keras_history.layer.name) for t in graph.inputs]
    values: dict[str, Any] = {str(id(t)): v for t, v in zip(graph.inputs, inputs)}
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            if node.is_input:
                continue
            args, kwargs = _map_arguments(node, values)
            try:
                outputs = rebuilt(node.layer)(*args, **kwargs)
            except UnsupportedLayerError:
                raise
            except Exception as exc:  # shape errors surface as ValueError/TypeError/...
                raise _width_error(node.layer, width, exc) from None
            for t_id, value in zip(node.flat_output_ids, tf.nest.flatten(outputs)):
                values[t_id] = value
    outputs = [values[str(id(t))] for t in graph.outputs]
    student = keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0],
                          name=name or f"{teacher.name}_w{width:g}")
    student._edgecompress_scaled = scaled  # for the stage report
    return student


def _scale_width_keras3(teacher: Any, width: float, *, name: str | None) -> Any:
    """``scale_width`` for a Keras 3 model: ``clone_model`` with each layer rebuilt from its
    scaled config (nested models are cloned too and stay nested)."""
    import keras

    if not _is_graph(teacher):
        raise _subclassed_teacher_error(teacher)
    keep = classifier_layers(teacher)
    scaled: dict[str, tuple[int, int]] = {}
    try:
        student = keras.models.clone_model(
            teacher, clone_function=lambda layer: _scaled_layer(layer, width, keep, scaled),
            recursive=True)
    except UnsupportedLayerError:
        raise
    except Exception as exc:  # shape errors surface as ValueError/TypeError/...
        raise UnsupportedLayerError(
            f"cannot derive a width-{width:g} student from '{teacher.name}': "
            f"{(str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]}. "
            f"Received: width={width:g}",
            hint="give the student as a model file or module:function "
                 "(student: path/to/student.keras), or choose width: 1") from None
    student.name = name or f"{teacher.name}_w{width:g}"
    object.__setattr__(student, "_edgecompress_scaled", scaled)  # for the stage report
    return student


def _scaled_layer(layer: Any, width: float, keep: set[str],
                  scaled: dict[str, tuple[int, int]]) -> Any:
    """A fresh layer from ``layer``'s config, its channels times ``width`` (not for the
    classifier layers in ``keep``); a scaled layer is recorded in ``scaled``."""
    config = layer.get_config()
    key = WIDTH_KEYS.get(type(layer).__name__)
    if key and layer.name not in keep and isinstance(config.get(key), int):
        new = scaled_channels(config[key], width)
        scaled[layer.name] = (config[key], new)
        config[key] = new
    try:
        return type(layer).from_config(config)
    except Exception as exc:  # custom layers may not round-trip their config
        raise _width_error(layer, width, exc) from None


def _subclassed_teacher_error(teacher: Any) -> UnsupportedLayerError:
    return UnsupportedLayerError(
        f"cannot derive a width-scaled student from '{teacher.name}': it is a subclassed "
        f"model. Received: {type(teacher).__name__}",
        hint="rebuild it with the Functional API, or give the student as a model file or "
             "module:function (student: path/to/student.keras)")


def _width_error(layer: Any, width: float, exc: Exception) -> UnsupportedLayerError:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    return UnsupportedLayerError(
        f"cannot derive a width-{width:g} student: layer '{layer.name}' "
        f"({type(layer).__name__}) does not accept the scaled channels: {first}. "
        f"Received: width={width:g}",
        hint="give the student as a model file or module:function "
             "(student: path/to/student.keras), or choose width: 1")


def classifier_layers(model: Any) -> set[str]:
    """Names of the weight layers that produce the outputs (through weight-free layers)."""
    keep: set[str] = set()
    for tensor in model.outputs:
        layer = _history_layer(tensor)
        while layer is not None:
            if type(layer).__name__ in WIDTH_KEYS:
                keep.add(layer.name)
                break
            inbound = layer._inbound_nodes[-1].input_tensors if layer._inbound_nodes else []
            flat = tf.nest.flatten(inbound)
            layer = _history_layer(flat[0]) if len(flat) == 1 else None
    return keep


def load_student(spec: str) -> Any:
    """A user's student from a model file or ``module:function`` (untrusted files refused)."""
    from compress import models
    from compress.models.graph import flatten_nested

    model, _ = models.load_model(spec)
    return flatten_nested(model)


def check_compatible(student: Any, teacher: Any) -> None:
    """Raise ``RecipeError`` unless student and teacher share input and output shapes."""
    for what in ("inputs", "outputs"):
        s_list, t_list = getattr(student, what, None), getattr(teacher, what, None)
        if s_list is None or t_list is None:
            continue  # subclassed and not yet called: checked on the first batch instead
        if len(s_list) != 1 or len(t_list) != 1:
            raise RecipeError(
                f"distillation needs single-input, single-output models. Received: student "
                f"with {len(s_list)} {what}, teacher with {len(t_list)} {what}")
        s_shape, t_shape = tuple(s_list[0].shape[1:]), tuple(t_list[0].shape[1:])
        if s_shape != t_shape:
            raise RecipeError(
                f"the student's {what[:-1]} shape differs from the teacher's. Received: "
                f"student {what[:-1]} shape={s_shape}, teacher {what[:-1]} shape={t_shape}",
                hint="the student must take the same inputs and predict the same classes")


# -- reading a model before its softmax ----------------------------------------------------

def _unwrapped(layer: Any) -> Any:
    """The layer inside a prune / QAT wrapper (or the layer itself)."""
    inner = getattr(layer, "layer", None)
    return inner if hasattr(inner, "get_config") and hasattr(inner, "weights") else layer


def _is_softmax_layer(layer: Any) -> bool:
    """A Softmax layer or ``Activation("softmax")``, possibly inside a prune / QAT wrapper."""
    inner = _unwrapped(layer)
    if type(inner).__name__ == "Softmax":
        return True
    return type(inner).__name__ == "Activation" and _activation_name(inner) == "softmax"


def _activation_name(layer: Any) -> str:
    activation = getattr(layer, "activation", None)
    # QAT replaces a layer's activation with a QuantizeAwareActivation holding the original.
    activation = getattr(activation, "activation", activation)
    return getattr(activation, "__name__", "") or ""


def ends_in_softmax(model: Any) -> bool:
    """True when the model outputs probabilities (a final softmax), through wrappers too."""
    last = model.layers[-1]
    while isinstance(last, keras_of(model).Model) and last.layers:
        last = last.layers[-1]
    return _is_softmax_layer(last) or _activation_name(_unwrapped(last)) == "softmax"


def find_layer(model: Any, name: str, *, role: str) -> Any:
    """The layer called ``name``, looking through prune / QAT wrappers (``quant_conv1``)."""
    for layer in model.layers:
        if layer.name == name or _unwrapped(layer).name == name:
            return layer
    names = [_unwrapped(layer).name for layer in model.layers]
    close = difflib.get_close_matches(name, names, n=1)
    raise RecipeError(f"features: the {role} has no layer '{name}'. Received: {role}={name!r}",
                      hint=(f"did you mean '{close[0]}'? " if close else "")
                      + f"{role} layers: {', '.join(names[:30])}")


class _Probe:
    """Calls a model once and returns ``(pre-softmax values, [feature outputs])``."""

    def __init__(self, model: Any, feature_layers: Sequence[str], *, role: str) -> None:
        self.model = model
        self.log_probs = False
        graph = _is_graph(model)
        head = model.outputs[0] if graph else None
        if ends_in_softmax(model):
            last = model.layers[-1]
            if graph and _is_softmax_layer(last) and not isinstance(last.input, list):
                head = last.input  # the logits feeding a separate Softmax layer
            else:
                self.log_probs = True  # softmax fused into the last layer's activation
        if feature_layers and not graph:
            raise UnsupportedLayerError(
                f"feature distillation needs a Functional or Sequential {role}. Received: "
                f"{type(model).__name__} (subclassed)",
                hint="drop features: or rebuild the model with the Functional API")
        features = [find_layer(model, n, role=role).output for n in feature_layers]
        self.output_range = None if self.log_probs or head is None else _output_range(head)
        if graph and (head is not model.outputs[0] or features):
            self.fn = keras_of(model).Model(model.inputs, [head, *features],
                                            name=f"{role}_probe")
        else:
            self.fn = None

    def __call__(self, x: Any, *, training: bool) -> tuple[Any, list]:
        if self.fn is None:
            out, features = self.model(x, training=training), []
        else:
            values = self.fn(x, training=training)
            if not isinstance(values, (list, tuple)):  # no features: one output
                values = [values]
            out, features = values[0], list(values[1:])
        if self.log_probs:
            out = tf.math.log(tf.clip_by_value(tf.cast(out, tf.float32), 1e-12, 1.0))
        return tf.cast(out, tf.float32), features


def _output_range(head: Any) -> tuple[Any, Any] | None:
    """The (min, max) variables of QAT's fake-quantizer on the layer producing ``head``.

    tfmot's output quantizer clips to a range that starts at [-6, 6] and follows the batch
    extremes slowly (EMA): an int8 student cannot produce logits outside it.
    """
    layer = _history_layer(head)
    found = {}
    for var in getattr(layer, "weights", []):
        for end in ("post_activation_min", "post_activation_max"):
            if var.name.split(":")[0].endswith(end):
                found[end] = var
    if len(found) == 2:
        return found["post_activation_min"], found["post_activation_max"]
    return None


# -- the training wrapper --------------------------------------------------------------------

_DISTILLER_CLASSES: dict[int, type] = {}


def distiller_class(keras: Any) -> type:
    """The ``Distiller`` class on ``keras`` (Keras 3 or tf_keras), made once per module."""
    if id(keras) not in _DISTILLER_CLASSES:
        _DISTILLER_CLASSES[id(keras)] = _make_distiller_class(keras)
    return _DISTILLER_CLASSES[id(keras)]


def make_distiller(student: Any, teacher: Any, **kwargs: Any) -> Any:
    """A ``Distiller`` of the student's Keras (see ``distiller_class``)."""
    return distiller_class(keras_of(student))(student, teacher, **kwargs)


def is_distiller(model: Any) -> bool:
    return bool(getattr(type(model), "_edgecompress_distiller", False))


def __getattr__(name: str) -> Any:
    if name == "Distiller":  # the tf_keras class, as before the engines shared this module
        from compress import _keras

        return distiller_class(_keras.keras)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _make_distiller_class(keras: Any) -> type:
    keras3 = not hasattr(keras, "__internal__")  # tf_keras has keras.__internal__

    class Distiller(keras.Model):
        """Trains ``student`` against a frozen ``teacher``; ``call`` returns the student's output.

        Compile it like any model (``compile(optimizer=..., metrics=["accuracy"])``); the loss
        given to ``compile`` is not used: the distillation loss above is. ``fit`` logs ``loss``,
        ``student_loss`` (label CE), ``distillation_loss`` (T^2 * KL), ``feature_loss`` (when
        ``features``) and the compiled metrics, measured on the student.

        Args:
            student: the model being trained (may carry prune / QAT wrappers).
            teacher: the reference model; frozen here (``trainable = False``: pass a copy if that
                matters), never trained, always run with ``training=False``.
            temperature: T > 0.
            alpha: weight of the label loss, in [0, 1].
            features: ``(teacher_layer, student_layer, weight)`` triples (names; wrappers
                are looked through); a learned 1x1 projection maps the student's channels to
                the teacher's when they differ.
            augment: ``{"shift": px, "flip": bool, "mixup": beta}`` (any subset) or None: each
                training batch is augmented once in ``train_step`` and teacher and student see
                the same view ("consistent teaching"); mixup mixes the labels the same way.
                Random draws are stateless, from ``seed`` and the optimizer's step count, so a
                run is reproducible. ``test_step`` / ``evaluate`` are never augmented.
            seed: seed of the augmentation draws.
        """

        def __init__(self, student: Any, teacher: Any, *, temperature: float = 2.0,
                     alpha: float = 0.5, features: Sequence[tuple[str, str, float]] = (),
                     augment: dict | None = None, seed: int = 0,
                     name: str = "distiller") -> None:
            super().__init__(name=name)
            if not temperature > 0:
                raise RecipeError(f"temperature must be > 0. Received: temperature={temperature}")
            if not 0.0 <= alpha <= 1.0:
                raise RecipeError(f"alpha must be in [0, 1]. Received: alpha={alpha}")
            check_compatible(student, teacher)
            teacher.trainable = False
            self.student, self.teacher = student, teacher
            self.temperature, self.alpha = float(temperature), float(alpha)
            self.feature_pairs = [(str(t), str(s), float(w)) for t, s, w in features]
            self._student_probe = _Probe(student, [s for _, s, _ in self.feature_pairs],
                                         role="student")
            self._teacher_probe = _Probe(teacher, [t for t, _, _ in self.feature_pairs],
                                         role="teacher")
            self.projections = self._make_projections()
            self.augment = _check_augment(augment, student)
            self.augment_seed = int(seed)
            names = ["loss", "student_loss", "distillation_loss"]
            if self.feature_pairs:
                names.append("feature_loss")
            self._kd_trackers = [keras.metrics.Mean(name=n) for n in names]

        def _make_projections(self) -> list:
            out = []
            s_fn, t_fn = self._student_probe.fn, self._teacher_probe.fn
            for i, (t_name, s_name, _) in enumerate(self.feature_pairs):
                s_shape = tuple(s_fn.outputs[i + 1].shape[1:])
                t_shape = tuple(t_fn.outputs[i + 1].shape[1:])
                if s_shape[:-1] != t_shape[:-1]:
                    raise UnsupportedLayerError(
                        f"features[{i}]: layer outputs differ in more than channels. Received: "
                        f"teacher '{t_name}' shape={t_shape}, student '{s_name}' shape={s_shape}",
                        hint="pair layers with the same spatial size (a 1x1 projection maps "
                             "channels only)")
                out.append(None if s_shape == t_shape else keras.layers.Dense(
                    t_shape[-1], use_bias=False, name=f"projection_{i}_{s_name}"))
            return out

        _edgecompress_distiller = True

        def _compiled(self) -> Any:
            """The metrics given to ``compile`` (tf_keras: a container; Keras 3: one metric
            holding them), or None."""
            return getattr(self, "_compile_metrics" if keras3 else "compiled_metrics", None)

        @property
        def metrics(self) -> list:
            out = list(self._kd_trackers)
            compiled = self._compiled()
            if compiled is not None:
                out += [compiled] if keras3 else compiled.metrics
            return out

        def call(self, inputs: Any, training: Any = None) -> Any:
            return self.student(inputs, training=training)

        def _kd_losses(self, x: Any, y: Any, sample_weight: Any, *, training: bool) -> tuple[dict, Any]:
            t_logits, t_feats = self._teacher_probe(x, training=False)
            s_logits, s_feats = self._student_probe(x, training=training)
            if self._student_probe.output_range is not None:
                # A QAT student's logits are clipped to its output quantizer's range; targets
                # outside it are unreachable and their gradients only distort the in-range logits.
                lo, hi = self._student_probe.output_range
                t_logits = tf.clip_by_value(t_logits, tf.cast(lo, tf.float32),
                                            tf.cast(hi, tf.float32))
            t_logits = tf.stop_gradient(t_logits)
            temp = self.temperature
            y = tf.convert_to_tensor(y)
            if y.shape.rank == s_logits.shape.rank and y.shape[-1] == s_logits.shape[-1] \
                    and y.shape[-1] != 1:
                ce = keras.losses.categorical_crossentropy(y, s_logits, from_logits=True)
            else:
                ce = keras.losses.sparse_categorical_crossentropy(y, s_logits, from_logits=True)
            t_log = tf.nn.log_softmax(t_logits / temp)
            s_log = tf.nn.log_softmax(s_logits / temp)
            kl = tf.reduce_sum(tf.exp(t_log) * (t_log - s_log), axis=-1) * temp ** 2
            losses = {"student_loss": _mean(ce, sample_weight),
                      "distillation_loss": _mean(kl, sample_weight)}
            total = self.alpha * losses["student_loss"] + (1 - self.alpha) * losses["distillation_loss"]
            if self.feature_pairs:
                feature = tf.constant(0.0)
                for (_, _, weight), proj, s_f, t_f in zip(self.feature_pairs, self.projections,
                                                         s_feats, t_feats):
                    s_f = tf.cast(s_f, tf.float32)
                    if proj is not None:
                        s_f = proj(s_f)
                    diff = tf.square(s_f - tf.stop_gradient(tf.cast(t_f, tf.float32)))
                    feature += weight * tf.reduce_mean(diff)
                losses["feature_loss"] = feature
                total += feature
            if self.student.losses:
                total += tf.add_n(self.student.losses)
            losses["loss"] = total
            return losses, s_logits

        def _kd_variables(self) -> list:
            out, seen = [], set()
            for var in self.student.trainable_variables + [
                    v for p in self.projections if p is not None for v in p.trainable_variables]:
                if id(var) not in seen:
                    seen.add(id(var))
                    out.append(var)
            return out

        def augment_batch(self, x: Any, y: Any, step: Any) -> tuple[Any, Any, Any]:
            """``(augmented x, training labels, metric labels)`` of one batch at ``step``.

            Without mixup the labels are ``y`` twice; with it, the training labels are the mixed
            one-hot rows and the metric labels each image's dominant class (sparse, so the
            compiled accuracy metric keeps the form ``evaluate`` uses).
            """
            if not self.augment:
                return x, y, y
            return augment_batch(x, y, self.augment, seed=self.augment_seed, step=step,
                                 num_classes=int(self.student.outputs[0].shape[-1])
                                 if getattr(self.student, "outputs", None) else None)

        def train_step(self, data: Any) -> dict:
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            y_metric = y
            if self.augment:
                x, y, y_metric = self.augment_batch(x, y, self.optimizer.iterations)
            with tf.GradientTape() as tape:
                losses, s_logits = self._kd_losses(x, y, sample_weight, training=True)
                # Gradients are summed over replicas under tf.distribute: average them.
                scaled = losses["loss"] / tf.distribute.get_strategy().num_replicas_in_sync
            variables = self._kd_variables()
            grads = tape.gradient(scaled, variables)
            self.optimizer.apply_gradients(zip(grads, variables))
            return self._kd_update_metrics(losses, y_metric, s_logits, sample_weight)

        def test_step(self, data: Any) -> dict:
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            losses, s_logits = self._kd_losses(x, y, sample_weight, training=False)
            return self._kd_update_metrics(losses, y, s_logits, sample_weight)

        def _kd_update_metrics(self, losses: dict, y: Any, s_logits: Any, sample_weight: Any) -> dict:
            for tracker in self._kd_trackers:
                tracker.update_state(losses[tracker.name])
            compiled = self._compiled()
            if compiled is not None:
                compiled.update_state(y, s_logits, sample_weight)
            out = {}
            for metric in self.metrics:
                result = metric.result()
                out.update(result if isinstance(result, dict) else {metric.name: result})
            return out

        def describe(self) -> dict:
            """What the report records about the distillation setting."""
            return {"temperature": self.temperature, "alpha": self.alpha,
                    "teacher": self.teacher.name,
                    "teacher_output": "log-probabilities" if self._teacher_probe.log_probs
                    else "logits",
                    "student_output": "log-probabilities" if self._student_probe.log_probs
                    else "logits",
                    "teacher_clipped_to_student_output_range":
                        self._student_probe.output_range is not None,
                    "features": [{"teacher": t, "student": s, "weight": w,
                                  "projection": p is not None}
                                 for (t, s, w), p in zip(self.feature_pairs, self.projections)],
                    "augment": dict(self.augment) if self.augment else None}
    return Distiller


def _check_augment(augment: dict | None, student: Any) -> dict | None:
    """The active augmentation settings, or None; shift / flip need NHWC image inputs."""
    if not augment:
        return None
    unknown = set(augment) - {"shift", "flip", "mixup"}
    if unknown:
        raise RecipeError(f"augment: unknown keys. Received: {sorted(unknown)}")
    out = {"shift": int(augment.get("shift", 0) or 0), "flip": bool(augment.get("flip", False)),
           "mixup": float(augment.get("mixup", 0.0) or 0.0)}
    if out["shift"] < 0 or out["mixup"] < 0:
        raise RecipeError(f"augment: shift and mixup must be >= 0. Received: augment={out}")
    if not (out["shift"] or out["flip"] or out["mixup"]):
        return None
    inputs = getattr(student, "inputs", None)
    if (out["shift"] or out["flip"]) and inputs is not None and inputs[0].shape.rank != 4:
        raise RecipeError(
            "augment: shift and flip need image inputs (batch, height, width, channels). "
            f"Received: input shape={tuple(inputs[0].shape)}",
            hint="use mixup alone, or no augment")
    return out


def augment_batch(x: Any, y: Any, augment: dict, *, seed: int, step: Any,
                  num_classes: int | None = None) -> tuple[Any, Any, Any]:
    """One consistently augmented batch: ``(x, training labels, metric labels)``.

    Stateless draws keyed by ``(seed, step)``: the same step gives the same batch.
    """
    x = tf.convert_to_tensor(x)
    dtype = x.dtype
    x = tf.cast(x, tf.float32)
    batch = tf.shape(x)[0]
    base = tf.stack([tf.cast(seed, tf.int64), tf.cast(step, tf.int64)])

    def key(i: int) -> Any:  # one independent stream per kind of draw
        return base + tf.constant([i * 1_000_003, 0], tf.int64)

    shift = augment.get("shift", 0)
    if shift:
        h, w = x.shape[1], x.shape[2]
        h = h if h is not None else tf.shape(x)[1]
        w = w if w is not None else tf.shape(x)[2]
        mode = "REFLECT" if min(x.shape[1] or 0, x.shape[2] or 0) > shift else "CONSTANT"
        padded = tf.pad(x, [[0, 0], [shift, shift], [shift, shift], [0, 0]], mode=mode)
        offsets = tf.random.stateless_uniform([batch, 2], seed=key(1), minval=0,
                                              maxval=2 * shift + 1, dtype=tf.int32)
        rows = offsets[:, :1] + tf.range(h)[None, :]
        cols = offsets[:, 1:] + tf.range(w)[None, :]
        x = tf.gather(padded, rows, axis=1, batch_dims=1)
        x = tf.gather(x, cols, axis=2, batch_dims=1)
    if augment.get("flip"):
        flip = tf.random.stateless_uniform([batch], seed=key(2)) < 0.5
        x = tf.where(flip[:, None, None, None], tf.reverse(x, axis=[2]), x)
    y_train = y_metric = y
    mixup = float(augment.get("mixup", 0.0) or 0.0)
    if mixup > 0:
        y = tf.convert_to_tensor(y)
        if y.shape.rank is not None and y.shape.rank >= 2 and y.shape[-1] not in (1, None):
            one_hot = tf.cast(y, tf.float32)  # already one-hot / soft labels
            sparse = tf.argmax(one_hot, axis=-1)
        else:
            sparse = tf.cast(tf.reshape(y, [-1]), tf.int64)
            if num_classes is None:
                raise RecipeError("augment: mixup needs the number of classes")
            one_hot = tf.one_hot(sparse, num_classes)
        g1 = tf.random.stateless_gamma([batch], seed=key(3), alpha=mixup)
        g2 = tf.random.stateless_gamma([batch], seed=key(4), alpha=mixup)
        lam = g1 / tf.maximum(g1 + g2, 1e-12)
        perm = tf.argsort(tf.random.stateless_uniform([batch], seed=key(5)))
        lam_x = tf.reshape(lam, [-1] + [1] * (x.shape.rank - 1))
        x = lam_x * x + (1 - lam_x) * tf.gather(x, perm)
        y_train = lam[:, None] * one_hot + (1 - lam[:, None]) * tf.gather(one_hot, perm)
        y_metric = tf.where(lam >= 0.5, sparse, tf.gather(sparse, perm))
    return tf.cast(x, dtype), y_train, y_metric


def _mean(values: Any, sample_weight: Any) -> Any:
    values = tf.cast(values, tf.float32)
    if sample_weight is None:
        return tf.reduce_mean(values)
    weight = tf.cast(tf.reshape(sample_weight, tf.shape(values)), tf.float32)
    return tf.reduce_sum(values * weight) / tf.maximum(tf.reduce_sum(weight), 1e-12)


def float32_macs(model: Any) -> int | None:
    """MACs per image of ``model`` converted to float32 TFLite (None if it cannot convert)."""
    from compress.artifacts import export
    from compress.errors import ConversionError
    from compress.recipe import TargetSpec
    from targets.tflite_graph import read_model

    try:
        blob = export.convert(model, TargetSpec("float32"))
    except ConversionError:
        return None
    return int(read_model(blob).macs()["total"])
