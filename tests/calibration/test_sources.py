"""load_dataset: every spec form, the fallbacks, and the errors users see."""

import os
from pathlib import Path

import numpy as np
import pytest

from calibration import sources
from calibration.sources import Dataset, load_dataset
from targets.errors import DataError
from tests.conftest import require_sysdep
from tests.calibration.files import (IDX_NAMES, encode_png, encode_pnm, tiny_arrays,
                                     write_idx_folder)

SYSTEM = Path(sources.SYSTEM_FASHION_MNIST_DIR)


# --- named datasets ------------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["fashion-mnist-subset", "bundled", "Fashion_MNIST_Subset"])
def test_bundled_subset(spec):
    ds = load_dataset(spec)
    assert ds.name == "fashion-mnist-subset"
    assert ds.source == "bundled Fashion-MNIST subset (9000 train / 2000 test)"
    assert ds.x_train.shape == (9000, 28, 28, 1) and ds.x_train.dtype == np.float32
    assert ds.x_test.shape == (2000, 28, 28, 1)
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert ds.y_train.dtype == np.int64
    assert np.bincount(ds.y_train).tolist() == [900] * 10  # class-balanced
    assert np.bincount(ds.y_test).tolist() == [200] * 10
    assert ds.num_classes == 10 and ds.class_names[9] == "Ankle boot"


def test_bundled_file_stays_under_5_mb():
    assert sources.BUNDLED_PATH.stat().st_size <= 5_000_000


def test_fashion_mnist_falls_back_to_bundled_without_system_copy(no_system_fashion_mnist):
    ds = load_dataset("fashion-mnist")
    assert ds.source == ("bundled Fashion-MNIST subset (9000 train / 2000 test); the full "
                         f"Fashion-MNIST is not in {no_system_fashion_mnist}")
    assert ds.name == "fashion-mnist-subset" and len(ds.x_train) == 9000


def test_fashion_mnist_env_dir_is_used_when_it_has_the_files(tmp_path, monkeypatch):
    folder = write_idx_folder(tmp_path / "fm", tiny_arrays(classes=10, train=20), gz=True)
    monkeypatch.setenv(sources.FASHION_MNIST_ENV, str(folder))
    ds = load_dataset("fashion-mnist")
    assert ds.name == "fashion-mnist"
    assert ds.source == f"{folder} (full: 20 train / 10 test)"
    assert ds.class_names == sources.FASHION_MNIST_CLASSES


def test_fashion_mnist_partial_system_copy_is_an_error(tmp_path, monkeypatch):
    folder = write_idx_folder(tmp_path / "fm", tiny_arrays())
    (folder / IDX_NAMES["x_test"]).unlink()
    monkeypatch.setenv(sources.FASHION_MNIST_ENV, str(folder))
    with pytest.raises(DataError, match="missing t10k-images-idx3-ubyte"):
        load_dataset("fashion-mnist")


def test_fashion_mnist_data_dir_wins_and_never_falls_back(tmp_path, no_system_fashion_mnist):
    folder = write_idx_folder(tmp_path / "mine", tiny_arrays(classes=10, train=10))
    assert load_dataset("fashion-mnist", data_dir=folder).source.startswith(str(folder))
    with pytest.raises(DataError, match="missing train-images-idx3-ubyte"):
        load_dataset("fashion-mnist", data_dir=no_system_fashion_mnist)
    with pytest.raises(DataError, match=r"Received: '.*nowhere' \(not a folder\)"):
        load_dataset("fashion-mnist", data_dir=tmp_path / "nowhere")


def test_full_fashion_mnist_from_the_system_package(monkeypatch):
    require_sysdep((SYSTEM / "t10k-labels-idx1-ubyte.gz").exists(),
                   "Debian package dataset-fashion-mnist is not installed (make sysdeps)")
    monkeypatch.delenv(sources.FASHION_MNIST_ENV, raising=False)
    ds = load_dataset("fashion-mnist")
    assert ds.source == f"{SYSTEM} (full: 60000 train / 10000 test)"
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.num_classes == 10


