"""``edgecompress compare``: two run folders side by side, artifact by artifact."""

from __future__ import annotations

import click

from compress.cli.options import emit_json, json_option


@click.command("compare")
@click.argument("run_a", type=click.Path(exists=True, file_okay=False))
@click.argument("run_b", type=click.Path(exists=True, file_okay=False))
@json_option
def command(run_a, run_b, as_json):
    """Compare RUN_A and RUN_B: accuracy, size, gzip, host latency and energy, with deltas.

    Deltas are B vs A. Energy is compared only where both runs have a figure of the same
    method (an estimate is not compared with a measurement).

    \b
    Example:
      edgecompress compare run-prune50 run-max-compression
      edgecompress compare run1 run2 --json
    """
    from compress.report.compare import compare_reports, render_comparison

    data = compare_reports(run_a, run_b)
    if as_json:
        emit_json(data)
    else:
        click.echo(render_comparison(data), nl=False)
