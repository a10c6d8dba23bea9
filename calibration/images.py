"""Image files and image folders, decoded with numpy and zlib only.

No imaging library is a dependency of edgecompress, so this module carries small
decoders for the formats a calibration folder typically holds:

- PNG: 8-bit grayscale, RGB or RGBA, non-interlaced (the PNG spec, section 9 filters);
- Netpbm PGM/PPM: ``P2``/``P5`` (gray) and ``P3``/``P6`` (RGB), any maxval up to 65535;
- ``.npy``: a ``(H, W)`` or ``(H, W, C)`` array, ``uint8`` (scaled by 1/255) or float.

Every image comes back as float32 ``(H, W, C)`` scaled to [0, 1] (``.npy`` floats are
kept as they are). Image files are untrusted input: every declared size is checked against
the data and :data:`MAX_IMAGE_BYTES` before anything is allocated or inflated.

An image folder is read in two steps: :func:`read_image_folder` checks the layout and every
file's header (:func:`image_shape`: format, variant, size) without decoding pixels, and
returns :class:`LazyImages` (defined here, public as ``calibration.stream.LazyImages``); the
caller decodes them all (small folders) or on demand (large folders, see
``calibration.sources.STREAM_MB``). This module imports nothing else from ``calibration``.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from targets.errors import DataError

SUPPORTED_SUFFIXES = (".png", ".pgm", ".ppm", ".pnm", ".npy")
SUPPORTED_TEXT = "PNG (8-bit gray/RGB/RGBA, non-interlaced), PGM/PPM (P2/P3/P5/P6), .npy"
_CONVERT_HINT = ("convert the images to 8-bit PNG or to .npy arrays "
                 "(resizing and other formats are not supported yet)")

#: Largest image accepted, in bytes of its decoded float32 array (1 GiB: 16k x 16k gray):
#: a corrupt or hostile header cannot make the decoder allocate more.
MAX_IMAGE_BYTES = 2 ** 30
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 6: 4}  # colour type -> channels (gray, RGB, RGBA)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decodes one image file by its suffix.

    Args:
        path: a ``.png``, ``.pgm``, ``.ppm``, ``.pnm`` or ``.npy`` file.

    Returns:
        float32 array of shape ``(H, W, C)``.

    Raises:
        DataError: unsupported format or variant, or a corrupt file (the path is named).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(f"unsupported image file {path}: supported formats are "
                        f"{SUPPORTED_TEXT}. Received suffix: {path.suffix or '(none)'}",
                        hint=_CONVERT_HINT)
    if suffix == ".npy":
        return _read_npy(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    if suffix == ".png":
        return decode_png(raw, path)
    return decode_pnm(raw, path)


# --- PNG ---------------------------------------------------------------------------------

def decode_png(raw: bytes, path: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Decodes an 8-bit gray/RGB/RGBA non-interlaced PNG to float32 ``(H, W, C)`` in [0, 1]."""
    if raw[:8] != _PNG_SIGNATURE:
        raise DataError(f"{path} is not a PNG file (bad signature)", hint=_CONVERT_HINT)
    pos, header, idat = 8, None, []
    while True:
        if pos + 8 > len(raw):
            raise DataError(f"PNG file {path} is truncated (no IEND chunk)")
        length, ctype = struct.unpack(">I4s", raw[pos:pos + 8])
        data = raw[pos + 8:pos + 8 + length]
        crc = raw[pos + 8 + length:pos + 12 + length]
        if len(data) != length or len(crc) != 4:
            raise DataError(f"PNG file {path} is truncated inside chunk {ctype!r}")
        if zlib.crc32(ctype + data) != struct.unpack(">I", crc)[0]:
            raise DataError(f"PNG file {path} is corrupt: CRC mismatch in chunk {ctype!r}")
        pos += 12 + length
        if ctype == b"IHDR":
            header = _png_header(data, path)
        elif ctype == b"IDAT":
            idat.append(data)
        elif ctype == b"IEND":
            break
        elif ctype != b"PLTE" and not ctype[:1].islower():
            # An unknown critical chunk changes the meaning of the pixels: refuse it.
            # (PLTE is only a suggestion in RGB images; palette images fail in IHDR.)
            raise DataError(f"unsupported PNG {path}: unknown critical chunk "
                            f"{ctype.decode('latin-1')!r}. Supported: {SUPPORTED_TEXT}",
                            hint=_CONVERT_HINT)
    if header is None or not idat:
        raise DataError(f"PNG file {path} is corrupt: missing IHDR or IDAT chunk")
    width, height, channels = header
    stride = width * channels
    _check_size(height, width, channels, path)
    try:
        # Bounded: a few KB of IDAT can inflate to gigabytes (a "zip bomb").
        filtered = zlib.decompressobj().decompress(b"".join(idat), height * (stride + 1) + 1)
    except zlib.error as exc:
        raise DataError(f"PNG file {path} is corrupt: {exc}") from exc
    if len(filtered) != height * (stride + 1):
        raise DataError(f"PNG file {path} is corrupt: {height}x{width}x{channels} pixels need "
                        f"{height * (stride + 1)} bytes. Received: {len(filtered)} bytes")
    pixels = _unfilter(filtered, height, stride, channels, path)
    return pixels.reshape(height, width, channels).astype(np.float32) / np.float32(255.0)


