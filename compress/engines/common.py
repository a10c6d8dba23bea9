"""What both engines do the same way, given their Keras module (tf_keras or Keras 3):
compile, fit, the callback adapter that drives the session's hooks, the strategy-scope check.
"""

from __future__ import annotations

from typing import Any

from compress.errors import CompressError


def compile_model(keras: Any, model: Any, *, learning_rate: float, probabilities: bool) -> None:
    """Adam, sparse categorical cross-entropy (on logits unless ``probabilities``), accuracy."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities),
                  metrics=["accuracy"])


def fit(model: Any, x: Any, y: Any, **kwargs: Any) -> dict[str, list[float]]:
    """``model.fit`` (a streamed image folder trains through tf.data); the history."""
    from compress.run.feed import fit_model

    history = fit_model(model, x, y, **kwargs)
    return {k: list(map(float, v)) for k, v in history.history.items()}


def check_strategy_scope(model: Any, *, strategy_attr: str, what: str) -> None:
    """A model built under a tf.distribute strategy must be prepared inside its scope."""
    from compress._tf import tf

    strategy = getattr(model, strategy_attr, None)
    if strategy is not None and not tf.distribute.has_strategy():
        raise CompressError(
            f"session.prepare() was called outside the scope of the model's "
            f"{type(strategy).__name__}: {what} would not be mirrored",
            hint="call it inside `with strategy.scope():` (where the model was built)")


_CALLBACK_CLASSES: dict[int, type] = {}


def hook_callback(keras: Any, hooks: Any) -> Any:
    """A ``keras.callbacks.Callback`` forwarding ``fit``'s events to ``hooks`` (the session's
    driver: ``set_model``, ``on_train_begin(total_steps)``, ``on_batch_begin``,
    ``on_epoch_end``). ``on_train_batch_begin`` stays Keras' default for drivers with no
    per-step work (``hooks.on_batch_begin is None``): overriding it disables async dispatch."""
    if id(keras) not in _CALLBACK_CLASSES:
        class HookCallback(keras.callbacks.Callback):
            def __init__(self, driver: Any) -> None:
                super().__init__()
                self.hooks = driver
                if getattr(driver, "on_batch_begin", None) is None:
                    self.on_train_batch_begin = super().on_train_batch_begin

            def set_model(self, model):
                super().set_model(model)
                self.hooks.set_model(model)

            def on_train_begin(self, logs=None):
                epochs = int(self.params.get("epochs") or 1)
                steps = int(self.params.get("steps") or 1)
                self.hooks.on_train_begin(epochs * steps, logs)

            def on_train_batch_begin(self, batch, logs=None):
                self.hooks.on_batch_begin(batch, logs)

            def on_epoch_end(self, epoch, logs=None):
                self.hooks.on_epoch_end(epoch, logs)

        _CALLBACK_CLASSES[id(keras)] = HookCallback
    return _CALLBACK_CLASSES[id(keras)](hooks)


class Distillation:
    """The distillation methods both engines share: one ``compress.engines.distiller`` serves
    tf_keras and Keras 3 models (it takes the Keras module from the models it is given).
    An engine adds ``load_student`` (how it loads a user's student) and its ``keras``."""

    def distiller(self, student: Any, teacher: Any, **kwargs: Any) -> Any:
        from compress.engines.distiller import make_distiller

        return make_distiller(student, teacher, **kwargs)

    def unwrap_distiller(self, model: Any) -> tuple[Any, Any]:
        """``(student, distiller)`` of a ``Distiller``; ``(model, None)`` for any other model."""
        from compress.engines.distiller import is_distiller

        return (model.student, model) if is_distiller(model) else (model, None)

    def width_student(self, teacher: Any, width: float) -> tuple[Any, dict]:
        """A fresh student ``width`` times as wide as the teacher, and its scaled layers."""
        from compress.engines.distiller import scale_width

        student = scale_width(teacher, width)
        return student, getattr(student, "_edgecompress_scaled", {})

    def float32_macs(self, model: Any) -> int | None:
        from compress.engines.distiller import float32_macs

        return float32_macs(model)

    def cosine_decay(self, epochs: int) -> Any:
        """Scales the compiled learning rate by ``0.5 * (1 + cos(pi * epoch / epochs))``."""
        import math

        import numpy as np

        class CosineDecay(self.keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.base = float(np.asarray(self.model.optimizer.learning_rate))

            def on_epoch_begin(self, epoch, logs=None):
                factor = 0.5 * (1 + math.cos(math.pi * min(epoch, epochs) / epochs))
                self.model.optimizer.learning_rate.assign(self.base * factor)

            def on_train_end(self, logs=None):
                self.model.optimizer.learning_rate.assign(self.base)

        return CosineDecay()
