"""Edge TPU compatibility: real converted models, hand-made graphs, a fake compiler, the CLI.

The models are tf_keras models converted the way edgecompress converts for a Coral
(``TargetSpec.for_device("coral-usb")``: full integer, uint8 I/O, batch 1), built once per
module. ``edgetpu_compiler`` is absent here; where a test needs it, a shell script stands in
for it on PATH (a process boundary).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from targets import edgetpu, spec
from targets.edgetpu import analyze, parse_compiler_log
from targets.errors import TargetError
from targets.tflite_graph import OpInfo, SubgraphInfo, TensorInfo, TFLiteGraph, read_model

CORAL_IDS = "coral-devboard, coral-usb, mobile-cpu, mobile-gpu, rpi-32bit, rpi4, rpi5"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Built-in profiles only, and no edgetpu_compiler unless a test installs the fake one."""
    monkeypatch.delenv(spec.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("PATH", os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep)
        if p and not (Path(p) / edgetpu.COMPILER).exists()))
    spec.clear_cache()
    yield
    spec.clear_cache()


# --- models -------------------------------------------------------------------------------------


def _residual_cnn(keras):
    """Conv-BN-ReLU stem, two residual blocks (Conv-BN-ReLU-Conv-BN + Add skip), GAP, Dense."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    for _ in range(2):
        y = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(x)
        y = keras.layers.ReLU()(keras.layers.BatchNormalization()(y))
        y = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(y)
        y = keras.layers.BatchNormalization()(y)
        x = keras.layers.ReLU()(keras.layers.Add()([x, y]))
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


def _ds_cnn(keras):
    """DS-CNN keyword spotting (Zhang et al. 2017, 'Hello Edge'): 49x10 MFCC input."""
    inputs = keras.Input((49, 10, 1))
    x = keras.layers.Conv2D(32, (10, 4), strides=2, padding="same", use_bias=False)(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    for _ in range(2):
        x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
        x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
        x = keras.layers.Conv2D(32, 1, use_bias=False)(x)
        x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.Flatten()(keras.layers.AveragePooling2D((25, 5))(x))
    return keras.Model(inputs, keras.layers.Dense(12, activation="softmax")(x))


def _exp_in_the_middle(keras, tf):
    """Conv -> EXP (no Edge TPU kernel; TFLite has an int8 one) -> Conv -> GAP -> Dense."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Lambda(tf.math.exp)(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4)(x))


