"""Load and save models: ``.keras``/``.h5`` saved by tf_keras, SavedModel dirs, ``module:function``.

A ``.keras`` file written by Keras 3 is recognised from its own ``metadata.json`` and
refused with a clear message (tfmot needs tf_keras models).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compress.errors import ModelLoadError


@dataclass(frozen=True)
class ModelSource:
    """Where a model came from, for the report."""

    kind: str            # keras | h5 | savedmodel | factory | memory
    location: str
    size_bytes: int | None
    keras_version: str | None = None


def keras_file_version(path: str | Path) -> str | None:
    """The ``keras_version`` recorded in a ``.keras`` zip's metadata.json, or None."""
    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read("metadata.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    version = meta.get("keras_version")
    return str(version) if version else None


def _size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def load_model(spec: Any) -> tuple[Any, ModelSource]:
    """Load a tf_keras model from a path, a ``module:function`` factory, or pass one through.

    Raises:
        ModelLoadError: missing/corrupt file, Keras 3 file, or a factory that fails.
    """
    from compress import _keras

    if not isinstance(spec, (str, os.PathLike)):
        _keras.require_tf_keras(spec)
        return spec, ModelSource("memory", type(spec).__name__, None)
    text = str(spec)
    path = Path(text)
    if not path.exists() and _looks_like_factory(text):
        return _load_factory(text)
    if not path.exists():
        raise ModelLoadError(f"model not found. Received: {text!r}",
                             hint="pass a .keras/.h5 file, a SavedModel directory, "
                                  "or module:function returning a model")
    keras = _keras.keras
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
            raise ModelLoadError(
                f"{text} was saved by Keras {version} (Keras 3); edgecompress currently "
                "compresses tf_keras (Keras 2) models, because tfmot supports only those.",
                hint="re-save the model from tf_keras (`import tf_keras as keras`) as .keras or "
                     ".h5, or export a SavedModel. Keras 3 support is planned.")
    elif path.suffix in (".h5", ".hdf5"):
        kind = "h5"
    else:
        raise ModelLoadError(f"unsupported model file type. Received: {text!r}",
                             hint="use .keras, .h5, a SavedModel directory or module:function")
    try:
        model = keras.models.load_model(str(path), compile=False)
    except Exception as exc:  # tf_keras raises many types for corrupt files
        raise ModelLoadError(f"could not load model {text}: {_first_line(exc)}",
                             hint="check the file is complete and was saved by tf_keras") from None
    if not isinstance(model, keras.Model):
        raise ModelLoadError(
            f"{text} loaded as {type(model).__name__}, not a Keras model "
            "(a SavedModel not exported from Keras?)",
            hint="export the SavedModel with tf_keras `model.save(dir, save_format='tf')`")
    version = keras_file_version(path) if kind == "keras" else None
    return model, ModelSource(kind, str(path), _size_of(path), version)


def _looks_like_factory(text: str) -> bool:
    module, sep, func = text.partition(":")
    return bool(sep) and bool(module) and func.isidentifier() and "/" not in module


def _load_factory(text: str) -> tuple[Any, ModelSource]:
    from compress import _keras

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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
