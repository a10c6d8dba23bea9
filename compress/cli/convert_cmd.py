"""``edgecompress convert``: one model to one .tflite file for a format or a device
(post-training quantization)."""

from __future__ import annotations

import click

from compress.cli.options import FORMAT_CHOICES, emit_json, json_option, trust_option


@click.command("convert")
@click.argument("model")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMAT_CHOICES), default=None,
              help="TFLite format [default: float32; with --target, the device's].")
@click.option("--target", "-t", default=None, metavar="ID",
              help="Device profile id (`edgecompress targets`) or a profile .yaml: the artifact "
                   "that device needs, as a recipe's `targets: [ID]` gives it. A --format it "
                   "does not run is refused.")
@click.option("--io-dtype", type=click.Choice(["int8", "uint8"]), default=None,
              help="Input/output dtype for --format int8 (default int8; a --target sets it).")
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
def command(model, fmt, target, io_dtype, data, data_dir, calibration_samples, output, overwrite,
            as_json,
            trust_model_code):
    """Convert MODEL to a .tflite file, in a format or for a device profile.

    \b
    Example:
      edgecompress convert model.keras --format int8 --data fashion-mnist -o model_int8.tflite
      edgecompress convert model.keras --target coral-usb -o model_coral.tflite
    """
    from compress.artifacts.files import convert_file

    info = convert_file(model, trust_model_code=trust_model_code, fmt=fmt,
                        target=target, io_dtype=io_dtype, data=data, data_dir=data_dir,
                        calibration_samples=calibration_samples, output=output,
                        overwrite=overwrite)
    if as_json:
        emit_json(info)
    else:
        what = info["format"] + (f" for {info['target']}" if info["target"] else "")
        click.echo(f"wrote {info['path']} ({what}, {info['size_bytes']} bytes)")