def test_data_dir_with_another_spec_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"data_dir only applies to the fashion-mnist dataset\. "
                                        r"Received: spec='bundled'"):
        load_dataset("bundled", data_dir=tmp_path)


def test_unknown_name_suggests_the_close_one():
    with pytest.raises(DataError, match="unknown dataset. Received: 'fashon-mnist'") as info:
        load_dataset("fashon-mnist")
    assert "did you mean 'fashion-mnist'" in info.value.hint
    assert "module:function" in info.value.hint


def test_missing_path():
    with pytest.raises(DataError, match=r"dataset path does not exist\. Received: 'nope\.npz'"):
        load_dataset("nope.npz")


def test_spec_of_wrong_type():
    with pytest.raises(DataError, match="must be a string, a path or a Dataset. Received: int"):
        load_dataset(42)


def test_dataset_passes_through_unchanged():
    ds = Dataset("t", "test", **tiny_arrays())
    assert load_dataset(ds) is ds


# --- .npz ----------------------------------------------------------------------------------

def test_npz_uint8_is_scaled_and_gets_a_channel_axis(tmp_path):
    arrays = tiny_arrays()
    np.savez(tmp_path / "mine.npz", **arrays, class_names=np.array(["a", "b", "c"]))
    ds = load_dataset(os.fspath(tmp_path / "mine.npz"))
    assert ds.name == "mine" and ds.source == f"{tmp_path / 'mine.npz'} (30 train / 10 test)"
    assert ds.x_train.shape == (30, 6, 6, 1)
    np.testing.assert_allclose(ds.x_train[..., 0], arrays["x_train"] / 255.0, rtol=1e-6)
    assert ds.class_names == ("a", "b", "c") and ds.num_classes == 3


def test_npz_one_hot_labels_become_class_ids(tmp_path):
    arrays = tiny_arrays()
    arrays["y_train"] = np.eye(5)[arrays["y_train"]]  # 5-wide one-hot, only 3 classes used
    np.savez(tmp_path / "oh.npz", **arrays)
    ds = load_dataset(tmp_path / "oh.npz")
    np.testing.assert_array_equal(ds.y_train, np.arange(30) % 3)
    assert ds.num_classes == 5  # the one-hot width counts


def test_npz_missing_key_lists_keys_found(tmp_path):
    arrays = tiny_arrays()
    arrays["labels"] = arrays.pop("y_test")
    np.savez(tmp_path / "k.npz", **arrays)
    with pytest.raises(DataError, match=r"Missing: y_test\. Received keys: labels, x_test, "
                                        r"x_train, y_train"):
        load_dataset(tmp_path / "k.npz")