def _convert(build, out: Path, name: str, fmt: str = "coral") -> Path:
    from compress._keras import keras, tf
    from compress.artifacts.export import convert
    from compress.recipe import TargetSpec

    keras.utils.set_random_seed(0)
    model = build(keras, tf) if build is _exp_in_the_middle else build(keras)
    target = TargetSpec.for_device("coral-usb") if fmt == "coral" else TargetSpec(fmt)
    samples = np.random.default_rng(0).random((8, *model.inputs[0].shape[1:]), dtype=np.float32)
    path = out / f"{name}.tflite"
    path.write_bytes(convert(model, target, representative=samples))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Four small models, converted once (about 25 s on two cores)."""
    out = tmp_path_factory.mktemp("edgetpu")
    return {"residual": _convert(_residual_cnn, out, "residual"),
            "ds_cnn": _convert(_ds_cnn, out, "ds_cnn"),
            "exp": _convert(_exp_in_the_middle, out, "exp"),
            "float32": _convert(_ds_cnn, out, "ds_cnn_float32", fmt="float32")}


def test_coral_conversion_is_full_integer_uint8_batch_1(models):
    from compress.recipe import TargetSpec

    target = TargetSpec.for_device("coral-usb")
    assert (target.format, target.io_dtype, target.static_batch) == ("int8", "uint8", True)
    graph = read_model(models["residual"])
    assert [t["dtype"] for t in graph.input_details() + graph.output_details()] == ["uint8"] * 2
    assert graph.input_details()[0]["shape_signature"] == [1, 32, 32, 3]


@pytest.mark.parametrize("name, must_have", [
    ("residual", {"CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX", "QUANTIZE"}),
    ("ds_cnn", {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED"}),
])
def test_supported_architectures_are_fully_mapped(models, name, must_have):
    graph = read_model(models[name])
    assert must_have <= set(graph.op_counts())
    report = analyze(graph, profile=spec.get_profile("coral-usb"))
    assert report.first_unmapped is None
    assert report.mapped_ops == report.total_ops == len(graph.ops)
    assert report.cpu_ops == 0 and report.fully_mapped
    assert all(op.mapped and op.supported for op in report.ops)
    assert report.parameter_bytes == graph.weight_stats()["parameter_bytes"] > 0
    assert report.fits_on_chip and report.cache_bytes == 8 * 1024 * 1024
    assert report.compiler is None
    assert edgetpu.NOT_FOUND_NOTE in report.notes


def test_unsupported_op_splits_the_graph_there(models):
    graph = read_model(models["exp"])
    names = [op.op for op in graph.ops]
    assert "EXP" in names  # the converter kept EXP as an int8 op
    split = names.index("EXP")
    assert 0 < split < len(names) - 1 and "CONV_2D" in names[split + 1:]
    report = analyze(models["exp"], profile=spec.get_profile("coral-usb"))
    assert report.first_unmapped["index"] == split
    assert report.first_unmapped["op"] == "EXP"
    assert "not a supported Edge TPU op" in report.first_unmapped["reason"]
    assert report.mapped_ops == split
    assert report.cpu_ops == report.total_ops - split
    assert [op.mapped for op in report.ops] == [i < split for i in range(len(names))]
    later = report.ops[names.index("CONV_2D", split)]
    assert later.supported and not later.mapped and "after the first unmapped op" in later.reason
    assert report.mapped_parameter_bytes < report.parameter_bytes
    d = report.to_dict()
    json.dumps(d)
    assert d["first_unmapped"] == {"index": split, "op": "EXP",
                                   "reason": report.first_unmapped["reason"]}


def test_float_model_for_coral_is_an_error(models):
    with pytest.raises(TargetError, match=r"must be full-integer \(int8/uint8\) for the Edge TPU "
                                          r"\(coral-usb\); found float32 ops/tensors: CONV_2D"
                                          r".*convert with --format int8"):
        analyze(models["float32"], profile=spec.get_profile("coral-usb"))


@pytest.mark.slow  # the int8 conversion of MobileNetV2 takes 60-90 s on two cores
def test_mobilenet_v2_is_fully_mapped(tmp_path):
    def build(keras):
        return keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35,
                                              weights=None, classes=10)

    report = analyze(_convert(build, tmp_path, "mobilenet_v2"),
                     profile=spec.get_profile("coral-devboard"))
    assert report.total_ops > 60
    assert report.first_unmapped is None and report.mapped_ops == report.total_ops
    assert report.fits_on_chip


# --- hand-made graphs: the tensor rules --------------------------------------------------------


def _t(index, shape, dtype="int8", signature=None, const=False, name=None):
    return TensorInfo(index=index, name=name or f"t{index}", shape=list(shape),
                      shape_signature=list(signature or shape), dtype=dtype,
                      quantization={"scale": [0.1], "zero_point": [0], "quantized_dimension": 0},
                      buffer=index + 1 if const else 0, buffer_bytes=0, is_constant=const)


def _graph(ops: list[tuple[str, list[int], list[int], dict]], tensors: list[TensorInfo]):
    infos = [OpInfo(index=i, op=op, inputs=ins, outputs=outs, options=opts)
             for i, (op, ins, outs, opts) in enumerate(ops)]
    inputs, outputs = [ops[0][1][0]], [ops[-1][2][0]]
    sg = SubgraphInfo(0, "main", infos, tensors, inputs, outputs)
    return TFLiteGraph(ops=infos, tensors=tensors, inputs=inputs, outputs=outputs, size_bytes=0,
                       version=3, description="hand-made", subgraphs=[sg],
                       _buffers=[np.zeros(0, np.uint8)] + [  # buffer i + 1: zeros
                           np.zeros(4 * int(np.prod(t.shape)) if t.is_constant else 0, np.uint8)
                           for t in tensors])


def _chain(op_names: list[str], shapes: list[list[int]], tensors: dict | None = None,
           options: dict | None = None) -> TFLiteGraph:
    """op_names[i] maps tensor i to tensor i+1; ``tensors``/``options``: overrides by index."""
    tensors, options = tensors or {}, options or {}
    infos = [_t(i, s, **tensors.get(i, {})) for i, s in enumerate(shapes)]
    return _graph([(name, [i], [i + 1], options.get(i, {}))
                   for i, name in enumerate(op_names)], infos)


def test_five_dimensional_tensor_is_not_mapped():
    graph = _chain(["RELU", "RESHAPE", "RELU", "RESHAPE"],
                   [[1, 8, 8, 4], [1, 8, 8, 4], [1, 2, 4, 8, 4], [1, 2, 4, 8, 4], [1, 8, 8, 4]])
    report = analyze(graph)
    assert report.first_unmapped["index"] == 1 and report.first_unmapped["op"] == "RESHAPE"
    assert "only the 3 innermost dimensions" in report.first_unmapped["reason"]
    assert report.mapped_ops == 1 and report.cpu_ops == 3


def test_batch_larger_than_one_is_not_mapped():
    report = analyze(_chain(["RELU"], [[2, 8, 8, 4], [2, 8, 8, 4]]))
    assert report.first_unmapped["index"] == 0 and "[2, 8, 8, 4]" in report.first_unmapped["reason"]


def test_dynamic_size_is_not_mapped_but_a_dynamic_batch_is_a_note():
    graph = _chain(["RELU", "RELU"], [[1, 8, 8, 4]] * 3,
                   {1: {"signature": [1, -1, 8, 4]}})
    report = analyze(graph)
    assert report.first_unmapped["index"] == 0  # RELU 0 writes the dynamic tensor
    assert "dynamic size" in report.first_unmapped["reason"]
    batch = analyze(_chain(["RELU"], [[1, 8, 8, 4]] * 2,
                           {0: {"signature": [-1, 8, 8, 4]}, 1: {"signature": [-1, 8, 8, 4]}}))
    assert batch.fully_mapped
    assert any("dynamic batch" in n for n in batch.notes)


def test_non_eight_bit_activation_is_not_mapped():
    report = analyze(_chain(["RELU", "ARG_MAX", "RELU"], [[1, 10]] * 3 + [[1, 10]],
                            {2: {"dtype": "int32"}}))
    assert report.first_unmapped["op"] == "ARG_MAX"
    assert report.mapped_ops == 1


def test_documented_op_limitations_are_checked():
    pool = analyze(_chain(["MAX_POOL_2D"], [[1, 8, 8, 4], [1, 4, 4, 4]],
                          options={0: {"activation": "RELU"}}))
    assert "fused activation RELU" in pool.first_unmapped["reason"]
    assert "Coral: No fused activation function." in pool.first_unmapped["reason"]
    softmax = analyze(_chain(["SOFTMAX"], [[1, 5, 10], [1, 5, 10]]))
    assert "is not 1-D" in softmax.first_unmapped["reason"]
    big = analyze(_chain(["SOFTMAX"], [[1, 20000], [1, 20000]]))
    assert "max 16,000" in big.first_unmapped["reason"]
    fc = analyze(_graph([("FULLY_CONNECTED", [0, 1], [2], {"weights_format": 0})],
                        [_t(0, [1, 5, 8]), _t(1, [4, 8], const=True), _t(2, [1, 5, 4])]))
    assert "not one-dimensional" in fc.first_unmapped["reason"]
    conv = analyze(_graph([("CONV_2D", [0, 1], [2], {"dilation_h_factor": 2,
                                                     "dilation_w_factor": 1})],
                          [_t(0, [1, 8, 8, 3]), _t(1, [4, 3, 3, 3], const=True),
                           _t(2, [1, 8, 8, 4])]))
    assert "dilation 2 (y) differs from 1 (x)" in conv.first_unmapped["reason"]
    weights = analyze(_graph([("CONV_2D", [0, 1], [2], {})],
                             [_t(0, [1, 8, 8, 3]), _t(1, [4, 3, 3, 3]), _t(2, [1, 8, 8, 4])]))
    assert "must be constant at compile time" in weights.first_unmapped["reason"]


def test_float_io_conversions_run_on_the_cpu_without_splitting():
    graph = _chain(["QUANTIZE", "RELU", "DEQUANTIZE"], [[1, 10]] * 4,
                   {0: {"dtype": "float32"}, 3: {"dtype": "float32"}})
    report = analyze(graph)
    assert report.first_unmapped is None
    assert [op.mapped for op in report.ops] == [False, True, False]
    assert report.mapped_ops == 1 and report.cpu_ops == 2
    assert "float model input" in report.ops[0].reason
    # A float tensor inside the model is a float model: an error, not a prediction.
    with pytest.raises(TargetError, match="found float32 ops/tensors: RELU \\(op 1\\)"):
        analyze(_chain(["QUANTIZE", "RELU", "DEQUANTIZE"], [[1, 10]] * 4,
                       {0: {"dtype": "float32"}, 2: {"dtype": "float32"},
                          3: {"dtype": "float32"}}))


def test_rule_table_is_data_with_its_source():
    assert "coral.ai/docs/edgetpu/models-intro" in edgetpu.RULES_SOURCE
    assert "EXP" not in edgetpu.SUPPORTED_OPS
    for name, rule in edgetpu.SUPPORTED_OPS.items():
        assert name == rule.op and name.isupper() and rule.runtime in ("all", "13+", "14+")
        assert all(check in edgetpu._CHECKS for check in rule.checks)


def test_module_does_not_import_tensorflow():
    code = "import sys, targets.edgetpu; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


# --- the compiler --------------------------------------------------------------------------------

FAKE_LOG = """Edge TPU Compiler version 16.0.384591198
Started a compilation timeout timer of 180 seconds.

