"""``edgecompress sensitivity``: how much accuracy each layer loses when compressed alone."""

from __future__ import annotations

import click

from compress.cli.options import emit_json, json_option, make_progress, trust_option

KINDS = ("channels", "precision")


@click.command("sensitivity")
@click.argument("model")
@click.option("--kind", type=click.Choice(KINDS), default="channels", show_default=True,
              help="channels: each prunable layer alone loses 25/50/75 % of its channels "
                   "(accuracy drop, MACs saved); precision: each layer alone at int4 "
                   "(int4 weights, int8 activations), the rest int8.")
@click.option("--data", default="fashion-mnist", show_default=True,
              help="Dataset; only its training split is used (a held-out part of it).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Folder with Fashion-MNIST IDX files (for --data fashion-mnist).")
@click.option("--train-samples", type=click.IntRange(min=2), default=None,
              help="Use a seeded subset of N training samples first (quick scans).")
@click.option("--holdout-samples", type=click.IntRange(min=1), default=5000, show_default=True,
              help="Training samples held out to measure accuracy (precision: at most half).")
@click.option("--calibration-samples", type=click.IntRange(min=1), default=200,
              show_default=True, help="precision: representative samples for int8 ranges.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the held-out and calibration draws.")
@trust_option
@json_option
def command(model, kind, data, data_dir, train_samples, holdout_samples, calibration_samples,
            seed, as_json, trust_model_code):
    """Scan MODEL: the accuracy each layer loses when only it is compressed.

    \b
    Example:
      edgecompress sensitivity model.keras --data fashion-mnist --kind precision
    """
    if kind == "channels":
        from compress.channels.scan import render_scan, sensitivity

        result = sensitivity(model, data=data, data_dir=data_dir, train_samples=train_samples,
                             holdout_samples=holdout_samples, seed=seed,
                             trust_model_code=trust_model_code,
                             progress=make_progress(as_json))
    else:
        from compress.artifacts.mixed import render_scan, sensitivity

        result = sensitivity(model, data=data, data_dir=data_dir, train_samples=train_samples,
                             holdout_samples=holdout_samples,
                             calibration_samples=calibration_samples, seed=seed,
                             trust_model_code=trust_model_code, progress=make_progress(as_json))
    if as_json:
        emit_json(result)
    else:
        click.echo(render_scan(result))
