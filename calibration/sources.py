"""Datasets in: named datasets, ``.npz``, IDX folders, image folders and ``module:function``.

Every source ends as a validated :class:`Dataset` (float32 inputs, int64 class ids), so
the rest of edgecompress never sees a raw file. This module imports numpy and the
standard library only; TensorFlow ``tf.data`` datasets returned by a user function are
read by duck typing through ``.as_numpy_iterator()``.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calibration import idx, images
from calibration.stream import is_streamed
from targets.errors import DataError, brief

FASHION_MNIST = "fashion-mnist"
BUNDLED = "fashion-mnist-subset"
BUNDLED_ALIASES = (BUNDLED, "bundled")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")
#: Where Debian's ``dataset-fashion-mnist`` package installs the IDX files.
SYSTEM_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
#: Environment variable that replaces :data:`SYSTEM_FASHION_MNIST_DIR`.
FASHION_MNIST_ENV = "EDGECOMPRESS_FASHION_MNIST_DIR"
BUNDLED_PATH = Path(__file__).parent / "data" / "fashion_mnist_subset.npz"

SPLITS = ("x_train", "y_train", "x_test", "y_test")
ACCEPTED_FORMS = ("fashion-mnist (full: --data-dir, the system copy, else the bundled subset)",
                  "fashion-mnist-subset or bundled (the subset shipped with edgecompress)",
                  "FILE.npz with x_train, y_train, x_test, y_test",
                  "a folder of IDX files (train-images-idx3-ubyte[.gz], ...)",
                  "an image folder (DIR/<class>/*.png or DIR/train|test/<class>/*.png)",
                  "module:function returning arrays, a dict, a Dataset or tf.data datasets")
#: Image folders whose decoded float32 size exceeds this many MiB are streamed (decoded on
#: demand) instead of loaded into memory; ``$EDGECOMPRESS_STREAM_MB`` overrides it.
STREAM_MB = 256
STREAM_ENV = "EDGECOMPRESS_STREAM_MB"
#: The largest class id accepted (labels are indices into the model's outputs).
MAX_CLASS_ID = 2 ** 31 - 1
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification dataset, validated and normalised on construction.

    Inputs become float32 (``uint8`` is scaled by 1/255, other numbers are cast), a
    3-D input ``(N, H, W)`` gets a channel axis, and labels become int64 class ids
    (one-hot rows and ``(N, 1)`` columns are accepted). The inputs of a large image folder
    stay files (:class:`calibration.stream.LazyImages`, ``streamed``): indexing decodes
    what it selects, and each image is checked when it is decoded.

    Attributes:
        name: short name, e.g. ``"fashion-mnist"``.
        source: where the data came from, in words, with the split sizes.
        x_train, y_train, x_test, y_test: the two splits.
        num_classes: ``len(class_names)`` if given, else max label + 1 (or the one-hot width).
        class_names: optional class names, index = class id.

    Raises:
        DataError: empty split, length mismatch, NaN/Inf inputs, ragged or mismatched
            shapes, or labels that are not non-negative integer class ids.
    """

    name: str
    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__.__get__(self)  # frozen: normalise once, here
        widths = []
        for split in ("train", "test"):
            x = _inputs(getattr(self, f"x_{split}"), f"x_{split}")
            y, width = _labels(getattr(self, f"y_{split}"), f"y_{split}")
            if len(x) != len(y):
                raise DataError(f"x_{split} and y_{split} must have the same length. "
                                f"Received: len(x_{split})={len(x)}, len(y_{split})={len(y)}",
                                hint="each input needs exactly one label")
            set_(f"x_{split}", x)
            set_(f"y_{split}", y)
            widths.append(width)
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError("x_train and x_test must have the same sample shape. Received: "
                            f"{self.x_train.shape[1:]} and {self.x_test.shape[1:]}")
        set_("class_names", _class_names(self.class_names))
        set_("num_classes", self._count_classes(widths))

    def _count_classes(self, widths: list[int]) -> int:
        top = int(max(self.y_train.max(), self.y_test.max()))
        needed = max(top + 1, *widths)
        given, named = self.num_classes, None if self.class_names is None \
            else len(self.class_names)
        if given is not None and (isinstance(given, bool)
                                  or not isinstance(given, (int, np.integer))):
            raise DataError(f"num_classes must be an integer. Received: num_classes={given!r}")
        if given is not None and named is not None and given != named:
            raise DataError(f"num_classes must equal len(class_names). Received: "
                            f"num_classes={given}, len(class_names)={named}")
        if given is None and named is None:
            return needed
        declared, what = (given, "num_classes") if given is not None \
            else (named, "len(class_names)")
        if declared < needed:
            raise DataError(f"labels need {needed} classes (max label {top}) but "
                            f"{what}={declared}", hint="labels are class ids 0..num_classes-1")
        return int(declared)

    @property
    def streamed(self) -> bool:
        """True when the inputs are image files decoded on demand (a large image folder)."""
        return is_streamed(self.x_train) or is_streamed(self.x_test)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description: name, source, split sizes, input shape, classes."""
        out = {"name": self.name, "source": self.source, "train": len(self.x_train),
               "test": len(self.x_test), "input_shape": list(self.x_train.shape[1:]),
               "num_classes": self.num_classes}
        if self.streamed:
            out["streamed"] = True
        return out

    def __repr__(self) -> str:  # the arrays themselves are too long to be useful here
        return (f"Dataset(name={self.name!r}, train={len(self.x_train)}, "
                f"test={len(self.x_test)}, input_shape={self.x_train.shape[1:]}, "
                f"num_classes={self.num_classes})")


def _class_names(names: Any) -> tuple[str, ...] | None:
    if names is None:
        return None
    if isinstance(names, (str, bytes)) or np.ndim(names) != 1:
        raise DataError(f"class_names must be a list of names. Received: {brief(names)}",
                        hint="one name per class id, e.g. ['cat', 'dog']")
    return tuple(str(n) for n in names)


def _inputs(x: Any, key: str) -> np.ndarray:
    if is_streamed(x):  # image files decoded on demand: each decode checks its image
        if len(x) == 0 or x.size == 0:
            raise DataError(f"{key} is empty. Received shape: {x.shape}",
                            hint="every split needs at least one sample")
        return x
    x = _array(x, key)
    if x.dtype.kind not in "biuf":
        raise DataError(f"{key} must be numeric. Received dtype: {x.dtype}")
    if x.ndim < 2:
        raise DataError(f"{key} must have a sample axis and at least one feature axis. "
                        f"Received shape: {x.shape}", hint="reshape to (samples, features...)")
    if len(x) == 0:
        raise DataError(f"{key} is empty. Received shape: {x.shape}",
                        hint="every split needs at least one sample")
    if x[0].size == 0:
        raise DataError(f"{key} samples hold no values. Received shape: {x.shape}",
                        hint="every sample needs at least one feature")
    raw = x
    if x.dtype == np.uint8:
        x = x.astype(np.float32)
        x /= np.float32(255.0)
    else:
        with np.errstate(over="ignore"):  # values beyond float32 become inf: reported below
            x = x.astype(np.float32, copy=False)
    if x.ndim == 3:  # (N, H, W) grayscale images -> NHWC
        x = x[..., None]
    bad = ~np.isfinite(x)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        value = raw[first[:raw.ndim]]
        what = "NaN/Inf values" if not np.isfinite(value) else \
            f"values beyond the float32 range (|x| > {np.finfo(np.float32).max:.3g})"
        raise DataError(f"{key} must be finite. Received: {int(bad.sum())} {what}, "
                        f"the first at {key}[{', '.join(map(str, first))}]={value}",
                        hint="clean or drop those samples, or rescale the inputs")
    return x


def _labels(y: Any, key: str) -> tuple[np.ndarray, int]:
    """Class ids as int64 and the one-hot width (0 when not one-hot)."""
    y = _array(y, key)
    width = 0
    if y.ndim >= 1 and len(y) == 0:
        raise DataError(f"{key} is empty. Received shape: {y.shape}",
                        hint="every split needs at least one sample")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim == 2:
        if y.dtype.kind not in "biuf":
            raise DataError(f"{key} must be integer class ids or one-hot rows. "
                            f"Received dtype: {y.dtype}")
        ok = np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()
        if not ok:
            row = next((i for i, r in enumerate(y) if not (np.isin(r, (0, 1)).all()
                                                          and r.sum() == 1)), 0)
            raise DataError(f"2-D {key} must be one-hot (one 1 per row). Received: "
                            f"{key}[{row}]={np.array2string(y[row], threshold=12)}",
                            hint="pass integer class ids or one-hot rows")
        y, width = y.argmax(axis=1), y.shape[1]
    if y.ndim != 1:
        raise DataError(f"{key} must be class ids (N,) or one-hot (N, C). "
                        f"Received shape: {y.shape}")
    if y.dtype.kind not in "biuf":
        raise DataError(f"{key} must be integer class ids. Received dtype: {y.dtype}")
    if y.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if bad.size:
            raise DataError(f"{key} must be integer class ids. Received: "
                            f"{key}[{bad[0]}]={y[bad[0]]}", hint="labels are 0..num_classes-1")
    if (y < 0).any():
        first = int(np.flatnonzero(y < 0)[0])
        raise DataError(f"{key} must be non-negative class ids. Received: "
                        f"{key}[{first}]={y[first]}", hint="labels are 0..num_classes-1")
    big = y > MAX_CLASS_ID if y.dtype.kind in "biu" else y.astype(np.float64) > MAX_CLASS_ID
    if big.any():  # also keeps the int64 cast below exact
        first = int(np.flatnonzero(big)[0])
        raise DataError(f"{key} must be class ids up to {MAX_CLASS_ID}. Received: "
                        f"{key}[{first}]={y[first]}", hint="labels are 0..num_classes-1")
    return y.astype(np.int64), width


def _array(value: Any, key: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except ValueError as exc:  # numpy refuses ragged nested sequences
        raise DataError(f"{key} has ragged shapes (samples of different sizes): {exc}",
                        hint="pad or resize the samples to one shape") from exc
    if array.dtype == object:
        raise DataError(f"{key} has ragged shapes or non-numeric items (object array "
                        f"of shape {array.shape})", hint="pad or resize the samples to one shape")
    return array


def load_dataset(spec: str | os.PathLike | Dataset, *, data_dir: str | os.PathLike | None = None,
                 stream: bool | None = None) -> Dataset:
    """Loads a dataset from any supported source.

    Args:
        spec: ``"fashion-mnist"``, ``"fashion-mnist-subset"`` (alias ``"bundled"``), a
            ``.npz`` file, an IDX folder, an image folder, ``"module:function"``, or a
            :class:`Dataset` (returned unchanged).
        data_dir: folder with the Fashion-MNIST IDX files; only with ``"fashion-mnist"``.
            Without it, ``$EDGECOMPRESS_FASHION_MNIST_DIR`` or
            ``/usr/share/datasets/fashion-mnist`` is used when it has the files, else
            the bundled subset (``Dataset.source`` says which).
        stream: image folders only: True decodes images on demand (``Dataset.streamed``),
            False loads them into memory; None (default) streams a folder whose decoded
            size exceeds ``$EDGECOMPRESS_STREAM_MB`` (default :data:`STREAM_MB`).

    Returns:
        A validated :class:`Dataset`.

    Raises:
        DataError: unknown spec, unreadable or invalid data (the message names the file).
    """
    key = spec.strip().lower().replace("_", "-") if isinstance(spec, str) else None
    if data_dir is not None and key != FASHION_MNIST:
        raise DataError(f"data_dir only applies to the fashion-mnist dataset. Received: "
                        f"spec={_show(spec)}, data_dir={str(data_dir)!r}",
                        hint="drop --data-dir, or pass the folder itself as the dataset")
    if isinstance(spec, Dataset):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise DataError(f"a dataset spec must be a string, a path or a Dataset. "
                        f"Received: {type(spec).__name__}", hint=_forms_hint())
    if key == FASHION_MNIST:
        return _fashion_mnist(data_dir)
    if key in BUNDLED_ALIASES:
        return load_bundled()
    path = Path(spec)
    if path.is_file():
        if path.suffix.lower() != ".npz":
            raise DataError(f"unsupported dataset file {path}: a file must be .npz. "
                            f"Received suffix: {path.suffix or '(none)'}", hint=_forms_hint())
        return load_npz(path)
    if path.is_dir():
        return _load_folder(path, stream)
    text = os.fspath(spec)
    if _FACTORY.match(text):
        return _from_factory(text)
    if path.suffix or os.sep in text:
        raise DataError(f"dataset path does not exist. Received: {text!r}",
                        hint="check the path (relative paths start from the current folder)")
    close = difflib.get_close_matches(key or "", [FASHION_MNIST, *BUNDLED_ALIASES], n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    raise DataError(f"unknown dataset. Received: {text!r}", hint=guess + _forms_hint())


def _stream_limit() -> int:
    text = os.environ.get(STREAM_ENV)
    if text is None:
        return STREAM_MB * 2 ** 20
    try:
        limit = float(text)
    except ValueError:
        limit = -1.0
    if not limit >= 0:
        raise DataError(f"${STREAM_ENV} must be a number of MiB >= 0. Received: {text!r}",
                        hint="e.g. 0 to always stream image folders")
    return int(limit * 2 ** 20)


def _forms_hint() -> str:
    return "accepted: " + "; ".join(ACCEPTED_FORMS)


def _show(spec: Any) -> str:
    if isinstance(spec, Dataset):
        return f"Dataset({spec.name!r})"
    if isinstance(spec, (str, os.PathLike)):
        return repr(os.fspath(spec))
    return type(spec).__name__


def _sizes(arrays: Mapping[str, Any]) -> str:
    # Runs before Dataset validates the arrays: a scalar has no length yet.
    return f"{_length(arrays['x_train'])} train / {_length(arrays['x_test'])} test"


def _length(value: Any) -> int | str:
    try:
        return len(value)
    except TypeError:
        return "?"


def _fashion_mnist(data_dir: str | os.PathLike | None) -> Dataset:
    if data_dir is not None:
        folder = Path(data_dir)
        if not folder.is_dir():
            raise DataError(f"data_dir must be a folder with the Fashion-MNIST IDX files. "
                            f"Received: {str(data_dir)!r} (not a folder)")
    else:
        folder = Path(os.environ.get(FASHION_MNIST_ENV) or SYSTEM_FASHION_MNIST_DIR)
        # An absent or empty system copy is normal: fall back to the bundled subset.
        # A partial copy is a broken install and is reported by read_idx_folder.
        if not folder.is_dir() or not idx.find_idx_files(folder):
            return _bundled(note=f"; the full Fashion-MNIST is not in {folder}")
    arrays = idx.read_idx_folder(folder)
    return Dataset(FASHION_MNIST, f"{folder} (full: {_sizes(arrays)})", **arrays,
                   class_names=FASHION_MNIST_CLASSES)


def load_bundled() -> Dataset:
    """The Fashion-MNIST subset shipped in ``calibration/data`` (see its README)."""
    return _bundled()


def _bundled(note: str = "") -> Dataset:
    if not BUNDLED_PATH.is_file():
        raise DataError(f"the bundled Fashion-MNIST subset is missing: {BUNDLED_PATH}",
                        hint="reinstall edgecompress, or run benchmarks/make_bundled_subset.py")
    arrays = _read_npz(BUNDLED_PATH)
    arrays.setdefault("class_names", FASHION_MNIST_CLASSES)
    return Dataset(BUNDLED, f"bundled Fashion-MNIST subset ({_sizes(arrays)}){note}", **arrays)


def load_npz(path: str | os.PathLike) -> Dataset:
    """Loads a ``.npz`` with ``x_train, y_train, x_test, y_test`` (optional ``class_names``)."""
    path = Path(path)
    arrays = _read_npz(path)
    return Dataset(path.stem, f"{path} ({_sizes(arrays)})", **arrays)


def _read_npz(path: Path) -> dict[str, Any]:
    save_hint = "save with np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"
    try:
        # Our own handle: np.load leaks the file it opened when the archive is corrupt.
        with open(path, "rb") as handle:
            npz = np.load(handle, allow_pickle=False)
            if not hasattr(npz, "files"):  # np.load also reads .npy files
                raise DataError(f"{path} holds a single array, not a .npz archive",
                                hint=save_hint)
            found = sorted(npz.files)
            missing = [k for k in SPLITS if k not in found]
            if missing:
                raise DataError(f"{path} must contain the arrays {', '.join(SPLITS)}. "
                                f"Missing: {', '.join(missing)}. Received keys: "
                                f"{', '.join(found) or 'none'}", hint=save_hint)
            arrays = {k: npz[k] for k in SPLITS}
            if "class_names" in found:
                arrays["class_names"] = npz["class_names"]  # checked by Dataset
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 (zipfile and numpy raise a dozen types
        # for a damaged archive: BadZipFile, EOFError, zlib.error, NotImplementedError for an
        # unknown compression method, RuntimeError for an "encrypted" member, MemoryError for
        # a header that declares a huge array, ...)
        raise DataError(f"cannot read {path} as a .npz archive: {type(exc).__name__}: {exc}",
                        hint="write it with np.savez or np.savez_compressed") from exc
    return arrays


def _load_folder(folder: Path, stream: bool | None) -> Dataset:
    if idx.find_idx_files(folder):
        arrays = idx.read_idx_folder(folder)
        return Dataset(folder.name, f"{folder} (IDX: {_sizes(arrays)})", **arrays)
    if images.is_image_folder(folder):
        arrays = images.read_image_folder(folder)  # headers only: nothing decoded yet
        decoded = arrays["x_train"].nbytes + arrays["x_test"].nbytes
        if stream is None:
            stream = decoded > _stream_limit()
        if not stream:
            arrays["x_train"] = arrays["x_train"].materialise()
            arrays["x_test"] = arrays["x_test"].materialise()
        how = f"streamed, {decoded / 2 ** 20:.0f} MiB decoded" if stream else "images"
        return Dataset(folder.name, f"{folder} ({how}: {_sizes(arrays)})", **arrays)
    raise DataError(f"{folder} is neither an IDX folder nor an image folder. Received "
                    f"files: {idx.listing(folder)}", hint=_forms_hint())


# --- module:function ---------------------------------------------------------------------

def _from_factory(spec: str) -> Dataset:
    """Calls ``module:function`` and turns what it returns into a :class:`Dataset`."""
    module_name, func_name = spec.split(":")
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:  # user modules live where the command runs; the path is removed afterwards
        sys.path.insert(0, cwd)
    try:
        result = _call_factory(spec, module_name, func_name)
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)
    return _coerce(result, spec)


def _call_factory(spec: str, module_name: str, func_name: str) -> Any:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DataError(f"cannot import module {module_name!r} for dataset {spec!r}: {exc}",
                        hint="run from the folder that holds the module, or install it") from exc
    except Exception as exc:  # a SyntaxError or a failure in the module's own top level
        raise DataError(f"importing module {module_name!r} for dataset {spec!r} raised "
                        f"{type(exc).__name__}: {exc}") from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        what = "is not callable" if hasattr(module, func_name) else "does not exist"
        where = getattr(module, "__file__", None) or module_name
        raise DataError(f"dataset function {spec!r} {what} in {where}",
                        hint=f"define def {func_name}() in module {module_name}")
    try:
        return func()
    except DataError:
        raise
    except Exception as exc:  # the user's code: report it as a data problem, keep the cause
        raise DataError(f"dataset function {spec!r} raised {type(exc).__name__}: {exc}") \
            from exc


def _coerce(result: Any, spec: str) -> Dataset:
    source = f"{spec}()"
    if isinstance(result, Dataset):
        return result
    if isinstance(result, Mapping):
        missing = [k for k in SPLITS if k not in result]
        if missing:
            raise DataError(f"the dict returned by {spec!r} must have the keys "
                            f"{', '.join(SPLITS)}. Missing: {', '.join(missing)}. "
                            f"Received keys: {', '.join(map(str, result)) or 'none'}")
        arrays = {k: result[k] for k in SPLITS}
        extra = {k: result[k] for k in ("class_names", "num_classes") if k in result}
        return Dataset(spec, f"{source} ({_sizes(arrays)})", **arrays, **extra)
    if isinstance(result, (tuple, list)) and len(result) == 4:
        arrays = dict(zip(SPLITS, result))
        return Dataset(spec, f"{source} ({_sizes(arrays)})", **arrays)
    if isinstance(result, (tuple, list)) and len(result) == 2:
        (x_train, y_train), (x_test, y_test) = (_split(part, f"{spec}[{i}]")
                                                for i, part in enumerate(result))
        arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
        return Dataset(spec, f"{source} ({_sizes(arrays)})", **arrays)
    shape = f"{type(result).__name__} of length {len(result)}" \
        if isinstance(result, (tuple, list)) else type(result).__name__
    raise DataError(f"dataset function {spec!r} must return a Dataset, a dict with "
                    f"{', '.join(SPLITS)}, (x_train, y_train, x_test, y_test), "
                    f"((x_train, y_train), (x_test, y_test)) or (train_ds, test_ds). "
                    f"Received: {shape}")


def _split(part: Any, where: str) -> tuple[Any, Any]:
    """One split: an ``(x, y)`` pair or a tf.data-like dataset of ``(x, y)`` elements."""
    if hasattr(part, "as_numpy_iterator"):
        return _read_tf_data(part, where)
    if isinstance(part, (tuple, list)) and len(part) == 2:
        return part[0], part[1]
    raise DataError(f"{where} must be an (x, y) pair or a tf.data dataset. "
                    f"Received: {type(part).__name__}")


def _read_tf_data(ds: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Reads a tf.data-like dataset of ``(x, y)`` batches or single examples into arrays.

    Elements are batches when every ``y`` has a leading axis equal to ``x``'s; otherwise
    they are single examples and are stacked.
    """
    try:
        xs, ys = _iterate_tf_data(ds, where)
    except DataError:
        raise
    except Exception as exc:  # the user's pipeline (a failing map, a missing file, ...)
        raise DataError(f"reading {where} raised {type(exc).__name__}: {exc}") from exc
    if not xs:
        raise DataError(f"{where} is an empty tf.data dataset",
                        hint="every split needs at least one sample")
    batched = all(y.ndim >= 1 and x.ndim >= 1 and x.shape[0] == y.shape[0]
                  for x, y in zip(xs, ys))
    join = np.concatenate if batched else np.stack
    try:
        return join(xs), join(ys)
    except ValueError as exc:
        raise DataError(f"{where} has ragged shapes (elements of different sizes): {exc}",
                        hint="resize or pad the elements to one shape") from exc


