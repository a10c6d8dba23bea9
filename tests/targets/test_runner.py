"""targets.runner: the on-device benchmark runner (numpy + a TFLite interpreter only)."""

from __future__ import annotations

import ast
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from targets import runner

RUNNER = Path(runner.__file__)
BLOCKED = ("tensorflow", "tf_keras", "keras", "compress", "calibration", "targets")
ALLOWED_THIRD_PARTY = {"numpy", "ai_edge_litert", "tflite_runtime"}


@pytest.fixture(scope="module")
def device_dir(tmp_path_factory) -> Path:
    """runner.py copied alone into a folder, with stub packages that record and refuse imports."""
    root = tmp_path_factory.mktemp("device")
    shutil.copy(RUNNER, root / "runner.py")
    stubs = root / "stubs"
    for name in BLOCKED:
        (stubs / name).mkdir(parents=True)
        (stubs / name / "__init__.py").write_text(
            "import os\n"
            f"with open(os.environ['STUB_LOG'], 'a') as f: f.write({name!r} + '\\n')\n"
            f"raise ImportError('blocked: runner.py must not import {name}')\n")
    return root


def run_on_device(device_dir: Path, *args: str) -> subprocess.CompletedProcess:
    log = device_dir / "imports.log"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(device_dir / "stubs"), STUB_LOG=str(log), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, str(device_dir / "runner.py"), *map(str, args)],
                          cwd=device_dir, env=env, capture_output=True, text=True, timeout=120)
    assert not log.exists(), f"runner.py tried to import: {log.read_text()}"
    return proc


def test_runner_imports_only_stdlib_numpy_and_an_interpreter():
    # Grammar of Python 3.8 too: Raspberry Pi OS Bullseye ships 3.9.
    tree = ast.parse(RUNNER.read_text(), feature_version=(3, 8))
    modules = {a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for a in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree))
    assert modules - set(sys.stdlib_module_names) - {"__future__"} <= ALLOWED_THIRD_PARTY


def test_cli_json_on_a_device_without_tensorflow(device_dir, tiny_models):
    out = device_dir / "result.json"
    proc = run_on_device(device_dir, tiny_models.int8, "--data", tiny_models.npz,
                         "--warmup", "5", "--runs", "50", "--threads", "1", "--json", out)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    for key in ("model", "runtime", "device", "threads", "init_ms", "first_inference_ms",
                "latency_ms", "throughput_per_s", "accuracy", "samples", "peak_rss_bytes",
                "energy_mj"):
        assert key in result, key
    assert result["runtime"]["package"] in ("ai-edge-litert", "tflite-runtime")
    assert result["runtime"]["version"]
    assert result["device"]["machine"] and "os" in result["device"]
    assert {"processor", "temperature_c", "throttled"} <= set(result["device"])
    assert result["threads"] == 1
    lat = result["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] and lat["std"] >= 0
    assert result["throughput_per_s"] == pytest.approx(1000 / lat["mean"])
    assert result["init_ms"] > 0 and result["first_inference_ms"] > 0
    assert result["samples"] == len(tiny_models.y)
    assert 0.5 < result["accuracy"] <= 1.0
    assert result["peak_rss_bytes"] > 10 * 2**20
    assert result["energy_mj"] is None
    assert result["input"]["source"] == "data" and result["input"]["dtype"] == "int8"


def test_cli_energy_with_a_constant_power_meter(device_dir, tiny_models):
    meter = device_dir / "meter.sh"
    meter.write_text("#!/bin/sh\necho 2.5\n")
    meter.chmod(meter.stat().st_mode | stat.S_IEXEC)
    proc = run_on_device(device_dir, tiny_models.float32, "--runs", "10", "--json", "-",
                         "--power-cmd", meter, "--energy-window-s", "0.05")
    assert proc.returncode == 0, proc.stderr
    energy = json.loads(proc.stdout)["energy_mj"]
    assert energy["method"] == "measured-meter"
    assert energy["source"] == str(meter)
    assert energy["windows"] == 5 and len(energy["per_window"]) == 5
    assert energy["idle_w"] == energy["active_w"] == 2.5
    assert energy["value"] == pytest.approx(0.0, abs=1e-12)  # constant power: nothing net
    # gross = 2.5 W x seconds / inferences, in mJ
    window = energy["per_window"][0]
    assert window["gross_mj"] == pytest.approx(2.5 * window["seconds"] / window["inferences"] * 1e3)
    assert 0 < energy["gross"] < 2.5 * 0.05 * 1e3


def test_cli_missing_model_is_one_line_and_exit_1(device_dir):
    proc = run_on_device(device_dir, "absent.tflite")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == ["Error: model file not found. "
                                                "Received: 'absent.tflite'"]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["--data", "{tmp}/absent.npz"], "data file not found"),
    (["--data", "{tmp}/text.npz"], "not an .npz file"),
    (["--data", "{tmp}/nox.npz"], "must hold an array 'x'"),
    (["--delegate", "edgetpu"], "libedgetpu1-std"),
    (["--delegate", "{tmp}/text.npz"], "cannot load the delegate library"),
    (["--delegate", "{tmp}/absent.so"], "delegate library not found"),
    (["--power-cmd", "exit 3"], "exit code 3"),
    (["--power-cmd", "echo no-number"], "must print watts"),
])
def test_cli_errors_are_clean(tmp_path, tiny_models, capsys, args, message):
    if "edgetpu" in args and any(Path(d, "libedgetpu.so.1").exists()
                                 for d in ("/usr/lib", "/usr/lib/x86_64-linux-gnu",
                                           "/usr/lib/aarch64-linux-gnu")):
        pytest.skip("the Edge TPU runtime is installed here")
    (tmp_path / "text.npz").write_text("not a zip")
    np.savez(tmp_path / "nox.npz", images=np.zeros(3))
    argv = [str(tiny_models.float32), "--runs", "2", "--warmup", "0",
            *[a.format(tmp=tmp_path) for a in args]]
    assert runner.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and message in err and "Traceback" not in err


