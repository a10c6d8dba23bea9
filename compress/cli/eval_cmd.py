"""``edgecompress eval``: accuracy and host latency of a .tflite or Keras model."""

from __future__ import annotations

import click

from compress.cli.options import data_options, emit_json, json_option, trust_option


@click.command("eval")
@click.argument("model")
@data_options
@click.option("--runs", type=click.IntRange(min=1), default=100, show_default=True,
              help="Timed runs for latency.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Interpreter threads.")
@trust_option
@json_option
def command(model, data, data_dir, train_samples, test_samples, runs, threads, as_json,
            trust_model_code):
    """Evaluate MODEL (.tflite or Keras) on the test split of --data.

    \b
    Example:
      edgecompress eval run1/artifacts/int8.tflite --data fashion-mnist
    """
    from compress.artifacts.files import evaluate_file

    info = evaluate_file(model, trust_model_code=trust_model_code, data=data,
                        data_dir=data_dir, test_samples=test_samples,
                         runs=runs, threads=threads)
    if as_json:
        emit_json(info)
    else:
        lat = info["latency_ms"]
        click.echo(f"{info['model']}: accuracy {100 * info['accuracy']:.2f} % on "
                   f"{info['samples']} samples ({info['data']}); latency p50 {lat['p50']:.3f} "
                   f"ms, p90 {lat['p90']:.3f} ms; size {info['size_bytes']} bytes")
