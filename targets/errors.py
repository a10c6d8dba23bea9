"""The one exception tree of edgecompress.

It lives in the bottom package (``targets``) because imports flow one way,
``compress -> calibration -> targets``, and all three raise these errors.
The public import path is ``compress.errors``, which re-exports everything here.
``targets/runner.py`` does not import this module: it must run alone on a device.
"""

from __future__ import annotations


class CompressError(Exception):
    """Base class for every error edgecompress reports to a user.

    Args:
        message: what was wrong, including the value received.
        hint: what the user can do about it (shown on its own line by the CLI).
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class RecipeError(CompressError):
    """A recipe (YAML/JSON/dict) is malformed or inconsistent."""


class ModelLoadError(CompressError):
    """A model file or factory could not be loaded."""


class UnsupportedLayerError(CompressError):
    """A layer cannot go through a requested technique (e.g. QAT)."""


class DataError(CompressError):
    """A dataset is missing, empty, malformed or does not fit the model."""


class ConversionError(CompressError):
    """Keras -> TFLite conversion failed or a .tflite file is invalid."""


class TargetError(CompressError):
    """Unknown target/device profile or an artifact that does not fit it."""


class BenchmarkError(CompressError):
    """Evaluation or benchmarking of an artifact failed."""


class OutputError(CompressError):
    """The output folder cannot be written (exists, locked, ...)."""


def brief(value) -> str:
    """``repr(value)`` cut to a readable length, for ``Received: ...`` in messages.

    A value from a YAML file can be huge: aliases let a few lines expand into billions of
    items (the "billion laughs" file), and a full ``repr`` would exhaust memory.
    """
    import reprlib

    short = reprlib.Repr()
    short.maxlevel, short.maxdict, short.maxlist, short.maxtuple = 2, 6, 6, 6
    short.maxset = short.maxfrozenset = short.maxdeque = short.maxarray = 6
    short.maxstring, short.maxother, short.maxlong = 120, 120, 60
    text = short.repr(value)
    return text if len(text) <= 200 else text[:196] + " ..."


def check_known_keys(data, allowed: tuple[str, ...], path: str, *,
                     error: type[CompressError]) -> None:
    """Raise ``error`` for a non-mapping or for the first key not in ``allowed``.

    The message names the key's path (``stages[1].final_sparsty``) and the hint suggests the
    likely key. Shared by the recipe and device-profile loaders.
    """
    import difflib
    from collections.abc import Mapping

    if not isinstance(data, Mapping):
        where = f"{path}: " if path else ""
        raise error(f"{where}expected a mapping. Received: {brief(data)}")
    for key in data:
        if not isinstance(key, str) or key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(allowed)}"
            where = f"{path}.{key}" if path else str(key)
            raise error(f"{where}: unknown key '{key}'", hint=hint)


__all__ = [
    "check_known_keys",
    "CompressError",
    "RecipeError",
    "ModelLoadError",
    "UnsupportedLayerError",
    "DataError",
    "ConversionError",
    "TargetError",
    "BenchmarkError",
    "OutputError",
]
