import gzip

import numpy as np
import pytest

from calibration.idx import read_idx, read_idx_folder
from targets.errors import DataError
from tests.calibration.files import IDX_NAMES, tiny_arrays, write_idx, write_idx_folder


@pytest.mark.parametrize("gz", [False, True])
def test_reads_ubyte_images_with_header_shape(tmp_path, gz):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / "x-idx3-ubyte", images, gz=gz)
    out = read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, images)


@pytest.mark.parametrize("code, values", [(0x09, [-3, 7]), (0x0B, [-300, 2]),
                                          (0x0C, [70000, -1]), (0x0D, [1.5, -2.25]),
                                          (0x0E, [1e300, 0.5])])
def test_reads_every_idx_type_in_native_byte_order(tmp_path, code, values):
    array = np.array(values)
    out = read_idx(write_idx(tmp_path / "v.idx", array, code=code))
    assert out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_gzip_detected_from_content_not_name(tmp_path):
    path = tmp_path / "labels-no-suffix"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 2, 5, 6])))
    np.testing.assert_array_equal(read_idx(path), [5, 6])


def test_truncated_file_names_path_and_sizes(tmp_path):
    path = write_idx(tmp_path / "x.idx", np.zeros((4, 5, 5), np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match=r"x\.idx is truncated.*Received: 106 bytes"):
        read_idx(path)


def test_trailing_bytes_are_corruption(tmp_path):
    path = write_idx(tmp_path / "x.idx", np.zeros(3, np.uint8))
    path.write_bytes(path.read_bytes() + b"junk")
    with pytest.raises(DataError, match="longer than its header says"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "h.idx"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(DataError, match=r"h\.idx is truncated: its header needs 16 bytes"):
        read_idx(path)


def test_truncated_gzip_stream(tmp_path):
    path = write_idx(tmp_path / "x.idx", np.arange(500, dtype=np.uint8), gz=True)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataError, match=r"x\.idx\.gz is a corrupt or truncated gzip"):
        read_idx(path)


def test_bad_magic(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello world")
    with pytest.raises(DataError, match=r"notes\.txt is not an IDX file.*Received: 68656c6c"):
        read_idx(path)


def test_unknown_type_code(tmp_path):
    path = tmp_path / "t.idx"
    path.write_bytes(bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 9]))
    with pytest.raises(DataError, match="unknown IDX data type 0x42"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"cannot read IDX file .*absent\.idx"):
        read_idx(tmp_path / "absent.idx")


def test_folder_with_missing_file_lists_what_it_has(tmp_path):
    folder = write_idx_folder(tmp_path / "d", tiny_arrays())
    (folder / IDX_NAMES["y_test"]).unlink()
    with pytest.raises(DataError, match=r"missing t10k-labels-idx1-ubyte.*Received files: "
                                        r"t10k-images"):
        read_idx_folder(folder)
