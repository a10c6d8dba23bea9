"""IDX files (the MNIST / Fashion-MNIST container format), gzipped or not.

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype> <ndim>``, then ``ndim``
big-endian uint32 dimensions, then the data in C order (big-endian for multi-byte
types). See http://yann.lecun.com/exdb/mnist/ ("FILE FORMATS").
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from targets.errors import DataError

#: IDX type code -> numpy dtype (big-endian, as the format stores them).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: The four files of an MNIST-style IDX folder, by split and role (each may end in ``.gz``).
IDX_FILES: dict[str, str] = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads one IDX file into an array with the shape its header declares.

    Gzip compression is detected from the content, not the file name.

    Args:
        path: the ``.idx*`` file, gzipped or not.

    Returns:
        The array in native byte order (``uint8`` for ``0x08`` files).

    Raises:
        DataError: the file is missing, not IDX, truncated or has trailing bytes.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read IDX file {path}: {exc.strerror or exc}") from exc
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"IDX file {path} is a corrupt or truncated gzip stream: {exc}",
                            hint="download the file again") from exc
    return _parse(raw, path)


def _parse(raw: bytes, path: Path) -> np.ndarray:
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path} is not an IDX file: the magic number must start with two "
                        f"zero bytes. Received: {raw[:4].hex() or 'an empty file'}",
                        hint="IDX files are the MNIST format (e.g. train-images-idx3-ubyte[.gz])")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DataError(f"{path}: unknown IDX data type 0x{code:02X} (known: {known})",
                        hint="the file is probably corrupt; download it again")
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"IDX file {path} is truncated: its header needs {header} bytes. "
                        f"Received: {len(raw)} bytes", hint="download the file again")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: no int64 overflow
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(f"IDX file {path} is {state}: shape {shape} of {dtype.name} needs "
                        f"{expected} bytes. Received: {len(raw)} bytes",
                        hint="download the file again")
    data = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def find_idx_files(folder: str | os.PathLike) -> dict[str, Path]:
    """Returns the IDX files present in ``folder``, keyed as :data:`IDX_FILES`.

    The plain name wins over the ``.gz`` one when both exist.
    """
    folder = Path(folder)
    found = {}
    for key, stem in IDX_FILES.items():
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                found[key] = folder / name
                break
    return found


def read_idx_folder(folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads the four MNIST-style IDX files of ``folder``.

    Returns:
        ``{"x_train", "y_train", "x_test", "y_test"}`` arrays as stored.

    Raises:
        DataError: a file is missing or unreadable.
    """
    found = find_idx_files(folder)
    missing = [IDX_FILES[key] for key in IDX_FILES if key not in found]
    if missing:
        raise DataError(f"IDX folder {folder} is missing {', '.join(missing)} "
                        f"(plain or .gz). Received files: {listing(folder)}",
                        hint="an IDX folder needs " + ", ".join(IDX_FILES.values()))
    return {key: read_idx(path) for key, path in found.items()}


def listing(folder: str | os.PathLike, limit: int = 8) -> str:
    try:
        names = sorted(p.name for p in Path(folder).iterdir())
    except OSError:
        return "none (folder unreadable)"
    if not names:
        return "none (empty folder)"
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
