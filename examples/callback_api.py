"""Front door 3: compression inside your own ``model.fit`` (the Keras callback API).

Usage: python examples/callback_api.py [OUT_DIR] [--quick]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RECIPE = """\
version: 1
name: prune50-int8
stages:
  - kind: prune
    final_sparsity: 0.5
    epochs: 2
targets: [int8]
"""


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--quick"]
    quick = "--quick" in sys.argv
    out = args[0] if args else "runs/example-callback"

    import tf_keras as keras  # tfmot needs tf_keras models

    import compress
    from calibration import sources

    data = sources.load_dataset("fashion-mnist-subset")
    if quick:
        data = sources.subsample(data, train=1024, test=256)
    x, y, xv, yv = data.x_train, data.y_train, data.x_test, data.y_test
    from compress import zoo

    model = zoo.fashion_cnn(width=8 if quick else 32, dense_units=32 if quick else 128)
    zoo.train_baseline(model, x, y, epochs=2 if quick else 5, batch_size=32 if quick else 128)

    with tempfile.TemporaryDirectory() as tmp:
        recipe = Path(tmp) / "recipe.yaml"
        recipe.write_text(RECIPE)
        session = compress.Session.from_recipe(recipe, data=data)
    model = session.prepare(model)  # wraps for pruning
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=64 if quick else 128, validation_data=(xv, yv), verbose=2,
              callbacks=[session.callback(),
                         compress.EdgeMetricsCallback(formats=["int8"],
                                                      validation_data=(xv, yv),
                                                      every_n_epochs=1),
                         keras.callbacks.EarlyStopping(monitor="int8_accuracy", mode="max",
                                                       patience=2)])
    result = session.finalize(model, out_dir=out, overwrite=True)
    print(result.report["artifacts"][0]["accuracy"])


if __name__ == "__main__":
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    main()
