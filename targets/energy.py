"""Energy per inference, measured or estimated, and always labelled with how it was obtained.

Every figure is an ``EnergyFigure`` in mJ per inference: ``{value, low, high, method,
source}``. ``method`` is one of

* ``measured-meter``: a power meter on the device (the on-device runner's ``energy_mj``);
* ``measured-rapl``: the host CPU package's RAPL counters
  (``/sys/class/powercap/intel-rapl:*/energy_uj``), net of idle;
* ``measured-nvml``: an NVIDIA GPU's energy counter (``nvmlDeviceGetTotalEnergyConsumption``),
  net of idle;
* ``estimated-profile``: a device profile's active power range times a latency range;
* ``estimated-ops``: an op-level model of the .tflite graph (arithmetic plus memory traffic
  at Horowitz's 45 nm energies): for relative comparison between artifacts only.

An estimate is never labelled measured: ``EnergyFigure.measured`` is derived from ``method``.
``estimate_latency`` gives the latency estimate (``estimated-anchors``) that
``estimate_from_profile`` multiplies by power when nothing was measured on the device.

No TensorFlow and nothing from ``compress`` here (``targets`` sits below it); ``pynvml`` is
optional and imported only by the NVML functions.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from targets.errors import BenchmarkError

METHODS = ("measured-meter", "measured-rapl", "measured-nvml", "estimated-profile",
           "estimated-ops")

#: Energy per operation in pJ (M. Horowitz, "Computing's energy problem (and what we can do
#: about it)", ISSCC 2014, 45 nm, 0.9 V). int16 add is Horowitz's 16-bit figure; his table has
#: no 16-bit integer multiply, so it is interpolated quadratically in the width between the
#: 8-bit (0.2 pJ) and 32-bit (3.1 pJ) multipliers: 0.2 * (16/8)**2 = 0.8 pJ.
OP_ENERGY_PJ = {
    "int8": {"add": 0.03, "mult": 0.2},
    "int16": {"add": 0.05, "mult": 0.8},
    "float16": {"add": 0.4, "mult": 1.1},
    "float32": {"add": 0.9, "mult": 3.7},
}
#: DRAM energy per 64-bit access (Horowitz ISSCC 2014: 1.3-2.6 nJ); the low end is the default.
DRAM_PJ_PER_WORD = (1300.0, 2600.0)
#: 1 MB on-chip cache, 64-bit access (Horowitz ISSCC 2014: 8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ).
SRAM_PJ_PER_WORD = 100.0

_HOROWITZ = "Horowitz, ISSCC 2014, 45 nm"
_MAC_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"}
_ADD_OPS = {"ADD", "SUB", "AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"}
_MULT_OPS = {"MUL", "DIV"}
# Ops whose output aliases their input in LiteRT's arena: no data is moved.
_NO_COPY_OPS = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}
# Ops that turn a stored constant into what the consumer reads; on a constant input LiteRT runs
# them once at load time, not per inference.
_INIT_OPS = {"DEQUANTIZE", "DENSIFY"}
_ITEM_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1, "uint8": 1,
               "int16": 2, "uint16": 2, "int32": 4, "uint32": 4, "int64": 8, "uint64": 8,
               "bool": 1, "int4": 0.5, "uint4": 0.5}


@dataclass(frozen=True)
class EnergyFigure:
    """Energy per inference in mJ, with its range and how it was obtained.

    Attributes:
        value: best figure (mJ per inference); for measurements the median over windows.
        low: lower end of the range (mJ); the smallest window for measurements.
        high: upper end of the range (mJ).
        method: one of ``METHODS``.
        source: how the number was made, in words (meter, counters, profile figures, model).
        details: extra data kept out of ``to_dict`` (per-window figures, per-op breakdown).
    """

    value: float
    low: float
    high: float
    method: str
    source: str
    details: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise BenchmarkError(f"energy method must be one of {', '.join(METHODS)}. "
                                 f"Received: method={self.method!r}")
        if not isinstance(self.source, str) or not self.source.strip():
            raise BenchmarkError(f"every energy figure needs a source. Received: {self.source!r}")
        numbers = (self.low, self.value, self.high)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in numbers) \
                or not 0 <= self.low <= self.value <= self.high:
            raise BenchmarkError(f"energy must satisfy 0 <= low <= value <= high (mJ). Received: "
                                 f"low={self.low}, value={self.value}, high={self.high}")

    @property
    def measured(self) -> bool:
        """True only for ``measured-*`` methods."""
        return self.method.startswith("measured-")

    def to_dict(self) -> dict:
        """``{value, low, high, method, source}`` (mJ per inference)."""
        return {"value": self.value, "low": self.low, "high": self.high,
                "method": self.method, "source": self.source}


# --- measured: RAPL -----------------------------------------------------------------------

RAPL_ROOT = Path("/sys/class/powercap")


def _rapl_domains(root: Path) -> list[Path]:
    """Top-level package domains (``intel-rapl:0``), not their sub-zones (``intel-rapl:0:0``)."""
    return sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)


def rapl_available(root: str | Path = RAPL_ROOT) -> tuple[bool, str]:
    """Whether the host's RAPL package energy counters can be read, and why (not).

    Returns:
        ``(True, "intel-rapl:0 (package-0), ...")`` or ``(False, reason)``: no powercap
        folder (not Linux, a VM or container without it), no RAPL domain (a CPU without
        RAPL), or counters readable by root only (the default since Linux 5.10, after the
        PLATYPUS side channel, CVE-2020-8694).
    """
    root = Path(root)
    if not root.is_dir():
        return False, (f"{root} does not exist: no powercap interface (not Linux on bare "
                       "metal, or a VM/container that does not expose it)")
    domains = _rapl_domains(root)
    if not domains:
        return False, f"no intel-rapl:* domain under {root}: this CPU or kernel has no RAPL"
    names = []
    for domain in domains:
        try:
            int((domain / "energy_uj").read_text().strip())
        except PermissionError:
            return False, (f"{domain / 'energy_uj'} is readable by root only (the default "
                           "since Linux 5.10, CVE-2020-8694); run as root or "
                           "chmod a+r it to measure host energy")
        except (OSError, ValueError) as exc:
            return False, f"cannot read {domain / 'energy_uj'}: {exc}"
        label = _read_text(domain / "name") or domain.name
        names.append(f"{domain.name} ({label})")
    return True, ", ".join(names)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _rapl_read(domains: list[Path]) -> list[int]:
    return [int((d / "energy_uj").read_text().strip()) for d in domains]


def _rapl_delta_uj(before: list[int], after: list[int], domains: list[Path]) -> float:
    total = 0.0
    for b, a, d in zip(before, after, domains):
        if a < b:  # the counter wrapped around max_energy_range_uj
            wrap = _read_text(d / "max_energy_range_uj")
            a += int(wrap) if wrap and wrap.isdigit() else 0
        total += a - b
    return total


class Meter(Protocol):
    """What ``measure_windows`` reads: the mean power over a window.

    ``start()`` opens a window; ``stop(seconds)`` closes it (``seconds`` is its length as the
    caller timed it) and returns the mean power over it in W and how many meter readings it
    took. ``targets/runner.py``'s ``_PowerSampler`` is one (a power-meter command sampled in a
    thread); ``_CounterMeter`` here turns an energy counter (RAPL, NVML) into one.
    """

    def start(self) -> None: ...

    def stop(self, seconds: float) -> tuple[float, int]: ...


class _CounterMeter:
    """An energy counter read at both ends of a window; ``delta`` gives mJ between readings."""

    def __init__(self, read: Callable[[], Any], delta: Callable[[Any, Any], float]) -> None:
        self._read, self._delta, self._r0 = read, delta, None

    def start(self) -> None:
        self._r0 = self._read()

    def stop(self, seconds: float) -> tuple[float, int]:
        return self._delta(self._r0, self._read()) / 1e3 / seconds, 2


def measure_windows(run_once: Callable[[int], Any], meter: Meter, window_s: float,
                    windows: int) -> tuple[float, list[dict]]:
    """MLPerf Tiny style energy windows: one idle, then ``windows`` of back-to-back inferences.

    Every window lasts at least ``window_s`` s; an active window calls ``run_once(i)``, ``i``
    counting its inferences from 0, at least once and until ``window_s`` s have passed.
    ``targets/runner.py`` carries a copy (``_measure_windows``: it runs alone on devices);
    ``tests/targets/test_energy_window.py`` checks that the two give the same figures.

    Returns:
        ``(idle_w, per_window)``: the idle power in W and, per active window, ``seconds``,
        ``inferences``, ``readings``, ``active_w`` and mJ per inference ``gross_mj`` and
        ``net_mj`` (net of idle: ``(active_w - idle_w) x seconds / inferences``).
    """
    meter.start()
    t0 = time.perf_counter()
    time.sleep(window_s)
    idle_w, _ = meter.stop(time.perf_counter() - t0)
    per_window = []
    for _ in range(windows):
        meter.start()
        n, t0 = 0, time.perf_counter()
        while n == 0 or time.perf_counter() - t0 < window_s:
            run_once(n)
            n += 1
        elapsed = time.perf_counter() - t0
        active_w, readings = meter.stop(elapsed)
        per_window.append({
            "seconds": elapsed, "inferences": n, "readings": readings, "active_w": active_w,
            "gross_mj": active_w * elapsed / n * 1e3,
            "net_mj": (active_w - idle_w) * elapsed / n * 1e3})
    return idle_w, per_window


def _counter_windows(read: Callable[[], Any], delta: Callable[[Any, Any], float],
                     fn: Callable[[], Any], window_s: float,
                     windows: int) -> tuple[float, list[dict]]:
    """``measure_windows`` over an energy counter, after one warm-up call of ``fn()``.

    ``delta`` gives mJ between two readings. Returns (idle watts, per-window records).
    """
    if not window_s > 0 or windows < 1:
        raise BenchmarkError(f"window_s must be > 0 and windows >= 1. Received: "
                             f"window_s={window_s}, windows={windows}")
    fn()  # warm-up outside the windows (first-call allocation, lazy init)
    return measure_windows(lambda i: fn(), _CounterMeter(read, delta), window_s, windows)


def _measured(method: str, what: str, idle_w: float, per_window: list[dict],
              window_s: float) -> EnergyFigure:
    net = [w["net_mj"] for w in per_window]
    clipped = [max(v, 0.0) for v in net]
    value = statistics.median(clipped)
    n = sum(w["inferences"] for w in per_window)
    gross = statistics.median(w["gross_mj"] for w in per_window)
    source = (f"{what}; net of idle ({idle_w:.2f} W over {window_s:g} s before); median of "
              f"{len(per_window)} windows of {window_s:g} s ({n} inferences); low/high: "
              f"smallest/largest window; gross {gross:.4g} mJ")
    if min(net) < 0:
        source += "; a window below idle was clipped to 0 (noisy counter or busy host)"
    return EnergyFigure(value=value, low=min(clipped), high=max(clipped), method=method,
                        source=source, details={"idle_w": idle_w, "gross": gross,
                                                "per_window": per_window})


def measure_rapl(fn: Callable[[], Any], *, window_s: float = 1.0, windows: int = 5,
                 root: str | Path = RAPL_ROOT) -> EnergyFigure:
    """Host CPU package energy per call of ``fn`` from the RAPL counters, net of idle.

    Reads every package domain's ``energy_uj`` around an idle window and ``windows`` windows of
    back-to-back calls (each at least ``window_s`` s) and takes the median per call. RAPL counts
    the whole package, every process on it: keep the host quiet.

    Raises:
        BenchmarkError: RAPL is not readable here (the message says why).
    """
    ok, reason = rapl_available(root)
    if not ok:
        raise BenchmarkError(f"RAPL energy counters unavailable: {reason}",
                             hint="host energy falls back to estimates (estimated-ops)")
    domains = _rapl_domains(Path(root))
    idle_w, per_window = _counter_windows(lambda: _rapl_read(domains),
                                  lambda a, b: _rapl_delta_uj(a, b, domains) / 1e3,
                                  fn, window_s, windows)
    names = ", ".join(d.name for d in domains)
    return _measured("measured-rapl", f"RAPL package energy ({names}) on this host",
                     idle_w, per_window, window_s)


# --- measured: NVML -----------------------------------------------------------------------


def nvml_available(device_index: int = 0) -> tuple[bool, str]:
    """Whether NVML's total-energy counter works on GPU ``device_index``, and why (not)."""
    try:
        import pynvml
    except ImportError:
        return False, "pynvml is not installed (pip install 'edgecompress[gpu]')"
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return False, f"NVML did not start: {exc} (no NVIDIA driver or GPU)"
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
        name = pynvml.nvmlDeviceGetName(handle)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        name = name.decode() if isinstance(name, bytes) else name
        return True, f"GPU {device_index}: {name}"
    except Exception as exc:  # noqa: BLE001 - NotSupported on pre-Volta GPUs, bad index
        return False, f"NVML energy counter unavailable on GPU {device_index}: {exc}"
    finally:
        pynvml.nvmlShutdown()


