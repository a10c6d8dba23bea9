"""``edgecompress inspect``: what is inside a .tflite file, and whether it suits a device."""

from __future__ import annotations

import click

from compress.cli.options import emit_json, json_option


@click.command("inspect")
@click.argument("tflite", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("--keras", "keras_file", is_flag=True,
              help="FILE is a Keras model (.keras/.h5): say whether the Keras 3 bridge "
                   "translates it, layer by layer, and list the supported layers. Reads the "
                   "stored config only (no code from the file runs).")
@click.option("--target", "-t", default=None, metavar="ID",
              help="Check the file against a device profile (`edgecompress targets` lists "
                   "them). For coral-* targets: which ops the Edge TPU compiler maps and where "
                   "it splits the graph; runs edgetpu_compiler when it is on PATH.")
@click.option("--no-compile", is_flag=True,
              help="Do not run edgetpu_compiler even when it is installed (static prediction).")
@click.option("--compiler-out", type=click.Path(file_okay=False), default=None,
              help="Folder for edgetpu_compiler's <name>_edgetpu.tflite and .log "
                   "(default: next to TFLITE).")
@json_option
def command(tflite, keras_file, target, no_compile, compiler_out, as_json):
    """Show ops with counts, tensor dtypes, quantization, sizes and weight sparsity of FILE.

    With --target, also check it against that device: format, I/O dtypes, static shapes and
    custom ops; for an Edge TPU target, the ops mapped to the Edge TPU (the compiler splits
    the graph once, at the first op it cannot map), the first unmapped op and whether the
    parameters fit the on-chip cache. A float model for an Edge TPU target is an error.

    \b
    Example:
      edgecompress inspect run1/artifacts/int8.tflite --json
      edgecompress inspect model_int8.tflite --target coral-usb
      edgecompress inspect --keras my_keras3_model.keras
    """
    if keras_file:
        if target or no_compile or compiler_out:
            raise click.UsageError("--keras inspects a Keras model file; --target, "
                                   "--no-compile and --compiler-out apply to .tflite files")
        from compress.models.keras3 import inspect_keras, render_inspect_keras

        info = inspect_keras(tflite)
        if as_json:
            emit_json(info)
        else:
            click.echo(render_inspect_keras(info))
        return
    from compress.artifacts.inspect import inspect_file, render_inspect

    info = inspect_file(tflite, target=target, use_compiler=not no_compile,
                        compiler_out=compiler_out)
    if as_json:
        emit_json(info)
    else:
        click.echo(render_inspect(info))