def test_npz_corrupt_and_npy_in_disguise(tmp_path):
    (tmp_path / "c.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DataError, match=r"cannot read .*c\.npz as a \.npz archive"):
        load_dataset(tmp_path / "c.npz")
    with open(tmp_path / "a.npz", "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(DataError, match=r"a\.npz holds a single array"):
        load_dataset(tmp_path / "a.npz")


def test_other_file_types_are_refused(tmp_path):
    (tmp_path / "data.csv").write_text("1,2\n")
    with pytest.raises(DataError, match=r"a file must be \.npz\. Received suffix: \.csv"):
        load_dataset(tmp_path / "data.csv")


# --- IDX folders ---------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder(tmp_path, gz):
    folder = write_idx_folder(tmp_path / "digits", tiny_arrays(), gz=gz)
    ds = load_dataset(folder)
    assert ds.name == "digits" and ds.source == f"{folder} (IDX: 30 train / 10 test)"
    assert ds.x_test.shape == (10, 6, 6, 1) and ds.num_classes == 3 and ds.class_names is None


def test_folder_that_is_neither(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match=r"neither an IDX folder nor an image folder\. "
                                        r"Received files: notes\.txt"):
        load_dataset(tmp_path)


# --- image folders -------------------------------------------------------------------------

def _write_images(folder: Path, counts: dict[str, int], *, shape=(4, 5), fmt="png", seed=0):
    rng = np.random.default_rng(seed)
    for name, count in counts.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            image = rng.integers(0, 256, shape, dtype=np.uint8)
            if fmt == "png":
                (folder / name / f"{i:03d}.png").write_bytes(encode_png(image, filters=(0, 4)))
            else:
                (folder / name / f"{i:03d}.pgm").write_bytes(encode_pnm(image))


def test_image_folder_with_train_and_test(tmp_path):
    _write_images(tmp_path / "train", {"cat": 3, "dog": 2})
    _write_images(tmp_path / "test", {"cat": 1, "dog": 1}, fmt="pgm")
    (tmp_path / "train" / ".DS_Store").write_bytes(b"junk")  # hidden files are skipped
    ds = load_dataset(tmp_path)
    assert ds.class_names == ("cat", "dog")
    assert ds.x_train.shape == (5, 4, 5, 1) and ds.x_test.shape == (2, 4, 5, 1)
    assert ds.y_train.tolist() == [0, 0, 0, 1, 1] and ds.y_test.tolist() == [0, 1]
    assert ds.source == f"{tmp_path} (images: 5 train / 2 test)"


def test_image_folder_without_split_is_split_80_20_deterministically(tmp_path):
    _write_images(tmp_path, {"b": 10, "a": 5})
    first, second = load_dataset(tmp_path), load_dataset(tmp_path)
    assert first.class_names == ("a", "b")
    assert (len(first.x_train), len(first.x_test)) == (12, 3)
    assert sorted(first.y_test.tolist()) == [0, 1, 1]  # 20% of each class
    np.testing.assert_array_equal(first.x_test, second.x_test)


def test_image_folder_rgb_png(tmp_path):
    _write_images(tmp_path, {"x": 2, "y": 2}, shape=(3, 3, 3))
    assert load_dataset(tmp_path).x_train.shape[1:] == (3, 3, 3)


def test_image_folder_size_mismatch_names_file_and_both_sizes(tmp_path):
    _write_images(tmp_path, {"a": 2})
    _write_images(tmp_path, {"b": 1}, shape=(6, 5))
    with pytest.raises(DataError, match=r"b/000\.png is 6x5x1 \(HxWxC\), expected 4x5x1 "
                                        r"\(HxWxC\) \(like .*a/000\.png\)"):
        load_dataset(tmp_path)


def test_image_folder_test_split_must_match_train_size(tmp_path):
    _write_images(tmp_path / "train", {"a": 2})
    _write_images(tmp_path / "test", {"a": 1}, shape=(2, 2))
    with pytest.raises(DataError, match=r"test/a/000\.png is 2x2x1 .*expected 4x5x1"):
        load_dataset(tmp_path)


def test_image_folder_unsupported_file(tmp_path):
    _write_images(tmp_path, {"a": 2})
    (tmp_path / "a" / "z.gif").write_bytes(b"GIF89a")
    with pytest.raises(DataError, match=r"unsupported image file .*a/z\.gif.*Received suffix"):
        load_dataset(tmp_path)


def test_image_folder_layout_errors(tmp_path):
    _write_images(tmp_path / "one", {"a": 1})
    (tmp_path / "one" / "stray.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"only class sub-folders\. Received file: .*stray\.png"):
        load_dataset(tmp_path / "one")
    _write_images(tmp_path / "two" / "train", {"a": 1})
    with pytest.raises(DataError, match=r"exactly train/ and test/\. Received: train"):
        load_dataset(tmp_path / "two")
    (tmp_path / "three" / "empty").mkdir(parents=True)
    with pytest.raises(DataError, match=r"class folder .*empty has no images"):
        load_dataset(tmp_path / "three")


def test_image_folder_too_small_to_split(tmp_path):
    _write_images(tmp_path, {"a": 1, "b": 1})
    with pytest.raises(DataError, match=r"too small to split 80/20.*Received: 2 images"):
        load_dataset(tmp_path)
