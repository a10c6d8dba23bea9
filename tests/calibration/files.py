"""Writers for the test fixtures: PNG (every filter type), PGM/PPM and IDX files.

The PNG encoder is independent of the decoder under test: it follows the PNG
specification (section 9) directly.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

COLOUR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _filter_row(kind: int, row: list[int], prior: list[int], bpp: int) -> list[int]:
    out = []
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prior[i]
        c = prior[i - bpp] if i >= bpp else 0
        pred = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
        out.append((x - pred) % 256)
    return out


def encode_png(image: np.ndarray, *, filters: tuple[int, ...] = (0,), interlace: int = 0,
               bit_depth: int = 8, colour_type: int | None = None,
               extra_chunks: tuple[tuple[bytes, bytes], ...] = ()) -> bytes:
    """PNG bytes of a uint8 (H, W) or (H, W, C) image; row y uses filters[y % len]."""
    image = image[..., None] if image.ndim == 2 else image
    height, width, channels = image.shape
    colour = COLOUR_TYPES[channels] if colour_type is None else colour_type
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, interlace)
    rows, prior = bytearray(), [0] * (width * channels)
    for y in range(height):
        row = image[y].reshape(-1).tolist()
        kind = filters[y % len(filters)]
        rows.append(kind)
        rows.extend(_filter_row(kind, row, prior, channels))
        prior = row
    chunks = [_chunk(b"IHDR", header), *(_chunk(k, d) for k, d in extra_chunks),
              _chunk(b"IDAT", zlib.compress(bytes(rows))), _chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def encode_pnm(image: np.ndarray, *, ascii_: bool = False, maxval: int = 255) -> bytes:
    """PGM (H, W) / PPM (H, W, 3) bytes, with a header comment."""
    gray = image.ndim == 2 or image.shape[-1] == 1
    height, width = image.shape[:2]
    magic = {(True, False): b"P5", (False, False): b"P6",
             (True, True): b"P2", (False, True): b"P3"}[(gray, ascii_)]
    header = magic + b"\n# made by a test\n" + f"{width} {height}\n{maxval}\n".encode()
    if ascii_:
        return header + " ".join(map(str, image.reshape(-1).tolist())).encode() + b"\n"
    dtype = ">u1" if maxval < 256 else ">u2"
    return header + image.astype(dtype).tobytes()


def write_idx(path: Path, array: np.ndarray, *, code: int = 0x08, gz: bool = False) -> Path:
    """An IDX file of ``array`` (type ``code``), gzipped when ``gz``."""
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    raw = (bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
           + array.astype(dtypes[code]).tobytes())
    if gz:
        path = path.with_name(path.name + ".gz")
        raw = gzip.compress(raw)
    path.write_bytes(raw)
    return path


IDX_NAMES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


def write_idx_folder(folder: Path, arrays: dict[str, np.ndarray], *, gz: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in IDX_NAMES.items():
        write_idx(folder / name, arrays[key], gz=gz)
    return folder


def tiny_arrays(seed: int = 0, *, train: int = 30, test: int = 10, classes: int = 3,
                size: int = 6) -> dict[str, np.ndarray]:
    """Small uint8 (N, size, size) images with every class present in both splits."""
    rng = np.random.default_rng(seed)
    return {"x_train": rng.integers(0, 256, (train, size, size), dtype=np.uint8),
            "y_train": np.arange(train) % classes,
            "x_test": rng.integers(0, 256, (test, size, size), dtype=np.uint8),
            "y_test": np.arange(test) % classes}
