"""A small baseline model for the examples: ``examples.model:build`` (a ``module:function``)."""

from __future__ import annotations

import os


def build():
    """The demo CNN trained briefly on the bundled Fashion-MNIST subset.

    ``EDGECOMPRESS_EXAMPLE_QUICK=1`` trains a narrower model on fewer samples (tests).
    """
    from calibration import sources
    from compress import zoo

    quick = os.environ.get("EDGECOMPRESS_EXAMPLE_QUICK") == "1"
    data = sources.load_dataset("fashion-mnist-subset")
    if quick:
        data = sources.subsample(data, train=1024, test=256)
        model = zoo.fashion_cnn(width=8, dense_units=32)
        zoo.train_baseline(model, data.x_train, data.y_train, epochs=2, batch_size=32)
    else:
        model = zoo.fashion_cnn()
        zoo.train_baseline(model, data.x_train, data.y_train, epochs=5)
    return model
