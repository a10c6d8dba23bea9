"""targets.energy: labelled figures, hand-computed op energy, profile ranges, RAPL, NVML."""

from __future__ import annotations

import math
import pathlib
import sys
import time

import pytest

from targets import energy
from targets.energy import EnergyFigure
from targets.errors import BenchmarkError
from targets.spec import DeviceProfile, builtin_profiles
from targets.tflite_graph import OpInfo, SubgraphInfo, TensorInfo, TFLiteGraph

PJ = 1e-9  # mJ per pJ


def _tensor(index, shape, dtype, const_bytes=0):
    return TensorInfo(index=index, name=f"t{index}", shape=list(shape),
                      shape_signature=list(shape), dtype=dtype, quantization=None,
                      buffer=index + 1 if const_bytes else 0, buffer_bytes=const_bytes,
                      is_constant=bool(const_bytes))


def _graph(tensors, ops) -> TFLiteGraph:
    sg = SubgraphInfo(index=0, name="main", ops=ops, tensors=tensors, inputs=[0],
                      outputs=[ops[-1].outputs[0]])
    return TFLiteGraph(ops=ops, tensors=tensors, inputs=[0], outputs=sg.outputs,
                       size_bytes=0, version=3, description="", subgraphs=[sg])


@pytest.fixture
def int8_fc() -> TFLiteGraph:
    """FULLY_CONNECTED 4 -> 3, int8 activations and weights, int32 bias: 12 MACs."""
    tensors = [_tensor(0, [1, 4], "int8"), _tensor(1, [3, 4], "int8", 12),
               _tensor(2, [3], "int32", 12), _tensor(3, [1, 3], "int8")]
    return _graph(tensors, [OpInfo(0, "FULLY_CONNECTED", [0, 1, 2], [3], {}, macs=12)])


@pytest.fixture
def fp16_weights() -> TFLiteGraph:
    """float16 weights DEQUANTIZEd at load time -> FULLY_CONNECTED 2 -> 2 -> RESHAPE."""
    tensors = [_tensor(0, [1, 2], "float32"), _tensor(1, [2, 2], "float16", 8),
               _tensor(2, [2, 2], "float32"), _tensor(3, [1, 2], "float32"),
               _tensor(4, [2], "float32")]
    ops = [OpInfo(0, "DEQUANTIZE", [1], [2], {}), OpInfo(1, "FULLY_CONNECTED", [0, 2, -1], [3],
                                                          {}, macs=4),
           OpInfo(2, "RESHAPE", [3], [4], {})]
    return _graph(tensors, ops)


# --- EnergyFigure -------------------------------------------------------------------------


def test_figure_dict_has_exactly_the_contract_keys():
    fig = EnergyFigure(1.0, 0.5, 2.0, "estimated-ops", "model", details={"x": 1})
    assert fig.to_dict() == {"value": 1.0, "low": 0.5, "high": 2.0, "method": "estimated-ops",
                             "source": "model"}
    assert not fig.measured
    assert EnergyFigure(1.0, 1.0, 1.0, "measured-meter", "meter").measured


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "measured"}, "Received: method='measured'"),
    ({"low": 3.0}, "low <= value <= high"),
    ({"value": float("nan")}, "low <= value <= high"),
    ({"source": " "}, "needs a source"),
])
def test_figure_rejects_bad_values(kwargs, match):
    args = {"value": 1.0, "low": 0.5, "high": 2.0, "method": "estimated-ops", "source": "s"}
    with pytest.raises(BenchmarkError, match=match):
        EnergyFigure(**{**args, **kwargs})


def test_figure_from_dict_round_trips_and_checks():
    fig = EnergyFigure(1.0, 0.5, 2.0, "estimated-profile", "p")
    assert energy.figure_from_dict(fig.to_dict()) == fig
    with pytest.raises(BenchmarkError, match="needs value, low, high"):
        energy.figure_from_dict({"value": 1.0})


# --- estimated-ops ------------------------------------------------------------------------


