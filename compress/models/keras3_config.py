"""Keras 3 <-> tf_keras model configs: the layers the bridge supports and how they translate.

Pure work on config dicts (``model.get_config()`` or a ``.keras`` file's ``config.json``): no
Keras is imported here, so ``edgecompress inspect --keras`` can judge a file without loading
it (loading may run code). ``compress.models.keras3`` builds the models and copies the weights.

A supported layer translates argument by argument: the dtype policy becomes its name,
initializers, regularizers and constraints lose Keras 3's ``module``/``registered_name``,
renamed arguments are renamed (``batch_shape`` -> ``batch_input_shape``, ``negative_slope`` ->
``alpha``), and an argument only one side has is dropped when it holds its default (and is
refused otherwise: ``renorm=True`` has no tf_keras twin). Functional node data is rewritten in
tf_keras' form. Anything else (a custom layer, a subclassed model, a ``Lambda``, a
``keras.ops`` call in a Functional graph) is reported with its layer path, unless a
translation for its class was registered (``compress.models.keras3.register_translation``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from compress.errors import UnsupportedLayerError

ANY = object()  # "whatever the value": the argument is dropped unconditionally

#: Keras 3 activations whose tf_keras namesake computes the same function (checked by a test;
#: ``hard_sigmoid`` differs between the two, ``hard_silu`` is missing from tf_keras).
ACTIVATIONS = ("linear", "relu", "relu6", "sigmoid", "tanh", "softmax", "log_softmax",
               "softplus", "softsign", "elu", "selu", "exponential", "swish", "silu", "gelu",
               "mish", "leaky_relu")

CONTAINERS = ("Functional", "Sequential")


@dataclass(frozen=True)
class Rule:
    """How one layer class translates.

    Attributes:
        keras3_only: arguments tf_keras lacks, with the default at which they are dropped
            (``ANY``: always dropped); another value makes the layer untranslatable.
        tf_keras_only: the same for the way back (tf_keras -> Keras 3).
        renames: Keras 3 argument name -> tf_keras argument name.
        back: a function fixing a translated config on the way back (values whose form
            differs, e.g. tf_keras' ``axis=[3]`` where Keras 3 takes ``axis=3``).
        group: the README/inspect table's row.
    """

    group: str
    keras3_only: Mapping[str, Any] = field(default_factory=dict)
    tf_keras_only: Mapping[str, Any] = field(default_factory=dict)
    renames: Mapping[str, str] = field(default_factory=dict)
    back: Callable[[dict], dict] | None = None


def _rules(group: str, names: str, **kwargs: Any) -> dict[str, Rule]:
    return {name: Rule(group, **kwargs) for name in names.split()}


def _single_axis(cfg: dict) -> dict:
    """tf_keras' BatchNormalization stores ``axis=[3]``; Keras 3's takes one int."""
    axis = cfg.get("axis")
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise UnsupportedLayerError(
                f"layer '{cfg.get('name')}' (BatchNormalization): axis={list(axis)} has no "
                "Keras 3 equivalent (it normalizes over one axis)")
        cfg["axis"] = int(axis[0])
    return cfg


_SEPARABLE_BACK = {"groups": 1, "kernel_initializer": ANY, "kernel_regularizer": None,
                   "kernel_constraint": None}

#: Keras 3 layer class -> its translation. Every entry is exercised by tests/compress/test_keras3.py.
SUPPORTED: dict[str, Rule] = {
    **_rules("input", "InputLayer", renames={"batch_shape": "batch_input_shape"}),
    **_rules("convolution", "Conv1D Conv2D Conv3D"),
    **_rules("convolution", "Conv1DTranspose Conv2DTranspose DepthwiseConv2D",
             tf_keras_only={"groups": 1}),
    **_rules("convolution", "SeparableConv1D SeparableConv2D", tf_keras_only=_SEPARABLE_BACK),
    **_rules("dense", "Dense", keras3_only={"quantization_config": None, "lora_rank": None,
                                             "lora_alpha": ANY},
             tf_keras_only={"activity_regularizer": None}),
    **_rules("normalization", "BatchNormalization",
             keras3_only={"synchronized": False, "renorm": False, "renorm_clipping": None,
                          "renorm_momentum": ANY}, back=_single_axis),
    **_rules("normalization", "LayerNormalization", keras3_only={"rms_scaling": False}),
    **_rules("activation", "Activation ReLU PReLU ELU Softmax"),
    **_rules("activation", "LeakyReLU", renames={"negative_slope": "alpha"}),
    **_rules("pooling", "MaxPooling1D MaxPooling2D AveragePooling1D AveragePooling2D "
                        "GlobalAveragePooling1D GlobalAveragePooling2D GlobalMaxPooling1D "
                        "GlobalMaxPooling2D"),
    **_rules("merging", "Add Subtract Multiply Average Maximum Minimum Concatenate"),
    **_rules("regularization", "Dropout GaussianNoise GaussianDropout"),
    # Keras 3's SpatialDropout takes no `trainable` argument
    **_rules("regularization", "SpatialDropout1D SpatialDropout2D",
             tf_keras_only={"noise_shape": None, "trainable": ANY}),
    **_rules("reshaping", "Reshape Flatten Permute ZeroPadding2D Cropping1D Cropping2D "
                          "UpSampling1D UpSampling2D"),
    **_rules("reshaping", "ZeroPadding1D", keras3_only={"data_format": "channels_last"}),
    **_rules("preprocessing", "Rescaling Normalization Identity"),
}


@dataclass(frozen=True)
class Translation:
    """A registered translation for a class the table does not know (see ``register``)."""

    to_tf_keras: Callable[[dict], Any]
    to_keras3: Callable[[dict], Any] | None = None


_REGISTERED: dict[str, Translation] = {}
#: tf_keras class made by a registered translation -> that translation (for the way back).
_MADE_BY: dict[str, Translation] = {}


def register(class_name: str, to_tf_keras: Callable[[dict], Any], *,
             to_keras3: Callable[[dict], Any] | None = None) -> None:
    """Register a translation (public as ``compress.models.keras3.register_translation``)."""
    if not isinstance(class_name, str) or not class_name:
        raise UnsupportedLayerError(
            f"class_name must be a non-empty string. Received: class_name={class_name!r}")
    for what, fn in (("to_tf_keras", to_tf_keras), ("to_keras3", to_keras3)):
        if fn is not None and not callable(fn):
            raise UnsupportedLayerError(
                f"{what} must be callable. Received: {what}={type(fn).__name__}")
    _REGISTERED[class_name] = Translation(to_tf_keras, to_keras3)


def registered(entry: Mapping[str, Any]) -> Translation | None:
    """The registered translation for a serialized layer (by class or registered name)."""
    for key in (entry.get("registered_name"), entry.get("class_name")):
        if isinstance(key, str) and key in _REGISTERED:
            return _REGISTERED[key]
    return None


def unregister(class_name: str) -> None:
    """Remove a registered translation (tests, or a user replacing one)."""
    translation = _REGISTERED.pop(class_name, None)
    for made in [k for k, v in _MADE_BY.items() if v is translation]:
        del _MADE_BY[made]


# --- judging a config ------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerCheck:
    """One layer of a Keras 3 config: whether the bridge translates it, and if not why."""

    path: str
    class_name: str
    supported: bool
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "class_name": self.class_name, "supported": self.supported,
                "reason": self.reason}


def check_model(config: Mapping[str, Any]) -> list[LayerCheck]:
    """Every layer of a serialized Keras 3 model (containers included), in config order.

    ``config`` is ``{"class_name": ..., "config": ...}`` (a ``.keras`` file's config.json).
    """
    return list(_walk(config, ""))


def _walk(entry: Any, parent: str):
    if not isinstance(entry, Mapping):
        yield LayerCheck(parent or "?", type(entry).__name__, False, "not a serialized layer")
        return
    cls = str(entry.get("class_name"))
    cfg = entry.get("config") if isinstance(entry.get("config"), Mapping) else {}
    name = cfg.get("name") or entry.get("name") or cls
    path = f"{parent}/{name}" if parent else str(name)
    if registered(entry) is not None:
        yield LayerCheck(path, cls, True, "registered translation")
        return
    if cls in CONTAINERS and _is_keras_module(entry, models=True):
        problem = _container_problem(cls, cfg)
        yield LayerCheck(path, cls, problem is None, problem or "")
        for layer in cfg.get("layers") or []:
            yield from _walk(layer, path)
        return
    reason = _layer_problem(entry, cls, cfg)
    yield LayerCheck(path, cls, reason is None, reason or "")


def _is_keras_module(entry: Mapping[str, Any], *, models: bool = False) -> bool:
    """Whether a serialized class is Keras 3's own (a custom class records another module)."""
    module = entry.get("module")
    if not isinstance(module, str):
        return False
    if models:
        return module in ("keras", "keras.models") or module.startswith("keras.src.models")
    return module == "keras.layers" or module.startswith("keras.src.layers")


def _container_problem(cls: str, cfg: Mapping[str, Any]) -> str | None:
    if cls == "Sequential":
        layers = cfg.get("layers") or []
        has_input = any(isinstance(x, Mapping) and x.get("class_name") == "InputLayer"
                        for x in layers)
        if not has_input and not cfg.get("build_input_shape"):
            return "a Sequential model without an input shape (start it with keras.Input)"
    return None


def _layer_problem(entry: Mapping[str, Any], cls: str, cfg: Mapping[str, Any]) -> str | None:
    module = entry.get("module")
    if cls == "Lambda":
        return "a Lambda layer, whose arbitrary Python code cannot be translated"
    if isinstance(module, str) and module.startswith("keras.src.ops"):
        return (f"a keras.ops call ({module.rsplit('.', 1)[-1]}.{cls}) in the Functional "
                "graph; use the equivalent layer (e.g. keras.layers.Add)")
    if cls not in SUPPORTED or not _is_keras_module(entry):
        if cls in CONTAINERS or "compile_config" in entry:  # only models record one
            return "a subclassed model"
        kind = "a custom layer" if not str(module or "").startswith("keras") \
            else "a Keras 3 layer the bridge does not support yet"
        return f"{kind} ({_origin(entry)})"
    try:
        _translate_args(cls, cfg, to="tf_keras", path="")
    except UnsupportedLayerError as exc:
        return exc.message
    return None


def _origin(entry: Mapping[str, Any]) -> str:
    module = entry.get("module")
    registered_name = entry.get("registered_name")
    if module:
        return f"module {module}"
    if registered_name:
        return f"registered as {registered_name!r}"
    return "no module recorded"


def raise_unsupported(checks: list[LayerCheck], *, what: str) -> None:
    """Raise one ``UnsupportedLayerError`` listing every untranslatable layer, if any."""
    bad = [c for c in checks if not c.supported]
    if not bad:
        return
    first = bad[0]
    more = f" (and {len(bad) - 1} more: {', '.join(c.path for c in bad[1:4])}" \
           f"{', ...' if len(bad) > 4 else ''})" if len(bad) > 1 else ""
    subclassed = first.reason == "a subclassed model"
    if first.class_name == "Lambda":
        hint = ("replace the Lambda with built-in layers (`edgecompress inspect --keras FILE` "
                "lists the supported ones), or with a custom layer whose translation you "
                "register (compress.models.keras3.register_translation; README, 'Keras 3 models')")
    elif subclassed:
        hint = ("rebuild it with the Functional API (keras.Model(inputs, outputs)) or as a "
                "keras.Sequential from supported layers; `edgecompress inspect --keras FILE` "
                "lists them")
    else:
        hint = (f"register a translation for {first.class_name} before loading: "
                f"compress.models.keras3.register_translation({first.class_name!r}, fn) where fn "
                "returns the equivalent tf_keras layer (README, 'Keras 3 models'), or rebuild "
                "the model as Functional from supported layers; `edgecompress inspect --keras "
                "FILE` lists which layers are supported")
    raise UnsupportedLayerError(
        f"{what} cannot be bridged from Keras 3 to tf_keras: layer '{first.path}' "
        f"({first.class_name}) is {first.reason}{more}. The bridge translates Sequential and "
        "Functional models built from the supported layers.", hint=hint)


# --- translating ---------------------------------------------------------------------------

def to_tf_keras(config: Mapping[str, Any], *, custom: dict[str, Any]) -> dict[str, Any]:
    """A tf_keras model config (``{"class_name", "config"}``) for a Keras 3 one.

    ``custom`` receives the classes of layers built by registered translations (pass it to
    tf_keras ``from_config`` as ``custom_objects``). Call ``check_model`` first: this raises on
    the first untranslatable layer only.
    """
    return _entry(config, to="tf_keras", path="", custom=custom)


def to_keras3(config: Mapping[str, Any], *, custom: dict[str, Any]) -> dict[str, Any]:
    """A Keras 3 model config for a tf_keras one (the way back after compression)."""
    return _entry(config, to="keras3", path="", custom=custom)


def _entry(entry: Mapping[str, Any], *, to: str, path: str, custom: dict,
           nested: frozenset[str] = frozenset()) -> dict[str, Any]:
    cls = str(entry.get("class_name"))
    cfg = dict(entry.get("config") or {})
    name = cfg.get("name") or entry.get("name") or cls
    here = f"{path}/{name}" if path else str(name)
    out: dict[str, Any]
    translation = registered(entry) if to == "tf_keras" else _MADE_BY.get(cls)
    if translation is not None:
        out = _registered_entry(translation, cfg, cls, to=to, path=here, custom=custom)
    elif cls in CONTAINERS or cls == "Model":
        out = _container(cls, cfg, to=to, path=here, custom=custom)
    elif cls in SUPPORTED:
        out = {"class_name": cls, "config": _translate_args(cls, cfg, to=to, path=here)}
        if to == "keras3":
            out = {"module": "keras.layers", "registered_name": None, **out}
    else:
        raise UnsupportedLayerError(
            f"layer '{here}' ({cls}) has no translation to "
            f"{'tf_keras' if to == 'tf_keras' else 'Keras 3'}",
            hint="register one with compress.models.keras3.register_translation (README, "
                 "'Keras 3 models')")
    if "name" in entry:
        out["name"] = entry["name"]
    if "inbound_nodes" in entry:
        out["inbound_nodes"] = [_node(n, to=to, path=here, nested=nested)
                                for n in entry["inbound_nodes"]]
    return out


def _registered_entry(translation: Any, cfg: dict, cls: str, *, to: str, path: str,
                      custom: dict) -> dict[str, Any]:
    fn = translation.to_tf_keras if to == "tf_keras" else translation.to_keras3
    if fn is None:
        raise UnsupportedLayerError(
            f"layer '{path}' ({cls}) was translated to tf_keras by a registered translation "
            "that has no way back to Keras 3",
            hint=f"pass to_keras3= to compress.models.keras3.register_translation for the class "
                 f"that became {cls}")
    try:
        layer = fn(dict(cfg))
    except Exception as exc:  # the user's code: report it as theirs
        raise UnsupportedLayerError(
            f"the registered translation for layer '{path}' ({cls}) failed: "
            f"{type(exc).__name__}: {str(exc)[:200]}") from None
    if not hasattr(layer, "get_config"):
        raise UnsupportedLayerError(
            f"the registered translation for layer '{path}' ({cls}) must return a layer. "
            f"Received: {type(layer).__name__}")
    made = type(layer).__name__
    if made in SUPPORTED and type(layer).__module__.startswith(("tf_keras", "keras")):
        # a built-in layer: rebuilt by name, and the table translates it back
        return {"class_name": made, "config": layer.get_config()}
    custom[made] = type(layer)
    if to == "tf_keras":
        _MADE_BY[made] = translation
    return {"class_name": made, "config": layer.get_config(), "registered_name": made,
            "module": None}


def _container(cls: str, cfg: dict, *, to: str, path: str, custom: dict) -> dict[str, Any]:
    nested = frozenset(str((layer.get("config") or {}).get("name") or layer.get("name"))
                       for layer in cfg.get("layers", [])
                       if isinstance(layer, Mapping) and layer.get("class_name") in CONTAINERS)
    layers = [_entry(layer, to=to, path=path, custom=custom, nested=nested)
              for layer in cfg.get("layers", [])]
    out: dict[str, Any] = {"name": cfg.get("name"), "layers": layers}
    if "trainable" in cfg:
        out["trainable"] = cfg["trainable"]
    if cls == "Sequential":
        if cfg.get("build_input_shape") is not None:
            out["build_input_shape"] = cfg["build_input_shape"]
        wrapper = {"class_name": "Sequential", "config": out}
    else:
        for key in ("input_layers", "output_layers"):
            ends = _endpoints(cfg.get(key))
            # Keras 3 writes a single endpoint flat; a list of one makes its model take and
            # return lists (and warn on a plain tensor)
            out[key] = ends[0] if to == "keras3" and len(ends) == 1 else ends
        wrapper = {"class_name": "Functional", "config": out}
    if to == "keras3":
        wrapper = {"module": "keras", "registered_name": None, **wrapper}
    return wrapper


def _endpoints(value: Any) -> list:
    """``["x", 0, 0]`` (Keras 3, one endpoint) or ``[["x", 0, 0], ...]`` -> a list of lists."""
    if isinstance(value, (list, tuple)) and len(value) == 3 and isinstance(value[0], str):
        return [list(value)]
    return [list(v) for v in value or []]


def _node(node: Any, *, to: str, path: str, nested: frozenset[str] = frozenset()) -> Any:
    """One call of a layer, as node data of the other side.

    A nested model's first node in tf_keras is its own construction (input to output), which
    configs skip: a call of a nested model ``m`` is node ``i + 1`` of ``m`` in tf_keras where
    Keras 3 says ``i`` (without the shift tf_keras' ``from_config`` waits forever for node 0).
    """
    if to == "keras3":
        if isinstance(node, list):
            return [[h[0], h[1] - 1 if h[0] in nested else h[1], *h[2:]] for h in node]
        return node  # Keras 3 reads tf_keras' node lists as they are (its "legacy" form)
    if isinstance(node, list):  # already tf_keras' form
        return node
    args, kwargs = node.get("args", []), dict(node.get("kwargs") or {})
    if len(args) != 1:
        raise UnsupportedLayerError(
            f"layer '{path}' is called with {len(args)} positional arguments; tf_keras "
            "layers take their inputs as one tensor or one list of tensors",
            hint="pass several inputs as a list: layer([a, b])")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if _tensors(kwargs):
        raise UnsupportedLayerError(
            f"layer '{path}' receives a tensor through a keyword argument "
            f"({', '.join(sorted(kwargs))}), which the bridge cannot translate",
            hint="pass the tensor as a positional input")
    history = _tensors(args[0])
    if not history:
        raise UnsupportedLayerError(f"layer '{path}' is called on no tensor")
    return [[h[0], h[1] + 1 if h[0] in nested else h[1], h[2], kwargs] for h in history]


def _tensors(value: Any) -> list[list]:
    """The ``keras_history`` of every serialized Keras tensor inside ``value``, in order."""
    if isinstance(value, Mapping):
        if value.get("class_name") == "__keras_tensor__":
            return [list(value["config"]["keras_history"])]
        return [h for v in value.values() for h in _tensors(v)]
    if isinstance(value, (list, tuple)):
        return [h for v in value for h in _tensors(v)]
    return []


def _translate_args(cls: str, cfg: Mapping[str, Any], *, to: str, path: str) -> dict[str, Any]:
    rule = SUPPORTED[cls]
    dropped = rule.keras3_only if to == "tf_keras" else rule.tf_keras_only
    renames = rule.renames if to == "tf_keras" else {v: k for k, v in rule.renames.items()}
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if key in dropped:
            default = dropped[key]
            if default is ANY or value == default:
                continue
            other = "tf_keras" if to == "tf_keras" else "Keras 3"
            raise UnsupportedLayerError(
                f"layer '{path or cfg.get('name')}' ({cls}): {key}={value!r} has no {other} "
                f"equivalent (only {key}={default!r} translates)",
                hint=f"rebuild the layer without {key}, or register a translation for {cls}")
        out[renames.get(key, key)] = _value(key, value, cls=cls, to=to, path=path or
                                            str(cfg.get("name")))
    if to == "keras3" and rule.back is not None:
        out = rule.back(out)
    return out


_OBJECT_MODULES = {"initializer": "keras.initializers", "regularizer": "keras.regularizers",
                   "constraint": "keras.constraints"}


def _value(key: str, value: Any, *, cls: str, to: str, path: str) -> Any:
    if key == "dtype":
        return _dtype(value, cls=cls, path=path)
    if key == "activation":
        return _activation(value, cls=cls, path=path)
    kind = key.rsplit("_", 1)[-1]
    if kind in _OBJECT_MODULES and isinstance(value, Mapping):
        return _keras_object(key, value, module=_OBJECT_MODULES[kind], cls=cls, to=to,
                             path=path)
    if isinstance(value, Mapping) and "class_name" in value:
        raise UnsupportedLayerError(
            f"layer '{path}' ({cls}): argument {key} holds a serialized "
            f"{value.get('class_name')} the bridge cannot translate")
    return value


def _dtype(value: Any, *, cls: str, path: str) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        policy = value.get("class_name")
        name = (value.get("config") or {}).get("name")
        if policy in ("DTypePolicy", "FloatDTypePolicy", "Policy") and isinstance(name, str):
            return name
        raise UnsupportedLayerError(
            f"layer '{path}' ({cls}): dtype policy {policy} ({name}) has no tf_keras "
            "equivalent (quantized Keras 3 layers cannot be bridged)",
            hint="bridge the float model and let edgecompress quantize it")
    return value


def _activation(value: Any, *, cls: str, path: str) -> Any:
    if isinstance(value, str) and value in ACTIVATIONS:
        return value
    shown = value if isinstance(value, str) else (
        value.get("config") if isinstance(value, Mapping) else type(value).__name__)
    raise UnsupportedLayerError(
        f"layer '{path}' ({cls}): activation {shown!r} is not one the bridge translates "
        f"(supported: {', '.join(ACTIVATIONS)})",
        hint="use a supported activation, or a separate layer for a custom one")


def _keras_object(key: str, value: Mapping[str, Any], *, module: str, cls: str, to: str,
                  path: str) -> dict[str, Any]:
    src_module = value.get("module")
    name = value.get("class_name")
    if (src_module not in (None, module) and not str(src_module).startswith("keras")) or \
            (isinstance(value.get("registered_name"), str) and value["registered_name"] != name):
        raise UnsupportedLayerError(
            f"layer '{path}' ({cls}): {key} is a custom {module.split('.')[-1][:-1]} "
            f"({name}) the bridge cannot translate",
            hint="use a built-in one, or register a translation for the layer")
    inner = dict(value.get("config") or {})
    if to == "tf_keras":
        for extra in ("input_axes", "output_axes"):  # Keras 3.15 VarianceScaling additions
            if extra in inner:
                if inner[extra] is not None:
                    raise UnsupportedLayerError(
                        f"layer '{path}' ({cls}): {key} sets {extra}={inner[extra]!r}, "
                        "which tf_keras initializers lack")
                del inner[extra]
        return {"class_name": name, "config": inner}
    return {"module": module, "class_name": name, "config": inner, "registered_name": None}


def supported_table() -> list[tuple[str, list[str]]]:
    """``[(group, [class names])]`` in table order, for the README and ``inspect --keras``."""
    groups: dict[str, list[str]] = {}
    for name, rule in SUPPORTED.items():
        groups.setdefault(rule.group, []).append(name)
    return list(groups.items())
