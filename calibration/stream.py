"""Image files decoded on demand: the inputs of a streamed image-folder dataset.

A :class:`LazyImages` is a read-only, array-like view of a list of image files that all
have one shape ``(H, W, C)`` (checked from their headers when the folder is scanned). It
has ``len``, ``shape``, ``dtype`` and ``ndim`` like an array, and decodes only what is
indexed: ``x[i]``, ``x[a:b]`` and ``x[[i, j, ...]]`` return float32 arrays. So drawing
calibration samples decodes those samples, evaluation decodes one batch at a time, and
``compress.streaming`` feeds training through ``tf.data``, a batch per step.

``np.asarray(x)`` (or :meth:`LazyImages.materialise`) decodes everything: what the
in-memory path of small folders does on purpose, and the fallback for any other consumer.
This module imports numpy and the standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from calibration import images
from targets.errors import DataError


class LazyImages:
    """Images of one shape, decoded when indexed.

    Args:
        paths: the image files, in sample order.
        shape: the ``(H, W, C)`` every file has (from its header; checked again on decode).
    """

    dtype = np.dtype(np.float32)
    #: Consumers (``Dataset``, ``compress.streaming``) recognise a streamed split by this.
    streamed = True

    def __init__(self, paths: Sequence[str | os.PathLike], shape: tuple[int, int, int]) -> None:
        self.paths = tuple(Path(p) for p in paths)
        self.sample_shape = tuple(int(d) for d in shape)

    # -- array-like ------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.paths), *self.sample_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.sample_shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        """Bytes the decoded float32 array would take."""
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"LazyImages({len(self)} files, sample shape {self.sample_shape})"

    def __getitem__(self, key: Any) -> np.ndarray:
        rest: tuple = ()
        if isinstance(key, tuple):
            key, rest = (key[0], key[1:]) if key else (slice(None), ())
        if isinstance(key, (int, np.integer)):
            out = self._decode(self.paths[int(key)])
            return out[rest] if rest else out
        out = self._decode_many(self._indices(key))
        return out[(slice(None), *rest)] if rest else out

    def take(self, indices: Any) -> "LazyImages":
        """The samples at ``indices`` (ints, a slice or a boolean mask), still not decoded."""
        return LazyImages([self.paths[i] for i in self._indices(indices)], self.sample_shape)

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Decoded batches in order (the last one may be shorter)."""
        for start in range(0, len(self), batch_size):
            yield self[start:start + batch_size]

    def materialise(self) -> np.ndarray:
        """Every image decoded into one ``(N, H, W, C)`` float32 array."""
        return self._decode_many(range(len(self)))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.materialise()
        return array if dtype is None else array.astype(dtype, copy=False)

    def __iter__(self) -> Iterator[np.ndarray]:
        for path in self.paths:
            yield self._decode(path)

    # -- decoding --------------------------------------------------------------------
    def _indices(self, key: Any) -> Sequence[int]:
        if isinstance(key, slice):
            return range(*key.indices(len(self)))
        index = np.asarray(key)
        if index.dtype == bool:
            if index.shape != (len(self),):
                raise IndexError(f"a boolean mask must have shape ({len(self)},). "
                                 f"Received: {index.shape}")
            return np.flatnonzero(index).tolist()
        if index.ndim != 1 or index.dtype.kind not in "iu":
            raise IndexError(f"index with an int, a slice, a 1-D int array or a boolean mask. "
                             f"Received: {type(key).__name__} {index.dtype} {index.shape}")
        n = len(self)
        if index.size and not (-n <= index.min() and index.max() < n):
            raise IndexError(f"index out of range for {n} images. Received: "
                             f"{int(index.min())}..{int(index.max())}")
        return [int(i) + n if i < 0 else int(i) for i in index]

    def _decode_many(self, indices: Sequence[int]) -> np.ndarray:
        out = np.empty((len(indices), *self.sample_shape), np.float32)
        for row, i in enumerate(indices):
            out[row] = self._decode(self.paths[i])
        return out

    def _decode(self, path: Path) -> np.ndarray:
        image = images.read_image(path)
        if image.shape != self.sample_shape:  # the file changed since its header was read
            raise DataError(f"all images must have the same size: {path} is "
                            f"{images._size(image.shape)}, expected "
                            f"{images._size(self.sample_shape)}")
        return image


def is_streamed(x: Any) -> bool:
    """True for a split that is decoded on demand (not an in-memory array)."""
    return bool(getattr(x, "streamed", False)) and not isinstance(x, np.ndarray)