def test_ops_energy_hand_computed_int8(int8_fc):
    fig = energy.estimate_from_ops(int8_fc)
    compute = 12 * (0.2 + 0.03)            # 12 int8 MACs
    weights, acts = 12 + 12, 4 + 3           # int8 kernel + int32 bias; input + output bytes
    assert fig.method == "estimated-ops"
    assert fig.value == pytest.approx((compute + (weights + acts) / 8 * 1300) * PJ)
    assert fig.low == pytest.approx((compute + weights / 8 * 1300 + acts / 8 * 100) * PJ)
    assert fig.high == pytest.approx((compute + (weights + acts) / 8 * 2600) * PJ)
    assert fig.details["weight_bytes"] == weights and fig.details["activation_bytes"] == acts
    assert "relative comparison only" in fig.source
    assert fig.details["by_op"]["FULLY_CONNECTED"] == pytest.approx(fig.value)


def test_ops_energy_as_float32(int8_fc):
    fig = energy.estimate_from_ops(int8_fc, as_dtype="float32")
    compute = 12 * (3.7 + 0.9)
    traffic = (12 + 3) * 4 + (4 + 3) * 4
    assert fig.value == pytest.approx((compute + traffic / 8 * 1300) * PJ)
    assert "evaluated as float32" in fig.source
    with pytest.raises(BenchmarkError, match="Received: as_dtype='int3'"):
        energy.estimate_from_ops(int8_fc, as_dtype="int3")


def test_ops_energy_float16_weights(fp16_weights):
    # Load-time DEQUANTIZE is free per inference; RESHAPE moves nothing; fp32 arithmetic on CPU.
    fig = energy.estimate_from_ops(fp16_weights)
    assert fig.value == pytest.approx((4 * 4.6 + (16 + 16) / 8 * 1300) * PJ)
    assert [p["op"] for p in fig.details["per_op"]] == ["FULLY_CONNECTED", "RESHAPE"]
    gpu = energy.estimate_from_ops(fp16_weights, fp16_compute=True)
    assert gpu.value == pytest.approx((4 * 1.5 + (8 + 16) / 8 * 1300) * PJ)


# --- estimated-profile and latency --------------------------------------------------------


@pytest.fixture
def rpi4() -> DeviceProfile:
    return builtin_profiles()["rpi4"]


def test_profile_estimate_is_power_range_times_latency_range(rpi4):
    fig = energy.estimate_from_profile({"value": 2.0, "low": 1.0, "high": 3.0,
                                        "method": "estimated-anchors"}, rpi4)
    assert (fig.low, fig.value, fig.high) == pytest.approx((5.0 * 1.0, 5.55 * 2.0, 6.1 * 3.0))
    assert fig.method == "estimated-profile" and not fig.measured
    assert "rpi4 active power 5-6.1 W [published" in fig.source
    assert "estimated-anchors" in fig.source and "gross" in fig.source
    single = energy.estimate_from_profile(2.0, rpi4)
    assert (single.low, single.high) == pytest.approx((10.0, 12.2))
    with pytest.raises(BenchmarkError, match="low <= value <= high"):
        energy.estimate_from_profile({"value": 1.0, "low": 2.0, "high": 3.0}, rpi4)


def test_latency_from_int8_anchors(rpi4):
    lat = energy.estimate_latency(300_000_000, rpi4, "int8")
    t1, t2 = 569e6 / 24, 300e6 / 17  # MACs per ms of the two int8 anchors
    assert lat["value"] == pytest.approx(300e6 / math.sqrt(t1 * t2))
    assert lat["low"] == pytest.approx(300e6 / t1 * 0.7)
    assert lat["high"] == pytest.approx(300e6 / t2 * 1.3 + 0.2)
    assert lat["method"] == "estimated-anchors" and lat["confidence"] == "medium"
    assert "int8 24 ms" in lat["source"] and "float32" not in lat["source"]


def test_latency_small_model_hits_overhead_floor(rpi4):
    lat = energy.estimate_latency(1000, rpi4, "int8")
    assert (lat["low"], lat["value"]) == pytest.approx((0.02, 0.11))
    assert lat["high"] > 0.2 and lat["confidence"] == "low"
    assert "extrapolated" in lat["source"]


