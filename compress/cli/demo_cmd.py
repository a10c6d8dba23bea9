"""``edgecompress demo``: train a small CNN on the bundled data and compress it."""

from __future__ import annotations

import click

from compress.cli.options import emit_result, json_option, make_progress


@click.command("demo")
@click.option("--out", "-o", "out", default="demo-run", show_default=True,
              type=click.Path(file_okay=False), help="Output folder.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Baseline training epochs (default: the demo's).")
@click.option("--data", default="fashion-mnist-subset", show_default=True,
              help="Dataset for the demo (the bundled subset by default).")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@click.option("--verbose", "-v", is_flag=True,
              help="Print the full report (report.md) instead of the summary.")
@json_option
def command(out, overwrite, epochs, data, quiet, verbose, as_json):
    """Train a baseline CNN, run the built-in prune50-qat-int8 recipe, write the report.

    \b
    Example:
      edgecompress demo --out demo-run --overwrite
    """
    from compress.demo import run_demo

    result = run_demo(out_dir=out, overwrite=overwrite, epochs=epochs, data=data,
                      progress=make_progress(as_json, quiet))
    emit_result(result, as_json=as_json, verbose=verbose)