def _png_header(data: bytes, path: str | os.PathLike) -> tuple[int, int, int]:
    if len(data) != 13:
        raise DataError(f"PNG file {path} is corrupt: IHDR has {len(data)} bytes, not 13")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data)
    problems = []
    if depth != 8:
        problems.append(f"bit_depth={depth}")
    if colour not in _PNG_CHANNELS:
        names = {3: "palette", 4: "gray+alpha"}
        problems.append(f"colour_type={colour} ({names.get(colour, 'invalid')})")
    if interlace:
        problems.append("interlaced")
    if problems:
        raise DataError(f"unsupported PNG {path}: only 8-bit gray, RGB or RGBA non-interlaced "
                        f"PNGs are supported. Received: {', '.join(problems)}",
                        hint=_CONVERT_HINT)
    if width == 0 or height == 0:
        raise DataError(f"PNG file {path} has no pixels. Received: {width}x{height}")
    return width, height, _PNG_CHANNELS[colour]


def _unfilter(data: bytes, height: int, stride: int, bpp: int,
              path: str | os.PathLike) -> np.ndarray:
    """Reverses the per-scanline PNG filters (None, Sub, Up, Average, Paeth)."""
    rows = np.frombuffer(data, np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), np.uint8)
    prior = np.zeros(stride, np.uint8)
    for y in range(height):
        kind, line = int(rows[y, 0]), rows[y, 1:]
        if kind == 0:
            cur = line.copy()
        elif kind == 1:  # Sub: a running sum per channel, modulo 256
            cur = np.cumsum(line.reshape(-1, bpp), axis=0, dtype=np.uint8).reshape(-1)
        elif kind == 2:
            cur = line + prior  # uint8 arithmetic wraps modulo 256, as the spec wants
        elif kind in (3, 4):
            cur = _unfilter_sequential(kind, line, prior, bpp)
        else:
            raise DataError(f"PNG file {path} is corrupt: unknown filter type {kind} "
                            f"in row {y}")
        out[y] = cur
        prior = cur
    return out


def _unfilter_sequential(kind: int, line: np.ndarray, prior: np.ndarray,
                         bpp: int) -> np.ndarray:
    # Average and Paeth depend on the byte just decoded, so they run byte by byte.
    filt, up = line.tolist(), prior.tolist()
    cur = [0] * len(filt)
    for i, value in enumerate(filt):
        a = cur[i - bpp] if i >= bpp else 0
        b = up[i]
        if kind == 3:
            cur[i] = (value + ((a + b) >> 1)) & 0xFF
            continue
        c = up[i - bpp] if i >= bpp else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        cur[i] = (value + pred) & 0xFF
    return np.array(cur, np.uint8)


# --- Netpbm ------------------------------------------------------------------------------

