"""The baseline models edgecompress trains itself (the demo and the benchmarks)."""

from __future__ import annotations

from typing import Any


def fashion_cnn(input_shape: tuple[int, ...] = (28, 28, 1), num_classes: int = 10,
                *, width: int = 32, dense_units: int = 128, keras: Any = None) -> Any:
    """A small CNN for 28x28 grey images: ~422k params, ~4.2M MACs per image.

    Two Conv-BN-ReLU-MaxPool blocks (width, 2*width filters), Dropout, Dense, logits.
    Conv+BN pairs have no activation in between so tfmot's QAT folds them; BN momentum 0.9
    keeps evaluation statistics sound even after few steps (small data, tests).

    Args:
        keras: the Keras module to build it with (default tf_keras; ``import keras`` for a
            Keras 3 model).
    """
    if keras is None:
        from compress._keras import keras

    layers = keras.layers
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i, filters in enumerate((width, width * 2)):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i + 1}")(x)
        x = layers.ReLU(name=f"relu{i + 1}")(x)
        x = layers.MaxPooling2D(name=f"pool{i + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    x = layers.Dense(dense_units, activation="relu", name="fc1")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="fashion_cnn")


def train_baseline(model: Any, x: Any, y: Any, *, epochs: int, batch_size: int = 128,
                   learning_rate: float = 1e-3, seed: int = 0, callbacks: list | None = None,
                   validation_data: Any = None, verbose: int = 0) -> Any:
    """Train a baseline classifier (logits output) with Adam; returns the Keras History."""
    from compress import _keras

    _keras.set_seed(seed)
    keras = _keras.keras
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=verbose,
                     callbacks=callbacks or [], validation_data=validation_data)
