"""Training on a streamed split: image files decoded batch by batch through ``tf.data``.

``fit_model`` is ``model.fit`` for either kind of training split. In-memory arrays go to
Keras unchanged. A streamed split (``calibration.stream.LazyImages``, a large image folder)
becomes a ``tf.data`` pipeline over sample indices: shuffled each epoch (seeded by the
TensorFlow global seed, as Keras shuffles arrays), batched, and each batch decoded by the
same decoders and checks as the in-memory path; labels are held in memory. At most a few
batches of pixels exist at a time.

A ``DataError`` raised while a batch is decoded (a damaged file) surfaces from ``fit_model``
as that ``DataError``, not as TensorFlow's wrapped error.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from calibration.stream import is_streamed
from compress.errors import DataError


def fit_model(model: Any, x: Any, y: np.ndarray, *, batch_size: int, shuffle: bool = True,
              **fit_kwargs: Any) -> Any:
    """``model.fit(x, y, batch_size=..., shuffle=..., **fit_kwargs)``, streaming ``x`` if needed.

    Returns:
        The Keras ``History``.

    Raises:
        DataError: an image of a streamed split could not be decoded.
    """
    if not is_streamed(x):
        return model.fit(x, y, batch_size=batch_size, shuffle=shuffle, **fit_kwargs)
    failures: list[DataError] = []
    data = to_tf_dataset(x, y, batch_size=batch_size, shuffle=shuffle, failures=failures)
    try:
        return model.fit(data, **fit_kwargs)
    except Exception:
        if failures:  # the decoder's own error, not TensorFlow's wrapped copy of it
            raise failures[0] from None
        raise


def to_tf_dataset(x: Any, y: np.ndarray, *, batch_size: int, shuffle: bool = False,
                  failures: list | None = None) -> Any:
    """A ``tf.data.Dataset`` of ``(x, y)`` batches, decoding each batch of ``x`` when needed.

    Args:
        x: a streamed split (``LazyImages``) or an array.
        y: the labels, in memory.
        batch_size: samples per batch (the last batch may be shorter).
        shuffle: reshuffle the order every epoch (seeded by TensorFlow's global seed).
        failures: a list that receives the ``DataError`` of a batch that failed to decode.
    """
    from compress import _tf

    tf = _tf.tf
    n = len(x)
    labels = tf.constant(np.asarray(y))
    sample_shape = tuple(x.shape[1:])
    lock = threading.Lock()  # decoders run in tf.data's threads; keep the order of errors

    def decode(indices: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(x[indices], np.float32)
        except DataError as exc:
            with lock:
                if failures is not None:
                    failures.append(exc)
            raise

    def load(indices):
        images = tf.numpy_function(decode, [indices], tf.float32, stateful=False)
        images.set_shape((None, *sample_shape))
        return images, tf.gather(labels, indices)

    order = tf.data.Dataset.range(n)
    if shuffle:
        order = order.shuffle(n, reshuffle_each_iteration=True)
    return (order.batch(batch_size)
            .map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(2))
