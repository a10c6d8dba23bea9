#!/usr/bin/env python3
"""On-device benchmark runner for a .tflite model: latency, accuracy, memory and energy.

This file is copied alone to the device (a Raspberry Pi, a Coral board, a laptop) and run
there. It needs only the standard library, numpy and a TFLite interpreter
(``ai-edge-litert`` or, on older systems, ``tflite-runtime``); it never imports TensorFlow or
anything else from edgecompress.

Timing follows LiteRT's ``benchmark_model``: inputs are set outside the timed region and
only ``invoke()`` is timed, after ``--warmup`` untimed runs. Energy, when a power meter
command is given, follows MLPerf Tiny: the meter is sampled during windows of continuous
inference (10 s by default) and during an idle window; energy per inference is the median
over 5 windows of mean watts x window seconds / inferences, reported gross and net of idle.

Example:
    python3 runner.py model_int8.tflite --data samples.npz --threads 4 --json result.json
    python3 runner.py model_edgetpu.tflite --delegate edgetpu --power-cmd "python3 ina219.py"
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

RUNNER_VERSION = 1  # bump when the JSON fields change meaning

EDGETPU_LIBRARIES = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib",
                     "Windows": "edgetpu.dll"}
EDGETPU_HINT = ("the Edge TPU runtime is not installed: add Coral's apt repository "
                "(https://coral.ai/software/#debian-packages) and run "
                "'sudo apt-get install libedgetpu1-std'")

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class RunnerError(Exception):
    """A benchmark cannot run: missing model or data, bad input, unloadable delegate, ...

    Args:
        message: what was wrong, including the value received.
        hint: what the user can do about it.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


# --- runtime ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _runtime() -> tuple:
    """(Interpreter class, load_delegate, package name, package version)."""
    try:
        from ai_edge_litert.interpreter import Interpreter, load_delegate
        package = "ai-edge-litert"
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter, load_delegate
            package = "tflite-runtime"
        except ImportError:
            raise RunnerError(
                "no TFLite interpreter is installed (neither ai_edge_litert nor tflite_runtime)",
                hint="pip install ai-edge-litert  (or tflite-runtime on older systems)") from None
    try:
        from importlib import metadata
        version = metadata.version(package)
    except Exception:  # noqa: BLE001 - a vendored copy without metadata is still usable
        version = "unknown"
    return Interpreter, load_delegate, package, version


def _load_delegates(delegate: str | None) -> list:
    if not delegate:
        return []
    _, load_delegate, _, _ = _runtime()
    if delegate == "edgetpu":
        library = EDGETPU_LIBRARIES.get(platform.system(), "libedgetpu.so.1")
        hint = EDGETPU_HINT
    else:
        library = delegate
        hint = "pass 'edgetpu' or the path of a TFLite delegate shared library (.so)"
        if not os.path.isfile(library):
            raise RunnerError(f"delegate library not found. Received: {library!r}", hint=hint)
    # ai_edge_litert's Delegate.__del__ fails on the half-built object a failed load leaves;
    # silence that "Exception ignored" noise while the failed object is freed.
    hook, sys.unraisablehook = sys.unraisablehook, lambda _: None
    try:
        try:
            return [load_delegate(library)]
        except (ValueError, OSError, RuntimeError) as exc:
            error = _first_line(exc)
        gc.collect()
    finally:
        sys.unraisablehook = hook
    raise RunnerError(f"cannot load the delegate library {library!r}: {error}", hint=hint)


def _interpreter(model_path: str, threads: int | None, delegates: list):
    interpreter_cls = _runtime()[0]
    try:
        interp = interpreter_cls(model_path=model_path, num_threads=threads,
                                 experimental_delegates=delegates or None)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise RunnerError(f"cannot load the model {model_path!r}: {_first_line(exc)}",
                          hint="check that it is a .tflite file this runtime supports "
                               "(an Edge TPU model needs --delegate edgetpu)") from None
    return interp


