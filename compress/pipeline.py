"""The Python front door: ``compress_model`` runs a recipe on a model and data.

``edgecompress run`` and ``edgecompress demo`` call it. It only parses its arguments and hands
the run to a ``Session`` (``compress.session``), which writes into a staged folder that appears
only when the run completed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compress.recipe import CalibrationConfig, Recipe, load_recipe
from compress.session import RunResult, Session

__all__ = ["RunResult", "compress_model"]


def compress_model(model: Any, recipe: Recipe | dict | str | Path, *, data: Any = "fashion-mnist",
                   out_dir: str | Path, overwrite: bool = False, data_dir: str | None = None,
                   train_samples: int | None = None, test_samples: int | None = None,
                   calibration_samples: int | None = None, trust_model_code: bool = False,
                   resume: bool = False, progress: Any = None) -> RunResult:
    """Compress ``model`` with ``recipe`` and write artifacts and a report to ``out_dir``.

    Args:
        model: a tf_keras or Keras 3 model, or a path / ``module:function``
            (see ``compress.models``).
        recipe: a ``Recipe``, mapping, or YAML/JSON path.
        data: a dataset spec (``fashion-mnist``, ``.npz``, IDX dir, image folder,
            ``module:function``) or a ``calibration.Dataset``.
        out_dir: output folder; refused if non-empty unless ``overwrite``.
        train_samples / test_samples: optional caps (seeded subsample) for quick runs.
        calibration_samples: overrides the recipe's representative sample count.
        trust_model_code: allow model files whose config runs stored code (Lambda, ...).
        resume: continue an interrupted run into the same ``out_dir`` after its last
            finished stage (checkpoints in ``<out_dir>.work``, see ``compress.run.checkpoint``).
        progress: a ``compress.progress.Progress`` (silent by default).

    Returns:
        RunResult with the report dict (``report.json``'s content), the folder and the
        compressed float model (Keras 3 when a Keras 3 model came in).
    """
    recipe = load_recipe(recipe)
    if calibration_samples is not None:
        recipe = recipe.replace(calibration=CalibrationConfig(samples=calibration_samples))
    session = Session(recipe, data=data, progress=progress)
    return session.run(model, out_dir=out_dir, overwrite=overwrite, data_dir=data_dir,
                       train_samples=train_samples, test_samples=test_samples,
                       trust_model_code=trust_model_code, resume=resume)
