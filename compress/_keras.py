"""The one module that imports TensorFlow, tf_keras and tfmot.

tfmot 0.8.1 works only with tf_keras (Keras 2) models. Since TensorFlow 2.16 the default
``tf.keras`` is Keras 3, so we select tf_keras *before* TensorFlow is imported
(``TF_USE_LEGACY_KERAS=1``); that environment write is the one allowed import-time side
effect in the package. Everything else in ``compress`` imports TensorFlow through here,
and only inside functions reached by commands that need it, so ``edgecompress --help``
stays fast.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ INFO/WARNING lines drown our output; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import contextlib  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402


@contextlib.contextmanager
def quiet_native_stderr():
    """Hide the C++ start-up chatter (CUDA probing on GPU-less hosts) unless debugging."""
    if os.environ.get("EDGECOMPRESS_DEBUG"):
        yield
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(fd), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    try:
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


with quiet_native_stderr():
    import tensorflow as tf  # noqa: E402
    import tf_keras as keras  # noqa: E402

    tf.config.list_physical_devices("GPU")  # CUDA is probed here: keep its noise hidden too

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import tensorflow_model_optimization as tfmot  # noqa: E402

from targets.errors import ModelLoadError  # noqa: E402

tf.get_logger().setLevel("ERROR")

EXPECTED_VERSIONS = {"tensorflow": "2.21", "tf_keras": "2.21", "tfmot": "0.8"}


def versions() -> dict[str, str]:
    """Versions of the ML stack, for reports and error messages."""
    try:
        from importlib.metadata import version

        litert = version("ai-edge-litert")
    except Exception:  # the interpreter may be tflite-runtime instead
        litert = "unknown"
    return {
        "tensorflow": tf.__version__,
        "tf_keras": keras.__version__,
        "tfmot": getattr(tfmot, "__version__", "0.8.1"),
        "litert": litert,
    }


def is_tf_keras_model(obj: object) -> bool:
    """True for a tf_keras (Keras 2) model, the only kind tfmot accepts."""
    return isinstance(obj, keras.Model)


def is_keras3_model(obj: object) -> bool:
    """True for a Keras 3 model (subclasses included), without importing Keras 3 (a Keras 3
    model exists only once ``keras`` is imported)."""
    if is_tf_keras_model(obj):
        return False
    model_class = getattr(sys.modules.get("keras"), "Model", None)
    if isinstance(model_class, type) and isinstance(obj, model_class):
        return True
    return type(obj).__module__.startswith("keras.")


def require_tf_keras(model: object, *, what: str = "model") -> None:
    """Raise a clear error unless ``model`` is a tf_keras model."""
    if is_tf_keras_model(model):
        return
    if is_keras3_model(model):
        raise ModelLoadError(
            f"The {what} is a Keras 3 model ({type(model).__module__}.{type(model).__name__}); "
            "this step trains tf_keras (Keras 2) models because tfmot supports only those.",
            hint="bridge it first: `model, check = compress.models.keras3.to_tf_keras(model)`, then "
            "compile the returned model with string names or tf_keras objects "
            "(compress.compress_model and `edgecompress run` bridge Keras 3 models themselves)",
        )
    raise ModelLoadError(
        f"Expected a tf_keras Model for the {what}. Received: {type(model).__name__}",
        hint="Pass a Keras model (tf_keras.Model) or a path to a saved model.",
    )


def gpu_devices() -> list[str]:
    """Names of the GPUs TensorFlow sees (empty on CPU-only hosts)."""
    return [d.name for d in tf.config.list_physical_devices("GPU")]


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
