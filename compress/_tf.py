"""TensorFlow for the whole package: imported once, quietly, with the environment set first.

``TF_USE_LEGACY_KERAS=1`` is written before TensorFlow loads (the tfmot engine needs
``tf.keras`` to be tf_keras; nothing else here reads ``tf.keras``), and TensorFlow's C++
INFO/WARNING lines are hidden. That environment write is the one allowed import-time side
effect. This module imports neither tf_keras nor tfmot: the keras3 engine's path (export,
evaluation, training feed) needs TensorFlow only; ``compress._keras`` adds tf_keras and tfmot
for the tfmot engine.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ INFO/WARNING lines drown our output; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import contextlib  # noqa: E402
import sys  # noqa: E402


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

    tf.config.list_physical_devices("GPU")  # CUDA is probed here: keep its noise hidden too

tf.get_logger().setLevel("ERROR")


def gpu_devices() -> list[str]:
    """Names of the GPUs TensorFlow sees (empty on CPU-only hosts)."""
    return [d.name for d in tf.config.list_physical_devices("GPU")]


def versions() -> dict[str, str]:
    """Versions of the ML stack, for reports (read from the installed packages, so asking
    does not import tf_keras or tfmot)."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str, fallback: str = "not installed") -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return fallback

    return {"tensorflow": tf.__version__, "tf_keras": installed("tf-keras"),
            "tfmot": installed("tensorflow-model-optimization"),
            "litert": installed("ai-edge-litert", "unknown")}


def is_keras3_model(obj: object) -> bool:
    """True for a Keras 3 model (subclasses included). A Keras 3 model exists only once
    ``keras`` is imported, and a tf_keras one only once ``tf_keras`` is: neither is imported
    here."""
    tf_keras_model = getattr(sys.modules.get("tf_keras"), "Model", None)
    if isinstance(tf_keras_model, type) and isinstance(obj, tf_keras_model):
        return False
    model_class = getattr(sys.modules.get("keras"), "Model", None)
    if isinstance(model_class, type) and isinstance(obj, model_class):
        return True
    return type(obj).__module__.startswith("keras.")


__all__ = ["tf", "quiet_native_stderr", "gpu_devices", "versions", "is_keras3_model"]
