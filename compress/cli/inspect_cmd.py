"""``edgecompress inspect``: what is inside a .tflite file."""

from __future__ import annotations

import click

from compress.cli.options import emit_json, json_option


@click.command("inspect")
@click.argument("tflite", type=click.Path(dir_okay=False))
@json_option
def command(tflite, as_json):
    """Show ops with counts, tensor dtypes, quantization, sizes and weight sparsity of TFLITE.

    \b
    Example:
      edgecompress inspect run1/artifacts/int8.tflite --json
    """
    from compress.inspect import inspect_file, render_inspect

    info = inspect_file(tflite)
    if as_json:
        emit_json(info)
    else:
        click.echo(render_inspect(info))