def measure_nvml(fn: Callable[[], Any], *, window_s: float = 1.0, windows: int = 5,
                 device_index: int = 0) -> EnergyFigure:
    """GPU energy per call of ``fn`` from NVML's total-energy counter (mJ), net of idle.

    ``fn`` must wait for the GPU to finish (e.g. ``np.asarray(model(x))``), or the work lands
    in the next window. The counter has a coarse update interval, hence windows of >= 1 s.

    Raises:
        BenchmarkError: pynvml missing, no GPU, or a GPU without the counter (pre-Volta).
    """
    ok, reason = nvml_available(device_index)
    if not ok:
        raise BenchmarkError(f"NVML energy counter unavailable: {reason}")
    import pynvml

    pynvml.nvmlInit()
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
        idle_w, per_window = _counter_windows(
            lambda: int(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)),
            lambda a, b: float(b - a), fn, window_s, windows)
    finally:
        pynvml.nvmlShutdown()
    return _measured("measured-nvml", f"NVML total energy of {reason}", idle_w, per_window,
                     window_s)


# --- estimated: device profile ------------------------------------------------------------


def _range(latency_ms: float | Mapping[str, Any]) -> tuple[float, float, float, str]:
    if isinstance(latency_ms, Mapping):
        value = latency_ms.get("value", latency_ms.get("p50"))
        low = latency_ms.get("low", value)
        high = latency_ms.get("high", value)
        method = latency_ms.get("method") or "given"
    else:
        value = low = high = latency_ms
        method = "given"
    if value is None or not 0 <= low <= value <= high:
        raise BenchmarkError(f"latency must satisfy 0 <= low <= value <= high (ms). Received: "
                             f"{latency_ms!r}")
    return float(value), float(low), float(high), str(method)


