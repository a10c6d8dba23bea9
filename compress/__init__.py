"""edgecompress: compress trained Keras models and benchmark them on edge devices.

The public API is loaded lazily, so ``import compress`` (and ``edgecompress --help``) does not
import TensorFlow until a name that needs it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Session": "compress.session",
    "EdgeMetricsCallback": "compress.callbacks",
    "compress_model": "compress.pipeline",
    "RunResult": "compress.pipeline",
    "Recipe": "compress.recipe",
    "load_recipe": "compress.recipe",
    "load_model": "compress.models",
    "CompressError": "compress.errors",
    "RecipeError": "compress.errors",
    "ModelLoadError": "compress.errors",
    "UnsupportedLayerError": "compress.errors",
    "DataError": "compress.errors",
    "ConversionError": "compress.errors",
    "TargetError": "compress.errors",
    "BenchmarkError": "compress.errors",
    "register_translation": "compress.models.keras3",
}
#: ``compress.keras3.to_tf_keras`` after a plain ``import compress`` (the Keras 3 bridge's
#: public name; the module lives with the rest of model I/O in ``compress.models``)
_SUBMODULES = {"keras3": "compress.models.keras3"}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'compress' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
