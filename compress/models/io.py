"""Load and save models: ``.keras``/``.h5`` saved by tf_keras, SavedModel dirs, ``module:function``.

A ``.keras`` file written by Keras 3 is recognised from its own ``metadata.json``; it (and an
in-memory Keras 3 model) is bridged to tf_keras by ``compress.models.keras3`` (tfmot needs tf_keras
models): its stored config is judged layer by layer before anything is loaded.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compress.errors import ModelLoadError
from compress.models.files import (code_risks, first_line, keras_file_version, size_of,
                                     stored_config)


@dataclass(frozen=True)
class ModelSource:
    """Where a model came from, for the report."""

    kind: str            # keras | h5 | savedmodel | factory | memory
    location: str
    size_bytes: int | None
    keras_version: str | None = None
    #: a Keras 3 model bridged to tf_keras: the check (``compress.models.keras3.to_tf_keras``)
    bridge: dict | None = None
    #: ... and the Keras 3 model itself (to check on calibration samples, to save back)
    original: Any = field(default=None, repr=False, compare=False)

    @property
    def keras3(self) -> bool:
        return self.original is not None


def load_model(spec: Any, *, trust_model_code: bool = False,
               native_keras3: bool = False) -> tuple[Any, ModelSource]:
    """Load a tf_keras model from a path, a ``module:function`` factory, or pass one through.

    A Keras 3 model (a ``.keras`` saved by Keras 3, an in-memory or factory-made one) comes
    back as its checked tf_keras twin; ``source.original`` holds the Keras 3 model.

    Model files are untrusted: a file whose stored config would run code when loaded
    (a ``Lambda`` layer, a class from a non-Keras module) is refused unless
    ``trust_model_code=True``. The config is read without deserializing anything.

    With ``native_keras3`` a Keras 3 model comes back as it is (for the keras3 engine), not
    bridged to tf_keras.

    Raises:
        ModelLoadError: missing/corrupt file, code in an untrusted file, a factory that
            fails, or a Keras 3 model whose bridged twin computes something else.
        UnsupportedLayerError: a Keras 3 model with a layer the bridge cannot translate.
    """
    from compress import _tf

    if not isinstance(spec, (str, os.PathLike)):
        if _tf.is_keras3_model(spec):
            return _keras3_model(spec, "memory", type(spec).__name__, None,
                                 native=native_keras3)
        from compress import _keras

        _keras.require_tf_keras(spec)
        return spec, ModelSource("memory", type(spec).__name__, None)
    text = str(spec)
    path = Path(text)
    if not path.exists() and _looks_like_factory(text):
        return _load_factory(text, native_keras3=native_keras3)
    if not path.exists():
        raise ModelLoadError(f"model not found. Received: {text!r}",
                             hint="pass a .keras/.h5 file, a SavedModel directory, "
                                  "or module:function returning a model")
    if path.is_dir():
        if not (path / "saved_model.pb").exists():
            raise ModelLoadError(f"{text} is a directory but not a SavedModel "
                                 "(no saved_model.pb inside).")
        kind = "savedmodel"
    elif path.suffix == ".keras":
        kind = "keras"
        version = keras_file_version(path)
        if version is None:
            raise ModelLoadError(f"{text} is not a valid .keras file (no readable metadata.json).",
                                 hint="the file may be truncated or not a Keras model")
        if version.split(".")[0] == "3":
            return _load_keras3_file(path, version, trust_model_code=trust_model_code,
                                     native=native_keras3)
    elif path.suffix in (".h5", ".hdf5"):
        kind = "h5"
    else:
        raise ModelLoadError(f"unsupported model file type. Received: {text!r}",
                             hint="use .keras, .h5, a SavedModel directory or module:function")
    if kind in ("keras", "h5"):
        _refuse_code(path, stored_config(path), trust_model_code)
    from compress._keras import keras  # a tf_keras file from here on
    try:
        kwargs = {"safe_mode": not trust_model_code} if kind == "keras" else {}
        model = keras.models.load_model(str(path), compile=False, **kwargs)
    except Exception as exc:  # tf_keras raises many types for corrupt files
        raise ModelLoadError(f"could not load model {text}: {first_line(exc)}",
                             hint="check the file is complete and was saved by tf_keras") from None
    if not isinstance(model, keras.Model):
        raise ModelLoadError(
            f"{text} loaded as {type(model).__name__}, not a Keras model "
            "(a SavedModel not exported from Keras?)",
            hint="export the SavedModel with tf_keras `model.save(dir, save_format='tf')`")
    version = keras_file_version(path) if kind == "keras" else None
    return model, ModelSource(kind, str(path), size_of(path), version)


def _load_keras3_file(path: Path, version: str, *, trust_model_code: bool,
                      native: bool = False) -> tuple[Any, ModelSource]:
    """A ``.keras`` saved by Keras 3: judged from its config, loaded by Keras 3, bridged
    (unless ``native``: then the bridge's layer table does not apply)."""
    from compress.models import keras3, keras3_config

    config = stored_config(path)
    if not isinstance(config, dict):
        raise ModelLoadError(f"{path} is not a valid .keras file (no readable config.json).",
                             hint="the file may be truncated or not a Keras model")
    if not native:  # judged before loading: loading a custom class imports (runs) its module
        keras3_config.raise_unsupported(keras3_config.check_model(config),
                                        what=f"{path} (saved by Keras {version})")
    _refuse_code(path, config, trust_model_code)
    original = keras3.load_file(path, safe_mode=not trust_model_code)
    return _keras3_model(original, "keras", str(path), size_of(path), version=version,
                         native=native)


def _keras3_model(original: Any, kind: str, location: str, size: int | None, *,
                  version: str | None = None, native: bool) -> tuple[Any, ModelSource]:
    """A Keras 3 model as it is (``native``: the keras3 engine) or bridged to tf_keras."""
    if not native:
        return _bridged(original, kind, location, size, version=version)
    from compress.models import keras3

    return original, ModelSource(kind, location, size, version or keras3.keras_version())


def _bridged(original: Any, kind: str, location: str, size: int | None, *,
             version: str | None = None) -> tuple[Any, ModelSource]:
    """The tf_keras twin of a Keras 3 model (checked on seeded random inputs here; the
    pipeline checks it again on the calibration samples)."""
    from compress.models import keras3

    twin, record = keras3.to_tf_keras(original, what=f"the Keras 3 model {location}")
    if version is None:
        version = keras3.keras_version()
    return twin, ModelSource(kind, location, size, version, bridge=record, original=original)


def _refuse_code(path: Path, config: Any, trust_model_code: bool) -> None:
    if trust_model_code:
        return
    risks = code_risks(config)
    if risks:
        raise ModelLoadError(
            f"{path} contains layers that would run code stored in the file when it is "
            f"loaded: {', '.join(risks)}. Refusing to load an untrusted model file.",
            hint="if you trust this file, pass --trust-model-code "
                 "(trust_model_code=True in the Python API)")


def _looks_like_factory(text: str) -> bool:
    module, sep, func = text.partition(":")
    return bool(sep) and bool(module) and func.isidentifier() and "/" not in module


def _load_factory(text: str, *, native_keras3: bool = False) -> tuple[Any, ModelSource]:
    from compress import _tf

    module_name, _, func_name = text.partition(":")
    added = os.getcwd() not in sys.path
    if added:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelLoadError(f"cannot import module {module_name!r} for model {text!r}: {exc}",
                             hint="run from the folder holding the module or install it") from None
    finally:
        if added:
            sys.path.remove(os.getcwd())
    factory = getattr(module, func_name, None)
    if not callable(factory):
        raise ModelLoadError(f"{module_name} has no callable {func_name!r}. Received: {text!r}")
    model = factory()
    if _tf.is_keras3_model(model):
        return _keras3_model(model, "factory", text, None, native=native_keras3)
    from compress import _keras

    _keras.require_tf_keras(model, what=f"model returned by {text}")
    return model, ModelSource("factory", text, None)


def save_model(model: Any, directory: str | Path) -> Path:
    """Save a tf_keras model as ``DIR/model.keras``; returns the file path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "model.keras"
    model.save(str(target))
    return target


def count_params(model: Any) -> int:
    return int(model.count_params())