def _iterate_tf_data(ds: Any, where: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    cardinality = getattr(ds, "cardinality", None)
    if callable(cardinality):
        try:
            count = int(cardinality())
        except (TypeError, ValueError):
            count = None
        if count == -1:  # tf.data.INFINITE_CARDINALITY
            raise DataError(f"{where} is an infinite tf.data dataset (it repeats forever)",
                            hint="drop .repeat() or add .take(n)")
    xs, ys = [], []
    for i, element in enumerate(ds.as_numpy_iterator()):
        if not isinstance(element, (tuple, list)) or len(element) != 2:
            kind = type(element).__name__
            raise DataError(f"{where} must yield (x, y) pairs. Received element {i}: {kind}",
                            hint="map the dataset with lambda ...: (x, y)")
        xs.append(np.asarray(element[0]))
        ys.append(np.asarray(element[1]))
    return xs, ys


# --- sampling ----------------------------------------------------------------------------

def representative_samples(ds: Dataset, n: int = 200, *, seed: int = 0) -> np.ndarray:
    """Draws calibration inputs from the training split, without replacement.

    Args:
        ds: the dataset.
        n: how many samples; capped at the size of the training split.
        seed: seed of the draw (same seed, same samples).

    Returns:
        float32 array ``(min(n, len(ds.x_train)), *input_shape)``.

    Raises:
        DataError: ``n`` is not a positive integer.
    """
    n = _count(n, "n")
    return ds.x_train[_pick(len(ds.x_train), n, _seed(seed))]


def subsample(ds: Dataset, *, train: int | None = None, test: int | None = None,
              seed: int = 0) -> Dataset:
    """A seeded random subset of each split (not stratified), in the original order.

    Args:
        ds: the dataset.
        train, test: samples to keep per split (capped at the split size); None keeps all.
        seed: seed of the draw.

    Returns:
        A new :class:`Dataset` with the same ``num_classes`` and ``class_names``.

    Raises:
        DataError: a count is not a positive integer.
    """
    if train is None and test is None:
        return ds
    seed = _seed(seed)
    picked = {}
    for split, n in (("train", train), ("test", test)):
        x, y = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
        if n is None:
            picked[f"x_{split}"], picked[f"y_{split}"] = x, y
            continue
        keep = np.sort(_pick(len(x), _count(n, split), seed))
        picked[f"x_{split}"] = x.take(keep) if is_streamed(x) else x[keep]  # still streamed
        picked[f"y_{split}"] = y[keep]
    note = f"{ds.source}, subset {_sizes(picked)} (seed {seed})"
    return dataclasses.replace(ds, source=note, **picked)


def _count(n: Any, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DataError(f"{name} must be a positive integer. Received: {name}={n!r}")
    return int(n)


def _seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"seed must be a non-negative integer. Received: seed={brief(seed)}")
    return int(seed)


def _pick(size: int, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).choice(size, size=min(n, size), replace=False)
