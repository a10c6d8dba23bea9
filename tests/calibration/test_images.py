import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calibration.images import decode_png, read_image
from targets.errors import DataError
from tests.calibration.files import encode_png, encode_pnm


def _pixels(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _as_uint8(decoded):
    return np.round(decoded * 255).astype(np.uint8)


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("filters", [(0,), (1,), (2,), (3,), (4,), (0, 1, 2, 3, 4)])
def test_png_roundtrip_every_filter_and_colour_type(channels, filters):
    image = _pixels((7, 5, channels), seed=channels)
    decoded = decode_png(encode_png(image, filters=filters))
    assert decoded.dtype == np.float32 and decoded.shape == (7, 5, channels)
    assert 0.0 <= decoded.min() and decoded.max() <= 1.0
    np.testing.assert_array_equal(_as_uint8(decoded), image)


@settings(max_examples=40, deadline=None)
@given(height=st.integers(1, 9), width=st.integers(1, 9), channels=st.sampled_from([1, 3, 4]),
       filters=st.lists(st.integers(0, 4), min_size=1, max_size=5), seed=st.integers(0, 99))
def test_png_roundtrip_property(height, width, channels, filters, seed):
    image = _pixels((height, width, channels), seed=seed)
    decoded = decode_png(encode_png(image, filters=tuple(filters)))
    np.testing.assert_array_equal(_as_uint8(decoded), image)


def test_png_ignores_ancillary_chunks_and_rgb_palette_hint():
    image = _pixels((3, 4, 3))
    raw = encode_png(image, extra_chunks=((b"tEXt", b"Comment\x00hi"), (b"PLTE", b"\0" * 6)))
    np.testing.assert_array_equal(_as_uint8(decode_png(raw)), image)


@pytest.mark.parametrize("kwargs, received", [
    ({"bit_depth": 16}, "bit_depth=16"),
    ({"interlace": 1}, "interlaced"),
    ({"colour_type": 3}, r"colour_type=3 \(palette\)"),
    ({"colour_type": 4}, r"colour_type=4 \(gray\+alpha\)"),
])
def test_png_unsupported_variants_say_what_was_received(tmp_path, kwargs, received):
    path = tmp_path / "odd.png"
    path.write_bytes(encode_png(_pixels((2, 2)), **kwargs))
    with pytest.raises(DataError, match=rf"odd\.png.*Received: {received}") as info:
        read_image(path)
    assert "8-bit" in str(info.value) and info.value.hint


def test_png_crc_mismatch(tmp_path):
    raw = bytearray(encode_png(_pixels((4, 4))))
    raw[40] ^= 0xFF  # inside the IDAT payload
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"bad\.png is corrupt: CRC mismatch"):
        read_image(path)


def test_png_truncated(tmp_path):
    path = tmp_path / "cut.png"
    path.write_bytes(encode_png(_pixels((4, 4)))[:-20])
    with pytest.raises(DataError, match=r"cut\.png is truncated"):
        read_image(path)


def test_png_unknown_critical_chunk():
    raw = encode_png(_pixels((2, 2)), extra_chunks=((b"ZZZZ", b"x"),))
    with pytest.raises(DataError, match="unknown critical chunk 'ZZZZ'"):
        decode_png(raw, "z.png")


def test_png_bad_signature(tmp_path):
    path = tmp_path / "fake.png"
    path.write_bytes(b"GIF89a....")
    with pytest.raises(DataError, match=r"fake\.png is not a PNG file"):
        read_image(path)


@pytest.mark.parametrize("ascii_", [False, True])
@pytest.mark.parametrize("shape", [(3, 5), (3, 5, 3)])
def test_pgm_ppm_roundtrip(tmp_path, ascii_, shape):
    image = _pixels(shape)
    path = tmp_path / ("i.pgm" if len(shape) == 2 else "i.ppm")
    path.write_bytes(encode_pnm(image, ascii_=ascii_))
    decoded = read_image(path)
    assert decoded.shape == (3, 5, 1 if len(shape) == 2 else 3)
    np.testing.assert_array_equal(_as_uint8(decoded).reshape(shape), image)


def test_pgm_16_bit_is_scaled_by_maxval(tmp_path):
    path = tmp_path / "deep.pgm"
    path.write_bytes(encode_pnm(np.array([[0, 500, 1000]]), maxval=1000))
    np.testing.assert_allclose(read_image(path)[0, :, 0], [0.0, 0.5, 1.0])


def test_pgm_truncated(tmp_path):
    path = tmp_path / "cut.pgm"
    path.write_bytes(encode_pnm(_pixels((4, 4)))[:-3])
    with pytest.raises(DataError, match=r"cut\.pgm is truncated.*Received: 13"):
        read_image(path)


def test_pbm_bitmap_is_unsupported(tmp_path):
    path = tmp_path / "bits.pnm"
    path.write_bytes(b"P4\n2 2\n\x00\x00")
    with pytest.raises(DataError, match=r"only P2/P3/P5/P6.*Received magic: b'P4'"):
        read_image(path)


def test_npy_images(tmp_path):
    np.save(tmp_path / "u.npy", np.full((2, 3), 255, np.uint8))
    np.save(tmp_path / "f.npy", np.full((2, 3, 2), 0.25))
    np.testing.assert_array_equal(read_image(tmp_path / "u.npy"), np.ones((2, 3, 1)))
    assert read_image(tmp_path / "f.npy").dtype == np.float32
    np.save(tmp_path / "i.npy", np.zeros((2, 3), np.int32))
    with pytest.raises(DataError, match="must be uint8 or float. Received dtype: int32"):
        read_image(tmp_path / "i.npy")
    np.save(tmp_path / "v.npy", np.zeros(4))
    with pytest.raises(DataError, match=r"Received shape: \(4,\)"):
        read_image(tmp_path / "v.npy")


def test_unsupported_format_names_file_and_supported_ones(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff")
    with pytest.raises(DataError, match=r"photo\.jpg: supported formats are PNG.*\.npy\. "
                                        r"Received suffix: \.jpg"):
        read_image(path)
