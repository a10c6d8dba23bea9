"""Streamed image folders: nothing decoded up front, same results as the in-memory path."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from calibration import images, load_dataset, representative_samples, sources, subsample
from calibration.stream import LazyImages
from targets.errors import DataError
from tests.calibration.files import encode_png, encode_pnm


def write_folder(root, *, classes=3, per_class=12, size=(8, 8, 3), split=False, seed=0):
    """DIR/<class>/*.png (or DIR/train|test/<class>/*), one PGM per class for variety."""
    rng = np.random.default_rng(seed)
    tops = ("train", "test") if split else ("",)
    for top in tops:
        for c in range(classes):
            folder = root / top / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, size, dtype=np.uint8)
                if i == 0 and size[-1] == 3:
                    (folder / f"{i:03d}.ppm").write_bytes(encode_pnm(pixels))
                else:
                    (folder / f"{i:03d}.png").write_bytes(encode_png(pixels, filters=(0, 1, 4)))
    return root


@pytest.fixture
def counted(monkeypatch):
    """Counts image decodes (``images.read_image`` calls)."""
    calls = []
    real = images.read_image

    def read_image(path):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(images, "read_image", read_image)
    return calls


@pytest.mark.parametrize("split", [False, True])
def test_streamed_folder_matches_in_memory(tmp_path, split):
    root = write_folder(tmp_path / "imgs", split=split)
    memory = load_dataset(root, stream=False)
    streamed = load_dataset(root, stream=True)
    assert not memory.streamed and streamed.streamed
    assert isinstance(streamed.x_train, LazyImages)
    assert streamed.x_train.shape == memory.x_train.shape
    for split_ in ("train", "test"):
        np.testing.assert_array_equal(np.asarray(getattr(streamed, f"x_{split_}")),
                                      getattr(memory, f"x_{split_}"))
        np.testing.assert_array_equal(getattr(streamed, f"y_{split_}"),
                                      getattr(memory, f"y_{split_}"))
    assert streamed.class_names == memory.class_names == ("class0", "class1", "class2")
    assert streamed.summary()["streamed"] is True and "streamed" not in memory.summary()
    np.testing.assert_array_equal(representative_samples(streamed, 7, seed=3),
                                  representative_samples(memory, 7, seed=3))
    a, b = subsample(streamed, train=5, test=4, seed=1), subsample(memory, train=5, test=4, seed=1)
    assert a.streamed
    np.testing.assert_array_equal(np.asarray(a.x_train), b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)


def test_streamed_folder_decodes_only_what_is_used(tmp_path, counted):
    root = write_folder(tmp_path / "imgs", per_class=20)
    ds = load_dataset(root, stream=True)
    assert counted == []  # headers only
    picked = representative_samples(ds, 5, seed=0)
    assert picked.shape == (5, 8, 8, 3) and len(counted) == 5
    small = subsample(ds, train=10, test=3)
    assert len(counted) == 5  # still lazy
    batches = list(small.x_test.batches(2))
    assert [len(b) for b in batches] == [2, 1] and len(counted) == 8


def test_streamed_load_does_not_hold_the_pixels(tmp_path):
    """Loading a streamed folder allocates a fraction of its decoded size (tracemalloc)."""
    root = write_folder(tmp_path / "imgs", classes=2, per_class=60, size=(32, 32, 3))
    decoded = 120 * 32 * 32 * 3 * 4  # 1.4 MiB as float32
    tracemalloc.start()
    try:
        ds = load_dataset(root, stream=True)
        representative_samples(ds, 4)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < decoded / 4, peak


def test_threshold_picks_streaming(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "imgs")
    assert not load_dataset(root).streamed  # 28 KiB decoded: in memory by default
    monkeypatch.setenv(sources.STREAM_ENV, "0")
    assert load_dataset(root).streamed
    assert not load_dataset(root, stream=False).streamed  # the argument wins
    monkeypatch.setenv(sources.STREAM_ENV, "lots")
    with pytest.raises(DataError, match="EDGECOMPRESS_STREAM_MB must be a number"):
        load_dataset(root)


def test_damaged_pixels_surface_when_decoded(tmp_path):
    root = write_folder(tmp_path / "imgs")
    victim = root / "class1" / "005.png"
    raw = bytearray(victim.read_bytes())
    raw[-20] ^= 0xFF  # inside IDAT: the header still reads, the CRC does not match
    victim.write_bytes(bytes(raw))
    ds = load_dataset(root, stream=True)  # headers are fine
    with pytest.raises(DataError, match=r"005\.png is corrupt: CRC mismatch"):
        np.asarray(ds.x_train) if victim in ds.x_train.paths else np.asarray(ds.x_test)
    with pytest.raises(DataError, match=r"005\.png is corrupt"):
        load_dataset(root, stream=False)  # the in-memory path decodes at load


def test_header_checks_match_the_decoders(tmp_path):
    root = write_folder(tmp_path / "imgs")
    (root / "class0" / "big.png").write_bytes(encode_png(np.zeros((9, 8, 3), np.uint8)))
    for stream in (True, False):
        with pytest.raises(DataError, match=r"big\.png is 9x8x3 \(HxWxC\), expected 8x8x3"):
            load_dataset(root, stream=stream)
    (root / "class0" / "big.png").write_bytes(encode_png(np.zeros((8, 8, 3), np.uint8),
                                                         bit_depth=16))
    with pytest.raises(DataError, match="only 8-bit gray, RGB or RGBA"):
        load_dataset(root, stream=True)


def test_lazy_images_indexing(tmp_path):
    root = write_folder(tmp_path / "imgs", classes=1, per_class=6)
    lazy = images.read_image_folder(root)["x_train"]
    full = lazy.materialise()
    assert lazy.shape == full.shape and lazy.dtype == np.float32 and lazy.ndim == 4
    np.testing.assert_array_equal(lazy[-1], full[-1])
    np.testing.assert_array_equal(lazy[1:4], full[1:4])
    np.testing.assert_array_equal(lazy[[3, 0]], full[[3, 0]])
    np.testing.assert_array_equal(lazy[np.arange(len(lazy)) % 2 == 0], full[::2])
    np.testing.assert_array_equal(lazy[:2, 0, 1], full[:2, 0, 1])
    np.testing.assert_array_equal(lazy.take([2, 1])[0], full[2])
    with pytest.raises(IndexError):
        lazy[1.5]
    with pytest.raises(IndexError):
        lazy[10]
    with pytest.raises(IndexError):
        lazy[[0, -7]]