def estimate_from_profile(latency_ms: float | Mapping[str, Any], profile: Any) -> EnergyFigure:
    """Device energy per inference: the profile's active power range times the latency range.

    Gross whole-device energy (idle power included), as a wall-socket meter would read it:
    ``low = power.low * latency.low``, ``high = power.high * latency.high``,
    ``value = power.mid * latency.value`` (W x ms = mJ).

    Args:
        latency_ms: a number, or ``{value, low, high[, method]}`` (e.g. ``estimate_latency``'s
            result or a measured p50 range).
        profile: a ``targets.spec.DeviceProfile`` (uses ``power_active``).
    """
    value, low, high, method = _range(latency_ms)
    power = profile.power_active
    source = (f"{profile.id} active power {power.low:g}-{power.high:g} W [{power.kind}: "
              f"{power.source}] x latency {low:.3g}-{high:.3g} ms ({method}); gross "
              "whole-device energy, idle power included")
    return EnergyFigure(value=power.mid * value, low=power.low * low, high=power.high * high,
                        method="estimated-profile", source=source)


# --- estimated: op-level model ------------------------------------------------------------


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= max(int(d), 1)
    return n


def _tensor_bytes(tensor: Any, as_dtype: str | None = None) -> float:
    dtype = as_dtype or tensor.dtype
    return _numel(tensor.shape) * _ITEM_BYTES.get(dtype, 4)


