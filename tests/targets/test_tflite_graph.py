"""targets.tflite_graph: reading .tflite files without TensorFlow."""

from __future__ import annotations

import json

import numpy as np
import pytest

from targets import tflite_graph
from targets.errors import ConversionError
from targets.tflite_graph import TensorInfo, TFLiteGraph, read_model

BASE_OPS = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "ADD": 1, "MAX_POOL_2D": 1, "RESHAPE": 1,
            "FULLY_CONNECTED": 2, "SOFTMAX": 1}

# Hand-computed for the model in conftest.py (batch 1).
EXPECTED_MACS = {
    "CONV_2D": 10 * 10 * 8 * 3 * 3 * 1,       # out_h*out_w*out_c*k_h*k_w*in_c = 7200
    "DEPTHWISE_CONV_2D": 10 * 10 * 8 * 3 * 3,  # out_h*out_w*out_c*k_h*k_w = 7200
    "ADD": 10 * 10 * 8,                        # output elements = 800
    "MAX_POOL_2D": 5 * 5 * 8 * 2 * 2,          # output elements * window = 800
    "FULLY_CONNECTED": [200 * 16, 16 * 10],    # units * in_features = 3200, 160
}
EXPECTED_TOTAL = 7200 + 7200 + 800 + 800 + 3200 + 160  # 19360

# Prunable weights: conv 3*3*1*8, depthwise 3*3*8, fc1 200*16, fc2 16*10 (biases excluded).
PRUNABLE_PARAMS = 72 + 72 + 3200 + 160


def test_op_counts_of_known_models(tiny_models):
    for path in (tiny_models.float32, tiny_models.dynamic_range, tiny_models.int8):
        assert read_model(path).op_counts() == BASE_OPS
    # float16 weights are stored as float16 constants, each widened by a DEQUANTIZE op.
    assert read_model(tiny_models.float16).op_counts() == {**BASE_OPS, "DEQUANTIZE": 8}


def test_int8_model_io_dtypes_and_quantization(tiny_models):
    graph = read_model(tiny_models.int8)
    (inp,), (out,) = graph.input_details(), graph.output_details()
    assert inp["dtype"] == "int8" and inp["shape"] == [1, 12, 12, 1]
    assert inp["shape_signature"] == [-1, 12, 12, 1]
    assert inp["quantization"]["scale"][0] > 0
    assert -128 <= inp["quantization"]["zero_point"][0] <= 127
    # Softmax outputs in int8 always use scale 1/256 and zero point -128.
    assert out["dtype"] == "int8"
    assert out["quantization"]["scale"] == [pytest.approx(1 / 256)]
    assert out["quantization"]["zero_point"] == [-128]
    assert "float32" not in graph.dtype_counts()
    conv = next(op for op in graph.ops if op.op == "CONV_2D")
    kernel = graph.tensors[conv.inputs[1]]
    assert kernel.dtype == "int8" and kernel.is_constant
    assert len(kernel.quantization["scale"]) == 8  # per output channel
    assert kernel.quantization["zero_point"] == [0] * 8


def test_float_and_dynamic_range_dtypes(tiny_models):
    assert read_model(tiny_models.float32).dtype_counts() == {"float32": 17, "int32": 1}
    graph = read_model(tiny_models.dynamic_range)
    assert [t["dtype"] for t in graph.input_details() + graph.output_details()] == [
        "float32", "float32"]
    # Only fc1's kernel (3200 >= 1024 elements) is big enough for dynamic-range quantization.
    stats = {p["tensor"]: p["dtype"] for p in graph.weight_stats()["per_tensor"]}
    assert sorted(stats.values()) == ["float32", "float32", "float32", "int8"]


def test_options_are_readable(tiny_models):
    ops = {op.op: op for op in read_model(tiny_models.float32).ops}
    conv = ops["CONV_2D"].options
    assert (conv["padding"], conv["stride_h"], conv["stride_w"], conv["activation"]) == (
        "VALID", 1, 1, "RELU")
    assert conv["dilation_w_factor"] == 1
    dw = ops["DEPTHWISE_CONV_2D"].options
    assert (dw["padding"], dw["depth_multiplier"]) == ("SAME", 1)
    pool = ops["MAX_POOL_2D"].options
    assert (pool["filter_height"], pool["filter_width"], pool["stride_h"]) == (2, 2, 2)
    assert ops["SOFTMAX"].options["beta"] == pytest.approx(1.0)


@pytest.mark.parametrize("variant", ["float32", "int8", "float16", "dynamic_range"])
def test_macs_hand_computed(tiny_models, variant):
    macs = read_model(getattr(tiny_models, variant)).macs()
    assert macs["total"] == EXPECTED_TOTAL
    by_op: dict[str, list[int]] = {}
    for entry in macs["per_op"]:
        by_op.setdefault(entry["op"], []).append(entry["macs"])
    assert by_op == {op: v if isinstance(v, list) else [v] for op, v in EXPECTED_MACS.items()}


