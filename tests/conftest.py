"""Shared fixtures: tiny seeded models and small data, built once per session."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Property-based (fuzz) tests: a bounded profile for `make test`, a long one for `make fuzz`.
# HYPOTHESIS_PROFILE picks one (default "ci": the same examples every run, so `make test` is
# deterministic; "long" explores new ones each run). No deadline: the shared machine's load
# makes per-example timings noisy (a hang shows as a stuck run, not as a slow example).
settings.register_profile("ci", max_examples=60, deadline=None, print_blob=True,
                          derandomize=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=5000, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=10, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


#: Set by .ci/run: a test whose system package (sshd, the full Fashion-MNIST) is missing fails
#: instead of skipping, so CI cannot pass while silently not running it.
REQUIRE_SYSDEPS = "EDGECOMPRESS_REQUIRE_SYSDEPS"


def require_sysdep(present: bool, reason: str) -> None:
    """Skip the calling test when a system package is missing (``reason`` says which and how to
    install it); with ``EDGECOMPRESS_REQUIRE_SYSDEPS=1`` fail instead."""
    if present:
        return
    if os.environ.get(REQUIRE_SYSDEPS) == "1":
        pytest.fail(f"{reason} ({REQUIRE_SYSDEPS}=1: this test must run here; "
                    "`make sysdeps` installs it)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def small_data():
    """A seeded slice of the bundled Fashion-MNIST subset (2048 train / 256 test)."""
    from calibration import sources

    ds = sources.load_dataset("fashion-mnist-subset")
    return sources.subsample(ds, train=2048, test=256, seed=0)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory, small_data):
    """A tiny CNN (< 50k params) trained on ``small_data`` (enough steps for BN statistics)."""
    from compress import zoo

    model = zoo.fashion_cnn(small_data.x_train.shape[1:], small_data.num_classes, width=8,
                            dense_units=32)
    zoo.train_baseline(model, small_data.x_train, small_data.y_train, epochs=3, batch_size=32,
                       seed=0)
    path = tmp_path_factory.mktemp("models") / "tiny.keras"
    model.save(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_model_path, small_data):
    """The contract recipe run end to end once on the tiny model (shared by several tests)."""
    from compress.pipeline import compress_model

    out = tmp_path_factory.mktemp("runs") / "contract"
    recipe = {"version": 1, "name": "prune50-qat-int8",
              "stages": [{"kind": "prune", "final_sparsity": 0.5, "schedule": "polynomial",
                          "epochs": 2},
                         {"kind": "qat", "epochs": 1}],
              "targets": ["float32", "int8"],
              "benchmark": {"warmup": 2, "runs": 10}}
    return compress_model(str(tiny_model_path), recipe, data=small_data, out_dir=out)


def seeded(n: int, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)
