"""Data in: datasets, representative samples for calibration.

Imports numpy and the standard library only (never TensorFlow), so the CLI's ``--help``
and the device-side tools stay light.
"""

from calibration.sources import Dataset, load_dataset, representative_samples, subsample

__all__ = ["Dataset", "load_dataset", "representative_samples", "subsample"]
