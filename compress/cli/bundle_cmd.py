"""``edgecompress bundle``: a folder to copy to a device that benchmarks a run's artifacts."""

from __future__ import annotations

import click

from compress.cli.options import emit_json, json_option


@click.command("bundle")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--target", "-t", required=True,
              help="Device profile id (see `edgecompress targets`) or a profile .yaml.")
@click.option("--out", "-o", "out", required=True, type=click.Path(file_okay=False),
              help="Bundle folder (refused if not empty, unless --overwrite).")
@click.option("--overwrite", is_flag=True, help="Replace an existing bundle folder.")
@click.option("--artifact", "artifacts", multiple=True,
              help="Only this artifact (repeatable; default: every one the device takes).")
@click.option("--samples", type=click.IntRange(min=1), default=300, show_default=True,
              help="Labelled test samples to include (for accuracy on the device).")
@click.option("--data", default=None,
              help="Dataset of the samples (default: the one the run's report records).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Folder with Fashion-MNIST IDX files (for --data fashion-mnist).")
@json_option
def command(run_dir, target, out, overwrite, artifacts, samples, data, data_dir, as_json):
    """Write a self-contained benchmark folder for RUN_DIR's artifacts on a device.

    The folder holds the artifacts the device can run, runner.py, samples.npz, run.sh and a
    README with the device's install line; copy it to the device and run `sh run.sh`.

    \b
    Example:
      edgecompress bundle run1 --target rpi4 -o rpi4-bundle
    """
    from compress.devices.bundle import build_bundle

    bundle = build_bundle(run_dir, target, out_dir=out, overwrite=overwrite, samples=samples,
                          artifacts=artifacts, data=data, data_dir=data_dir)
    if as_json:
        emit_json({"path": str(bundle.path), **bundle.manifest})
        return
    click.echo(f"wrote {bundle.path}/ for {bundle.target}: {', '.join(bundle.artifacts)} "
               f"+ runner.py, samples.npz ({bundle.manifest['samples']['count']}), run.sh")
    click.echo(f"copy it to the device, then: {bundle.manifest['runtime']['install']}")
    click.echo("and: sh run.sh   (results in results/<artifact>.json)")
