"""Image files decoded on demand: the inputs of a streamed image-folder dataset.

A :class:`LazyImages` is a read-only, array-like view of a list of image files that all
have one shape ``(H, W, C)`` (checked from their headers when the folder is scanned). It
has ``len``, ``shape``, ``dtype`` and ``ndim`` like an array, and decodes only what is
indexed: ``x[i]``, ``x[a:b]`` and ``x[[i, j, ...]]`` return float32 arrays. So drawing
calibration samples decodes those samples, evaluation decodes one batch at a time, and
``compress.run.feed`` feeds training through ``tf.data``, a batch per step.

``np.asarray(x)`` (or :meth:`LazyImages.materialise`) decodes everything: what the
in-memory path of small folders does on purpose, and the fallback for any other consumer.

The class is defined in :mod:`calibration.images`, beside the decoder it calls and the
folder scan that builds it, and imported from there: this module depends on
``calibration.images`` and nothing there depends on it (no import cycle).
This module imports numpy and the standard library only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from calibration.images import LazyImages


def is_streamed(x: Any) -> bool:
    """True for a split that is decoded on demand (not an in-memory array)."""
    return bool(getattr(x, "streamed", False)) and not isinstance(x, np.ndarray)


__all__ = ["LazyImages", "is_streamed"]