def test_latency_families(rpi4):
    f16 = energy.estimate_latency(300_000_000, rpi4, "float16")
    assert "float32 77 ms" in f16["source"] and "int8" not in f16["source"]
    dyn = energy.estimate_latency(300_000_000, rpi4, "dynamic")
    f32 = energy.estimate_latency(300_000_000, rpi4, "float32")
    i8 = energy.estimate_latency(300_000_000, rpi4, "int8")
    assert i8["value"] < dyn["value"] < f32["value"]
    # int4 and mixed: no anchor of their own; estimated from int8 (and float) anchors, labelled
    i4 = energy.estimate_latency(300_000_000, rpi4, "int4")
    assert i4["value"] == i8["value"] and i4["confidence"] == "low"
    assert "no int4 anchor" in i4["source"] and "optimistic" in i4["source"]
    mixed = energy.estimate_latency(300_000_000, rpi4, "mixed")
    assert i8["value"] < mixed["value"] < f32["value"] and mixed["confidence"] == "low"
    assert "mixed precision" in mixed["source"]


def test_latency_without_family_anchor_or_any_anchor(rpi4):
    data = {k: v for k, v in rpi4.to_dict().items() if k not in ("default_format", "path")}
    data["anchors"] = [a for a in data["anchors"] if a["format"] == "float32"]
    profile = DeviceProfile.from_dict(data)
    lat = energy.estimate_latency(300_000_000, profile, "int8")
    assert lat["confidence"] == "low" and "no int8 anchor" in lat["source"]
    data["anchors"] = []
    none = energy.estimate_latency(300_000_000, DeviceProfile.from_dict(data), "int8")
    assert none["value"] is None and "no latency anchors" in none["source"]


# --- measured-rapl ------------------------------------------------------------------------


def test_rapl_absent_gives_reason_and_no_figure(tmp_path):
    ok, reason = energy.rapl_available(tmp_path / "missing")
    assert not ok and "does not exist" in reason
    with pytest.raises(BenchmarkError, match="RAPL energy counters unavailable"):
        energy.measure_rapl(lambda: None, root=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    assert "no intel-rapl" in energy.rapl_available(tmp_path / "empty")[1]


def test_rapl_root_only(tmp_path, monkeypatch):
    domain = tmp_path / "intel-rapl:0"
    domain.mkdir()
    (domain / "energy_uj").write_text("1\n")
    real = pathlib.Path.read_text

    def deny(self, *args, **kwargs):
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "read_text", deny)
    ok, reason = energy.rapl_available(tmp_path)
    assert not ok and "root only" in reason


def test_rapl_measures_from_counters_with_wraparound(tmp_path):
    """A fake powercap tree: every call adds 1 mJ (1000 uJ); the counter wraps once."""
    domain = tmp_path / "intel-rapl:0"
    (domain / "sub").mkdir(parents=True)
    (tmp_path / "intel-rapl:0:0").mkdir()  # a sub-zone: not counted again
    (domain / "name").write_text("package-0\n")
    (domain / "max_energy_range_uj").write_text("100000\n")
    counter = domain / "energy_uj"
    counter.write_text("98500\n")  # the warm-up call reaches 99500: window 1 wraps

    def fn():
        counter.write_text(f"{(int(counter.read_text()) + 1000) % 100000}\n")
        time.sleep(0.002)  # <= 10 calls a 20 ms window: the counter wraps once, not per 100

    assert energy.rapl_available(tmp_path) == (True, "intel-rapl:0 (package-0)")
    fig = energy.measure_rapl(fn, window_s=0.02, windows=3, root=tmp_path)
    assert fig.method == "measured-rapl" and fig.measured
    assert fig.value == pytest.approx(1.0) and fig.low == pytest.approx(1.0)
    assert "net of idle (0.00 W" in fig.source and "median of 3 windows" in fig.source
    with pytest.raises(BenchmarkError, match="window_s must be > 0"):
        energy.measure_rapl(fn, window_s=0, root=tmp_path)


# --- measured-nvml ------------------------------------------------------------------------


def test_nvml_missing_module_gives_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails as if not installed
    ok, reason = energy.nvml_available()
    assert not ok and "pynvml is not installed" in reason
    with pytest.raises(BenchmarkError, match="NVML energy counter unavailable"):
        energy.measure_nvml(lambda: None)


def test_nvml_measures_a_gpu_workload():
    pytest.importorskip("pynvml")
    ok, reason = energy.nvml_available()
    if not ok:
        pytest.skip(f"no NVML energy counter: {reason}")
    import numpy as np

    a = np.ones((256, 256), dtype=np.float32)
    fig = energy.measure_nvml(lambda: a @ a, window_s=1.0, windows=2)
    assert fig.method == "measured-nvml" and fig.low <= fig.value <= fig.high
    assert "NVML total energy of GPU 0" in fig.source
