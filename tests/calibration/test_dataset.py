"""Dataset validation and normalisation, representative_samples, subsample."""

import numpy as np
import pytest

from calibration import Dataset, representative_samples, subsample
from targets.errors import DataError
from tests.calibration.files import tiny_arrays


def make(**overrides):
    arrays = tiny_arrays()
    arrays.update(overrides)
    return Dataset("t", "test arrays", **arrays)


def test_normalisation():
    ds = make(x_train=np.ones((30, 4), np.float64), x_test=np.ones((10, 4), np.int32),
              y_train=(np.arange(30) % 3).astype(np.float32))
    assert ds.x_train.dtype == ds.x_test.dtype == np.float32
    assert ds.x_train.shape == (30, 4)  # 2-D features keep their shape
    assert ds.x_test.max() == 1.0  # only uint8 is scaled
    assert ds.y_train.dtype == np.int64 and ds.num_classes == 3


def test_label_column_is_flattened():
    ds = make(y_test=(np.arange(10) % 3)[:, None])
    assert ds.y_test.shape == (10,)


def test_summary():
    assert make().summary() == {"name": "t", "source": "test arrays", "train": 30, "test": 10,
                                "input_shape": [6, 6, 1], "num_classes": 3}


def test_repr_is_short():
    assert repr(make()) == ("Dataset(name='t', train=30, test=10, input_shape=(6, 6, 1), "
                            "num_classes=3)")


def test_num_classes_from_class_names():
    ds = make(class_names=("a", "b", "c", "d"))
    assert ds.num_classes == 4
    with pytest.raises(DataError, match=r"labels need 3 classes \(max label 2\) but "
                                        r"len\(class_names\)=2"):
        make(class_names=("a", "b"))
    with pytest.raises(DataError, match=r"but num_classes=2"):
        make(num_classes=2)
    with pytest.raises(DataError, match=r"num_classes must be an integer\. Received: "
                                        r"num_classes=3\.0"):
        make(num_classes=3.0)
    with pytest.raises(DataError, match=r"num_classes=5, len\(class_names\)=4"):
        make(num_classes=5, class_names=("a", "b", "c", "d"))


@pytest.mark.parametrize("overrides, message", [
    ({"x_train": np.zeros((0, 6, 6), np.uint8), "y_train": np.zeros(0, int)},
     r"x_train is empty\. Received shape: \(0, 6, 6\)"),
    ({"y_test": np.zeros(9, int)},
     r"x_test and y_test must have the same length\. Received: len\(x_test\)=10, "
     r"len\(y_test\)=9"),
    ({"x_test": np.zeros((10, 5, 5))},
     r"same sample shape\. Received: \(6, 6, 1\) and \(5, 5, 1\)"),
    ({"x_train": np.zeros(30)}, r"x_train must have a sample axis .*Received shape: \(30,\)"),
    ({"x_train": np.array(["a"] * 30)[:, None]}, r"x_train must be numeric\. Received dtype"),
    ({"x_train": [[1, 2], [3]]}, r"x_train has ragged shapes"),
    ({"y_train": np.r_[np.arange(29) % 3, -1]},
     r"y_train must be non-negative class ids\. Received: y_train\[29\]=-1"),
    ({"y_train": np.r_[np.zeros(29), 1.5]},
     r"y_train must be integer class ids\. Received: y_train\[29\]=1\.5"),
    ({"y_train": np.full(30, np.nan)}, r"Received: y_train\[0\]=nan"),
    ({"y_train": np.full((30, 3), 0.5)}, r"2-D y_train must be one-hot .*Received: y_train\[0\]"),
    ({"y_train": np.zeros((30, 2, 2))}, r"Received shape: \(30, 2, 2\)"),
    ({"y_test": np.zeros((0, 3))}, r"y_test is empty\. Received shape: \(0, 3\)"),
    ({"y_train": np.array(["a"] * 30)}, r"y_train must be integer class ids\. Received dtype"),
])
def test_validation_errors(overrides, message):
    with pytest.raises(DataError, match=message):
        make(**overrides)


def test_nan_and_inf_inputs_are_located():
    x = np.zeros((10, 6, 6), np.float32)
    x[3, 2, 1] = np.inf
    x[7, 0, 0] = np.nan
    with pytest.raises(DataError, match=r"x_test must be finite\. Received: 2 NaN/Inf values, "
                                        r"the first at x_test\[3, 2, 1, 0\]=inf"):
        make(x_test=x)


def test_representative_samples_are_deterministic_distinct_training_rows():
    ds = make(x_train=np.arange(30, dtype=np.float32)[:, None],
              x_test=np.zeros((10, 1), np.float32))
    first = representative_samples(ds, 10, seed=3)
    np.testing.assert_array_equal(first, representative_samples(ds, 10, seed=3))
    assert first.shape == (10, 1) and len(np.unique(first)) == 10  # without replacement
    assert not np.array_equal(first, representative_samples(ds, 10, seed=4))


def test_representative_samples_cap_at_training_size():
    ds = make()
    assert representative_samples(ds, 1000).shape == (30, 6, 6, 1)
    assert representative_samples(ds).shape == (30, 6, 6, 1)  # default 200, capped


@pytest.mark.parametrize("n", [0, -5, 2.5, True, "10"])
def test_representative_samples_rejects_bad_counts(n):
    with pytest.raises(DataError, match=rf"n must be a positive integer\. Received: n={n!r}"):
        representative_samples(make(), n)


def test_subsample():
    ds = make(class_names=("a", "b", "c"))
    sub = subsample(ds, train=12, test=100, seed=1)
    assert (len(sub.x_train), len(sub.x_test)) == (12, 10)
    assert sub.num_classes == 3 and sub.class_names == ("a", "b", "c")
    assert sub.source == "test arrays, subset 12 train / 10 test (seed 1)"
    again = subsample(ds, train=12, test=100, seed=1)
    np.testing.assert_array_equal(sub.x_train, again.x_train)
    rows = [np.flatnonzero((ds.x_train == row).all(axis=(1, 2, 3)))[0] for row in sub.x_train]
    assert rows == sorted(rows)  # a subset in the original order
    assert subsample(ds) is ds


def test_subsample_keeps_num_classes_when_a_class_drops_out():
    ds = make(y_train=np.r_[np.zeros(29, int), 9])
    assert subsample(ds, train=1, seed=0).num_classes == 10


def test_subsample_rejects_bad_counts():
    with pytest.raises(DataError, match=r"test must be a positive integer\. Received: test=0"):
        subsample(make(), test=0)