def _check_args(model_path: str, threads: int | None) -> str:
    model_path = os.fspath(model_path)
    if not os.path.isfile(model_path):
        raise RunnerError(f"model file not found. Received: {model_path!r}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise RunnerError(f"threads must be a positive integer or None. Received: {threads!r}")
    return model_path


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- quantization -------------------------------------------------------------------------


def _quant_params(detail: dict) -> tuple[float, int]:
    scale, zero_point = detail.get("quantization", (0.0, 0)) or (0.0, 0)
    return float(scale), int(zero_point)


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """Convert float inputs to the dtype of an input tensor (quantizing int8/uint8/int16).

    Data that already has the tensor's dtype is passed through: it is taken to be quantized.

    Args:
        x: input values (any leading batch dimension).
        detail: the tensor's entry from ``get_input_details()``.

    Returns:
        ``x`` as the tensor's dtype.
    """
    dtype = np.dtype(detail["dtype"])
    x = np.asarray(x)
    if x.dtype == dtype:
        return x
    scale, zero_point = _quant_params(detail)
    if np.issubdtype(dtype, np.integer) and scale > 0:
        info = np.iinfo(dtype)
        q = np.round(x.astype(np.float64) / scale + zero_point)
        return np.clip(q, info.min, info.max).astype(dtype)
    return x.astype(dtype)


def dequantize_output(y: np.ndarray, detail: dict) -> np.ndarray:
    """Real values of an output tensor: ``(q - zero_point) * scale`` for quantized outputs."""
    y = np.asarray(y)
    scale, zero_point = _quant_params(detail)
    if np.issubdtype(y.dtype, np.integer) and scale > 0:
        return (y.astype(np.float32) - zero_point) * np.float32(scale)
    return y.astype(np.float32) if y.dtype != np.float32 else y


def _fit_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """``x`` as (N, *input shape without batch), reshaping when only the layout differs."""
    x = np.asarray(x)
    expected = tuple(int(d) for d in detail["shape"][1:])
    if x.ndim == 0 or len(x) == 0:
        raise RunnerError(f"input data must be a non-empty batch. Received: shape {x.shape}")
    if tuple(x.shape[1:]) == expected:
        return x
    if int(np.prod(x.shape[1:])) == int(np.prod(expected)):
        return x.reshape((len(x),) + expected)
    raise RunnerError(f"input samples have shape {tuple(x.shape[1:])} but the model input "
                      f"{detail['name']!r} expects {expected}")


def _random_inputs(detail: dict, count: int, rng: np.random.Generator) -> np.ndarray:
    shape = (count,) + tuple(int(d) for d in detail["shape"][1:])
    dtype = np.dtype(detail["dtype"])
    if np.issubdtype(dtype, np.floating):
        return rng.random(shape).astype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.itemsize <= 2:  # quantized activations: the whole range is valid
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, size=shape).astype(dtype)
    return np.zeros(shape, dtype=dtype)  # int32/int64 are usually indices: 0 is always valid


def _labels(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y)
    if len(y) != n:
        raise RunnerError(f"x and y must have the same length. Received: {n} samples "
                          f"and {len(y)} labels")
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot
        return np.argmax(y, axis=1)
    return y.reshape(n).astype(np.int64)


def _predict(scores: np.ndarray) -> np.ndarray:
    scores = scores.reshape(len(scores), -1)
    if scores.shape[1] == 1:  # a single sigmoid unit
        return (scores[:, 0] > 0.5).astype(np.int64)
    return np.argmax(scores, axis=1)


# --- accuracy -----------------------------------------------------------------------------


