"""Fuzzed .tflite files: reading and inspecting one gives a clear error or a usable result.

Real files (the tiny models of conftest.py in five formats) are truncated, have bytes
overwritten, inserted or copied from elsewhere in the file (which makes plausible offsets),
or are garbage behind a valid ``TFL3`` identifier. Whatever comes out:

* ``read_model`` raises ``ConversionError`` or returns a graph whose summary is JSON-able;
* ``inspect_file`` (what ``edgecompress inspect`` runs), with every device profile as the
  target, raises a ``CompressError`` or returns a JSON-able report that renders as text.

The test runs in this process: a crash (a segfault in a native parser) or a hang would stop
the run itself. Example counts come from the hypothesis profile (tests/conftest.py).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from targets.errors import CompressError, ConversionError
from targets.tflite_graph import read_model

pytestmark = pytest.mark.fuzz

FORMATS = ("float32", "int8", "float16", "dynamic_range", "pruned_sparse")
TARGETS = (None, "coral-usb", "rpi4", "mobile-gpu", "rpi-32bit")


@st.composite
def mutations(draw, good: bytes):
    data = bytearray(good)
    kind = draw(st.sampled_from(["truncate", "overwrite", "overwrite", "insert", "splice",
                                 "garbage"]))
    if kind == "truncate":
        return bytes(data[:draw(st.integers(0, len(data) - 1))])
    if kind == "garbage":
        garbage = bytearray(draw(st.binary(min_size=8, max_size=4096)))
        garbage[4:8] = b"TFL3"
        return bytes(garbage)
    # Most of a .tflite is weights: bias positions toward the first 4 KB (tables, offsets).
    positions = st.integers(0, min(len(data) - 1, 4095)) | st.integers(0, len(data) - 1)
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(positions)
        if kind == "overwrite":
            value = draw(st.sampled_from([b"\x00", b"\xff", b"\x7f\xff\xff\xff",
                                          b"\xff\xff\xff\xff", b"\x80"])
                         | st.binary(min_size=1, max_size=4))
            data[pos:pos + len(value)] = value
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        else:  # copy 4 bytes from elsewhere: an offset or length that points somewhere real
            src = draw(positions)
            data[pos:pos + 4] = data[src:src + 4]
    return bytes(data)


@pytest.fixture(scope="module")
def originals(tiny_models):
    return {fmt: getattr(tiny_models, fmt).read_bytes() for fmt in FORMATS}


def test_a_weight_byte_mutation_still_parses(originals):
    """The mutations reach parsed graphs too, not only the error paths."""
    good = originals["float32"]
    parsed = 0
    for pos in range(len(good) // 2, len(good) // 2 + 40):  # the middle: weight buffers
        data = bytearray(good)
        data[pos] ^= 0x5A
        try:
            json.dumps(read_model(bytes(data)).to_dict())
        except ConversionError:
            continue
        parsed += 1
    assert parsed > 0


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_read_model_mutations(originals, data):
    good = originals[data.draw(st.sampled_from(FORMATS))]
    blob = data.draw(mutations(good))
    try:
        graph = read_model(blob)
    except ConversionError as exc:
        assert str(exc)
        event("ConversionError")
        return
    event("parsed")
    json.dumps(graph.to_dict())
    graph.op_counts(), graph.dtype_counts(), graph.macs(), graph.weight_stats()


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_inspect_mutations(originals, data):
    from compress.artifacts.inspect import inspect_file, render_inspect

    good = originals[data.draw(st.sampled_from(FORMATS))]
    blob = data.draw(mutations(good))
    target = data.draw(st.sampled_from(TARGETS))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.tflite"
        path.write_bytes(blob)
        try:
            info = inspect_file(path, target=target, use_compiler=False)
        except CompressError as exc:
            assert str(exc)
            event(type(exc).__name__)
            return
    event("inspected")
    json.dumps(info)
    assert render_inspect(info)