def _pnm_header(raw: bytes, path: str | os.PathLike) -> tuple[bytes, int, int, int, int]:
    """``(magic, width, height, maxval, end of header)`` of a PGM/PPM file."""
    magic = raw[:2]
    if magic not in (b"P2", b"P3", b"P5", b"P6"):
        raise DataError(f"unsupported PGM/PPM {path}: only P2/P3/P5/P6 are supported. "
                        f"Received magic: {magic!r}", hint=_CONVERT_HINT)
    tokens, pos = [], 2
    while len(tokens) < 3:  # width, height, maxval; '#' starts a comment in the header
        while pos < len(raw) and raw[pos:pos + 1].isspace():
            pos += 1
        if raw[pos:pos + 1] == b"#":
            pos = raw.find(b"\n", pos)
            pos = len(raw) if pos < 0 else pos
            continue
        start = pos
        while pos < len(raw) and not raw[pos:pos + 1].isspace() and raw[pos:pos + 1] != b"#":
            pos += 1
        if start == pos:
            raise DataError(f"PGM/PPM file {path} is truncated in its header")
        tokens.append(raw[start:pos])
    if not all(t.isdigit() and len(t) <= 9 for t in tokens):
        raise DataError(f"PGM/PPM file {path} has a corrupt header: "
                        f"{[t[:12] for t in tokens]}")
    width, height, maxval = (int(t) for t in tokens)
    if width < 1 or height < 1 or not 1 <= maxval <= 65535:
        raise DataError(f"PGM/PPM file {path} has an invalid header. Received: "
                        f"width={width}, height={height}, maxval={maxval}")
    _check_size(height, width, 1 if magic in (b"P2", b"P5") else 3, path)
    return magic, width, height, maxval, pos


def _check_size(height: int, width: int, channels: int, path: str | os.PathLike) -> None:
    if height * width * channels * 4 > MAX_IMAGE_BYTES:
        raise DataError(f"image {path} is too large: {height}x{width}x{channels} pixels "
                        f"(at most {MAX_IMAGE_BYTES} bytes as float32)", hint=_CONVERT_HINT)


