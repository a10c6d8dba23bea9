"""The demo: train the baseline CNN on the bundled data, then run the built-in recipe."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

DEMO_EPOCHS = 5
DEMO_RECIPE = "prune50-qat-int8"


def run_demo(*, out_dir: str | Path, overwrite: bool = False, epochs: int | None = None,
             data: str = "fashion-mnist-subset", progress: Any = None) -> Any:
    """Train ``zoo.fashion_cnn`` for ``epochs`` and compress it with ``prune50-qat-int8``."""
    from calibration import sources
    from compress import zoo
    from compress.run.folder import check_output_dir
    from compress.pipeline import compress_model
    from compress.progress import Progress
    from compress.recipe import BUILTIN_RECIPES, load_recipe

    progress = progress or Progress(enabled=False)
    check_output_dir(out_dir, overwrite=overwrite)
    recipe = load_recipe(BUILTIN_RECIPES[DEMO_RECIPE])
    dataset = sources.load_dataset(data)
    epochs = epochs or DEMO_EPOCHS
    progress.info(f"demo: training the baseline CNN for {epochs} epochs on {dataset.source}")
    model = zoo.fashion_cnn(dataset.x_train.shape[1:], dataset.num_classes)
    start = time.perf_counter()
    zoo.train_baseline(model, dataset.x_train, dataset.y_train, epochs=epochs,
                       seed=recipe.seed,
                       callbacks=[progress.keras_callback("baseline", epochs, -1)])
    progress.info(f"demo: baseline trained in {time.perf_counter() - start:.1f}s")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "baseline.keras"
        model.save(str(path))
        return compress_model(str(path), recipe, data=dataset, out_dir=out_dir,
                              overwrite=overwrite, progress=progress)