def evaluate(model_path: str, x: np.ndarray, y: np.ndarray, *, threads: int | None = None,
             batch_size: int = 64, delegate: str | None = None) -> dict:
    """Top-1 accuracy of a .tflite model on labelled samples.

    Runs batches of ``batch_size`` when the input can be resized (checked against per-sample
    results on the first samples), else one sample at a time.

    Args:
        model_path: the .tflite file.
        x: samples (N, ...) as float (quantized here for int8/uint8 inputs) or the input dtype.
        y: labels (N,) or one-hot (N, C).
        threads: interpreter threads (None: the runtime's default).
        batch_size: samples per invoke when the model allows resizing.
        delegate: "edgetpu" or the path of a delegate library (disables batching).

    Returns:
        ``{accuracy, samples, batched, predictions, scores}`` (predictions: int array;
        scores: the dequantized float outputs, (N, ...); neither is JSON).

    Raises:
        RunnerError: missing model, mismatched data, or a failing interpreter.
    """
    model_path = _check_args(model_path, threads)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise RunnerError(f"batch_size must be a positive integer. Received: {batch_size!r}")
    interp = _interpreter(model_path, threads, _load_delegates(delegate))
    inputs = interp.get_input_details()
    if len(inputs) != 1:
        raise RunnerError(f"accuracy needs a model with one input. Received: {len(inputs)}")
    detail, out = inputs[0], interp.get_output_details()[0]
    xq = quantize_input(_fit_input(x, detail), detail)
    labels = _labels(y, len(xq))
    scores = None
    if batch_size > 1 and len(xq) > 1 and not delegate and int(detail["shape"][0]) == 1:
        scores = _scores_batched(model_path, xq, threads, batch_size, interp)
    batched = scores is not None
    if scores is None:
        scores = np.concatenate([_invoke(interp, detail, out, xq[i:i + 1])
                                 for i in range(len(xq))])
    predictions = _predict(scores)
    return {"accuracy": float(np.mean(predictions == labels)), "samples": int(len(xq)),
            "batched": batched, "predictions": predictions, "scores": scores}


def _invoke(interp, detail: dict, out: dict, batch: np.ndarray) -> np.ndarray:
    try:
        interp.set_tensor(detail["index"], batch)
        interp.invoke()
    except (ValueError, RuntimeError) as exc:
        raise RunnerError(f"inference failed: {_first_line(exc)}") from None
    return dequantize_output(interp.get_tensor(out["index"]), out)


def _scores_batched(model_path: str, xq: np.ndarray, threads: int | None, batch_size: int,
                    reference) -> np.ndarray | None:
    """Scores from a batch-resized interpreter, or None when the model does not batch.

    Some graphs accept the resize but hard-code batch 1 inside (a RESHAPE to [1, -1]); the
    first samples are checked against the batch-1 interpreter to catch that.
    """
    bs = min(batch_size, len(xq))
    try:
        interp = _runtime()[0](model_path=model_path, num_threads=threads)
        detail = interp.get_input_details()[0]
        interp.resize_tensor_input(detail["index"], [bs] + [int(d) for d in detail["shape"][1:]])
        interp.allocate_tensors()
        detail, out = interp.get_input_details()[0], interp.get_output_details()[0]
        chunks = []
        for start in range(0, len(xq), bs):
            chunk = xq[start:start + bs]
            n = len(chunk)
            if n < bs:  # pad the last batch instead of re-allocating for a new size
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], bs - n, axis=0)])
            scores = _invoke(interp, detail, out, chunk)
            if scores.shape[0] != bs:
                return None
            chunks.append(scores[:n])
        scores = np.concatenate(chunks)
    except (ValueError, RuntimeError, RunnerError):
        return None
    ref_in, ref_out = reference.get_input_details()[0], reference.get_output_details()[0]
    scale, _ = _quant_params(ref_out)
    for i in range(min(2, len(xq))):
        single = _invoke(reference, ref_in, ref_out, xq[i:i + 1])
        tolerance = max(1e-4, 1.5 * scale, 1e-3 * float(np.max(np.abs(single))))
        if single.shape[1:] != scores.shape[1:] or not np.allclose(single[0], scores[i],
                                                                   atol=tolerance):
            return None
    return scores


# --- energy -------------------------------------------------------------------------------