def decode_pnm(raw: bytes, path: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Decodes a PGM/PPM (``P2``, ``P3``, ``P5``, ``P6``) to float32 ``(H, W, C)`` in [0, 1]."""
    magic, width, height, maxval, pos = _pnm_header(raw, path)
    channels = 1 if magic in (b"P2", b"P5") else 3
    count = width * height * channels
    body = raw[pos + 1:]  # exactly one whitespace byte separates the header from the data
    if magic in (b"P5", b"P6"):
        dtype = np.dtype("u1") if maxval < 256 else np.dtype(">u2")
        if len(body) < count * dtype.itemsize:
            raise DataError(f"PGM/PPM file {path} is truncated: {height}x{width}x{channels} "
                            f"needs {count * dtype.itemsize} bytes. Received: {len(body)}")
        values = np.frombuffer(body, dtype, count=count)
    else:
        tokens = body.split()[:count]
        if len(tokens) < count:
            raise DataError(f"PGM/PPM file {path} is truncated: needs {count} values. "
                            f"Received: {len(tokens)}")
        # Plain digits only: "-5" would decode to a negative pixel, and a 20-digit value
        # overflowed numpy's int64 parser (OverflowError). maxval <= 65535: 5 digits at most.
        bad = next((t for t in tokens if not (t.isdigit() and len(t) <= 5)), None)
        if bad is not None:
            raise DataError(f"PGM/PPM file {path} has an invalid pixel value. Received: "
                            f"{bad[:20].decode('latin-1')!r}; pixels are integers 0..{maxval}")
        values = np.array(tokens, dtype=np.int64)
    if values.max(initial=0) > maxval:
        raise DataError(f"PGM/PPM file {path} is corrupt: a pixel exceeds maxval={maxval}")
    scaled = values.astype(np.float32) / np.float32(maxval)
    return scaled.reshape(height, width, channels)


# --- .npy --------------------------------------------------------------------------------

def _read_npy(path: Path) -> np.ndarray:
    _npy_shape(*_npy_header(path), path)  # first: a header cannot make np.load allocate
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 (numpy raises many types for a damaged file)
        raise DataError(f"cannot read image array {path}: {type(exc).__name__}: {exc}") \
            from exc
    _npy_shape(array.shape, array.dtype, path)
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / np.float32(255.0)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            array = array.astype(np.float32)
        if not np.isfinite(array).all():  # checked here too: streamed folders decode late
            raise DataError(f"image array {path} must be finite float32 values. Received: "
                            f"{int((~np.isfinite(array)).sum())} NaN/Inf or out-of-range values",
                            hint="clean the array, or rescale it")
    return array[..., None] if array.ndim == 2 else array


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a .npy header, without reading the data."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(handle)
    except Exception as exc:  # noqa: BLE001 (a damaged header reaches ast.literal_eval:
        # SyntaxError, tokenize.TokenError, ValueError, ...)
        raise DataError(f"cannot read image array {path}: {type(exc).__name__}: {exc}") \
            from exc
    return tuple(shape), dtype


def _npy_shape(shape: tuple[int, ...], dtype: np.dtype, path: Path) -> tuple[int, int, int]:
    """The ``(H, W, C)`` a .npy image decodes to, or a DataError."""
    if len(shape) not in (2, 3) or 0 in shape:
        raise DataError(f"image array {path} must be (H, W) or (H, W, C) with at least one "
                        f"pixel. Received shape: {shape}")
    if dtype != np.uint8 and dtype.kind != "f":
        raise DataError(f"image array {path} must be uint8 or float. "
                        f"Received dtype: {dtype}", hint=_CONVERT_HINT)
    hwc = (shape[0], shape[1], shape[2] if len(shape) == 3 else 1)
    _check_size(*hwc, path)
    return hwc


# --- headers only ------------------------------------------------------------------------

def image_shape(path: str | os.PathLike) -> tuple[int, int, int]:
    """The ``(H, W, C)`` an image file decodes to, read from its header only.

    Checks what can be checked without the pixel data: the format and its variant (the same
    messages as :func:`read_image`), the size, the PNG header's CRC. Damaged pixel data is
    found when the file is decoded.

    Raises:
        DataError: unsupported format or variant, or a damaged header (the path is named).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        read_image(path)  # raises the unsupported-format error
    if suffix == ".npy":
        return _npy_shape(*_npy_header(path), path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(_HEADER_BYTES)
    except OSError as exc:
        raise DataError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    if suffix != ".png":
        if len(raw) == _HEADER_BYTES:  # a header this long (comments): read it all
            raw = path.read_bytes()
        _, width, height, _, _ = _pnm_header(raw, path)
        channels = 1 if raw[:2] in (b"P2", b"P5") else 3
        return height, width, channels
    if raw[:8] != _PNG_SIGNATURE:
        raise DataError(f"{path} is not a PNG file (bad signature)", hint=_CONVERT_HINT)
    length, ctype = struct.unpack(">I4s", raw[8:16]) if len(raw) >= 16 else (0, b"")
    data, crc = raw[16:29], raw[29:33]
    if ctype != b"IHDR" or length != 13 or len(crc) != 4:
        raise DataError(f"PNG file {path} is corrupt: it must start with a 13-byte IHDR chunk")
    if zlib.crc32(ctype + data) != struct.unpack(">I", crc)[0]:
        raise DataError(f"PNG file {path} is corrupt: CRC mismatch in chunk {ctype!r}")
    width, height, channels = _png_header(data, path)
    return height, width, channels


_HEADER_BYTES = 4096


# --- streamed images ---------------------------------------------------------------------
# LazyImages lives here, next to the decoder it calls and the folder scan that builds it, so
# that imports flow one way: calibration.stream imports it from here, nothing here imports
# calibration.stream (tests/calibration/test_imports.py checks there is no cycle).


class LazyImages:
    """Images of one shape, decoded when indexed.

    Args:
        paths: the image files, in sample order.
        shape: the ``(H, W, C)`` every file has (from its header; checked again on decode).
    """

    dtype = np.dtype(np.float32)
    #: Consumers (``Dataset``, ``compress.run.feed``) recognise a streamed split by this.
    streamed = True

    def __init__(self, paths: Sequence[str | os.PathLike], shape: tuple[int, int, int]) -> None:
        self.paths = tuple(Path(p) for p in paths)
        self.sample_shape = tuple(int(d) for d in shape)

    # -- array-like ------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.paths), *self.sample_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.sample_shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        """Bytes the decoded float32 array would take."""
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"LazyImages({len(self)} files, sample shape {self.sample_shape})"

    def __getitem__(self, key: Any) -> np.ndarray:
        rest: tuple = ()
        if isinstance(key, tuple):
            key, rest = (key[0], key[1:]) if key else (slice(None), ())
        if isinstance(key, (int, np.integer)):
            out = self._decode(self.paths[int(key)])
            return out[rest] if rest else out
        out = self._decode_many(self._indices(key))
        return out[(slice(None), *rest)] if rest else out

    def take(self, indices: Any) -> "LazyImages":
        """The samples at ``indices`` (ints, a slice or a boolean mask), still not decoded."""
        return LazyImages([self.paths[i] for i in self._indices(indices)], self.sample_shape)

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Decoded batches in order (the last one may be shorter)."""
        for start in range(0, len(self), batch_size):
            yield self[start:start + batch_size]

    def materialise(self) -> np.ndarray:
        """Every image decoded into one ``(N, H, W, C)`` float32 array."""
        return self._decode_many(range(len(self)))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.materialise()
        return array if dtype is None else array.astype(dtype, copy=False)

    def __iter__(self) -> Iterator[np.ndarray]:
        for path in self.paths:
            yield self._decode(path)

    # -- decoding --------------------------------------------------------------------
    def _indices(self, key: Any) -> Sequence[int]:
        if isinstance(key, slice):
            return range(*key.indices(len(self)))
        index = np.asarray(key)
        if index.dtype == bool:
            if index.shape != (len(self),):
                raise IndexError(f"a boolean mask must have shape ({len(self)},). "
                                 f"Received: {index.shape}")
            return np.flatnonzero(index).tolist()
        if index.ndim != 1 or index.dtype.kind not in "iu":
            raise IndexError(f"index with an int, a slice, a 1-D int array or a boolean mask. "
                             f"Received: {type(key).__name__} {index.dtype} {index.shape}")
        n = len(self)
        if index.size and not (-n <= index.min() and index.max() < n):
            raise IndexError(f"index out of range for {n} images. Received: "
                             f"{int(index.min())}..{int(index.max())}")
        return [int(i) + n if i < 0 else int(i) for i in index]

    def _decode_many(self, indices: Sequence[int]) -> np.ndarray:
        out = np.empty((len(indices), *self.sample_shape), np.float32)
        for row, i in enumerate(indices):
            out[row] = self._decode(self.paths[i])
        return out

    def _decode(self, path: Path) -> np.ndarray:
        image = read_image(path)
        if image.shape != self.sample_shape:  # the file changed since its header was read
            raise DataError(f"all images must have the same size: {path} is "
                            f"{_size(image.shape)}, expected "
                            f"{_size(self.sample_shape)}")
        return image


# --- folders -----------------------------------------------------------------------------

def _visible(folder: Path) -> list[Path]:
    # Hidden entries (.DS_Store, .ipynb_checkpoints) are tool debris, not data.
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def class_folders(folder: Path) -> list[Path]:
    """Class sub-folders of ``folder``, sorted by name; stray files are an error."""
    entries = _visible(folder)
    files = [p for p in entries if not p.is_dir()]
    if files:
        raise DataError(f"image folder {folder} must contain only class sub-folders. "
                        f"Received file: {files[0]}",
                        hint="layout: DIR/<class>/*.png or DIR/train/<class>/*.png + "
                             "DIR/test/<class>/*.png")
    return [p for p in entries if p.is_dir()]


def is_image_folder(folder: Path) -> bool:
    """True when ``folder`` has at least one visible sub-folder (the class-folder layout)."""
    return any(p.is_dir() for p in _visible(folder))


def scan_class_folders(folders: list[Path], class_ids: dict[str, int],
                       expect: tuple[int, ...] | None = None) -> tuple[Any, np.ndarray]:
    """Lists every image of every class folder, checking each file's header (not its pixels).

    Args:
        folders: class folders; the folder name is the class name.
        class_ids: class name -> integer id.
        expect: the ``(H, W, C)`` every image must have (default: the first image's).

    Returns:
        ``(x, y)``: a :class:`LazyImages` ``(N, H, W, C)`` (decoded when
        indexed) and the int64 labels ``(N,)``.

    Raises:
        DataError: an empty class folder, an unsupported file, or images of different sizes.
    """
    labels, files, first = [], [], None
    for folder in folders:
        paths = _visible(folder)
        if not paths:
            raise DataError(f"class folder {folder} has no images",
                            hint="remove the empty folder or add images to it")
        for path in paths:
            if path.is_dir():
                raise DataError(f"class folder {folder} must contain only image files. "
                                f"Received sub-folder: {path}")
            shape = image_shape(path)
            if expect is None:
                expect, first = shape, path
            elif shape != tuple(expect):
                like = f" (like {first})" if first else ""
                raise DataError(f"all images must have the same size: {path} is "
                                f"{_size(shape)}, expected {_size(expect)}{like}",
                                hint=_CONVERT_HINT)
            labels.append(class_ids[folder.name])
            files.append(path)
    return LazyImages(files, expect), np.asarray(labels, np.int64)


def _size(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape) + " (HxWxC)"


#: Seed of the 80/20 train/test split of a folder without train/ and test/.
SPLIT_SEED = 0
TEST_FRACTION = 0.2


def read_image_folder(folder: str | os.PathLike) -> dict:
    """Reads the layout of an image-classification folder and every image's header.

    Two layouts are accepted; class names are the sorted sub-folder names:

    - ``DIR/train/<class>/*`` and ``DIR/test/<class>/*``;
    - ``DIR/<class>/*``: each class is split 80/20 into train/test, shuffled with the fixed
      seed :data:`SPLIT_SEED` after sorting the file names (deterministic everywhere).

    Returns:
        ``{"x_train", "y_train", "x_test", "y_test", "class_names"}``; the inputs are
        :class:`LazyImages` (no pixel is decoded yet: call
        ``materialise()`` for arrays), the labels int64 arrays.

    Raises:
        DataError: a layout, file format or image size problem (the path is named).
    """
    folder = Path(folder)
    top = class_folders(folder)
    names = [p.name for p in top]
    if "train" in names or "test" in names:
        if sorted(names) != ["test", "train"]:
            raise DataError(f"image folder {folder} with a train/ or test/ sub-folder must "
                            f"contain exactly train/ and test/. Received: {', '.join(names)}",
                            hint="layout: DIR/train/<class>/*.png + DIR/test/<class>/*.png, "
                                 "or DIR/<class>/*.png for an automatic 80/20 split")
        train, test = class_folders(folder / "train"), class_folders(folder / "test")
        classes = sorted({p.name for p in train} | {p.name for p in test})
        ids = {name: i for i, name in enumerate(classes)}
        for split, folders in (("train", train), ("test", test)):
            if not folders:
                raise DataError(f"image folder {folder / split} has no class sub-folders",
                                hint=f"put images in {folder / split}/<class>/")
        x_train, y_train = scan_class_folders(train, ids)
        x_test, y_test = scan_class_folders(test, ids, expect=x_train.shape[1:])
        return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test,
                "class_names": tuple(classes)}
    ids = {name: i for i, name in enumerate(names)}
    x, y = scan_class_folders(top, ids)
    rng = np.random.default_rng(SPLIT_SEED)
    test_idx = []
    for class_id in range(len(names)):
        members = np.flatnonzero(y == class_id)
        n_test = max(1, round(TEST_FRACTION * len(members))) if len(members) > 1 else 0
        test_idx.extend(rng.permutation(members)[:n_test].tolist())
    if not test_idx:
        raise DataError(f"image folder {folder} is too small to split 80/20 into train and "
                        f"test: every class has one image. Received: {len(y)} images",
                        hint="add images, or use DIR/train/<class>/ and DIR/test/<class>/")
    is_test = np.zeros(len(y), bool)
    is_test[test_idx] = True
    return {"x_train": x.take(~is_test), "y_train": y[~is_test], "x_test": x.take(is_test),
            "y_test": y[is_test], "class_names": tuple(names)}