@pytest.mark.parametrize("variant", ["pruned_float32", "pruned_int8", "pruned_float16",
                                     "pruned_sparse"])
def test_sparsity_of_half_pruned_model(tiny_models, variant):
    stats = read_model(getattr(tiny_models, variant)).weight_stats()
    assert stats["params"] == PRUNABLE_PARAMS
    assert stats["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert stats["nonzero_params"] == pytest.approx(PRUNABLE_PARAMS / 2, abs=0.01 * PRUNABLE_PARAMS)
    for entry in stats["per_tensor"]:
        assert entry["sparsity"] == pytest.approx(0.5, abs=0.01), entry


def test_sparse_format_weights_are_followed_through_densify(tiny_models):
    graph = read_model(tiny_models.pruned_sparse)
    assert graph.op_counts()["DENSIFY"] == 4
    assert sum(t.is_sparse for t in graph.tensors) == 4


def test_dense_model_has_no_sparsity_and_counts_bytes(tiny_models):
    f32 = read_model(tiny_models.float32).weight_stats()
    assert f32["params"] == PRUNABLE_PARAMS and f32["sparsity"] == 0.0
    # All constants: the prunable kernels, 4 biases (8+8+16+10) and the RESHAPE target shape.
    assert f32["constant_params"] == PRUNABLE_PARAMS + 42 + 2
    assert f32["parameter_bytes"] == 4 * f32["constant_params"]
    i8 = read_model(tiny_models.int8).weight_stats()
    assert i8["parameter_bytes"] < f32["parameter_bytes"] / 3  # int8 kernels, int32 biases


def test_per_channel_zero_points_define_zero():
    # uint8 weights [2, 2] quantized along dim 0 with zero points 3 and 5: only 4 is non-zero.
    data = np.array([3, 4, 5, 5], dtype=np.uint8)
    weight = TensorInfo(index=1, name="w", shape=[2, 2], shape_signature=[2, 2], dtype="uint8",
                        quantization={"scale": [0.1, 0.1], "zero_point": [3, 5],
                                      "quantized_dimension": 0},
                        buffer=1, buffer_bytes=4, is_constant=True)
    act = TensorInfo(index=0, name="x", shape=[1, 2], shape_signature=[1, 2], dtype="uint8",
                     quantization=None, buffer=0, buffer_bytes=0, is_constant=False)
    out = TensorInfo(index=2, name="y", shape=[1, 2], shape_signature=[1, 2], dtype="uint8",
                     quantization=None, buffer=0, buffer_bytes=0, is_constant=False)
    op = tflite_graph.OpInfo(index=0, op="FULLY_CONNECTED", inputs=[0, 1, -1], outputs=[2],
                             options={})
    sg = tflite_graph.SubgraphInfo(index=0, name="main", ops=[op], tensors=[act, weight, out],
                                   inputs=[0], outputs=[2])
    graph = TFLiteGraph(ops=sg.ops, tensors=sg.tensors, inputs=[0], outputs=[2], size_bytes=0,
                        version=3, description="", subgraphs=[sg],
                        _buffers=[np.zeros(0, np.uint8), data])
    stats = graph.weight_stats()
    assert (stats["params"], stats["nonzero_params"], stats["sparsity"]) == (4, 1, 0.75)


def test_bytes_and_path_give_the_same_summary(tiny_models):
    from_path = read_model(tiny_models.int8).to_dict()
    from_bytes = read_model(tiny_models.int8.read_bytes()).to_dict()
    assert from_path.pop("path") == str(tiny_models.int8) and from_bytes.pop("path") is None
    assert from_path == from_bytes
    summary = json.loads(json.dumps(from_bytes))
    assert summary["op_counts"] == BASE_OPS
    assert summary["macs"]["total"] == EXPECTED_TOTAL
    assert summary["size_bytes"] == tiny_models.int8.stat().st_size
    assert {"inputs", "outputs", "tensor_dtypes", "weights", "ops"} <= set(summary)


def test_missing_file_and_not_a_tflite(tmp_path):
    with pytest.raises(ConversionError, match="cannot read"):
        read_model(tmp_path / "absent.tflite")
    text = tmp_path / "notes.tflite"
    text.write_text("this is not a flatbuffer")
    with pytest.raises(ConversionError, match="TFL3") as info:
        read_model(text)
    assert info.value.hint
    with pytest.raises(ConversionError):
        read_model(b"")


def test_module_does_not_import_tensorflow():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(tflite_graph))
    names = {a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for a in node.names}
    names |= {node.module.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module}
    assert not names & {"tensorflow", "tf_keras", "keras", "compress", "calibration"}
