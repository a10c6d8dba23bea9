"""The benchmarks' baseline: the Keras 3 foundation CNN trained the same way everywhere.

``train_keras3_cnn(data, epochs, seed=0, x=None, y=None)`` builds ``compress.zoo.fashion_cnn``
with Keras 3, trains it with Adam 1e-3 and batch 128 (on ``x``/``y`` when given, e.g. the
training split minus held-out samples) and returns ``(model, seconds)``.
"""

from __future__ import annotations

import time
from typing import Any


def train_keras3_cnn(data: Any, epochs: int, *, seed: int = 0, x: Any = None,
                     y: Any = None) -> tuple[Any, float]:
    import keras

    from compress import zoo

    keras.utils.set_random_seed(seed)
    model = zoo.fashion_cnn(data.x_train.shape[1:], data.num_classes, keras=keras)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    start = time.perf_counter()
    model.fit(data.x_train if x is None else x, data.y_train if y is None else y,
              epochs=epochs, batch_size=128, verbose=0)
    return model, time.perf_counter() - start
