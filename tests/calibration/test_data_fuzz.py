"""Fuzzed datasets: every loader raises DataError or returns a Dataset that is really valid.

Covered: ``Dataset`` itself (the validation every source ends in), ``.npz`` files, IDX
folders, image files and image folders, ``module:function`` factories (arrays, dicts,
tf.data-like objects), ``representative_samples`` and ``subsample``. Inputs: wrong dtypes,
NaN/Inf, ragged shapes, labels out of range, empty splits, mismatched lengths, and random
byte mutations and truncations of valid files.

"Valid" is checked, not assumed (``check_valid``): float32 finite inputs with at least one
value per sample, int64 labels in ``[0, num_classes)``, matching lengths and sample shapes.
Example counts come from the hypothesis profile (tests/conftest.py; ``make fuzz``: long).
"""

from __future__ import annotations

import io
import sys
import tempfile
import types
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from calibration import Dataset, load_dataset, representative_samples, subsample
from calibration import images
from targets.errors import DataError
from tests.calibration.files import IDX_NAMES, encode_png, encode_pnm, write_idx

pytestmark = pytest.mark.fuzz

SPLITS = ("x_train", "y_train", "x_test", "y_test")


def check_valid(ds: Dataset) -> None:
    """What every consumer relies on once a Dataset exists."""
    for split in ("train", "test"):
        x = np.asarray(getattr(ds, f"x_{split}"))
        y = getattr(ds, f"y_{split}")
        assert x.dtype == np.float32 and x.ndim >= 2 and len(x) > 0
        assert x[0].size > 0, f"x_{split} samples hold no values: {x.shape}"
        assert np.isfinite(x).all()
        assert y.dtype == np.int64 and y.shape == (len(x),)
        assert (y >= 0).all() and (y < ds.num_classes).all()
    assert ds.x_train.shape[1:] == ds.x_test.shape[1:]
    assert isinstance(ds.num_classes, int) and ds.num_classes >= 1
    if ds.class_names is not None:
        assert len(ds.class_names) == ds.num_classes
        assert all(isinstance(n, str) for n in ds.class_names)
    ds.summary()
    repr(ds)


def attempt(load, *args, **kwargs) -> Dataset | None:
    """Run a loader: DataError is an acceptable answer; a Dataset must be valid."""
    try:
        ds = load(*args, **kwargs)
    except DataError as exc:
        assert str(exc)
        event("DataError")
        return None
    check_valid(ds)
    event("loaded")
    return ds


# --- strategies ---------------------------------------------------------------------------

DTYPES = ["uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "bool", "complex64", "<U3", "S2", "datetime64[s]",
          "timedelta64[s]"]
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)


@st.composite
def any_array(draw):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    elements = None
    if dtype.kind == "f":
        elements = st.floats(allow_nan=True, allow_infinity=True, width=dtype.itemsize * 8)
    return draw(hnp.arrays(dtype, draw(shapes), elements=elements))


ragged = st.recursive(st.integers(-3, 300) | st.floats() | st.none() | st.text(max_size=2),
                      lambda inner: st.lists(inner, max_size=4), max_leaves=20)
weird = st.none() | st.integers() | st.text(max_size=4) | st.dictionaries(st.text(max_size=2),
                                                                          st.integers(), max_size=2)
anything = any_array() | ragged | weird


