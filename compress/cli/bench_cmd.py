"""``edgecompress bench``: run a run's artifacts on a device over ssh (or on this host)."""

from __future__ import annotations

import click

from compress.cli.options import emit_json, json_option


@click.command("bench")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--target", "-t", required=True,
              help="Device profile id (see `edgecompress targets`) or a profile .yaml.")
@click.option("--remote", default=None, metavar="USER@HOST",
              help="Device to measure on over ssh (default: this host, `measured-on-host`).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="ssh port.")
@click.option("--identity", "-i", type=click.Path(dir_okay=False), default=None,
              help="ssh private key.")
@click.option("--ssh-option", "ssh_options", multiple=True, metavar="OPT",
              help="Extra `ssh -o` option, e.g. StrictHostKeyChecking=accept-new (repeatable).")
@click.option("--remote-python", default="python3", show_default=True,
              help="Python on the device that has numpy and ai-edge-litert/tflite-runtime.")
@click.option("--connect-timeout", type=click.IntRange(min=1), default=10, show_default=True,
              help="Seconds before an ssh connection attempt gives up.")
@click.option("--runs", type=click.IntRange(min=1), default=200, show_default=True,
              help="Timed runs per artifact.")
@click.option("--warmup", type=click.IntRange(min=0), default=20, show_default=True,
              help="Untimed runs first.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Interpreter threads (default: the profile's).")
@click.option("--artifact", "artifacts", multiple=True,
              help="Only this artifact (repeatable; default: every one the device takes).")
@click.option("--samples", type=click.IntRange(min=1), default=300, show_default=True,
              help="Labelled test samples for accuracy on the device.")
@click.option("--data", default=None, help="Dataset of the samples (default: the run's).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Folder with Fashion-MNIST IDX files (for --data fashion-mnist).")
@click.option("--emulated", is_flag=True,
              help="The device is emulated (qemu): results are labelled `emulated`, never "
                   "device latency or energy (the runner also detects qemu-user by itself).")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@json_option
def command(run_dir, target, remote, port, identity, ssh_options, remote_python,
            connect_timeout, runs, warmup, threads, artifacts, samples, data, data_dir, emulated,
            quiet, as_json):
    """Benchmark RUN_DIR's artifacts for a device and store the results in the run.

    With --remote, the bundle is copied over ssh/scp (no password prompts: use a key) and
    run there; without it, the same runner runs on this host. Results go to
    RUN_DIR/measurements/<target>/<artifact>.json. Timings under emulation (qemu) are
    labelled `emulated` and never reported as the device's latency or used for energy.

    \b
    Example:
      edgecompress bench run1 --target rpi4 --remote pi@raspberrypi.local
    """
    from compress.cli.options import make_progress
    from compress.devices.remote import bench, render_table

    records = bench(run_dir, target, remote=remote, port=port, identity=identity,
                    ssh_options=ssh_options, remote_python=remote_python,
                    connect_timeout=connect_timeout, warmup=warmup, runs=runs, threads=threads,
                    artifacts=artifacts, samples=samples, data=data, data_dir=data_dir,
                    emulated=emulated, progress=make_progress(as_json, quiet))
    if as_json:
        emit_json(records)
    else:
        click.echo(render_table(records, run_dir))
