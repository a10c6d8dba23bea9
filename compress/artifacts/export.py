"""Keras -> .tflite for a target spec (float32, float16, dynamic, int8, int16x8, int4).

Integer formats use the representative samples drawn once per run. A QAT model is exported
to integer formats directly (its fake-quant ranges become the tensor scales); float formats
are exported from the float model.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from typing import Any

import numpy as np

from compress import _tf
from compress.errors import ConversionError, DataError
from compress.recipe import TargetSpec

tf = _tf.tf

_TF_DTYPES = {"int8": "int8", "uint8": "uint8", "float32": "float32"}


def needs_calibration(spec: TargetSpec) -> bool:
    """True for formats that need representative samples."""
    return spec.format in ("int8", "int16x8", "int4", "mixed")


def convert(model: Any, spec: TargetSpec, *, representative: np.ndarray | None = None) -> bytes:
    """Convert a tf_keras model to TFLite bytes for ``spec``.

    Args:
        model: the tf_keras model (a QAT model for integer formats after a qat stage).
        spec: format and I/O dtype.
        representative: calibration inputs, shape (N, *input_shape); needed for int8/int16x8.

    Raises:
        ConversionError: the converter failed (its first error line is included).
        DataError: calibration samples are missing or do not fit the model input.
    """
    from compress.artifacts.keras3_export import int8_friendly

    # Keras 3 layers whose usual graph has an op without an int8 kernel are traced in an
    # equivalent form (LayerNormalization's NEG would stay float in an int8 file)
    with int8_friendly(model):
        return _convert(model, spec, representative)


def _convert(model: Any, spec: TargetSpec, representative: np.ndarray | None) -> bytes:
    if spec.format in ("int4", "mixed"):  # the LiteRT quantizer, from the float32 file
        return _sub8bit(model, spec, representative)
    with tempfile.TemporaryDirectory(prefix="edgecompress-export-") as workdir:
        converter = _converter(model, static_batch=spec.static_batch, workdir=workdir)
        return _run_converter(converter, model, spec, representative)


def _run_converter(converter: Any, model: Any, spec: TargetSpec,
                   representative: np.ndarray | None) -> bytes:
    fmt = spec.format
    if fmt != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if fmt == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if needs_calibration(spec):
        if representative is None or len(representative) == 0:
            raise DataError(f"format {fmt} needs representative samples for calibration. "
                            "Received: none", hint="pass training data (--data)")
        inputs = getattr(model, "inputs", None)  # a subclassed Keras 3 model declares none
        expected = tuple(inputs[0].shape[1:]) if inputs else tuple(representative.shape[1:])
        if tuple(representative.shape[1:]) != expected:
            raise DataError(
                f"calibration samples do not fit the model input. Received sample shape "
                f"{tuple(representative.shape[1:])}, model expects {expected}")
        samples = representative.astype(np.float32)

        def gen():
            for i in range(len(samples)):
                yield [samples[i:i + 1]]

        converter.representative_dataset = gen
    if fmt == "int8":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io_dtype = getattr(tf, _TF_DTYPES[spec.effective_io_dtype])
        converter.inference_input_type = io_dtype
        converter.inference_output_type = io_dtype
    elif fmt == "int16x8":
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    try:
        # Keras 3's export (under from_keras_model) prints its endpoints to stdout: not ours
        with _tf.quiet_native_stderr(), contextlib.redirect_stdout(io.StringIO()):
            return bytes(converter.convert())
    except Exception as exc:  # the converter raises ConverterError and friends
        first = next((ln for ln in str(exc).splitlines() if "error" in ln.lower()),
                     str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        hint = None
        if fmt == "int8":
            hint = ("full-integer int8 needs every op to have an int8 kernel; try `dynamic` or "
                    "`float16`, or replace the op named above")
        raise ConversionError(f"TFLite conversion to {fmt} failed: {first.strip()[:400]}",
                              hint=hint) from None


def _sub8bit(model: Any, spec: TargetSpec, representative: np.ndarray | None) -> bytes:
    from compress.artifacts import quantizer

    if spec.format == "mixed":
        raise ConversionError("format mixed measures each layer's precision on labelled "
                              "held-out training samples, which a plain conversion does not "
                              "have. Received: format=mixed",
                              hint="use mixed as a recipe target (edgecompress run), or "
                                   "--format int4")
    float_blob = convert(model, TargetSpec("float32", static_batch=spec.static_batch))
    return quantizer.int4_file(float_blob, representative,
                               layer_names=quantizer.kernel_layer_names(model))


def _converter(model: Any, *, static_batch: bool, workdir: str) -> Any:
    """A TFLite converter; with ``static_batch`` every input has batch 1 (no -1 dims).

    ``workdir``: an empty folder that lives until the conversion ends (a Keras 3 model with
    static shapes is converted from a SavedModel written there).
    """
    if not static_batch:
        return tf.lite.TFLiteConverter.from_keras_model(model)
    if not getattr(model, "inputs", None):
        raise ConversionError(
            f"static shapes are required for this target, but {type(model).__name__} is a "
            "subclassed model with no declared input",
            hint="build the model with the Functional API (keras.Input(shape=(H, W, C)))")
    specs = [tf.TensorSpec([1, *t.shape[1:]], t.dtype, name=t.name.split(":")[0])
             for t in model.inputs]
    if any(d is None for spec in specs for d in spec.shape):
        raise ConversionError(
            f"static shapes are required for this target, but the model input has unknown "
            f"dimensions. Received: {[tuple(t.shape) for t in model.inputs]}",
            hint="give the model a fixed input size (keras.Input(shape=(H, W, C)))")
    if _tf.is_keras3_model(model):
        return _keras3_static_converter(model, specs, workdir)
    fn = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False))
    concrete = fn.get_concrete_function(*specs)
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)


def _keras3_static_converter(model: Any, specs: list, workdir: str) -> Any:
    """A Keras 3 model with batch-1 inputs, through a SavedModel (as ``from_keras_model``
    converts Keras 3 models): a concrete function over it keeps its weights as resource
    variables (``READ_VARIABLE`` in the file: NaN outputs, and int8 calibration fails)."""
    import functools

    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", functools.partial(model.__call__, training=False),
                         [specs] if len(specs) > 1 else specs)
    with _tf.quiet_native_stderr(), contextlib.redirect_stdout(io.StringIO()):
        archive.write_out(workdir)
    return tf.lite.TFLiteConverter.from_saved_model(workdir)
