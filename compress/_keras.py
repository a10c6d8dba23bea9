"""tf_keras and tfmot, for the tfmot engine (TensorFlow itself comes from ``compress._tf``).

tfmot 0.8.1 works only with tf_keras (Keras 2) models. Since TensorFlow 2.16 the default
``tf.keras`` is Keras 3, so ``compress._tf`` selects tf_keras *before* TensorFlow is imported
(``TF_USE_LEGACY_KERAS=1``). Everything else in ``compress`` imports these through here, and
only inside functions reached by commands that need them, so ``edgecompress --help`` stays
fast and the keras3 engine's path never imports them.
"""

from __future__ import annotations

import warnings

from compress._tf import (gpu_devices, is_keras3_model, quiet_native_stderr,  # noqa: F401
                          tf, versions)

from targets.errors import CompressError, ModelLoadError  # noqa: E402

try:
    with quiet_native_stderr():
        import tf_keras as keras  # noqa: E402

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import tensorflow_model_optimization as tfmot  # noqa: E402
except ImportError as exc:
    raise CompressError(
        f"this needs the tfmot engine (tf_keras models, the Keras 3 bridge, distillation), "
        f"which is not installed. Received: {exc}",
        hint="pip install 'edgecompress[tfmot]', or run Keras 3 models with engine: keras3"
    ) from None


EXPECTED_VERSIONS = {"tensorflow": "2.21", "tf_keras": "2.21", "tfmot": "0.8"}


def is_tf_keras_model(obj: object) -> bool:
    """True for a tf_keras (Keras 2) model, the only kind tfmot accepts."""
    return isinstance(obj, keras.Model)


def require_tf_keras(model: object, *, what: str = "model") -> None:
    """Raise a clear error unless ``model`` is a tf_keras model."""
    if is_tf_keras_model(model):
        return
    if is_keras3_model(model):
        raise ModelLoadError(
            f"The {what} is a Keras 3 model ({type(model).__module__}.{type(model).__name__}); "
            "this step trains tf_keras (Keras 2) models because tfmot supports only those.",
            hint="set `engine: keras3` in the recipe to train it as it is, or bridge it first: "
            "`model, check = compress.models.keras3.to_tf_keras(model)`, then compile the "
            "returned model with string names or tf_keras objects (compress.compress_model and "
            "`edgecompress run` bridge Keras 3 models themselves)",
        )
    raise ModelLoadError(
        f"Expected a tf_keras Model for the {what}. Received: {type(model).__name__}",
        hint="Pass a Keras model (tf_keras.Model) or a path to a saved model.",
    )


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow for a reproducible run."""
    keras.utils.set_random_seed(seed)


__all__ = ["tf", "keras", "tfmot", "versions", "is_tf_keras_model", "is_keras3_model",
           "require_tf_keras", "gpu_devices", "set_seed"]


def output_quantize_config():
    """tfmot's config that quantizes a layer's output only (not public API in tfmot 0.8.1)."""
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_configs as configs,
    )

    return configs.Default8BitOutputQuantizeConfig()


def quantize_registry():
    """tfmot's default 8-bit registry: ``supports(layer)`` says whether QAT knows a layer."""
    return tfmot.quantization.keras.default_8bit.Default8BitQuantizeRegistry()