def _compute_dtype(op: Any, sg: Any, producers: dict, fp16_compute: bool) -> str:
    """The arithmetic an op does: by its activation input and its weights."""
    act_slot = 2 if op.op == "TRANSPOSE_CONV" else 0
    act = sg.tensors[op.inputs[act_slot]] if len(op.inputs) > act_slot \
        and op.inputs[act_slot] >= 0 else None
    dtype = act.dtype if act is not None else "float32"
    if dtype in ("int8", "uint8"):
        return "int8"
    if dtype == "int16":
        return "int16"
    if dtype == "float16":
        return "float16"
    if op.op in _MAC_OPS and len(op.inputs) > 1 and op.inputs[1] >= 0:
        weight = sg.tensors[op.inputs[1]]
        if weight.dtype in ("int8", "int4"):
            return "int8"  # hybrid (dynamic-range) kernels quantize activations on the fly
        producer = producers.get(op.inputs[1])
        if fp16_compute and producer is not None and producer.op == "DEQUANTIZE" and \
                sg.tensors[producer.inputs[0]].dtype == "float16":
            return "float16"
    return "float32"


def estimate_from_ops(graph: Any, *, fp16_compute: bool = False,
                      as_dtype: str | None = None) -> EnergyFigure:
    """Op-level energy of one inference of a .tflite graph: arithmetic plus memory traffic.

    The model (relative comparison between artifacts only, not an absolute device figure):

    * arithmetic: per MAC of CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED / TRANSPOSE_CONV a
      multiply and an add; per counted element of ADD/SUB/pools an add, of MUL/DIV a multiply;
      at ``OP_ENERGY_PJ`` for the op's arithmetic (int8 for full-integer and for dynamic-range
      ops, whose hybrid kernels quantize activations on the fly; int16 for int16x8; float32
      otherwise: float16 weights are dequantized at load time on CPUs unless ``fp16_compute``).
      Requantization, accumulator widening and instruction overhead are left out.
    * weights: every constant an op reads (after load-time DEQUANTIZE/DENSIFY) once per
      inference; activations: every non-constant input and output of every op (RESHAPE-like
      ops move nothing).
    * ``value``: all traffic from DRAM at 1.3 nJ per 64-bit word; ``low``: activations from a
      1 MB on-chip cache (100 pJ/word) instead; ``high``: all traffic from DRAM at 2.6 nJ/word.

    Args:
        graph: a ``targets.tflite_graph.TFLiteGraph``.
        fp16_compute: count float16-weight ops as float16 arithmetic on float16 weights (GPU
            delegates) instead of float32.
        as_dtype: evaluate the same graph as if every tensor and op were this dtype (e.g.
            ``"float32"`` for the float Keras model an integer artifact came from).

    Returns:
        An ``estimated-ops`` figure; ``details`` holds ``compute_pj``, ``weight_bytes``,
        ``activation_bytes``, ``per_op`` and ``by_op`` (mJ per op kind).
    """
    if as_dtype is not None and as_dtype not in OP_ENERGY_PJ:
        raise BenchmarkError(f"as_dtype must be one of {', '.join(OP_ENERGY_PJ)}. "
                             f"Received: as_dtype={as_dtype!r}")
    dram, dram_high = DRAM_PJ_PER_WORD
    per_op: list[dict] = []
    seen: set[tuple[int, int]] = set()  # constants are read once however many ops share them
    for sg in graph.subgraphs:
        producers = {o: op for op in sg.ops for o in op.outputs}
        for op in sg.ops:
            if op.op in _INIT_OPS and _constant_input(sg, op):
                continue  # runs once at load time
            per_op.append(_op_energy(op, sg, producers, seen, as_dtype, fp16_compute))
    compute_pj = sum(p["compute_pj"] for p in per_op)
    weight_bytes = sum(p["weight_bytes"] for p in per_op)
    act_bytes = sum(p["activation_bytes"] for p in per_op)
    weights_pj = weight_bytes / 8 * dram
    value_pj = compute_pj + weights_pj + act_bytes / 8 * dram
    low_pj = compute_pj + weights_pj + act_bytes / 8 * SRAM_PJ_PER_WORD
    high_pj = compute_pj + (weight_bytes + act_bytes) / 8 * dram_high
    by_op: dict[str, float] = {}
    for p in per_op:
        by_op[p["op"]] = by_op.get(p["op"], 0.0) + p["energy_pj"] * 1e-9
    macs = sum(p["macs"] for p in per_op)
    what = f" evaluated as {as_dtype}" if as_dtype else ""
    source = (f"op-level model{what}: {macs} MACs and {weight_bytes + act_bytes:.0f} bytes of "
              f"tensor traffic at {_HOROWITZ} energies (int8 add 0.03 / mult 0.2 pJ, fp32 "
              f"0.9 / 3.7 pJ, DRAM 1.3 nJ per 64-bit word; range: activations in a 1 MB cache "
              f"at 100 pJ to all traffic at 2.6 nJ); for relative comparison only, not a "
              f"device measurement or an absolute device figure")
    return EnergyFigure(
        value=value_pj * 1e-9, low=low_pj * 1e-9, high=high_pj * 1e-9,
        method="estimated-ops", source=source,
        details={"macs": macs, "compute_pj": compute_pj, "weight_bytes": weight_bytes,
                 "activation_bytes": act_bytes, "compute_mj": compute_pj * 1e-9,
                 "weights_mj": weights_pj * 1e-9,
                 "activations_mj": act_bytes / 8 * dram * 1e-9, "by_op": by_op,
                 "per_op": per_op})