def test_cli_usage_error_exits_2(tiny_models, capsys):
    with pytest.raises(SystemExit) as info:
        runner.main([str(tiny_models.float32), "--runs", "0"])
    assert info.value.code == 2


def test_cli_human_summary(tiny_models, capsys):
    assert runner.main([str(tiny_models.int8), "--data", str(tiny_models.npz),
                        "--runs", "5", "--warmup", "0"]) == 0
    text = capsys.readouterr().out
    for word in ("latency", "p50", "throughput", "accuracy", "ai-edge-litert", "peak RSS"):
        assert word in text


def test_int8_accuracy_close_to_float(tiny_models):
    f32 = runner.evaluate(str(tiny_models.float32), tiny_models.x, tiny_models.y)
    i8 = runner.evaluate(str(tiny_models.int8), tiny_models.x, tiny_models.y)
    assert f32["samples"] == i8["samples"] == len(tiny_models.y)
    assert f32["accuracy"] > 0.5
    assert abs(f32["accuracy"] - i8["accuracy"]) <= 0.05
    assert np.mean(f32["predictions"] == i8["predictions"]) >= 0.9


@pytest.mark.parametrize("variant", ["float32", "int8", "dynamic_range"])
def test_batched_evaluation_matches_per_sample(tiny_models, variant):
    path = str(getattr(tiny_models, variant))
    x, y = tiny_models.x[:50], tiny_models.y[:50]
    batched = runner.evaluate(path, x, y, batch_size=16)  # 3 full batches + a partial one
    single = runner.evaluate(path, x, y, batch_size=1)
    assert batched["batched"] and not single["batched"]
    np.testing.assert_array_equal(batched["predictions"], single["predictions"])
    assert batched["accuracy"] == single["accuracy"]


def test_evaluate_accepts_one_hot_labels_and_flat_samples(tiny_models):
    x, y = tiny_models.x[:40], tiny_models.y[:40]
    ref = runner.evaluate(str(tiny_models.float32), x, y)
    one_hot = np.eye(10)[y]
    flat = x.reshape(40, 144)  # same size, other layout: reshaped to the input
    assert runner.evaluate(str(tiny_models.float32), flat, one_hot)["accuracy"] == ref["accuracy"]


def test_benchmark_api_with_random_inputs(tiny_models):
    result = runner.benchmark(str(tiny_models.int8), warmup=1, runs=5)
    assert result["accuracy"] is None and result["samples"] == 0
    assert result["input"] == {"source": "random", "dtype": "int8", "shape": [1, 12, 12, 1]}
    assert result["latency_ms"]["mean"] > 0
    json.dumps(result)


@pytest.mark.parametrize("kwargs, message", [
    ({"x": np.zeros((4, 5, 5, 1), np.float32)}, "expects"),
    ({"y": np.zeros(4)}, "without samples"),
    ({"x": np.zeros((4, 12, 12, 1), np.float32), "y": np.zeros(3)}, "same length"),
    ({"runs": 0}, "runs must be"),
    ({"threads": 0}, "threads must be"),
    ({"energy_window_s": 0}, "energy_window_s"),
])
def test_benchmark_api_errors(tiny_models, kwargs, message):
    with pytest.raises(runner.RunnerError, match=message):
        runner.benchmark(str(tiny_models.float32), warmup=0, runs=kwargs.pop("runs", 2), **kwargs)


def test_not_a_model_raises_runner_error(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(runner.RunnerError, match="cannot load the model"):
        runner.evaluate(str(bad), np.zeros((1, 4)), np.zeros(1))


def test_quantize_and_dequantize_helpers():
    detail = {"dtype": np.int8, "quantization": (0.5, -10)}
    q = runner.quantize_input(np.array([0.0, 1.0, -1.0, 1000.0, -1000.0]), detail)
    assert q.dtype == np.int8
    assert q.tolist() == [-10, -8, -12, 127, -128]  # round(x / 0.5) - 10, clipped
    already = np.array([1, 2, 3], dtype=np.int8)
    assert runner.quantize_input(already, detail) is already  # pre-quantized data passes
    np.testing.assert_allclose(runner.dequantize_output(np.array([-10, -8], np.int8), detail),
                               [0.0, 1.0])
    float_detail = {"dtype": np.float32, "quantization": (0.0, 0)}
    assert runner.quantize_input(np.array([1, 2]), float_detail).dtype == np.float32
    assert runner.dequantize_output(np.array([0.25], np.float32), float_detail)[0] == 0.25


def test_emulation_is_detected_from_what_the_kernel_says():
    from targets import runner as device_runner

    x86 = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse sse2 avx\n"
    pi = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\n"
    assert "qemu-user" in device_runner.emulation("aarch64", cpuinfo=x86, devicetree="")
    assert "GenuineIntel" in device_runner.emulation("armv7l", cpuinfo=x86, devicetree="")
    assert device_runner.emulation("aarch64", cpuinfo=pi,
                                   devicetree="raspberrypi,4-model-b\x00brcm,bcm2711\x00") is None
    assert device_runner.emulation("x86_64", cpuinfo=x86, devicetree="") is None
    assert "qemu-system" in device_runner.emulation("aarch64", cpuinfo=pi,
                                                    devicetree="linux,dummy-virt\x00")
    assert "emulated" in device_runner.device_info()
