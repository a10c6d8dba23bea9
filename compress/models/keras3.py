"""The Keras 3 bridge: Keras 3 models in, tf_keras models for tfmot, Keras 3 models out.

tfmot 0.8.1 compresses tf_keras (Keras 2) models only. A Sequential or Functional Keras 3
model is translated config first (``compress.models.keras3_config``: class names, renamed arguments,
dtype policies, initializers/regularizers/constraints, node data, nested sub-models), rebuilt
with tf_keras ``from_config``, given the Keras 3 weights layer by layer (shapes checked) and
flattened (``compress.models.graph.flatten_nested``) so every layer of a nested base is reached.
After compression the float model goes back the same way. Each crossing is checked, not
trusted: both models run on the same samples and must agree within ``TOLERANCE`` (relative
to the largest output), else a ``CompressError`` says by how much.

This is the one module that imports Keras 3 (``import keras``), always inside functions:
importing it costs seconds and is needed only when a Keras 3 model shows up.

Custom layers: ``register_translation("MyLayer", fn)`` where ``fn(config)`` returns the
equivalent tf_keras layer (same weights, same order) lets the bridge carry them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from compress.models import keras3_config
from compress.errors import ConversionError, ModelLoadError, UnsupportedLayerError

#: Largest allowed max-abs difference between the two models' outputs, relative to the
#: largest absolute output of the reference model.
TOLERANCE = 1e-4

_CHECK_SAMPLES = 8  # seeded random inputs for a check when no data is at hand


def register_translation(class_name: str, to_tf_keras: Callable[[dict], Any], *,
                         to_keras3: Callable[[dict], Any] | None = None) -> None:
    """Teach the bridge a layer class it does not know (a custom layer).

    Args:
        class_name: the Keras 3 class name (or its registered name, ``"package>Name"``).
        to_tf_keras: called with the layer's Keras 3 config (a dict with ``name``); returns
            the equivalent tf_keras layer, unbuilt, with the same name. It must create the
            same weights in the same order: the bridge copies them and checks the shapes.
        to_keras3: for the way back (the compressed Keras 3 ``.keras``): called with the
            tf_keras layer's config; returns the Keras 3 layer. Not needed when
            ``to_tf_keras`` returns a built-in tf_keras layer (the table translates it back).

    Example:
        >>> import tf_keras
        >>> register_translation("ScaleBy", lambda cfg: tf_keras.layers.Rescaling(
        ...     cfg["factor"], name=cfg["name"]))
    """
    keras3_config.register(class_name, to_tf_keras, to_keras3=to_keras3)


def keras_version() -> str:
    """The installed Keras 3 version (what an in-memory Keras 3 model was built with)."""
    import keras

    return keras.__version__


def is_keras3_model(obj: object) -> bool:
    """True for a Keras 3 model (subclasses included)."""
    from compress import _tf

    return _tf.is_keras3_model(obj)


def load_file(path: str | Path, *, safe_mode: bool = True) -> Any:
    """Load a ``.keras`` file saved by Keras 3 (``safe_mode`` refuses stored code)."""
    import keras

    try:
        return keras.saving.load_model(str(path), compile=False, safe_mode=safe_mode)
    except Exception as exc:  # Keras 3 raises many types for damaged or foreign files
        from compress.models.files import first_line

        raise ModelLoadError(
            f"Keras 3 could not load {path}: {first_line(exc)}",
            hint="a custom class must be importable and registered with "
                 "keras.saving.register_keras_serializable before loading; check the "
                 "file is complete") from None


def check_convertible(model: Any, *, what: str = "the model") -> list[keras3_config.LayerCheck]:
    """Every layer of an in-memory Keras 3 model, judged; raises for untranslatable ones."""
    import keras

    name = getattr(model, "name", "?")
    if not isinstance(model, keras.Model):
        raise ModelLoadError(f"expected a Keras 3 model for {what}. Received: "
                             f"{type(model).__name__}")
    kind = type(model).__name__
    if kind not in keras3_config.CONTAINERS:
        raise UnsupportedLayerError(
            f"{what} cannot be bridged from Keras 3 to tf_keras: model '{name}' ({kind}) is "
            "a subclassed model, whose call() is Python code the bridge cannot translate. "
            "The bridge translates Sequential and Functional models.",
            hint="rebuild it with the Functional API (keras.Model(inputs, outputs)) or as a "
                 "keras.Sequential from supported layers; `edgecompress inspect --keras FILE` "
                 "lists them")
    checks = keras3_config.check_model(_serialized(model))
    keras3_config.raise_unsupported(checks, what=what)
    return checks


def to_tf_keras(model: Any, *, samples: np.ndarray | None = None,
                what: str = "the model") -> tuple[Any, dict[str, Any]]:
    """The tf_keras twin of a Sequential/Functional Keras 3 model, flattened, and its check.

    Args:
        model: the Keras 3 model.
        samples: inputs for the check (default: seeded uniform random inputs).
        what: how to name the model in errors.

    Returns:
        ``(tf_keras model, {"max_abs_diff", "relative", "layers", "samples"})``.

    Raises:
        UnsupportedLayerError: a layer (path and class named) cannot be translated.
        ModelLoadError: the two models' outputs differ by more than ``TOLERANCE``.
    """
    from compress import _keras
    from compress.models.graph import flatten_nested

    checks = check_convertible(model, what=what)
    custom: dict[str, Any] = {}
    config = keras3_config.to_tf_keras(_serialized(model), custom=custom)
    _check_layers_build(config, custom)
    try:
        twin = _keras.keras.layers.deserialize(config, custom_objects=custom)
    except Exception as exc:  # tf_keras' own message, with what we know about the model
        raise UnsupportedLayerError(
            f"tf_keras could not rebuild {what} from its translated config: "
            f"{type(exc).__name__}: {str(exc)[:300]}",
            hint="`edgecompress inspect --keras FILE` lists the supported layers") from None
    copied = copy_weights(model, twin, source="Keras 3", target="tf_keras")
    flat = flatten_nested(twin)
    record = _checked(model, flat, samples, what=f"{what} bridged to tf_keras",
                      error=ModelLoadError)
    record.update(layers=copied, checked=len(checks))
    return flat, record


def to_keras3(model: Any, *, samples: np.ndarray | None = None,
              what: str = "the compressed model") -> tuple[Any, dict[str, Any]]:
    """The Keras 3 twin of a tf_keras model (the way back), and its check."""
    twin, copied = _keras3_twin(model, what=what)
    record = _checked(model, twin, samples, what=f"{what} bridged back to Keras 3",
                      error=ConversionError)
    record["layers"] = copied
    return twin, record


def _keras3_twin(model: Any, *, what: str) -> tuple[Any, int]:
    """The Keras 3 twin of a tf_keras model with its weights, unchecked; and layers copied."""
    import keras

    custom: dict[str, Any] = {}
    kind = "Sequential" if type(model).__name__ == "Sequential" else "Functional"
    plain = json.loads(model.to_json())["config"]  # JSON types, not tf tracking wrappers
    config = keras3_config.to_keras3({"class_name": kind, "config": plain}, custom=custom)
    try:
        cls = keras.Sequential if kind == "Sequential" else keras.Model
        twin = cls.from_config(config["config"], custom_objects=custom)
    except Exception as exc:
        raise ConversionError(
            f"Keras 3 could not rebuild {what} from its translated config: "
            f"{type(exc).__name__}: {str(exc)[:300]}") from None
    return twin, copy_weights(model, twin, source="tf_keras", target="Keras 3")


def recheck(original: Any, twin: Any, samples: Any, *, what: str = "the bridged model"
            ) -> dict[str, Any]:
    """The bridge check again on given samples (the run's calibration samples)."""
    return _checked(original, twin, samples, what=what, error=ModelLoadError)


def save_keras3(model: Any, path: str | Path, *, samples: np.ndarray | None = None
                ) -> tuple[Any, dict[str, Any]]:
    """Bridge a tf_keras model back to Keras 3, save it as ``path`` and verify the file.

    The saved file is loaded again with Keras 3 and compared with ``model`` (one check: the
    reloaded model stands for the in-memory twin too).

    Returns:
        ``(the reloaded Keras 3 model, {"max_abs_diff", "relative", "layers", "samples",
        "keras_version"})``.
    """
    import keras

    twin, copied = _keras3_twin(model, what="the compressed model")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    twin.save(str(path))
    reloaded = load_file(path, safe_mode=True)
    saved = _checked(model, reloaded, samples, what=f"the saved Keras 3 model {path.name}",
                     error=ConversionError)
    saved.update(layers=copied, keras_version=keras.__version__)
    return reloaded, saved


# --- inspect --keras ------------------------------------------------------------------------

def inspect_keras(path: str | Path) -> dict[str, Any]:
    """Whether a saved model can be bridged, judged from its stored config (nothing loaded).

    Returns:
        ``{"path", "format", "keras_version", "bridge", "layers": [{"path", "class_name",
        "supported", "reason"}], "unsupported", "supported_layers": {group: [classes]}}``;
        ``bridge`` is ``"needed"`` (Keras 3), ``"not needed"`` (tf_keras) or ``"impossible"``.

    Raises:
        ModelLoadError: not a readable ``.keras``/``.h5`` file.
    """
    from compress.models.files import keras_file_version, stored_config

    path = Path(path)
    if not path.is_file() or path.suffix not in (".keras", ".h5", ".hdf5"):
        raise ModelLoadError(
            f"inspect --keras needs a .keras or .h5 model file. Received: {str(path)!r}"
            f"{'' if path.exists() else ' (not found)'}",
            hint="for a .tflite file leave out --keras")
    config = stored_config(path)
    if not isinstance(config, dict):
        raise ModelLoadError(f"{path} holds no readable model config (damaged or not a "
                             "Keras model file)")
    version = keras_file_version(path) if path.suffix == ".keras" else None
    info: dict[str, Any] = {
        "path": str(path), "format": "keras3" if (version or "").startswith("3") else "tf_keras",
        "keras_version": version, "layers": [], "unsupported": 0,
        "supported_layers": dict(keras3_config.supported_table())}
    if info["format"] == "tf_keras":
        info["bridge"] = "not needed"
        return info
    checks = keras3_config.check_model(config)
    info["layers"] = [c.to_dict() for c in checks]
    info["unsupported"] = sum(not c.supported for c in checks)
    info["bridge"] = "impossible" if info["unsupported"] else "needed"
    return info


def render_inspect_keras(info: dict[str, Any]) -> str:
    """Plain-text form of ``inspect_keras``."""
    lines = [f"{info['path']}: saved by "
             f"{'Keras ' + info['keras_version'] if info['keras_version'] else 'tf_keras'}"]
    if info["bridge"] == "not needed":
        lines.append("a tf_keras model: tfmot compresses it as it is (no bridge needed)")
    else:
        width = max(len(x["path"]) for x in info["layers"])
        for layer in info["layers"]:
            mark = "ok" if layer["supported"] else f"NOT SUPPORTED: {layer['reason']}"
            lines.append(f"  {layer['path']:<{width}}  {layer['class_name']:<24} {mark}")
        n = len(info["layers"])
        lines.append(f"bridge to tf_keras: {n - info['unsupported']} of {n} layers translate"
                     if info["unsupported"] else
                     f"bridge to tf_keras: all {n} layers translate")
        if info["unsupported"]:
            lines.append("  fix: rebuild as Functional from supported layers, or register a "
                         "translation (compress.models.keras3.register_translation; README, "
                         "'Keras 3 models')")
    lines.append("Supported Keras 3 layers:")
    lines += [f"  {group}: {', '.join(names)}"
              for group, names in info["supported_layers"].items()]
    return "\n".join(lines)


# --- shared pieces ----------------------------------------------------------------------------

def _serialized(model: Any) -> dict[str, Any]:
    return {"module": "keras", "class_name": type(model).__name__,
            "config": model.get_config(), "registered_name": None}


def _check_layers_build(config: dict, custom: dict) -> None:
    """Build every translated leaf layer alone first, so a refusal names its layer."""
    from compress._keras import keras

    for path, entry in _leaf_entries(config, ""):
        try:
            keras.layers.deserialize({"class_name": entry["class_name"],
                                      "config": entry["config"]}, custom_objects=custom)
        except Exception as exc:
            raise UnsupportedLayerError(
                f"layer '{path}' ({entry['class_name']}) translates to a config tf_keras "
                f"refuses: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
                hint="register a translation for it (compress.models.keras3.register_translation), "
                     "or rebuild the layer with other arguments") from None


def _leaf_entries(entry: dict, parent: str):
    cfg = entry.get("config") or {}
    name = cfg.get("name") or entry.get("name")
    path = f"{parent}/{name}" if parent else str(name)
    if entry.get("class_name") in keras3_config.CONTAINERS and "layers" in cfg:
        for layer in cfg["layers"]:
            yield from _leaf_entries(layer, path)
    else:
        yield path, entry


def _leaves(model: Any, parent: str = "") -> dict[str, Any]:
    """Layer path -> layer, descending into nested Sequential/Functional models."""
    out: dict[str, Any] = {}
    for layer in model.layers:
        path = f"{parent}/{layer.name}" if parent else layer.name
        if type(layer).__name__ in keras3_config.CONTAINERS:
            out.update(_leaves(layer, path))
        else:
            out[path] = layer
    return out


def copy_weights(src: Any, dst: Any, *, source: str, target: str) -> int:
    """Copy every layer's weights from ``src`` to ``dst`` (matched by layer path).

    Returns the number of layers matched. Raises ``UnsupportedLayerError`` naming the layer
    when the two sides differ (a layer missing, another number of weights or shapes).
    """
    a, b = _leaves(src), _leaves(dst)
    missing = sorted(set(a) ^ set(b))
    if missing:
        raise UnsupportedLayerError(
            f"the {source} and {target} models do not have the same layers after translation: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}",
            hint="a registered translation must keep the layer's name")
    for path, layer in a.items():
        values = [np.asarray(v) for v in layer.get_weights()]
        twin = b[path]
        want = [tuple(int(d) for d in w.shape) for w in twin.weights]
        got = [tuple(v.shape) for v in values]
        if got != want:
            raise UnsupportedLayerError(
                f"layer '{path}' ({type(layer).__name__}): its weights do not match after "
                f"translation. Received: {source} shapes {got}, {target} shapes {want}",
                hint="a registered translation must create the same weights in the same order")
        if values:
            twin.set_weights(values)
    return len(a)


def random_inputs(model: Any, n: int = _CHECK_SAMPLES, seed: int = 0) -> Any:
    """Seeded inputs for a check: uniform [0, 1) floats (integers 0/1 for integer inputs)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for tensor in model.inputs:
        shape = (n, *[1 if d is None else int(d) for d in tuple(tensor.shape)[1:]])
        dtype = str(getattr(tensor.dtype, "name", tensor.dtype))
        if "int" in dtype:
            arrays.append(rng.integers(0, 2, size=shape).astype(dtype))
        else:
            arrays.append(rng.random(shape, dtype=np.float32))
    return arrays[0] if len(arrays) == 1 else arrays


def outputs(model: Any, x: Any, *, batch_size: int = 64) -> list[np.ndarray]:
    """The model's outputs on ``x`` in inference mode, one float64 array per output."""
    xs = x if isinstance(x, (list, tuple)) else [x]
    n = len(xs[0])
    parts: list[list[np.ndarray]] = []
    for i in range(0, n, batch_size):
        batch = [np.asarray(v[i:i + batch_size]) for v in xs]
        out = model(batch if len(batch) > 1 else batch[0], training=False)
        out = out if isinstance(out, (list, tuple)) else [out]
        parts.append([np.asarray(o.numpy() if hasattr(o, "numpy") else o, dtype=np.float64)
                      for o in out])
    return [np.concatenate([p[j] for p in parts]) for j in range(len(parts[0]))]


def compare(reference: Any, candidate: Any, x: Any) -> dict[str, Any]:
    """Max abs difference of two models' outputs on ``x``, and relative to ``reference``'s."""
    ref, got = outputs(reference, x), outputs(candidate, x)
    diff = max(float(np.max(np.abs(r - g))) if r.size else 0.0 for r, g in zip(ref, got))
    scale = max(float(np.max(np.abs(r))) if r.size else 0.0 for r in ref)
    n = len(x[0]) if isinstance(x, (list, tuple)) else len(x)
    return {"max_abs_diff": diff, "relative": diff / max(scale, 1e-12), "samples": int(n)}


def _checked(reference: Any, candidate: Any, x: Any, *, what: str, error: type
             ) -> dict[str, Any]:
    """``compare`` on ``x`` (default: seeded random inputs), raising ``error`` above
    ``TOLERANCE``."""
    record = compare(reference, candidate, x if x is not None else random_inputs(reference))
    if not np.isfinite(record["relative"]) or record["relative"] > TOLERANCE:
        raise error(
            f"{what} does not compute what the original computes: outputs differ by "
            f"{record['max_abs_diff']:.3g} (relative {record['relative']:.3g}) on "
            f"{record['samples']} samples; the bridge allows at most {TOLERANCE:g} relative",
            hint="please report it with `edgecompress inspect --keras FILE --json`; until "
                 "then, rebuild the model with tf_keras (`import tf_keras as keras`)")
    return record
