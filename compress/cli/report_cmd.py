"""``edgecompress report``: recompute device and energy figures, rewrite the report files."""

from __future__ import annotations

import click

from compress.cli.options import emit_json, json_option


@click.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--target", "-t", "targets", multiple=True, metavar="PROFILE",
              help="Device profile id or .yaml file for the devices table (repeatable; "
                   "default: the devices the recipe names, else every built-in profile).")
@click.option("--no-measure", is_flag=True,
              help="Do not measure host energy with RAPL even when its counters are readable.")
@click.option("--open", "open_browser", is_flag=True, help="Open report.html in a web browser.")
@json_option
def command(run_dir, targets, no_measure, open_browser, as_json):
    """Regenerate RUN_DIR's report.json (devices, energy), report.md and report.html.

    Every energy figure says how it was obtained (measured-meter, measured-rapl,
    measured-nvml, estimated-profile, estimated-ops). Measurements in
    RUN_DIR/measurements/<target>/<artifact>.json replace the estimates they cover.

    \b
    Example:
      edgecompress report run1 --open
      edgecompress report run1 --target rpi4 --target coral-usb --json
    """
    from pathlib import Path

    from compress.report.files import refresh_report
    from compress.report.markdown import render_devices_markdown

    report = refresh_report(run_dir, targets=list(targets) or None, measure=not no_measure)
    html = Path(run_dir).resolve() / "report.html"
    if as_json:
        emit_json(report)
    else:
        click.echo(render_devices_markdown(report))
        click.echo(f"wrote {html.parent / 'report.json'}, report.md, report.html")
    if open_browser:
        import webbrowser

        webbrowser.open(html.as_uri())