def _constant_input(sg: Any, op: Any) -> bool:
    return bool(op.inputs) and op.inputs[0] >= 0 and sg.tensors[op.inputs[0]].is_constant


def _op_energy(op: Any, sg: Any, producers: dict, seen: set, as_dtype: str | None,
               fp16_compute: bool) -> dict:
    """Arithmetic (pJ) and bytes moved by one op (see ``estimate_from_ops``)."""
    dtype = as_dtype or _compute_dtype(op, sg, producers, fp16_compute)
    cost = OP_ENERGY_PJ[dtype]
    per_count = (cost["mult"] + cost["add"] if op.op in _MAC_OPS else cost["add"]
                 if op.op in _ADD_OPS else cost["mult"] if op.op in _MULT_OPS else 0.0)
    w_bytes = a_bytes = 0.0
    if op.op not in _NO_COPY_OPS:
        for i in op.inputs:
            if i < 0:
                continue
            p = producers.get(i)
            if sg.tensors[i].is_constant or (p is not None and p.op in _INIT_OPS
                                             and _constant_input(sg, p)):
                if (sg.index, i) not in seen:
                    seen.add((sg.index, i))
                    w_bytes += _weight_bytes(sg, producers, i, as_dtype, fp16_compute)
            else:
                a_bytes += _tensor_bytes(sg.tensors[i], as_dtype)
        a_bytes += sum(_tensor_bytes(sg.tensors[o], as_dtype) for o in op.outputs if o >= 0)
    compute = op.macs * per_count
    return {"subgraph": sg.index, "index": op.index, "op": op.op, "dtype": dtype,
            "macs": op.macs, "compute_pj": compute, "weight_bytes": w_bytes,
            "activation_bytes": a_bytes,
            "energy_pj": compute + (w_bytes + a_bytes) / 8 * DRAM_PJ_PER_WORD[0]}