Model compiled successfully in 31 ms.

Input model: $model
Input size: 3.52KiB
Output model: $out/${name}_edgetpu.tflite
Output size: 24.10KiB
On-chip memory used for caching model parameters: 1.25KiB
On-chip memory remaining for caching model parameters: 7.98MiB
Off-chip memory used for streaming uncached model parameters: 0.00B
Number of Edge TPU subgraphs: 1
Total number of operations: 7
Operation log: $out/${name}_edgetpu.log

Model successfully compiled but not all operations are supported by the Edge TPU. A percentage of the model will instead run on the CPU, which is slower. If possible, consider updating your model to use only operations supported by the Edge TPU. For details, visit g.co/coral/model-reqs.
Number of operations that will run on Edge TPU: 2
Number of operations that will run on CPU: 5

Operator                       Count      Status

QUANTIZE                       1          Mapped to Edge TPU
QUANTIZE                       1          More than one subgraph is not supported
CONV_2D                        1          Mapped to Edge TPU
CONV_2D                        1          More than one subgraph is not supported
EXP                            1          Operation not supported
MEAN                           1          More than one subgraph is not supported
FULLY_CONNECTED                1          More than one subgraph is not supported
Compilation child process completed within timeout period.
Compilation succeeded!
"""


def _install_compiler(folder: Path, monkeypatch, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / edgetpu.COMPILER
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return exe


def _fake_compiler(folder: Path, monkeypatch) -> Path:
    """Answers `edgetpu_compiler -s -o OUT MODEL` like the real one: a model, a log, stdout."""
    body = ('[ "$1" = "-s" ] && [ "$2" = "-o" ] || { echo "usage" >&2; exit 2; }\n'
            'out="$3"; model="$4"; name=$(basename "$model" .tflite)\n'
            'cp "$model" "$out/${name}_edgetpu.tflite"\n'
            f'cat > "$out/${{name}}_edgetpu.log" <<LOG\n{FAKE_LOG}LOG\n'
            f'cat <<LOG\n{FAKE_LOG}LOG\n')
    return _install_compiler(folder, monkeypatch, body)


def test_fake_compiler_report_is_parsed(models, tmp_path, monkeypatch):
    _fake_compiler(tmp_path / "bin", monkeypatch)
    model = tmp_path / "exp.tflite"
    model.write_bytes(models["exp"].read_bytes())
    report = analyze(model, profile=spec.get_profile("coral-usb"))
    c = report.compiler
    assert c["version"] == "16.0.384591198"
    assert (c["mapped_ops"], c["cpu_ops"], c["total_ops"], c["subgraphs"]) == (2, 5, 7, 1)
    assert c["on_chip_bytes"] == 1280 and c["off_chip_bytes"] == 0
    assert c["on_chip_remaining_bytes"] == round(7.98 * 1024 * 1024)
    assert {"op": "EXP", "count": 1, "status": "Operation not supported",
            "mapped": False} in c["ops"]
    assert sum(r["count"] for r in c["ops"] if r["mapped"]) == 2 and len(c["ops"]) == 7
    assert c["output_path"] == str(tmp_path / "exp_edgetpu.tflite")
    assert Path(c["output_path"]).read_bytes() == model.read_bytes()
    assert Path(c["log_path"]).is_file() and "Operation not supported" in c["log"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".edgetpu-")]
    assert c["mapped_ops"] == report.mapped_ops  # the prediction agrees with the compiler
    assert not any(n.startswith("edgetpu_compiler") for n in report.notes)
    # an explicit output folder, and no compiler run when asked not to
    other = analyze(model, out_dir=tmp_path / "compiled")
    assert other.compiler["output_path"] == str(tmp_path / "compiled" / "exp_edgetpu.tflite")
    assert analyze(model, use_compiler=False).compiler is None


def test_compiler_failure_is_a_target_error(models, tmp_path, monkeypatch):
    _install_compiler(tmp_path / "bin", monkeypatch,
                      'echo "Edge TPU Compiler version 16.0.384591198"\n'
                      'echo "ERROR: Attempting to use a delegate that only supports '
                      'static-sized tensors with a graph that has dynamic-sized tensors."\n'
                      'echo "Compilation failed!"\nexit 1\n')
    with pytest.raises(TargetError, match=r"edgetpu_compiler failed \(exit 1\).*static-sized"):
        analyze(models["residual"])


def test_fully_mapped_log_without_per_device_counts():
    log = ("Edge TPU Compiler version 15.0.340273435\n"
           "On-chip memory used for caching model parameters: 3.00MiB\n"
           "Off-chip memory used for streaming uncached model parameters: 512.00KiB\n"
           "Number of Edge TPU subgraphs: 1\nTotal number of operations: 64\n")
    info = parse_compiler_log(log)
    assert (info["mapped_ops"], info["cpu_ops"], info["total_ops"]) == (64, 0, 64)
    assert info["on_chip_bytes"] == 3 * 1024 * 1024 and info["off_chip_bytes"] == 512 * 1024
    assert info["version"] == "15.0.340273435" and info["ops"] == []


# --- the inspect command ---------------------------------------------------------------------------


def _inspect(*args):
    from compress.cli import cli

    return CliRunner().invoke(cli, ["inspect", *map(str, args)])


def test_cli_inspect_coral_json(models):
    result = _inspect(models["exp"], "--target", "coral-usb", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    e = info["edgetpu"]
    split = [op["op"] for op in info["ops"]].index("EXP")
    assert e["first_unmapped"]["op"] == "EXP" and e["first_unmapped"]["index"] == split
    assert e["mapped_ops"] == split and e["total_ops"] == len(info["ops"])
    assert e["parameter_bytes"] == info["weights"]["parameter_bytes"]
    assert e["compiler"] is None and edgetpu.NOT_FOUND_NOTE in e["notes"]
    assert info["target"] == {"id": "coral-usb", "compatible": True, "format": "int8",
                              "notes": []}
    assert info["path"] == str(models["exp"]) and info["size_bytes"] > 0


def test_cli_inspect_coral_human_output(models):
    result = _inspect(models["exp"], "--target", "coral-usb")
    assert result.exit_code == 0, result.output
    assert "Edge TPU (coral-usb): 2/7 ops mapped" in result.output
    assert "first unmapped: EXP at index 2" in result.output
    full = _inspect(models["ds_cnn"], "-t", "coral-devboard")
    assert "fully mapped" in full.output and "first unmapped" not in full.output


def test_cli_inspect_runs_the_compiler(models, tmp_path, monkeypatch):
    _fake_compiler(tmp_path / "bin", monkeypatch)
    result = _inspect(models["exp"], "--target", "coral-usb", "--json",
                      "--compiler-out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    c = json.loads(result.output)["edgetpu"]["compiler"]
    assert c["mapped_ops"] == 2 and c["output_path"].startswith(str(tmp_path / "out"))
    skipped = _inspect(models["exp"], "--target", "coral-usb", "--json", "--no-compile")
    assert json.loads(skipped.output)["edgetpu"]["compiler"] is None


def test_cli_inspect_float_model_for_coral_exits_1(models):
    result = _inspect(models["float32"], "--target", "coral-usb", "--json")
    assert result.exit_code == 1
    assert isinstance(result.exception, TargetError)
    assert "must be full-integer (int8/uint8)" in str(result.exception)


def test_cli_inspect_unknown_target_lists_ids(models):
    result = _inspect(models["exp"], "--target", "coral", "--json")
    assert result.exit_code == 1
    assert isinstance(result.exception, TargetError)
    assert f"Valid ids: {CORAL_IDS}" in str(result.exception)


def test_cli_inspect_without_target_is_unchanged(models):
    result = _inspect(models["exp"], "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert "edgetpu" not in info and "target" not in info
    assert info["op_counts"]["EXP"] == 1


def test_non_coral_target_check(models, tmp_path):
    result = _inspect(models["float32"], "--target", "rpi4", "--json")
    info = json.loads(result.output)
    assert info["target"] == {"id": "rpi4", "compatible": True, "format": "float32", "notes": []}
    assert "edgetpu" not in info
    # a profile that runs int8 only (but with the general op set): float32 runs, with a warning
    data = spec.load_profile(spec.builtin_dir() / "rpi4.yaml").to_dict()
    del data["default_format"], data["path"]
    data.update(id="npu-int8", formats=["int8"])
    profile = tmp_path / "npu-int8.yaml"
    profile.write_text(yaml.safe_dump(data))
    target = json.loads(_inspect(models["float32"], "--target", profile, "--json")
                        .output)["target"]
    assert target["compatible"] and target["format"] == "float32"
    assert target["notes"][0].startswith("warning: the model is float32, which is not among "
                                         "npu-int8's formats (int8)")
    # uint8 I/O where the profile expects float32 I/O: a warning, still compatible
    rpi = json.loads(_inspect(models["ds_cnn"], "--target", "rpi4", "--json").output)["target"]
    assert rpi["compatible"] and rpi["format"] == "int8"
    assert any("input dtype uint8 differs from rpi4's float32" in n for n in rpi["notes"])