@st.composite
def near_valid(draw):
    """A valid set of four arrays, then zero to three corruptions of the kinds users make."""
    n_train, n_test = draw(st.integers(1, 12)), draw(st.integers(1, 6))
    sample = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    classes = draw(st.integers(1, 5))
    dtype = draw(st.sampled_from(["uint8", "float32", "float64", "int32", "float16"]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.random((n, *sample)) * (255 if dtype == "uint8" else 1)
        arrays[f"x_{split}"] = x.astype(dtype)
        arrays[f"y_{split}"] = rng.integers(0, classes, n)
    extra: dict = {}
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(SPLITS))
        value = arrays[key]
        if not isinstance(value, np.ndarray) or value.ndim == 0:  # replaced earlier
            continue
        kind = draw(st.sampled_from([
            "nan", "inf", "dtype", "empty", "drop", "label", "onehot", "column", "float_label",
            "reshape", "ragged", "replace", "class_names", "num_classes", "zero_width"]))
        if kind in ("nan", "inf") and value.size and value.dtype.kind == "f":
            flat = value.astype(np.float64).reshape(-1)
            flat[draw(st.integers(0, flat.size - 1))] = np.nan if kind == "nan" else -np.inf
            value = flat.reshape(value.shape)
        elif kind == "dtype":
            try:
                with warnings.catch_warnings():  # lossy casts are the point here
                    warnings.simplefilter("ignore")
                    value = value.astype(draw(st.sampled_from(DTYPES)))
            except (ValueError, TypeError, OverflowError, RuntimeError):  # "<U3" -> int, ...
                pass
        elif kind == "empty":
            value = value[:0]
        elif kind == "drop" and len(value) > 1:
            value = value[:-1]
        elif kind == "label" and key.startswith("y") and value.size \
                and value.dtype.kind in "biuf":
            value = value.astype(np.float64 if value.dtype.kind in "fc" else np.int64)
            value.reshape(-1)[draw(st.integers(0, value.size - 1))] = draw(st.sampled_from(
                [-1, classes, 2 ** 31, 2 ** 62, -2 ** 63]))
        elif kind == "onehot" and key.startswith("y") and value.dtype.kind in "iu" \
                and value.ndim == 1 and value.size and value.min() >= 0 and value.max() < 99:
            value = np.eye(max(classes, int(value.max()) + 1))[value]
            if draw(st.booleans()):
                value[0, 0] += draw(st.sampled_from([1.0, 0.5, np.nan, -1.0]))
        elif kind == "column" and key.startswith("y"):
            value = value[:, None]
        elif kind == "float_label" and key.startswith("y"):
            with np.errstate(invalid="ignore"):
                value = value.astype(np.float64) + draw(st.sampled_from(
                    [0.0, 0.5, np.nan, np.inf, 1e20, 2.0 ** 63, -0.0]))
        elif kind == "reshape" and value.size:
            value = value.reshape(draw(st.sampled_from([(-1,), (1, -1), (value.shape[0], -1)])))
        elif kind == "ragged":
            value = [np.zeros(i % 3 + 1) for i in range(len(value))]
        elif kind == "replace":
            value = draw(anything)
        elif kind == "class_names":
            extra["class_names"] = draw(st.sampled_from(
                [None, (), ("a",), tuple("abcdefgh"), "abc", 5, [1, 2, 3, 4, 5], np.array("x"),
                 np.array([["a", "b"], ["c", "d"]]), ("a", "a", "b", "c", "d")]))
        elif kind == "num_classes":
            extra["num_classes"] = draw(st.sampled_from(
                [None, 0, -1, 1, classes, classes + 3, 2 ** 40, True, 2.0, "3", np.int64(7)]))
        elif kind == "zero_width" and key.startswith("x"):
            value = np.zeros((len(value), 0), value.dtype)
        arrays[key] = value
    return arrays, extra


# --- Dataset itself -------------------------------------------------------------------------

@given(near_valid())
def test_dataset_near_valid(case):
    arrays, extra = case
    attempt(Dataset, "fuzz", "fuzz", **arrays, **extra)


@given(st.fixed_dictionaries({k: anything for k in SPLITS}))
def test_dataset_arbitrary(arrays):
    attempt(Dataset, "fuzz", "fuzz", **arrays)


@given(near_valid(), st.integers(-3, 2 ** 40) | st.floats() | st.booleans() | st.none(),
       st.integers(-3, 2 ** 64) | st.floats() | st.none(), st.integers(-3, 40) | st.none())
def test_sampling_counts_and_seeds(case, n, seed, test_n):
    arrays, extra = case
    ds = attempt(Dataset, "fuzz", "fuzz", **arrays, **extra)
    if ds is None:
        return
    try:
        picked = representative_samples(ds, n, seed=seed)
    except DataError:
        pass
    else:
        assert picked.dtype == np.float32 and 1 <= len(picked) <= len(ds.x_train)
    attempt(subsample, ds, train=n if n is not None else None, test=test_n, seed=seed)


# --- .npz ----------------------------------------------------------------------------------

def _npz_bytes(arrays: dict, extra: dict) -> bytes:
    buffer = io.BytesIO()
    saved = {k: v for k, v in {**arrays, **extra}.items() if v is not None}
    try:
        np.savez(buffer, **{k: np.asarray(v) for k, v in saved.items()})
    except ValueError:  # ragged values cannot even be saved
        np.savez(buffer, **{k: np.zeros(1) for k in saved})
    return buffer.getvalue()


@st.composite
def mutated_bytes(draw, data: bytes):
    """Truncations, byte flips, insertions, or untouched."""
    data = bytearray(data)
    kind = draw(st.sampled_from(["none", "truncate", "flip", "flip", "insert"]))
    if kind == "truncate":
        return bytes(data[:draw(st.integers(0, max(0, len(data) - 1)))])
    for _ in range(draw(st.integers(1, 8)) if kind != "none" else 0):
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@given(st.data())
def test_npz_files(data):
    arrays, extra = data.draw(near_valid())
    raw = data.draw(mutated_bytes(_npz_bytes(arrays, extra)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.npz"
        path.write_bytes(raw)
        attempt(load_dataset, str(path))


@given(st.sampled_from(SPLITS + ("class_names",)), anything)
def test_npz_members_of_any_dtype(key, value):
    arrays = {"x_train": np.zeros((2, 3), np.uint8), "y_train": np.array([0, 1]),
              "x_test": np.zeros((1, 3), np.uint8), "y_test": np.array([1])}
    buffer = io.BytesIO()
    try:
        np.savez(buffer, **{**arrays, key: value})
    except (ValueError, TypeError):
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.npz"
        path.write_bytes(buffer.getvalue())
        attempt(load_dataset, str(path))


# --- IDX -----------------------------------------------------------------------------------

@given(st.data())
def test_idx_folders(data):
    arrays, _ = data.draw(near_valid())
    gz = data.draw(st.booleans())
    codes = {"u": 0x08, "i": 0x0C, "f": 0x0D, "b": 0x08}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for key, name in IDX_NAMES.items():
            value = arrays[key]
            if not isinstance(value, np.ndarray) or value.dtype.kind not in codes \
                    or value.ndim == 0:
                value = np.zeros((1, 2), np.uint8)
            code = codes[value.dtype.kind]
            if value.dtype.kind == "f" and value.dtype.itemsize == 8:
                code = 0x0E
            path = write_idx(folder / name, value, code=code, gz=gz)
            if data.draw(st.integers(0, 3)) == 0:
                path.write_bytes(data.draw(mutated_bytes(path.read_bytes())))
        attempt(load_dataset, str(folder))


@given(st.binary(max_size=64), st.integers(0, 3))
def test_idx_garbage_headers(header, which):
    """A random header (magic, dtype code, dims) in front of a few bytes of data."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i, (key, name) in enumerate(IDX_NAMES.items()):
            shape = (2, 3, 3) if key.startswith("x") else (2,)
            write_idx(folder / name, np.ones(shape, np.uint8))
            if i == which:
                (folder / name).write_bytes(b"\x00\x00" + header)
        attempt(load_dataset, str(folder))


# --- image files and folders ----------------------------------------------------------------

@st.composite
def image_file(draw, *, clean: bool = False):
    """(suffix, bytes) of a valid image in one of the supported formats, maybe mutated."""
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    fmt = draw(st.sampled_from(["png", "pgm", "ppm", "pgm-ascii", "npy"] if clean else
                               ["png", "pgm", "ppm", "pgm-ascii", "npy", "npy-float", "junk"]))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    if fmt == "png":
        channels = draw(st.sampled_from([1, 3, 4]))
        image = np.concatenate([pixels, pixels[..., :1]], axis=-1)[..., :channels]
        raw = encode_png(image, filters=tuple(draw(st.lists(st.integers(0, 4), min_size=1,
                                                            max_size=3))))
        suffix = ".png"
    elif fmt in ("pgm", "pgm-ascii"):
        raw, suffix = encode_pnm(pixels[..., 0], ascii_=fmt == "pgm-ascii"), ".pgm"
    elif fmt == "ppm":
        raw, suffix = encode_pnm(pixels), ".ppm"
    elif fmt.startswith("npy"):
        buffer = io.BytesIO()
        array = pixels if fmt == "npy" else draw(any_array())
        np.save(buffer, array, allow_pickle=False) if array.dtype.kind != "O" else None
        raw, suffix = buffer.getvalue(), ".npy"
    else:
        raw, suffix = draw(st.binary(max_size=64)), draw(st.sampled_from([".png", ".pnm",
                                                                         ".txt", ""]))
    if clean:
        return suffix, raw
    if fmt == "pgm-ascii" and draw(st.booleans()):  # one pixel or header value replaced
        tokens = raw.split(b" ")
        i = draw(st.integers(0, len(tokens) - 1))
        tokens[i] = str(draw(st.integers())).encode() + tokens[i][-1:].strip()
        raw = b" ".join(tokens)
    if draw(st.integers(0, 2)) == 0:
        raw = draw(mutated_bytes(raw))
    return suffix, raw


@given(image_file())
def test_image_files(case):
    suffix, raw = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"img{suffix}"
        path.write_bytes(raw)
        try:
            image = images.read_image(path)
        except DataError:
            event("DataError")
            return
        event("decoded")
        assert image.dtype == np.float32 and image.ndim == 3 and image.size
        assert np.isfinite(image).all()
        if suffix != ".npy":  # PNG and PGM/PPM are scaled to [0, 1]
            assert 0.0 <= image.min() and image.max() <= 1.0


@st.composite
def image_tree(draw):
    """{relative path: bytes}: class folders (flat or train/test), sometimes oddly laid out."""
    layout = draw(st.sampled_from(["flat", "split", "split", "odd"]))
    names = ["a", "b", "c"] + (["", ".hidden", "train", "test"] if layout == "odd" else [])
    classes = draw(st.lists(st.sampled_from(names).filter(bool), max_size=3, unique=True,
                            min_size=0 if layout == "odd" else 1))
    same = draw(image_file(clean=draw(st.integers(0, 3)) > 0))  # most files share it
    files = {}
    tops = ("train", "test") if layout == "split" else ("",)
    for top in tops:
        for name in classes:
            for i in range(draw(st.integers(0 if layout == "odd" else 1, 4))):
                suffix, raw = draw(image_file()) if draw(st.integers(0, 5)) == 0 else same
                files[str(Path(top, name, f"{i}{suffix}"))] = raw
    if layout == "odd":
        for _ in range(draw(st.integers(1, 3))):
            where = draw(st.sampled_from(["stray.png", "a/sub/x.png", "train/a/0.png",
                                          "test/b/0.png", "a/.DS_Store", "empty/"]))
            files[where] = same[1]
    return files


def _load_streamed(root):
    """A streamed load, then every image decoded: a damaged file may fail only here."""
    ds = load_dataset(root, stream=True)
    assert ds.streamed
    for split in ("train", "test"):
        lazy = getattr(ds, f"x_{split}")
        decoded = lazy.materialise()
        assert decoded.shape == lazy.shape and np.isfinite(decoded).all()
    return ds


@given(image_tree(), st.booleans())
def test_image_folders(tree, stream):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        root.mkdir()
        for rel, raw in tree.items():
            path = root / rel
            if rel.endswith("/"):
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(raw)
        if stream:
            attempt(_load_streamed, root)
        else:
            attempt(load_dataset, str(root), stream=False)


# --- module:function ------------------------------------------------------------------------

class FakeTFData:
    """Duck-typed tf.data dataset: ``as_numpy_iterator`` and ``cardinality``."""

    def __init__(self, elements, cardinality=None, fail_at=None):
        self.elements, self._cardinality, self.fail_at = elements, cardinality, fail_at

    def cardinality(self):
        if isinstance(self._cardinality, Exception):
            raise self._cardinality
        return len(self.elements) if self._cardinality is None else self._cardinality

    def as_numpy_iterator(self):
        for i, element in enumerate(self.elements):
            if i == self.fail_at:
                raise RuntimeError("the user's pipeline failed while reading")
            yield element


@st.composite
def factory_results(draw):
    arrays, extra = draw(near_valid())
    shape = draw(st.sampled_from(["dict", "four", "pairs", "tfdata", "dataset", "other"]))
    if shape == "dict":
        return {**{k: v for k, v in arrays.items() if draw(st.integers(0, 9))}, **extra}
    if shape == "four":
        return tuple(arrays[k] for k in SPLITS)
    if shape == "pairs":
        return [(arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])]
    if shape == "tfdata":
        parts = []
        for split in ("train", "test"):
            x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
            if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)) \
                    or x.ndim == 0 or y.ndim == 0:
                parts.append(FakeTFData([(x, y)]))  # a replaced (ragged, weird) split
                continue
            batched = draw(st.booleans())
            if batched:
                size = draw(st.integers(1, 4))
                elements = [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]
            else:
                elements = list(zip(x, y)) if x.ndim and y.ndim else [(x, y)]
            if draw(st.integers(0, 4)) == 0:
                elements.append(draw(st.sampled_from([(1,), "x", (np.zeros(2), 1, 2), None])))
            parts.append(FakeTFData(elements, cardinality=draw(st.sampled_from(
                [None, None, -1, -2, ValueError("?"), RuntimeError("no cardinality")])),
                fail_at=draw(st.none() | st.integers(0, 3))))
        return tuple(parts)
    if shape == "dataset":
        return draw(anything)
    return draw(st.sampled_from([None, 3, "x", (), (1, 2, 3), [1, 2], object()]))


@given(factory_results())
def test_factories(result):
    module = types.ModuleType("fuzz_factory_module")
    module.make = lambda: result
    sys.modules[module.__name__] = module
    try:
        attempt(load_dataset, "fuzz_factory_module:make")
    finally:
        del sys.modules[module.__name__]


# --- regressions: what the fuzzing found ------------------------------------------------------

def _small(**overrides):
    arrays = {"x_train": np.zeros((3, 2), np.float32), "y_train": np.array([0, 1, 2]),
              "x_test": np.zeros((2, 2), np.float32), "y_test": np.array([0, 1])}
    return {**arrays, **overrides}


@pytest.mark.parametrize("overrides, match", [
    # 1e20 was cast to int64 as -2**63: a negative class id inside a valid Dataset
    ({"y_train": np.array([0.0, 1.0, 1e20])}, r"y_train must be class ids up to 2147483647"),
    ({"y_train": np.array([0, 1, 2 ** 63], np.uint64)}, r"class ids up to"),
    ({"y_test": np.array([["a", "b"], ["c", "d"]])},
     r"y_test must be integer class ids or one-hot"),
    ({"x_train": np.zeros((3, 0))}, r"x_train samples hold no values"),  # was accepted
    ({"x_test": np.full((2, 2), 1e300)}, r"x_test must be finite. Received: 4 values beyond "
                                         r"the float32 range"),  # was called NaN/Inf
])
def test_dataset_regressions(overrides, match):
    with pytest.raises(DataError, match=match):
        Dataset("t", "t", **_small(**overrides))


@pytest.mark.parametrize("names", [5, "abc", np.array("x"), np.array([["a"], ["b"]])])
def test_class_names_must_be_a_list(names, tmp_path):
    with pytest.raises(DataError, match="class_names must be a list of names"):
        Dataset("t", "t", **_small(), class_names=names)  # 5 raised TypeError
    path = tmp_path / "d.npz"
    np.savez(path, **_small(), class_names=np.asarray(names))
    with pytest.raises(DataError, match="class_names must be a list of names"):
        load_dataset(str(path))  # a 0-d class_names raised TypeError


def test_npz_with_scalar_split_is_a_data_error(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, **_small(x_train=np.array(0)))
    with pytest.raises(DataError, match="x_train must have a sample axis"):
        load_dataset(str(path))  # the source text did len() of a 0-d array: TypeError


def test_npz_with_odd_zip_members_is_a_data_error(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, **_small())
    raw = bytearray(path.read_bytes())
    central = raw.index(b"PK\x01\x02")  # the first member's central directory entry
    raw[central + 8] |= 0x01  # its "encrypted" flag: zipfile raised RuntimeError
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"cannot read .* as a \.npz archive: RuntimeError"):
        load_dataset(str(path))
    raw[central + 8] &= 0xFE
    raw[central + 10] = 99  # an unknown compression method: NotImplementedError
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"as a \.npz archive: NotImplementedError"):
        load_dataset(str(path))


def test_npy_image_with_damaged_header_is_a_data_error(tmp_path):
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((2, 2), np.uint8))
    raw = buffer.getvalue().replace(b"'descr'", b"'de\x00cr'")  # literal_eval: SyntaxError
    path = tmp_path / "x.npy"
    path.write_bytes(raw)
    with pytest.raises(DataError, match="cannot read image array"):
        images.read_image(path)
    np.save(path, np.full((2, 2), np.nan))
    with pytest.raises(DataError, match="must be finite"):
        images.read_image(path)


@pytest.mark.parametrize("seed", [-1, 0.0, "1", True])
def test_sampling_seed_must_be_a_non_negative_integer(seed):
    ds = Dataset("t", "t", **_small())
    with pytest.raises(DataError, match="seed must be a non-negative integer"):
        representative_samples(ds, 2, seed=seed)  # ValueError / TypeError from numpy before
    with pytest.raises(DataError, match="seed must be a non-negative integer"):
        subsample(ds, train=2, seed=seed)


def test_failing_tf_data_pipeline_is_a_data_error():
    good = FakeTFData([(np.zeros((2, 2)), np.array([0, 1]))])
    module = types.ModuleType("fuzz_failing_pipeline")
    module.make = lambda: (good, FakeTFData(good.elements * 3, fail_at=1))
    sys.modules[module.__name__] = module
    try:
        with pytest.raises(DataError, match=r"reading fuzz_failing_pipeline:make\[1\] raised "
                                            r"RuntimeError: the user's pipeline failed"):
            load_dataset("fuzz_failing_pipeline:make")
    finally:
        del sys.modules[module.__name__]


@pytest.mark.parametrize("body, match", [
    (b"P2 2 1 255 -5 3", r"invalid pixel value. Received: '-5'"),  # decoded as -0.0196
    (b"P2 2 1 255 99999999999999999999 3", r"invalid pixel value"),  # OverflowError
    (b"P2 2 1 255 5", r"truncated: needs 2 values"),
])
def test_ascii_pgm_pixel_values(body, match):
    with pytest.raises(DataError, match=match):
        images.decode_pnm(body)


def test_npy_image_without_pixels(tmp_path):
    np.save(tmp_path / "e.npy", np.zeros((0, 3), np.uint8))  # was an image of size 0
    with pytest.raises(DataError, match="at least one pixel"):
        images.read_image(tmp_path / "e.npy")


def test_png_zlib_bomb_is_not_inflated():
    """A 1x1 PNG whose IDAT inflates to 64 MB: refused after reading 2 bytes + 1."""
    from tests.calibration.files import _chunk

    header = b"\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00"
    bomb = zlib.compress(bytes(64 * 2 ** 20), 9)
    raw = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", bomb)
           + _chunk(b"IEND", b""))
    with pytest.raises(DataError, match=r"1x1x1 pixels need 2 bytes. Received: 3 bytes"):
        images.decode_png(raw)


def test_idx_shape_whose_int64_product_wraps_to_zero(tmp_path):
    """65536**4 = 2**64 wrapped to 0 in int64: a header-only file passed the size check."""
    import struct

    from calibration import idx

    path = tmp_path / "x.idx"
    path.write_bytes(bytes([0, 0, 8, 4]) + struct.pack(">4I", *[2 ** 16] * 4))
    with pytest.raises(DataError, match="is truncated"):
        idx.read_idx(path)  # was ValueError from reshape
