"""load_dataset("module:function"): every return shape, tf.data by duck typing, errors."""

import itertools
import sys
import textwrap

import numpy as np
import pytest

from calibration.sources import Dataset, load_dataset
from targets.errors import DataError
from tests.calibration.files import tiny_arrays

_names = itertools.count()


@pytest.fixture
def factory(tmp_path, monkeypatch):
    """Writes a module into a fresh cwd and returns its ``module:function`` spec."""
    monkeypatch.chdir(tmp_path)
    written = []

    def write(body: str, func: str = "load") -> str:
        name = f"calib_factory_{next(_names)}"
        source = "import numpy as np\nfrom tests.calibration.files import tiny_arrays\n"
        (tmp_path / f"{name}.py").write_text(source + textwrap.dedent(body))
        written.append(name)
        return f"{name}:{func}"

    yield write
    for name in written:
        sys.modules.pop(name, None)


class FakeTfData:
    """Just the part of tf.data.Dataset that load_dataset uses."""

    def __init__(self, elements, cardinality=None):
        self.elements = elements
        self._cardinality = len(elements) if cardinality is None else cardinality

    def as_numpy_iterator(self):
        return iter(self.elements)

    def cardinality(self):
        return np.int64(self._cardinality)


def _pairs(x, y, batch=None):
    if batch is None:
        return [(x[i], y[i]) for i in range(len(x))]
    return [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x), batch)]


@pytest.mark.parametrize("body", [
    "def load():\n    a = tiny_arrays()\n    return tuple(a[k] for k in "
    "('x_train', 'y_train', 'x_test', 'y_test'))\n",
    "def load():\n    a = tiny_arrays()\n    return ((a['x_train'], a['y_train']), "
    "(a['x_test'], a['y_test']))\n",
    "def load():\n    return dict(tiny_arrays(), class_names=['a', 'b', 'c'])\n",
])
def test_arrays_tuples_and_dicts(factory, body):
    spec = factory(body)
    ds = load_dataset(spec)
    assert ds.name == spec and ds.source == f"{spec}() (30 train / 10 test)"
    assert ds.x_train.shape == (30, 6, 6, 1) and ds.num_classes == 3
    assert ds.x_train.max() <= 1.0  # uint8 scaled


def test_a_returned_dataset_is_kept(factory):
    spec = factory("from calibration import Dataset\n"
                   "def load():\n    return Dataset('custom', 'made by hand', **tiny_arrays())\n")
    ds = load_dataset(spec)
    assert (ds.name, ds.source) == ("custom", "made by hand")


def test_cwd_is_not_left_on_sys_path(factory):
    before = list(sys.path)
    load_dataset(factory("def load():\n    return tiny_arrays()\n"))
    assert sys.path == before


@pytest.mark.parametrize("batch", [None, 4])
def test_tf_data_like_batches_and_single_examples(batch):
    arrays = tiny_arrays()
    train = FakeTfData(_pairs(arrays["x_train"], arrays["y_train"], batch))
    test = FakeTfData(_pairs(arrays["x_test"], np.eye(3)[arrays["y_test"]], batch))  # one-hot
    module = type(sys)("calib_fake_tf")
    module.load = lambda: (train, test)
    sys.modules["calib_fake_tf"] = module
    try:
        ds = load_dataset("calib_fake_tf:load")
    finally:
        del sys.modules["calib_fake_tf"]
    assert ds.x_train.shape == (30, 6, 6, 1) and ds.x_test.shape == (10, 6, 6, 1)
    np.testing.assert_array_equal(ds.y_train, arrays["y_train"])
    np.testing.assert_array_equal(ds.y_test, arrays["y_test"])


def _fake_module(result, monkeypatch):
    module = type(sys)("calib_fake_result")
    module.load = lambda: result
    monkeypatch.setitem(sys.modules, "calib_fake_result", module)
    return "calib_fake_result:load"