def _weight_bytes(sg: Any, producers: dict, index: int, as_dtype: str | None,
                  fp16_compute: bool) -> float:
    """Bytes an op reads for a constant input: stored, or as dequantized at load time."""
    tensor = sg.tensors[index]
    if as_dtype is not None:
        return _tensor_bytes(tensor, as_dtype)
    if tensor.is_constant:
        return tensor.buffer_bytes
    producer = producers[index]  # DEQUANTIZE/DENSIFY of a constant (checked by the caller)
    if fp16_compute and producer.op == "DEQUANTIZE":
        return sg.tensors[producer.inputs[0]].buffer_bytes
    return _tensor_bytes(tensor)


# --- estimated: latency from anchors ------------------------------------------------------

#: Relative margin added on both sides of the anchors' throughput spread: the anchors are
#: whole-model figures for MobileNet-class CNNs, and other architectures reach other
#: efficiencies (depthwise vs dense convolutions, memory-bound dense layers).
ANCHOR_MARGIN = 0.3
#: Fixed per-inference overhead (ms, low-high) by delegate: interpreter invoke and thread
#: wake-up on a CPU; command submission and read-back on a GPU delegate; the USB/PCIe round
#: trip to an Edge TPU. Small models are bound by it, not by MACs. Our estimates, not measured.
OVERHEAD_FLOOR_MS = {None: (0.02, 0.2), "xnnpack": (0.02, 0.2), "nnapi": (0.3, 2.0),
                     "gpu": (0.5, 3.0), "edgetpu": (0.2, 1.0)}