class _PowerSampler:
    """Runs a power-meter command over and over in a thread; each run prints watts."""

    def __init__(self, command: str, timeout_s: float = 10.0) -> None:
        self.command = command
        self.timeout_s = timeout_s
        self._samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: RunnerError | None = None

    def read(self) -> float:
        """One reading in watts (run through the shell, so pipes work)."""
        try:
            proc = subprocess.run(self.command, shell=True, capture_output=True, text=True,
                                  timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            raise RunnerError(f"the power command took over {self.timeout_s:.0f} s: "
                              f"{self.command!r}") from None
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        match = _NUMBER.search(lines[-1]) if lines else None
        if proc.returncode != 0 or match is None:
            detail = (proc.stderr.strip() or proc.stdout.strip() or "no output")[:200]
            raise RunnerError(f"the power command must print watts and exit 0. Received: exit "
                              f"code {proc.returncode}, output {detail!r} from {self.command!r}")
        return float(match.group(0))

    def start(self) -> None:
        self._samples, self._error = [], None
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self, seconds: float) -> tuple[float, int]:
        """Stops sampling (after the reading in progress): the mean watts and the readings.

        ``seconds`` (the window's length) is unused: the readings are watts already.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return statistics.fmean(self._samples), len(self._samples)

    def _loop(self) -> None:
        # The first reading starts at once, so every window has at least one.
        while True:
            try:
                self._samples.append(self.read())
            except RunnerError as exc:
                self._error = exc
                return
            if self._stop.is_set():
                return


# A copy of targets.energy.measure_windows: this file is copied alone to devices and may
# import only numpy, the standard library and a TFLite interpreter, so it cannot import
# targets.energy. tests/targets/test_energy_window.py runs both on the same meter and checks
# that they give the same figures: change both together.
def _measure_windows(run_once, meter, window_s: float, windows: int) -> tuple[float, list]:
    """One idle window, then ``windows`` windows of back-to-back ``run_once(i)``.

    Returns (idle watts, per-window records); see ``targets.energy.measure_windows``.
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


def _measure_energy(run_once, power_cmd: str, window_s: float, windows: int) -> dict:
    """MLPerf Tiny style energy per inference (mJ), gross and net of the idle power."""
    sampler = _PowerSampler(power_cmd)
    sampler.read()  # fail fast, before minutes of windows, on a broken command
    idle_w, per_window = _measure_windows(run_once, sampler, window_s, windows)
    return {
        "value": statistics.median(w["net_mj"] for w in per_window),
        "gross": statistics.median(w["gross_mj"] for w in per_window),
        "idle_w": idle_w,
        "active_w": statistics.median(w["active_w"] for w in per_window),
        "windows": windows,
        "window_s": window_s,
        "per_window": per_window,
        "method": "measured-meter",
        "source": power_cmd,
    }


# --- device -------------------------------------------------------------------------------


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _processor() -> str | None:
    fields: dict[str, str] = {}
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    tree_model = (_read("/sys/firmware/devicetree/base/model") or "").strip("\x00\n ")
    # A Pi names the board in "Model"; x86 names the CPU in "model name".
    return (fields.get("Model") or fields.get("model name") or tree_model
            or platform.processor() or None)


def thermal_state() -> dict:
    """SoC temperature (°C) and the Pi firmware's throttling flags, where readable."""
    temp = None
    raw = _read("/sys/class/thermal/thermal_zone0/temp")
    if raw:
        try:
            temp = int(raw.strip()) / 1000.0
        except ValueError:
            temp = None
    throttled = None
    if shutil.which("vcgencmd"):
        try:
            proc = subprocess.run(["vcgencmd", "get_throttled"], capture_output=True, text=True,
                                  timeout=5)
            throttled = proc.stdout.strip().partition("=")[2] or None
        except (OSError, subprocess.SubprocessError):
            throttled = None
    return {"temperature_c": temp, "throttled": throttled}


_X86_CPUINFO = re.compile(r"^(?:vendor_id\s*:\s*(\S+)|flags\s*:.*\bsse2\b)", re.M)