def test_tf_data_like_errors(monkeypatch):
    arrays = tiny_arrays()
    good = FakeTfData(_pairs(arrays["x_test"], arrays["y_test"]))
    infinite = FakeTfData([], cardinality=-1)
    with pytest.raises(DataError, match=r"\[0\] is an infinite tf\.data dataset"):
        load_dataset(_fake_module((infinite, good), monkeypatch))
    with pytest.raises(DataError, match=r"\[1\] is an empty tf\.data dataset"):
        load_dataset(_fake_module((good, FakeTfData([])), monkeypatch))
    dicts = FakeTfData([{"image": arrays["x_test"][0], "label": 0}])
    with pytest.raises(DataError, match=r"must yield \(x, y\) pairs\. Received element 0: dict"):
        load_dataset(_fake_module((dicts, good), monkeypatch))
    ragged = FakeTfData([(np.zeros((2, 2)), 0), (np.zeros((3, 2)), 1)])
    with pytest.raises(DataError, match=r"\[0\] has ragged shapes"):
        load_dataset(_fake_module((ragged, good), monkeypatch))


@pytest.mark.parametrize("result, received", [
    (None, "Received: NoneType"),
    ((1, 2, 3), "Received: tuple of length 3"),
    ((np.zeros(3), np.zeros(3)), r"\[0\] must be an \(x, y\) pair or a tf\.data dataset\. "
                                 r"Received: ndarray"),
])
def test_wrong_return_values(monkeypatch, result, received):
    with pytest.raises(DataError, match=received):
        load_dataset(_fake_module(result, monkeypatch))


def test_dict_missing_keys(monkeypatch):
    with pytest.raises(DataError, match=r"Missing: x_test, y_test\. Received keys: x_train, "
                                        r"y_train"):
        load_dataset(_fake_module({"x_train": 1, "y_train": 2}, monkeypatch))


def test_validation_applies_to_factories(monkeypatch):
    arrays = tiny_arrays()
    arrays["y_test"] = arrays["y_test"][:5]
    with pytest.raises(DataError, match=r"len\(x_test\)=10, len\(y_test\)=5"):
        load_dataset(_fake_module(arrays, monkeypatch))


def test_import_and_lookup_errors(factory):
    with pytest.raises(DataError, match="cannot import module 'no_such_module_xyz'"):
        load_dataset("no_such_module_xyz:load")
    spec = factory("VALUE = 3\n", func="VALUE")
    with pytest.raises(DataError, match=rf"'{spec}' is not callable"):
        load_dataset(spec)
    spec = factory("VALUE = 3\n", func="missing")
    with pytest.raises(DataError, match=rf"'{spec}' does not exist"):
        load_dataset(spec)


def test_a_function_can_import_sibling_modules_lazily(factory, tmp_path):
    (tmp_path / "calib_sibling_helper.py").write_text("from tests.calibration.files import "
                                                      "tiny_arrays as make\n")
    spec = factory("def load():\n    import calib_sibling_helper\n"
                   "    return calib_sibling_helper.make()\n")
    try:
        assert len(load_dataset(spec).x_train) == 30
    finally:
        sys.modules.pop("calib_sibling_helper", None)


def test_a_module_that_fails_at_import(factory):
    spec = factory("1 / 0\n")
    with pytest.raises(DataError, match=r"importing module .* raised ZeroDivisionError"):
        load_dataset(spec)


def test_a_failing_function_is_reported_with_its_cause(factory):
    spec = factory("def load():\n    raise FileNotFoundError('cache.bin')\n")
    with pytest.raises(DataError, match=r"raised FileNotFoundError: cache\.bin") as info:
        load_dataset(spec)
    assert isinstance(info.value.__cause__, FileNotFoundError)


@pytest.mark.slow  # importing TensorFlow takes ~6 s on the CI machine
def test_real_tf_data_dataset(factory):
    # TensorFlow is imported only inside the user's function, as a real user module would.
    spec = factory("""
        def load():
            import tensorflow as tf
            a = tiny_arrays()
            train = tf.data.Dataset.from_tensor_slices((a['x_train'], a['y_train'])).batch(8)
            test = tf.data.Dataset.from_tensor_slices((a['x_test'], a['y_test']))
            return train, test
    """)
    ds = load_dataset(spec)
    assert isinstance(ds, Dataset)
    assert ds.x_train.shape == (30, 6, 6, 1) and ds.x_test.shape == (10, 6, 6, 1)
    np.testing.assert_array_equal(ds.y_train, tiny_arrays()["y_train"])
