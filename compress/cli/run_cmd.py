"""``edgecompress run``: a recipe on a model and data, to an output folder."""

from __future__ import annotations

import click

from compress.cli.options import (data_options, emit_result, json_option, make_progress,
                                  trust_option)


@click.command("run")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--model", "-m", "model", required=True,
              help="Model: .keras/.h5 (tf_keras: the tfmot engine), .keras saved by Keras 3 "
                   "(the keras3 engine; bridged to tf_keras under `engine: tfmot`, which "
                   "`inspect --keras` checks), a SavedModel folder, or module:function.")
@data_options
@click.option("--out", "-o", "out", required=True, type=click.Path(file_okay=False),
              help="Output folder (refused if not empty, unless --overwrite).")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing output folder (and discard an interrupted run's "
                   "checkpoints unless --resume).")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run into --out after its last finished stage "
                   "(checkpoints in OUT.work); starts from the first stage if there are none.")
@click.option("--calibration-samples", type=click.IntRange(min=1), default=None,
              help="Representative samples for integer formats (default: recipe, 200).")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@click.option("--verbose", "-v", is_flag=True,
              help="Print the full report (report.md) instead of the summary.")
@trust_option
@json_option
def command(recipe, model, data, data_dir, train_samples, test_samples, out, overwrite,
            resume, calibration_samples, quiet, verbose, as_json, trust_model_code):
    """Run RECIPE on a model and write artifacts and a report to --out.

    \b
    Every finished training stage is checkpointed in OUT.work (removed when the run
    completes). After Ctrl-C, a kill or a crash, the same command with --resume continues
    after the last finished stage and gives the same artifacts.

    \b
    Examples:
      edgecompress run recipe.yaml --model model.keras --data fashion-mnist --out run1
      edgecompress run recipe.yaml --model model.keras --out run1 --resume
    """
    from compress.pipeline import compress_model
    from compress.recipe import load_recipe

    parsed = load_recipe(recipe)  # recipe errors before the model or data load
    result = compress_model(model, parsed, data=data, out_dir=out, overwrite=overwrite,
                            resume=resume, trust_model_code=trust_model_code, data_dir=data_dir,
                            train_samples=train_samples, test_samples=test_samples,
                            calibration_samples=calibration_samples,
                            progress=make_progress(as_json, quiet))
    emit_result(result, as_json=as_json, verbose=verbose)