def emulation(machine: str | None = None, *, cpuinfo: str | None = None,
              devicetree: str | None = None) -> str | None:
    """Why this machine looks emulated (qemu), or None: timings taken here are not a device's.

    qemu-user runs ARM programs on an x86 kernel: ``platform.machine()`` says ARM while the
    kernel's ``/proc/cpuinfo`` still describes the x86 CPU. qemu-system boards carry a
    ``qemu``/``dummy-virt`` device tree. The arguments replace what is read (for tests).
    """
    machine = platform.machine() if machine is None else machine
    cpuinfo = (_read("/proc/cpuinfo") or "") if cpuinfo is None else cpuinfo
    if machine.lower().startswith(("aarch64", "arm")):
        found = _X86_CPUINFO.search(cpuinfo)
        if found:
            vendor = found.group(1) or "an x86"
            return (f"qemu-user: platform.machine() is {machine} but /proc/cpuinfo describes "
                    f"{vendor} x86 CPU")
    tree = ((_read("/sys/firmware/devicetree/base/compatible") or "")
            if devicetree is None else devicetree).replace("\x00", " ").strip()
    if "qemu" in tree.lower() or "dummy-virt" in tree:
        return f"qemu-system: device tree compatible {tree!r}"
    return None


def device_info() -> dict:
    """What machine this is: architecture, CPU/board model, OS, cores, thermal state, and
    whether it is emulated (``emulated``: the reason, or None)."""
    return {"machine": platform.machine(), "processor": _processor(),
            "os": platform.platform(), "hostname": platform.node(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "emulated": emulation(), **thermal_state()}


def peak_rss_bytes() -> int | None:
    """Peak resident memory of this process so far (None where unknown)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS: bytes, Linux: KiB


# --- benchmark ----------------------------------------------------------------------------


def benchmark(model_path: str, *, x: np.ndarray | None = None, y: np.ndarray | None = None,
              warmup: int = 20, runs: int = 200, threads: int | None = None,
              delegate: str | None = None, power_cmd: str | None = None,
              energy_window_s: float = 10.0, energy_windows: int = 5,
              batch_size: int = 64, save_outputs: str | None = None) -> dict:
    """Benchmark a .tflite model on this machine.

    Args:
        model_path: the .tflite file.
        x: input samples for the first input (N, ...); random inputs when None.
        y: labels for ``x``: accuracy is measured when given.
        warmup: untimed invokes before timing.
        runs: timed invokes.
        threads: interpreter threads (None: the runtime's default).
        delegate: "edgetpu" or the path of a delegate library.
        power_cmd: shell command printing the current power draw in watts.
        energy_window_s: seconds per energy window (MLPerf Tiny uses >= 10).
        energy_windows: active windows (median over them).
        batch_size: samples per invoke for the accuracy pass.
        save_outputs: write the accuracy pass's dequantized outputs here (``.npy``, float32,
            one row per sample), to compare what two machines compute.

    Returns:
        The JSON-able result (see the module docstring of the CLI for the fields).

    Raises:
        RunnerError: missing model or data, a bad argument, a failing delegate or meter.
    """
    model_path = _check_args(model_path, threads)
    for name, value, low in (("warmup", warmup, 0), ("runs", runs, 1),
                             ("energy_windows", energy_windows, 1)):
        if not isinstance(value, int) or value < low:
            raise RunnerError(f"{name} must be an integer >= {low}. Received: {value!r}")
    if not energy_window_s > 0:
        raise RunnerError(f"energy_window_s must be > 0. Received: {energy_window_s!r}")
    if y is not None and x is None:
        raise RunnerError("labels (y) were given without samples (x)")
    if save_outputs and y is None:
        raise RunnerError("saving outputs needs labelled samples (--data with 'y')")
    _, _, package, version = _runtime()
    device = device_info()
    delegates = _load_delegates(delegate)

    t0 = time.perf_counter_ns()
    interp = _interpreter(model_path, threads, delegates)
    init_ms = (time.perf_counter_ns() - t0) / 1e6
    details = interp.get_input_details()
    rng = np.random.default_rng(0)
    feeds = []
    for k, detail in enumerate(details):
        data = (_fit_input(x, detail) if k == 0 and x is not None
                else _random_inputs(detail, 8, rng))
        feeds.append((detail["index"], quantize_input(data, detail)))

    def set_inputs(i: int) -> None:
        for index, data in feeds:
            interp.set_tensor(index, data[i % len(data)][None])

    try:
        set_inputs(0)
        t0 = time.perf_counter_ns()
        interp.invoke()
        first_ms = (time.perf_counter_ns() - t0) / 1e6
        for i in range(warmup):
            set_inputs(i)
            interp.invoke()
        latencies = np.empty(runs, dtype=np.float64)
        for i in range(runs):
            set_inputs(i)
            t0 = time.perf_counter_ns()
            interp.invoke()
            latencies[i] = (time.perf_counter_ns() - t0) / 1e6
    except (ValueError, RuntimeError) as exc:
        raise RunnerError(f"inference failed: {_first_line(exc)}") from None

    energy = None
    if power_cmd:
        energy = _measure_energy(lambda i: (set_inputs(i), interp.invoke()), power_cmd,
                                 energy_window_s, energy_windows)
    thermal_end = thermal_state()
    peak = peak_rss_bytes()  # before the accuracy pass, whose batch buffers are not inference
    del interp, delegates  # an Edge TPU serves one interpreter at a time

    accuracy, samples = None, 0
    if y is not None:
        result = evaluate(model_path, x, y, threads=threads, batch_size=batch_size,
                          delegate=delegate)
        accuracy, samples = result["accuracy"], result["samples"]
        if save_outputs:
            try:
                np.save(save_outputs, np.asarray(result["scores"], dtype=np.float32))
            except OSError as exc:
                raise RunnerError(f"cannot write {save_outputs!r}: {exc.strerror}") from None
    mean = float(np.mean(latencies))
    return {
        "runner_version": RUNNER_VERSION,
        "model": model_path,
        "model_size_bytes": os.path.getsize(model_path),
        "runtime": {"package": package, "version": version},
        "device": device,
        "delegate": delegate,
        "threads": threads,
        "input": {"source": "data" if x is not None else "random",
                  "dtype": np.dtype(details[0]["dtype"]).name,
                  "shape": [int(d) for d in details[0]["shape"]]},
        "init_ms": init_ms,
        "first_inference_ms": first_ms,
        "warmup": warmup,
        "runs": runs,
        "latency_ms": {"p50": float(np.percentile(latencies, 50)),
                       "p90": float(np.percentile(latencies, 90)),
                       "p99": float(np.percentile(latencies, 99)),
                       "mean": mean, "std": float(np.std(latencies)),
                       "min": float(np.min(latencies)), "max": float(np.max(latencies))},
        "throughput_per_s": 1000.0 / mean if mean > 0 else None,
        "accuracy": accuracy,
        "samples": samples,
        "peak_rss_bytes": peak,
        "thermal_end": thermal_end,
        "energy_mj": energy,
    }


# --- CLI ----------------------------------------------------------------------------------


def load_samples(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``x`` (required) and ``y`` (optional) from an .npz file."""
    if not os.path.isfile(path):
        raise RunnerError(f"data file not found. Received: {path!r}")
    with open(path, "rb") as f:
        if f.read(2) != b"PK":  # every .npz is a zip archive
            raise RunnerError(f"not an .npz file. Received: {path!r}",
                              hint="write it with numpy.savez(path, x=..., y=...)")
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.keys())
            if "x" not in keys:
                raise RunnerError(f"the .npz file must hold an array 'x' (and optionally 'y'). "
                                  f"Received keys: {keys} in {path!r}")
            return data["x"], (data["y"] if "y" in keys else None)
    except RunnerError:
        raise
    except Exception as exc:  # noqa: BLE001 - np.load raises many types for a bad file
        raise RunnerError(f"cannot read {path!r} as .npz: {_first_line(exc)}",
                          hint="write it with numpy.savez(path, x=..., y=...)") from None