_FAMILIES = {"int8": ("int8",), "int16x8": ("float32", "float16"),
             "dynamic": ("int8", "float32", "float16"), "float16": ("float32", "float16"),
             "float32": ("float32", "float16"),
             # int4 weights are unpacked to int8 arithmetic; mixed is int4/int8/float16 layers
             "int4": ("int8",), "mixed": ("int8", "float32", "float16")}
#: formats no anchor measures directly: the estimate says so and is of low confidence
_UNANCHORED = {"int4": "no int4 anchor: int8 anchors used, without the cost of unpacking "
                       "int4 weights (likely optimistic)",
               "mixed": "no anchor for per-layer mixed precision: int8 and float anchors used"}
_LOWER = {"high": "medium", "medium": "low", "low": "low"}


def estimate_latency(macs: int, profile: Any, fmt: str) -> dict:
    """Batch-1 latency of a model with ``macs`` MACs in format ``fmt`` on ``profile``'s device.

    Calibrated from the profile's anchors of the matching format family (int8 anchors for
    int8; float anchors for float32/float16; both for dynamic-range models, which run int8
    arithmetic on float activations; float anchors for int16x8, which has no XNNPACK kernels):
    each anchor gives an effective throughput (MACs/ms). ``value`` uses the geometric mean;
    ``low``/``high`` the fastest/slowest anchor -/+ ``ANCHOR_MARGIN``. A per-inference floor
    (``OVERHEAD_FLOOR_MS`` by delegate) models the overhead that dominates small models:
    ``low = max(compute_low, floor_low)``, ``value = max(compute, floor_mid)``,
    ``high = compute_high + floor_high``.

    Confidence starts at the profile's and drops a level when no anchor of the family exists
    or ``macs`` is more than 10x outside the anchors' MAC range (extrapolation).

    Returns:
        ``{value, low, high, method: "estimated-anchors", source, confidence}`` (ms); value
        ``None`` when the profile has no anchors.
    """
    family = _FAMILIES.get(fmt, (fmt,))
    anchors = [a for a in profile.anchors if a.format in family]
    confidence = profile.confidence
    notes = []
    if not anchors and profile.anchors:
        anchors = list(profile.anchors)
        confidence = _LOWER[confidence]
        notes.append(f"no {'/'.join(family)} anchor: all formats' anchors used")
    if not anchors:
        return {"value": None, "low": None, "high": None, "method": "estimated-anchors",
                "source": f"{profile.id} has no latency anchors", "confidence": "low"}
    if fmt == "int16x8" or fmt in _UNANCHORED:
        confidence = "low"
    if fmt in _UNANCHORED:
        notes.append(_UNANCHORED[fmt])
    throughputs = [a.macs_per_ms for a in anchors]
    geo = math.exp(sum(math.log(t) for t in throughputs) / len(throughputs))
    lo_macs, hi_macs = min(a.macs for a in anchors), max(a.macs for a in anchors)
    if macs < lo_macs / 10 or macs > hi_macs * 10:
        confidence = _LOWER[confidence]
        notes.append(f"{macs / 1e6:.3g}M MACs is far outside the anchors' "
                     f"{lo_macs / 1e6:.3g}-{hi_macs / 1e6:.3g}M (extrapolated)")
    floor_low, floor_high = OVERHEAD_FLOOR_MS.get(profile.delegate, OVERHEAD_FLOOR_MS[None])
    compute = macs / geo
    low = max(macs / max(throughputs) * (1 - ANCHOR_MARGIN), floor_low)
    value = max(compute, (floor_low + floor_high) / 2)
    high = macs / min(throughputs) * (1 + ANCHOR_MARGIN) + floor_high
    names = "; ".join(f"{a.model} {a.format} {a.latency_ms:g} ms [{a.kind}]" for a in anchors)
    source = (f"{profile.id}: {macs} MACs / effective throughput {geo / 1e6:.3g} GMAC/s "
              f"(geometric mean of anchors: {names}); range: fastest/slowest anchor "
              f"-/+{ANCHOR_MARGIN:.0%}; per-inference overhead floor {floor_low:g}-"
              f"{floor_high:g} ms ({profile.delegate or 'cpu'}, estimated)")
    if profile.delegate == "edgetpu":
        source += ("; assumes every op compiled for the Edge TPU (edgetpu_compiler); ops it "
                   "cannot map run on the host CPU, slower")
    if notes:
        source += "; " + "; ".join(notes)
    return {"value": value, "low": low, "high": high, "method": "estimated-anchors",
            "source": source, "confidence": confidence}


def figure_from_dict(data: Mapping[str, Any]) -> EnergyFigure:
    """An ``EnergyFigure`` back from its ``to_dict`` form (validated)."""
    try:
        return EnergyFigure(value=float(data["value"]), low=float(data["low"]),
                            high=float(data["high"]), method=data["method"],
                            source=data["source"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BenchmarkError(f"an energy figure needs value, low, high, method and source. "
                             f"Received: {dict(data)!r} ({exc})") from None


__all__ = ["METHODS", "OP_ENERGY_PJ", "DRAM_PJ_PER_WORD", "SRAM_PJ_PER_WORD", "ANCHOR_MARGIN",
           "OVERHEAD_FLOOR_MS", "EnergyFigure", "Meter", "measure_windows", "rapl_available",
           "measure_rapl", "nvml_available", "measure_nvml", "estimate_from_profile",
           "estimate_from_ops", "estimate_latency", "figure_from_dict"]
