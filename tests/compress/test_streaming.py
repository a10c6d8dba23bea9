"""A streamed image folder through training, conversion and evaluation (compress.run.feed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from calibration import images, load_dataset
from compress.errors import DataError
from tests.calibration.files import encode_png

TRAIN, TEST = 96, 40


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory, small_data):
    """DIR/train|test/c<k>/*.png from the Fashion-MNIST slice (28x28 gray)."""
    root = tmp_path_factory.mktemp("stream") / "fashion-png"
    for split, n in (("train", TRAIN), ("test", TEST)):
        x, y = getattr(small_data, f"x_{split}")[:n], getattr(small_data, f"y_{split}")[:n]
        for c in range(small_data.num_classes):  # every class folder on both sides
            (root / split / f"c{c}").mkdir(parents=True)
        for i, (image, label) in enumerate(zip(x, y)):
            pixels = np.round(image * 255).astype(np.uint8)
            (root / split / f"c{label}" / f"{i:04d}.png").write_bytes(encode_png(pixels))
    return root


@pytest.fixture
def decodes(monkeypatch):
    calls = []
    real = images.read_image
    monkeypatch.setattr(images, "read_image", lambda path: calls.append(path) or real(path))
    return calls


def test_fit_streams_batches(image_folder, tiny_model_path, decodes):
    from compress import _keras
    from compress.run.feed import fit_model

    ds = load_dataset(image_folder, stream=True)
    model = _keras.keras.models.load_model(str(tiny_model_path))
    model.compile("adam", "sparse_categorical_crossentropy")
    _keras.set_seed(0)
    history = fit_model(model, ds.x_train, ds.y_train, batch_size=32, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    assert len(decodes) == 2 * TRAIN  # each epoch decodes every image once, batch by batch


def test_fit_reports_a_damaged_file_as_data_error(image_folder, tiny_model_path, tmp_path):
    import shutil

    from compress import _keras
    from compress.run.feed import fit_model

    root = tmp_path / "copy"
    shutil.copytree(image_folder, root)
    victim = sorted((root / "train").rglob("*.png"))[7]
    raw = bytearray(victim.read_bytes())
    raw[-20] ^= 0xFF  # pixel data: the header still reads
    victim.write_bytes(bytes(raw))
    ds = load_dataset(root, stream=True)
    model = _keras.keras.models.load_model(str(tiny_model_path))
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(DataError, match=rf"{victim.name} is corrupt: CRC mismatch"):
        fit_model(model, ds.x_train, ds.y_train, batch_size=16, epochs=1, verbose=0)


def test_streamed_run_matches_in_memory_run(image_folder, tiny_model_path, tmp_path, decodes):
    """No training stage: same data, same calibration draw -> identical artifacts and figures."""
    from compress.pipeline import compress_model

    recipe = {"name": "export", "stages": [], "targets": ["float32", "int8"],
              "calibration": {"samples": 16}, "benchmark": {"warmup": 1, "runs": 3}}
    reports = {}
    for stream in (False, True):
        data = load_dataset(image_folder, stream=stream)
        decodes.clear()
        out = tmp_path / f"run-{stream}"
        reports[stream] = compress_model(str(tiny_model_path), recipe, data=data,
                                         out_dir=out).report
        if stream:
            # calibration 16 + baseline accuracy 40 + latency/energy samples + 2 artifacts x 40
            assert len(decodes) < 16 + 4 * TEST
    memory, streamed = reports[False], reports[True]
    assert streamed["dataset"]["streamed"] is True
    assert streamed["baseline"]["accuracy"] == memory["baseline"]["accuracy"]
    for a, b in zip(memory["artifacts"], streamed["artifacts"]):
        assert a["accuracy"] == b["accuracy"] and a["size_bytes"] == b["size_bytes"]
    assert ((tmp_path / "run-True" / "artifacts" / "int8.tflite").read_bytes()
            == (tmp_path / "run-False" / "artifacts" / "int8.tflite").read_bytes())


def test_streamed_run_with_a_training_stage(image_folder, tiny_model_path, tmp_path, decodes):
    from compress.pipeline import compress_model

    recipe = {"name": "ft", "stages": [{"kind": "finetune", "epochs": 1}],
              "targets": ["int8"], "calibration": {"samples": 8},
              "training": {"batch_size": 32}, "benchmark": {"warmup": 1, "runs": 3}}
    result = compress_model(str(tiny_model_path), recipe, data=load_dataset(image_folder,
                                                                            stream=True),
                            out_dir=tmp_path / "run")
    report = json.loads((result.out_dir / "report.json").read_text())
    assert [s["kind"] for s in report["stages"]] == ["finetune"]
    assert report["artifacts"][0]["accuracy"] > 0.3  # a trained model on Fashion-MNIST
    train_paths = {str(p) for p in (image_folder / "train").rglob("*.png")}
    assert sum(str(p) in train_paths for p in decodes) == TRAIN + 8  # 1 epoch + calibration