def render(result: dict) -> str:
    """Short human-readable summary of a benchmark result."""
    lat, dev = result["latency_ms"], result["device"]
    temp = f", {dev['temperature_c']:.1f} °C" if dev.get("temperature_c") is not None else ""
    rows = [
        ("model", f"{result['model']} ({result['model_size_bytes'] / 1024:.1f} KiB)"),
        ("runtime", f"{result['runtime']['package']} {result['runtime']['version']}, threads "
                    f"{result['threads'] or 'default'}, delegate {result['delegate'] or 'none'}"),
        ("device", f"{dev['machine']} / {dev['processor'] or '?'}{temp}"
                   + (f" (EMULATED: {dev['emulated']})" if dev.get("emulated") else "")),
        ("init", f"{result['init_ms']:.2f} ms, first inference "
                 f"{result['first_inference_ms']:.3f} ms"),
        ("latency", f"p50 {lat['p50']:.3f}  p90 {lat['p90']:.3f}  p99 {lat['p99']:.3f}  "
                    f"mean {lat['mean']:.3f} ± {lat['std']:.3f} ms ({result['runs']} runs)"),
        ("throughput", f"{result['throughput_per_s']:.1f} inferences/s"),
    ]
    if result["accuracy"] is not None:
        rows.append(("accuracy", f"{100 * result['accuracy']:.2f} % on "
                                 f"{result['samples']} samples"))
    if result["peak_rss_bytes"] is not None:
        rows.append(("peak RSS", f"{result['peak_rss_bytes'] / 2**20:.1f} MiB"))
    energy = result["energy_mj"]
    if energy:
        rows.append(("energy", f"{energy['value']:.4f} mJ/inference net of idle (gross "
                               f"{energy['gross']:.4f} mJ; idle {energy['idle_w']:.3f} W, "
                               f"active {energy['active_w']:.3f} W)"))
    return "\n".join(f"{name:<11} {value}" for name, value in rows)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1. Received: {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="runner.py", description="Benchmark a .tflite model on this device.",
        epilog="Example: python3 runner.py model.tflite --data samples.npz --threads 4 "
               "--json result.json")
    p.add_argument("model", help="the .tflite file")
    p.add_argument("--data", help=".npz with 'x' (inputs) and optionally 'y' (labels)")
    p.add_argument("--warmup", type=int, default=20, help="untimed runs first (default 20)")
    p.add_argument("--runs", type=_positive_int, default=200, help="timed runs (default 200)")
    p.add_argument("--threads", type=_positive_int, help="interpreter threads")
    p.add_argument("--delegate", help="'edgetpu' or the path of a delegate library (.so)")
    p.add_argument("--power-cmd", help="shell command printing the power draw in watts")
    p.add_argument("--energy-window-s", type=float, default=10.0,
                   help="seconds per energy window (default 10)")
    p.add_argument("--energy-windows", type=_positive_int, default=5,
                   help="active energy windows, median taken (default 5)")
    p.add_argument("--batch", type=_positive_int, default=64,
                   help="batch size of the accuracy pass (default 64)")
    p.add_argument("--save-outputs", metavar="PATH",
                   help="write the dequantized outputs on the --data samples (.npy, float32)")
    p.add_argument("--json", metavar="PATH", help="write the result as JSON ('-': stdout)")
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: returns the exit code (0 ok, 1 error, 2 usage)."""
    args = _parser().parse_args(argv)
    try:
        x, y = load_samples(args.data) if args.data else (None, None)
        result = benchmark(args.model, x=x, y=y, warmup=args.warmup, runs=args.runs,
                           threads=args.threads, delegate=args.delegate,
                           power_cmd=args.power_cmd, energy_window_s=args.energy_window_s,
                           energy_windows=args.energy_windows, batch_size=args.batch,
                           save_outputs=args.save_outputs)
        if args.json == "-":
            print(json.dumps(result, indent=2))
        elif args.json:
            tmp = f"{args.json}.tmp{os.getpid()}"
            try:
                with open(tmp, "w", encoding="utf-8") as f:
                    json.dump(result, f, indent=2)
                os.replace(tmp, args.json)
            except OSError as exc:
                raise RunnerError(f"cannot write {args.json!r}: {exc.strerror}") from None
        else:
            print(render(result))
    except RunnerError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
