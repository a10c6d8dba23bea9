"""``edgecompress convert``: one model to one .tflite format (post-training quantization)."""

from __future__ import annotations

import click

from compress.cli.options import FORMAT_CHOICES, emit_json, json_option, trust_option


@click.command("convert")
@click.argument("model")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMAT_CHOICES), default="float32",
              show_default=True, help="TFLite format.")
@click.option("--io-dtype", type=click.Choice(["int8", "uint8"]), default=None,
              help="Input/output dtype for --format int8 (default int8).")
@click.option("--data", default="fashion-mnist", show_default=True,
              help="Dataset for calibration samples (int8, int16x8).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Folder with Fashion-MNIST IDX files.")
@click.option("--calibration-samples", type=click.IntRange(min=1), default=200,
              show_default=True, help="Representative samples for integer formats.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="Where to write the .tflite file.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@trust_option
@json_option
def command(model, fmt, io_dtype, data, data_dir, calibration_samples, output, overwrite,
            as_json,
            trust_model_code):
    """Convert MODEL to a .tflite file.

    \b
    Example:
      edgecompress convert model.keras --format int8 --data fashion-mnist -o model_int8.tflite
    """
    from compress.artifacts.files import convert_file

    info = convert_file(model, trust_model_code=trust_model_code, fmt=fmt,
                        io_dtype=io_dtype, data=data, data_dir=data_dir,
                        calibration_samples=calibration_samples, output=output,
                        overwrite=overwrite)
    if as_json:
        emit_json(info)
    else:
        click.echo(f"wrote {info['path']} ({info['format']}, {info['size_bytes']} bytes)")
