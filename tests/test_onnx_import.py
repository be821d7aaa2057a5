"""ONNX importer: reference models against the MANIFEST figures, inline edge cases, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from cnnmem.analysis.counts import count_graph
from cnnmem.errors import ConfigError, ModelImportError
from cnnmem.frontend.onnx_import import load_onnx, parse_input_shapes
from cnnmem.ir import DType, unmodelled_ops, verify
from conftest import entry_id, manifest_entries, models_dir

ONNX_MODELS = manifest_entries("onnx")


def _intermediates(graph: Any) -> list[Any]:
    outputs = {t.name for t in graph.outputs}
    return [t for n in graph.nodes for t in n.outputs if t.name not in outputs]


@pytest.mark.parametrize("entry", ONNX_MODELS, ids=entry_id)
def test_reference_model_matches_manifest(entry: dict[str, Any]) -> None:
    path = models_dir() / entry["file"]
    graph = load_onnx(path)
    verify(graph)
    counts = count_graph(graph)
    # MACs of Conv + Gemm equal the torch forward-hook count exactly.
    assert counts.macs == entry["macs_conv_linear_torch_hooks"]
    # Weight elements equal the file's initializer elements (Identity-shared biases once).
    assert counts.weight_elements == entry["onnx_initializer_elems"]
    acts = _intermediates(graph)
    assert len(acts) == entry["act_tensor_count"]
    assert sum(t.num_elements for t in acts) == entry["act_sum_elems"]
    largest = max(acts, key=lambda t: t.num_elements)
    assert largest.num_elements == entry["act_max_elems"]
    assert list(largest.shape) == entry["act_max_tensor"]["shape"]
    assert [list(t.shape) for t in graph.inputs] == [entry["input_shape"]]
    assert [list(t.shape) for t in graph.outputs] == entry["output_shapes"]
    float_acts = [t for t in acts if t.dtype is DType.FLOAT32]
    assert sum(t.num_elements for t in float_acts) == entry["act_sum_elems_float32"]
    assert not unmodelled_ops(graph)


def test_graph_only_file_has_no_weight_data_but_full_shapes() -> None:
    graph = load_onnx(models_dir() / "onnx" / "resnet18.onnx")
    fc = graph.tensor("fc.weight")
    assert fc.shape == (1000, 512) and fc.data is None
    full = load_onnx(models_dir() / "onnx" / "squeezenet1_1_full.onnx")
    assert all(t.data is not None for t in full.constants)


def test_shufflenet_symbolic_shapes_are_resolved() -> None:
    # ONNX shape inference leaves 104 tensors symbolic; cnnmem folds the Shape/Gather/Div chain.
    graph = load_onnx(models_dir() / "onnx" / "shufflenet_v2_x1_0.onnx")
    reshapes = [n for n in graph.nodes if n.op_type == "Reshape"]
    assert len(reshapes) == 32
    assert all(min(n.outputs[0].shape) > 0 for n in reshapes)


# ----------------------------------------------------------------------------- inline models
def _model(nodes: list[Any], inputs: list[Any], outputs: list[Any],
           inits: list[Any] | None = None, opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "t", inputs, outputs, inits or [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _save(model: onnx.ModelProto, tmp_path: Path, name: str = "m.onnx") -> Path:
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def _conv_model(dims: list[Any], auto_pad: str = "SAME_UPPER", stride: int = 2) -> Any:
    w = numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w")
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", auto_pad=auto_pad,
                            strides=[stride, stride])
    return _model([conv], [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])


def test_auto_pad_same_upper_is_resolved_to_explicit_pads(tmp_path: Path) -> None:
    graph = load_onnx(_save(_conv_model([1, 3, 15, 16]), tmp_path))
    conv = graph.node("conv")
    assert conv.outputs[0].shape == (1, 8, 8, 8)
    # H: out 8, total pad = 7*2+3-15 = 2 -> (1, 1); W: total = 7*2+3-16 = 1 -> (0, 1)
    assert conv.attrs["pads"] == (1, 0, 1, 1)


def test_symbolic_batch_defaults_to_one_and_is_recorded(tmp_path: Path) -> None:
    graph = load_onnx(_save(_conv_model(["N", 3, 16, 16]), tmp_path))
    assert graph.inputs[0].shape == (1, 3, 16, 16)
    assert "batch dimension 'N'" in graph.metadata["assumptions"]


def test_unknown_spatial_dim_names_the_input_and_suggests_pinning(tmp_path: Path) -> None:
    path = _save(_conv_model([1, 3, "H", "W"]), tmp_path)
    with pytest.raises(ModelImportError, match=r"input 'x'.*--input-shape x="):
        load_onnx(path)
    graph = load_onnx(path, parse_input_shapes(["x=1x3x32x40"]))
    assert graph.node("conv").outputs[0].shape == (1, 8, 16, 20)


def test_input_shape_errors(tmp_path: Path) -> None:
    path = _save(_conv_model([1, 3, 16, 16]), tmp_path)
    with pytest.raises(ConfigError, match="model's inputs are 'x'"):
        load_onnx(path, {"y": (1, 3, 16, 16)})
    with pytest.raises(ConfigError, match="contradicts"):
        load_onnx(path, {"x": (1, 3, 32, 16)})
    for bad in ("x", "x=", "x=1xax3", "x=1x0x3", "=1x2"):
        with pytest.raises(ConfigError, match="NAME=1x3x224x224"):
            parse_input_shapes([bad])


def test_unmodelled_op_is_imported_generically_and_listed(tmp_path: Path) -> None:
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Hardmax", ["r"], ["y"], name="hm", axis=1)]
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    graph = load_onnx(_save(model, tmp_path))
    assert unmodelled_ops(graph) == {"Hardmax": ["hm"]}
    assert graph.node("hm").outputs[0].shape == (1, 10)
    assert graph.node("hm").outputs[0].size_bytes == 40  # never zero


def test_qdq_model_is_sized_by_its_quantized_dtype(tmp_path: Path) -> None:
    q = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.int8), "wq")
    inits = [q, numpy_helper.from_array(np.array(0.02, np.float32), "s"),
             numpy_helper.from_array(np.array(0, np.int8), "z"),
             numpy_helper.from_array(np.array(0.1, np.float32), "s2")]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="qx"),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xf"], name="dqx"),
        helper.make_node("DequantizeLinear", ["wq", "s", "z"], ["wf"], name="dqw"),
        helper.make_node("Conv", ["xf", "wf"], ["y"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("QuantizeLinear", ["y", "s2", "z"], ["yq"], name="qy"),
        helper.make_node("DequantizeLinear", ["yq", "s2", "z"], ["out"], name="dqy"),
    ]
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                   [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], inits)
    graph = load_onnx(_save(model, tmp_path))
    conv = graph.node("conv")
    x_in, w = conv.inputs[0], conv.inputs[1]
    assert x_in is not None and w is not None
    assert x_in.dtype is DType.INT8 and x_in.size_bytes == 3 * 8 * 8
    assert w.dtype is DType.INT8 and w.quant is not None and w.quant.scale == pytest.approx((0.02,))
    assert conv.outputs[0].dtype is DType.INT8 and conv.outputs[0].quant is not None
    assert count_graph(graph).weight_bytes == 4 * 3 * 3 * 3  # one byte per weight


# ----------------------------------------------------------------------------- bad input
def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelImportError, match="no such file"):
        load_onnx(tmp_path / "absent.onnx")
    with pytest.raises(ModelImportError, match="is a directory"):
        load_onnx(tmp_path)


def test_empty_garbage_and_truncated_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelImportError, match=r"empty\.onnx: the file is empty"):
        load_onnx(empty)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"garbage\x00\x01junk")
    with pytest.raises(ModelImportError, match=r"garbage\.onnx: not a valid ONNX model"):
        load_onnx(garbage)
    text = tmp_path / "text.onnx"
    text.write_text("this is a text file, not a model\n")
    with pytest.raises(ModelImportError, match=r"text\.onnx: not a valid ONNX model"):
        load_onnx(text)


def test_truncated_real_model(tmp_path: Path) -> None:
    src = models_dir() / "onnx" / "resnet18.onnx"
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(src.read_bytes()[:5000])
    with pytest.raises(ModelImportError, match=r"truncated\.onnx: not a valid ONNX model"):
        load_onnx(truncated)


def test_cyclic_graph_is_rejected(tmp_path: Path) -> None:
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["b"], name="second")]
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                   [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 4])])
    with pytest.raises(ModelImportError, match="cycle"):
        load_onnx(_save(model, tmp_path))


def test_zero_dimension_is_rejected(tmp_path: Path) -> None:
    w = helper.make_tensor("w", TensorProto.FLOAT, [8, 0, 3, 3], [])
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv")
    model = _model([conv], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    with pytest.raises(ModelImportError, match="initializer 'w' has a non-positive dimension"):
        load_onnx(_save(model, tmp_path))
    with pytest.raises(ConfigError):
        parse_input_shapes(["x=1x3x0x8"])


def test_dangling_input_names_the_node(tmp_path: Path) -> None:
    node = helper.make_node("Relu", ["nowhere"], ["y"], name="r")
    model = _model([node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    with pytest.raises(ModelImportError, match=r"node 'r' \(Relu\) reads 'nowhere'"):
        load_onnx(_save(model, tmp_path))


def test_inconsistent_shapes_are_rejected(tmp_path: Path) -> None:
    w = numpy_helper.from_array(np.zeros((8, 5, 3, 3), np.float32), "w")
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv")
    model = _model([conv], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    with pytest.raises(ModelImportError, match="input has 3 channels"):
        load_onnx(_save(model, tmp_path))


def test_cast_and_ceil_mode_pool_import(tmp_path: Path) -> None:
    nodes = [helper.make_node("Cast", ["x"], ["c"], name="cast", to=TensorProto.FLOAT16),
             helper.make_node("Cast", ["c"], ["f"], name="back", to=TensorProto.FLOAT),
             # 6 wide, k2 s2 p(0,1), ceil: the 4th window would start in the end padding and
             # is dropped (onnxruntime/PyTorch), although ONNX shape inference counts it
             helper.make_node("MaxPool", ["f"], ["y"], name="pool", kernel_shape=[1, 2],
                              strides=[1, 2], pads=[0, 0, 0, 1], ceil_mode=1)]
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 1, 6])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    graph = load_onnx(_save(model, tmp_path))
    assert graph.node("cast").outputs[0].dtype is DType.FLOAT16
    assert graph.node("pool").outputs[0].shape == (1, 1, 1, 3)
    import onnxruntime as ort

    from cnnmem.frontend.onnx_export import to_onnx

    sess = ort.InferenceSession(to_onnx(graph).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"x": np.arange(6, dtype=np.float32).reshape(1, 1, 1, 6)})
    assert y.shape == (1, 1, 1, 3)
