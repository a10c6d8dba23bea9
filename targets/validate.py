"""Field validators shared by the strict loaders: recipes and device profiles.

Both loaders read user-written YAML/JSON and must say, for every bad value, where it is
(``stages[1].final_sparsity``), what was expected and what was received. One ``Fields``
object per loader carries the error class to raise (``RecipeError``, ``TargetError``), so
the two loaders word their errors alike without sharing a private copy of each check.

This module sits in ``targets`` (the bottom package) and imports no ML framework.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

from targets.errors import CompressError, brief, check_known_keys

#: I/O tensor dtypes of an integer artifact (float formats always take float32).
IO_DTYPES = ("int8", "uint8", "float32")

# NaN and inf pass every comparison-free check downstream, and huge integers overflow
# TensorFlow's int64 arguments: ``Fields.number`` refuses both, once for every field.
_INT64 = 2 ** 63


def field_name(path: str) -> str:
    """The field's own name in a key path: ``power_w.idle.low`` -> ``low``, ``formats[2]`` ->
    ``formats`` (the whole path when nothing is left)."""
    return path.rsplit(".", 1)[-1].split("[", 1)[0] or path


class Fields:
    """Validators that raise ``error`` (a ``CompressError`` subclass) with the key path.

    Every message starts with the path of the bad value and ends with
    ``Received: <field>=<value>``.

    Args:
        error: the exception class to raise, e.g. ``TargetError`` or ``RecipeError``.
        indexed_names: name a list item with its index in ``Received:`` (``later_stages[1]``,
            the recipe's wording); else by its list's name (``formats``, the profiles').
    """

    def __init__(self, error: type[CompressError], *, indexed_names: bool = False) -> None:
        self.error = error
        self.indexed_names = indexed_names

    def name(self, path: str) -> str:
        """The field's name in ``Received: <name>=<value>``."""
        return path.rsplit(".", 1)[-1] if self.indexed_names else field_name(path)

    def fail(self, path: str, message: str, *, hint: str | None = None) -> CompressError:
        """The error to raise (the caller raises it), its message prefixed with ``path: ``."""
        return self.error(f"{path}: {message}" if path else message, hint=hint)

    def keys(self, data: Any, allowed: tuple[str, ...], path: str, *,
             required: tuple[str, ...] = ()) -> Mapping[str, Any]:
        """``data`` itself, once it is a mapping with only ``allowed`` keys and all ``required``.

        An unknown key's error suggests the likely key (``check_known_keys``); a missing one
        names the first missing key in ``required`` order.
        """
        check_known_keys(data, allowed, path, error=self.error)
        missing = [k for k in required if k not in data]
        if missing:
            raise self.fail(path, f"missing required key '{missing[0]}'",
                            hint=f"{path or 'the top level'} needs: {', '.join(required)}")
        return data

    def number(self, value: Any, path: str, *, integer: bool = False,
               minimum: float | None = None, positive: bool = False) -> int | float:
        """A finite number (an ``int`` within int64 range when ``integer``; else a ``float``).

        ``bool`` is refused although Python counts it as an ``int``.
        """
        name = self.name(path)
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok:
            raise self.fail(path, f"must be {'an integer' if integer else 'a number'}. "
                                  f"Received: {name}={brief(value)}")
        if isinstance(value, float) and not math.isfinite(value) \
                or isinstance(value, int) and not -_INT64 <= value < _INT64:
            raise self.fail(path, f"must be a finite number within int64 range. "
                                  f"Received: {name}={brief(value)}")
        if positive and not value > 0:
            raise self.fail(path, f"must be > 0. Received: {name}={brief(value)}")
        if minimum is not None and value < minimum:
            raise self.fail(path, f"must be >= {minimum}. Received: {name}={brief(value)}")
        return value if integer else float(value)

    def choice(self, value: Any, choices: tuple[str, ...], path: str) -> str:
        """One of ``choices``; the error's hint suggests the closest one."""
        if value not in choices:
            # brief(): a YAML value can be huge, and str() of it would be too.
            text = value if isinstance(value, str) else brief(value)
            close = difflib.get_close_matches(text, choices, n=1)
            raise self.fail(path, f"must be one of {', '.join(choices)}. "
                                  f"Received: {self.name(path)}={brief(value)}",
                            hint=f"did you mean '{close[0]}'?" if close else None)
        return value

    def text(self, value: Any, path: str, *, numbers: bool = False) -> str:
        """A string field.

        Args:
            value: the value read.
            path: its key path.
            numbers: take a number as its text (a layer or file name such as ``1`` that
                YAML reads as a number), unstripped and possibly empty. Otherwise the
                value must be a non-empty string, returned stripped.
        """
        if numbers:
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise self.fail(path, f"must be a string. "
                                      f"Received: {self.name(path)}={brief(value)}")
            return str(value)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"must be a non-empty string. "
                                  f"Received: {self.name(path)}={brief(value)}")
        return value.strip()

    def flag(self, value: Any, path: str) -> bool:
        """``true`` or ``false`` (not 0/1, not a string)."""
        if not isinstance(value, bool):
            raise self.fail(path, f"must be true or false. "
                                  f"Received: {self.name(path)}={brief(value)}")
        return value

    def str_list(self, value: Any, path: str) -> tuple[str, ...]:
        """A list of strings; a single string counts as a list of one."""
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise self.fail(path, f"must be a list of strings. Received: {brief(value)}")
        return tuple(value)


__all__ = ["IO_DTYPES", "Fields", "field_name"]
