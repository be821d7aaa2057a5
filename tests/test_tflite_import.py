"""Tests of the TFLite importer against the reference models and small synthetic flatbuffers.

Reference figures come from ``../shared/models/manifest.json`` (key ``tflite``). Definitions:

- activations: outputs of operators reachable from the subgraph inputs, excluding the subgraph
  inputs and outputs; bytes = elements * dtype size.
- ``weight_elems`` / ``weight_tensors`` / ``weight_types``: checked against the files, these
  count every tensor of subgraph 0 with a non-empty buffer, one per *tensor* (two tensors that
  share one buffer, as mbv2's ``arith.constant4``/``arith.constant41`` do, are both counted),
  including shape-like constants (RESHAPE targets, MEAN axes, STRIDED_SLICE bounds). So the
  comparison is with all constants of the imported graph minus the synthetic ones listed in
  ``metadata["synthetic_constants"]``. (``cnnmem.analysis.counts.count_graph`` counts fewer
  ``weight_elements``: shape-like operands are not weights there.)
"""

from __future__ import annotations

import functools
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np
import pytest
import tflite

from cnnmem.errors import ModelImportError
from cnnmem.frontend.tflite_import import load_tflite
from cnnmem.ir import (
    Activation,
    DType,
    Graph,
    Tensor,
    TensorKind,
    node_macs,
    unmodelled_ops,
    verify,
)

MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"
TFLITE_DIR = MODELS / "tflite"
MBV2 = "tflite/mbv2_224_int8.tflite"
ANOMALY = "tflite/anomaly_detection.tflite"


def _manifest_entries() -> list[dict[str, Any]]:
    path = MODELS / "manifest.json"
    if not path.is_file() or not TFLITE_DIR.is_dir():
        return []
    return list(json.loads(path.read_text())["tflite"])


ENTRIES = _manifest_entries()
ENTRY_PARAMS = [pytest.param(e, id=Path(e["file"]).stem) for e in ENTRIES] or [
    pytest.param(None, id="no-reference-models")]


def _need(entry: dict[str, Any] | None) -> dict[str, Any]:
    if entry is None:
        pytest.skip(f"reference models not found in {TFLITE_DIR}")
    return entry


def _need_file(rel: str) -> Path:
    path = MODELS / rel
    if not path.is_file():
        pytest.skip(f"reference model {path} not found")
    return path


@functools.cache
def _graph(rel: str) -> Graph:
    return load_tflite(MODELS / rel)


def _nchw(shape: list[int]) -> tuple[int, ...]:
    return (shape[0], shape[3], shape[1], shape[2]) if len(shape) == 4 else tuple(shape)


def _activations(g: Graph) -> list[Tensor]:
    """Outputs of nodes reachable from the graph inputs, minus graph inputs and outputs."""
    reached: set[str] = set()
    stack = list(g.inputs)
    while stack:
        t = stack.pop()
        for node in t.consumers:
            if node.name not in reached:
                reached.add(node.name)
                stack.extend(node.outputs)
    outputs = {t.name for t in g.outputs}
    return [t for n in g.nodes if n.name in reached for t in n.outputs if t.name not in outputs]


def _file_constants(g: Graph) -> list[Tensor]:
    synthetic = set(json.loads(g.metadata.get("synthetic_constants", "[]")))
    return [t for t in g.tensors.values() if t.kind is TensorKind.CONSTANT
            and t.name not in synthetic]


def _file_tensor_data(path: Path, name: str) -> np.ndarray:
    """A constant's data straight from the flatbuffer (file layout), for layout checks."""
    buf = path.read_bytes()
    m = tflite.Model.GetRootAsModel(buf, 0)
    sg = m.Subgraphs(0)
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        if t.Name().decode() == name:
            dtype = {9: np.int8, 2: np.int32, 0: np.float32}[t.Type()]
            raw = m.Buffers(t.Buffer()).DataAsNumpy().tobytes()
            return np.frombuffer(raw, dtype=dtype).reshape(tuple(t.ShapeAsNumpy()))
    raise KeyError(name)


# ============================================================================ reference models
@pytest.mark.parametrize("entry", ENTRY_PARAMS)
def test_op_histogram(entry: dict[str, Any] | None) -> None:
    e = _need(entry)
    g = _graph(e["file"])
    assert dict(Counter(n.source_op for n in g.nodes)) == e["op_hist"]
    assert len(g) == e["op_count"]


@pytest.mark.parametrize("entry", ENTRY_PARAMS)
def test_activation_figures(entry: dict[str, Any] | None) -> None:
    e = _need(entry)
    acts = _activations(_graph(e["file"]))
    assert len(acts) == e["act_tensor_count"]
    assert sum(t.num_elements for t in acts) == e["act_sum_elems"]
    assert sum(t.size_bytes for t in acts) == e["act_sum_bytes"]
    largest = max(acts, key=lambda t: t.size_bytes)
    assert largest.size_bytes == e["act_max_bytes"]
    ref = e["act_max_tensor"]
    assert largest.shape == _nchw(ref["shape"])
    assert largest.dtype.short_name == ref["type"].lower()
    assert dict(Counter(t.dtype.short_name.upper() for t in acts)) == e["act_types"]
    for t in acts:
        if t.dtype is DType.INT8:
            assert t.size_bytes == t.num_elements


@pytest.mark.parametrize("entry", ENTRY_PARAMS)
def test_inputs_and_outputs(entry: dict[str, Any] | None) -> None:
    e = _need(entry)
    g = _graph(e["file"])
    assert [(t.shape, t.dtype.short_name) for t in g.inputs] == [
        (_nchw(i["shape"]), i["type"].lower()) for i in e["inputs"]]
    assert [(t.shape, t.dtype.short_name) for t in g.outputs] == [
        (_nchw(o["shape"]), o["type"].lower()) for o in e["outputs"]]
    assert [t.name for t in g.inputs] == [i["name"] for i in e["inputs"]]
    assert all(t.kind is TensorKind.INPUT for t in g.inputs)


@pytest.mark.parametrize("entry", ENTRY_PARAMS)
def test_constants_match_file(entry: dict[str, Any] | None) -> None:
    e = _need(entry)
    g = _graph(e["file"])
    consts = _file_constants(g)
    assert sum(t.num_elements for t in consts) == e["weight_elems"]
    assert len(consts) == e["weight_tensors"]
    assert dict(Counter(t.dtype.short_name.upper() for t in consts)) == e["weight_types"]
    for t in consts:
        assert t.data is not None and t.data.shape == t.shape
        assert t.data.dtype == t.dtype.numpy
    for name in json.loads(g.metadata.get("synthetic_constants", "[]")):
        t = g.tensor(name)
        assert t.is_constant and t.dtype in (DType.INT64, DType.INT32) and t.num_elements <= 8


@pytest.mark.parametrize("entry", ENTRY_PARAMS)
def test_verifies_with_metadata(entry: dict[str, Any] | None) -> None:
    e = _need(entry)
    g = _graph(e["file"])
    verify(g)
    assert g.metadata["source_format"] == "tflite"
    assert g.metadata["source_layout"] == "NHWC"
    assert g.metadata["source_path"] == str(MODELS / e["file"])
    assert g.metadata["model_description"] == e["description_field"]
    assert "subgraphs" not in g.metadata  # every reference file has exactly one subgraph
    for n in g.nodes:
        assert n.name == n.outputs[0].name
        assert n.source_op in e["op_hist"]


def test_depthwise_layout_and_group() -> None:
    path = _need_file(MBV2)
    g = _graph(MBV2)
    dws = [n for n in g.nodes if n.source_op == "DEPTHWISE_CONV_2D"]
    assert len(dws) == 17
    for n in dws:
        x, w = n.inputs[0], n.inputs[1]
        assert x is not None and w is not None
        c = x.shape[1]
        assert n.op_type == "Conv" and n.attr_int("group", 1) == c
        assert w.shape == (c, 1, 3, 3)  # (C*M, 1, kH, kW) with M = 1
        assert w.quant is not None and w.quant.axis == 0 and len(w.quant.scale) == c
    first = dws[0]
    w = first.inputs[1]
    assert w is not None and w.data is not None
    file_w = _file_tensor_data(path, w.name)  # (1, kH, kW, C)
    np.testing.assert_array_equal(w.data, np.transpose(file_w, (3, 0, 1, 2)))


def test_same_padding_on_first_conv() -> None:
    path = _need_file(MBV2)
    g = _graph(MBV2)
    conv = next(n for n in g.nodes if n.source_op == "CONV_2D")
    x, w = conv.inputs[0], conv.inputs[1]
    assert x is not None and w is not None
    assert x.shape == (1, 3, 224, 224) and conv.outputs[0].shape == (1, 32, 112, 112)
    assert conv.attrs["kernel_shape"] == (3, 3) and conv.attrs["strides"] == (2, 2)
    assert conv.attrs["pads"] == (0, 0, 1, 1)  # SAME, 224 -> 112: total 1, all at the end
    assert conv.attrs["dilations"] == (1, 1) and conv.attrs["group"] == 1
    assert conv.activation == Activation("Clip", (("max", 6.0), ("min", 0.0)))
    assert w.shape == (32, 3, 3, 3) and w.quant is not None and w.quant.axis == 0
    assert w.data is not None
    np.testing.assert_array_equal(w.data, np.transpose(_file_tensor_data(path, w.name),
                                                       (0, 3, 1, 2)))
    geom = conv.geometry
    assert geom is not None and geom.output_size(224, 224) == (112, 112)
    # a stride-1 3x3 SAME conv pads one on each side
    dw = next(n for n in g.nodes if n.source_op == "DEPTHWISE_CONV_2D")
    assert dw.attrs["pads"] == (1, 1, 1, 1) and dw.attrs["strides"] == (1, 1)


def test_mbv2_macs_match_torchvision() -> None:
    # Keras MobileNetV2 (alpha 1, 224) is the torchvision architecture: the manifest's ONNX
    # mobilenet_v2 counts 300,774,272 conv+linear MACs, which needs group = C on depthwise convs
    _need_file(MBV2)
    assert sum(node_macs(n) for n in _graph(MBV2).nodes) == 300_774_272


def test_mean_becomes_logical_reduce_mean() -> None:
    _need_file(MBV2)
    g = _graph(MBV2)
    mean = next(n for n in g.nodes if n.source_op == "MEAN")
    assert mean.op_type == "ReduceMean"
    assert mean.attrs["axes"] == (2, 3) and mean.attrs["keepdims"] == 0
    axes = mean.inputs[1]
    assert axes is not None and axes.data is not None
    assert axes.data.tolist() == [2, 3]  # the file's NHWC axes [1, 2], remapped
    assert mean.outputs[0].shape == (1, 1280)
    fc = g.nodes[-1]
    assert fc.op_type == "Gemm" and fc.attrs["transB"] == 1 and len(fc.inputs) == 2


def test_anomaly_shape_subgraph() -> None:
    _need_file(ANOMALY)
    g = _graph(ANOMALY)
    assert unmodelled_ops(g) == {}
    ops = {n.source_op: n for n in g.nodes}
    strided = ops["STRIDED_SLICE"]  # Shape[0:1] with shrink_axis_mask -> a scalar
    assert strided.op_type == "StridedSlice" and strided.attrs["shrink_axes"] == (0,)
    assert strided.outputs[0].shape == ()
    assert ops["SHAPE"].op_type == "Shape" and ops["PACK"].op_type == "Pack"
    assert ops["QUANTIZE"].op_type == "QuantizeLinear"
    assert ops["DEQUANTIZE"].op_type == "DequantizeLinear"
    reshape = g.node("Identity_int8")
    target, source = reshape.inputs[1], reshape.inputs[2]
    assert target is not None and source is not None
    assert target.data is not None and target.data.tolist() == [1, 1, 5, 128]
    assert target.name in json.loads(g.metadata["synthetic_constants"])
    assert source.name == "model/reshape/Reshape/shape" and source.producer is ops["PACK"]
    assert reshape.attrs["source_operands_at"] == 2
    assert reshape.attrs["source_layout"] == "NHWC"
    assert reshape.outputs[0].shape == (1, 1, 5, 128)


# ============================================================================ bad input
def _assert_import_error(path: Path) -> str:
    with pytest.raises(ModelImportError) as info:
        load_tflite(path)
    message = str(info.value)
    assert path.name in message and "\n" not in message
    return message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert "no such file" in _assert_import_error(tmp_path / "absent.tflite")
    folder = tmp_path / "model.tflite"
    folder.mkdir()
    assert "directory" in _assert_import_error(folder)


def test_empty_random_and_text_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    assert "empty" in _assert_import_error(empty)
    rnd = tmp_path / "random.tflite"
    rnd.write_bytes(random.Random(1).randbytes(4096))
    assert "TFL3" in _assert_import_error(rnd)
    text = tmp_path / "notes.tflite"
    text.write_text("this is not a model\n" * 20)
    assert "TFL3" in _assert_import_error(text)
    tiny = tmp_path / "tiny.tflite"
    tiny.write_bytes(b"\x00TF")
    _assert_import_error(tiny)


def test_truncated_and_corrupted_models(tmp_path: Path) -> None:
    data = _need_file(MBV2).read_bytes()
    for fraction in (0.01, 0.5, 0.99):
        cut = tmp_path / f"cut_{fraction}.tflite"
        cut.write_bytes(data[:int(len(data) * fraction)])
        assert "truncated or corrupt" in _assert_import_error(cut)
    rng = random.Random(7)
    for k in range(20):  # garbage with a valid identifier: never a raw parser exception
        junk = bytearray(rng.randbytes(rng.randint(8, 3000)))
        junk[4:8] = b"TFL3"
        path = tmp_path / f"junk{k}.tflite"
        path.write_bytes(bytes(junk))
        _assert_import_error(path)


# ============================================================================ synthetic models
def _vector(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return int(b.EndVector())


def _write_tflite(path: Path, tensors: list[dict[str, Any]],
                  ops: list[tuple[str, list[int], list[int], tuple[str, dict[str, Any]] | None]],
                  inputs: list[int], outputs: list[int]) -> Path:
    """Write a one-subgraph TFLite flatbuffer. ``tensors``: dicts with name, shape, type
    (``tflite.TensorType`` name), optional data (ndarray) and quant (scales, zero points, dim);
    ``ops``: (op name or ``CUSTOM:name``, inputs, outputs, (options class, fields) or None)."""
    b = flatbuffers.Builder(1024)
    tflite.BufferStart(b)
    buffers = [tflite.BufferEnd(b)]
    tensor_buffer = []
    for t in tensors:
        if t.get("data") is None:
            tensor_buffer.append(0)
            continue
        raw = np.frombuffer(np.ascontiguousarray(t["data"]).tobytes(), np.uint8)
        vec = b.CreateNumpyVector(raw)
        tflite.BufferStart(b)
        tflite.BufferAddData(b, vec)
        buffers.append(tflite.BufferEnd(b))
        tensor_buffer.append(len(buffers) - 1)
    tensor_offsets = []
    for t, buffer_index in zip(tensors, tensor_buffer, strict=True):
        name = b.CreateString(t["name"])
        shape = b.CreateNumpyVector(np.asarray(t["shape"], np.int32))
        quant = None
        if "quant" in t:
            scales, zps, dim = t["quant"]
            sv = b.CreateNumpyVector(np.asarray(scales, np.float32))
            zv = b.CreateNumpyVector(np.asarray(zps, np.int64))
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, sv)
            tflite.QuantizationParametersAddZeroPoint(b, zv)
            tflite.QuantizationParametersAddQuantizedDimension(b, dim)
            quant = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, getattr(tflite.TensorType, t["type"]))
        tflite.TensorAddBuffer(b, buffer_index)
        tflite.TensorAddName(b, name)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        tensor_offsets.append(tflite.TensorEnd(b))
    codes: list[str] = []
    op_offsets = []
    for op_name, op_in, op_out, options in ops:
        if op_name not in codes:
            codes.append(op_name)
        iv = b.CreateNumpyVector(np.asarray(op_in, np.int32))
        ov = b.CreateNumpyVector(np.asarray(op_out, np.int32))
        opt = None
        if options is not None:
            cls, fields = options
            vectors = {k: b.CreateNumpyVector(np.asarray(v, np.int32))
                       for k, v in fields.items() if isinstance(v, tuple)}
            getattr(tflite, f"{cls}Start")(b)
            for k, v in fields.items():
                getattr(tflite, f"{cls}Add{k}")(b, vectors.get(k, v))
            opt = getattr(tflite, f"{cls}End")(b)
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, codes.index(op_name))
        tflite.OperatorAddInputs(b, iv)
        tflite.OperatorAddOutputs(b, ov)
        if opt is not None:
            tflite.OperatorAddBuiltinOptionsType(b, getattr(tflite.BuiltinOptions, options[0]))
            tflite.OperatorAddBuiltinOptions(b, opt)
        op_offsets.append(tflite.OperatorEnd(b))
    code_offsets = []
    for op_name in codes:
        custom = b.CreateString(op_name[7:]) if op_name.startswith("CUSTOM:") else None
        code = 32 if custom is not None else getattr(tflite.BuiltinOperator, op_name)
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        tflite.OperatorCodeAddBuiltinCode(b, code)
        if custom is not None:
            tflite.OperatorCodeAddCustomCode(b, custom)
        tflite.OperatorCodeAddVersion(b, 1)
        code_offsets.append(tflite.OperatorCodeEnd(b))
    tv, opv = _vector(b, tensor_offsets), _vector(b, op_offsets)
    inv = b.CreateNumpyVector(np.asarray(inputs, np.int32))
    outv = b.CreateNumpyVector(np.asarray(outputs, np.int32))
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tv)
    tflite.SubGraphAddInputs(b, inv)
    tflite.SubGraphAddOutputs(b, outv)
    tflite.SubGraphAddOperators(b, opv)
    sg = tflite.SubGraphEnd(b)
    sgv, cv, bv = _vector(b, [sg]), _vector(b, code_offsets), _vector(b, buffers)
    desc = b.CreateString("synthetic test model")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, cv)
    tflite.ModelAddSubgraphs(b, sgv)
    tflite.ModelAddDescription(b, desc)
    tflite.ModelAddBuffers(b, bv)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    path.write_bytes(bytes(b.Output()))
    return path


def _t(name: str, shape: tuple[int, ...], type_: str = "FLOAT32", data: Any = None,
       **extra: Any) -> dict[str, Any]:
    return {"name": name, "shape": shape, "type": type_, "data": data, **extra}


def _pool(padding: int, stride: int, k: int) -> tuple[str, dict[str, Any]]:
    return ("Pool2DOptions", {"Padding": padding, "StrideW": stride, "StrideH": stride,
                              "FilterWidth": k, "FilterHeight": k})


SAME, VALID = 0, 1


@pytest.fixture(scope="module")
def cnn_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """conv -> depthwise / maxpool -> concat -> pad -> resize -> transpose conv -> mul ->
    strided slice -> mean -> squeeze -> custom op -> softmax (float32)."""
    rng = np.random.default_rng(0)
    f32 = np.float32
    tensors = [
        _t("x", (1, 8, 8, 4)),                                                     # 0
        _t("w1", (6, 3, 3, 4), data=rng.normal(size=(6, 3, 3, 4)).astype(f32)),   # 1
        _t("b1", (6,), data=np.zeros(6, f32)),                                     # 2
        _t("a", (1, 8, 8, 6)),                                                     # 3
        _t("w2", (1, 3, 3, 12), data=rng.normal(size=(1, 3, 3, 12)).astype(f32)),  # 4
        _t("b2", (12,), data=np.zeros(12, f32)),                                   # 5
        _t("d", (1, 4, 4, 12)),                                                    # 6
        _t("p", (1, 4, 4, 6)),                                                     # 7
        _t("c", (1, 4, 4, 18)),                                                    # 8
        _t("paddings", (4, 2), "INT32",
           np.asarray([[0, 0], [1, 1], [2, 2], [0, 0]], np.int32)),                # 9
        _t("q", (1, 6, 8, 18)),                                                    # 10
        _t("size", (2,), "INT32", np.asarray([12, 16], np.int32)),                 # 11
        _t("r", (1, 12, 16, 18)),                                                  # 12
        _t("out_shape", (4,), "INT32", np.asarray([1, 24, 32, 5], np.int32)),     # 13
        _t("w3", (5, 3, 3, 18), data=rng.normal(size=(5, 3, 3, 18)).astype(f32)),  # 14
        _t("t", (1, 24, 32, 5)),                                                   # 15
        _t("k", (5,), data=np.arange(5, dtype=f32)),                               # 16
        _t("m", (1, 24, 32, 5)),                                                   # 17
        _t("begin", (4,), "INT32", np.zeros(4, np.int32)),                         # 18
        _t("end", (4,), "INT32", np.asarray([1, 12, 0, 0], np.int32)),             # 19
        _t("strides", (4,), "INT32", np.ones(4, np.int32)),                        # 20
        _t("s", (1, 12, 32, 5)),                                                   # 21
        _t("axes", (2,), "INT32", np.asarray([1, 2], np.int32)),                   # 22
        _t("mean", (1, 1, 1, 5)),                                                  # 23
        _t("sq", (1, 5)),                                                          # 24
        _t("u", (1, 5)),                                                           # 25
        _t("y", (1, 5)),                                                           # 26
    ]
    ops: list[tuple[str, list[int], list[int], tuple[str, dict[str, Any]] | None]] = [
        ("CONV_2D", [0, 1, 2], [3], ("Conv2DOptions", {
            "Padding": SAME, "StrideW": 1, "StrideH": 1, "FusedActivationFunction": 3,
            "DilationWFactor": 1, "DilationHFactor": 1})),
        ("DEPTHWISE_CONV_2D", [3, 4, 5], [6], ("DepthwiseConv2DOptions", {
            "Padding": SAME, "StrideW": 2, "StrideH": 2, "DepthMultiplier": 2,
            "DilationWFactor": 1, "DilationHFactor": 1})),
        ("MAX_POOL_2D", [3], [7], _pool(VALID, 2, 2)),
        ("CONCATENATION", [6, 7], [8], ("ConcatenationOptions", {"Axis": -1})),
        ("PAD", [8, 9], [10], None),
        ("RESIZE_NEAREST_NEIGHBOR", [10, 11], [12], None),
        ("TRANSPOSE_CONV", [13, 14, 12], [15], ("TransposeConvOptions", {
            "Padding": SAME, "StrideW": 2, "StrideH": 2})),
        ("MUL", [15, 16], [17], ("MulOptions", {"FusedActivationFunction": 1})),
        ("STRIDED_SLICE", [17, 18, 19, 20], [21], ("StridedSliceOptions", {
            "BeginMask": 0b0010, "EndMask": 0b1100})),
        ("MEAN", [21, 22], [23], ("ReducerOptions", {"KeepDims": True})),
        ("SQUEEZE", [23], [24], ("SqueezeOptions", {"SqueezeDims": (1, 2)})),
        ("CUSTOM:MyOp", [24], [25], None),
        ("SOFTMAX", [25], [26], ("SoftmaxOptions", {"Beta": 1.0})),
    ]
    path = tmp_path_factory.mktemp("synthetic") / "cnn.tflite"
    return _write_tflite(path, tensors, ops, [0], [26])


def test_synthetic_cnn_translation(cnn_file: Path) -> None:
    g = load_tflite(cnn_file)
    by_src = {n.source_op: n for n in g.nodes}
    assert [n.op_type for n in g.nodes] == [
        "Conv", "Conv", "MaxPool", "Concat", "Pad", "Resize", "ConvTranspose", "Mul", "Slice",
        "ReduceMean", "Squeeze", "CUSTOM:MyOp", "Softmax"]
    assert unmodelled_ops(g) == {"CUSTOM:MyOp": ["u"]}
    assert g.metadata["model_description"] == "synthetic test model"
    assert g.inputs[0].shape == (1, 4, 8, 8)

    conv = by_src["CONV_2D"]
    assert conv.attrs["pads"] == (1, 1, 1, 1) and conv.attrs["group"] == 1
    assert conv.activation == Activation("Clip", (("max", 6.0), ("min", 0.0)))
    dw = by_src["DEPTHWISE_CONV_2D"]
    w = dw.inputs[1]
    assert w is not None and w.shape == (12, 1, 3, 3) and dw.attrs["group"] == 6
    assert dw.attrs["pads"] == (0, 0, 1, 1) and dw.outputs[0].shape == (1, 12, 4, 4)
    pool = by_src["MAX_POOL_2D"]
    assert pool.attrs == {"kernel_shape": (2, 2), "strides": (2, 2), "dilations": (1, 1),
                          "pads": (0, 0, 0, 0), "ceil_mode": 0, "count_include_pad": 0}
    assert by_src["CONCATENATION"].attrs["axis"] == 1
    assert by_src["CONCATENATION"].outputs[0].shape == (1, 18, 4, 4)

    pads = by_src["PAD"].inputs[1]
    assert pads is not None and pads.data is not None
    assert pads.data.tolist() == [0, 0, 1, 2, 0, 0, 1, 2]  # ONNX order, logical axes
    resize = by_src["RESIZE_NEAREST_NEIGHBOR"]
    assert resize.attrs["axes"] == (2, 3) and resize.outputs[0].shape == (1, 18, 12, 16)

    tconv = by_src["TRANSPOSE_CONV"]
    w3 = tconv.inputs[1]
    assert w3 is not None and w3.shape == (18, 5, 3, 3) and w3.data is not None
    assert tconv.inputs[0] is g.tensor("r") and tconv.inputs[2] is None
    assert tconv.inputs[3] is g.tensor("out_shape") and tconv.attrs["source_operands_at"] == 3
    assert tconv.attrs["pads"] == (0, 0, 1, 1) and tconv.outputs[0].shape == (1, 5, 24, 32)
    file_w3 = _file_tensor_data(cnn_file, "w3")
    np.testing.assert_array_equal(w3.data, np.transpose(file_w3, (3, 0, 1, 2)))

    mul = by_src["MUL"]
    k = mul.inputs[1]
    assert k is not None and k.shape == (1, 5, 1, 1) and mul.activation == Activation("Relu")
    sl = by_src["STRIDED_SLICE"]
    starts, ends, steps = sl.inputs[1], sl.inputs[2], sl.inputs[4]
    assert starts is not None and ends is not None and steps is not None
    assert ends.data is not None and ends.data.tolist() == [1, 2**31 - 1, 12, 2**31 - 1]
    assert starts.data is not None and starts.data.tolist() == [0, 0, 0, 0]
    assert steps.data is not None and steps.data.tolist() == [1, 1, 1, 1]
    assert sl.outputs[0].shape == (1, 5, 12, 32)
    mean = by_src["MEAN"]
    assert mean.attrs["axes"] == (2, 3) and mean.outputs[0].shape == (1, 5, 1, 1)
    assert by_src["SQUEEZE"].attrs["axes"] == (2, 3)
    assert by_src["SOFTMAX"].attrs["axis"] == -1
    # every file constant survives once, in its converted layout
    assert sorted(t.name for t in _file_constants(g)) == sorted(
        ["w1", "b1", "w2", "b2", "paddings", "size", "out_shape", "w3", "k", "begin", "end",
         "strides", "axes"])
    assert "synthetic_constants" not in g.metadata


def test_synthetic_split_transpose_reshape(tmp_path: Path) -> None:
    f32 = np.float32
    tensors = [
        _t("x", (1, 4, 4, 6)),                                              # 0
        _t("axis", (), "INT32", np.asarray(3, np.int32)),                   # 1
        _t("s0", (1, 4, 4, 3)),                                             # 2
        _t("s1", (1, 4, 4, 3)),                                             # 3
        _t("sum", (1, 4, 4, 3)),                                            # 4
        _t("perm", (4,), "INT32", np.asarray([0, 2, 1, 3], np.int32)),      # 5
        _t("tr", (1, 4, 4, 3)),                                             # 6
        _t("sig", (1, 4, 4, 3)),                                            # 7
        _t("target", (2,), "INT32", np.asarray([1, 48], np.int32)),         # 8
        _t("flat", (1, 48)),                                                # 9
        _t("fc_w", (2, 48), data=np.ones((2, 48), f32)),                    # 10
        _t("y", (1, 2)),                                                    # 11
    ]
    ops: list[tuple[str, list[int], list[int], tuple[str, dict[str, Any]] | None]] = [
        ("SPLIT", [1, 0], [2, 3], ("SplitOptions", {"NumSplits": 2})),
        ("ADD", [2, 3], [4], None),
        ("TRANSPOSE", [4, 5], [6], None),
        ("LOGISTIC", [6], [7], None),
        ("RESHAPE", [7, 8], [9], None),
        ("FULLY_CONNECTED", [9, 10, -1], [11], None),
    ]
    g = load_tflite(_write_tflite(tmp_path / "misc.tflite", tensors, ops, [0], [11]))
    assert [n.op_type for n in g.nodes] == ["Split", "Add", "Transpose", "Sigmoid", "Reshape",
                                            "Gemm"]
    split = g.nodes[0]
    assert split.attrs["axis"] == 1 and [t.shape for t in split.outputs] == [(1, 3, 4, 4)] * 2
    assert split.inputs[2] is g.tensor("axis")
    tr = g.nodes[2]
    perm = tr.attrs["perm"]
    assert isinstance(perm, tuple)
    # the logical permutation reproduces the file's NHWC transpose on real data
    data = np.arange(48).reshape(1, 4, 4, 3)
    file_out = np.transpose(data, (0, 2, 1, 3))  # swaps H and W
    logical_out = np.transpose(np.transpose(data, (0, 3, 1, 2)), perm)
    np.testing.assert_array_equal(logical_out, np.transpose(file_out, (0, 3, 1, 2)))
    assert g.nodes[-1].inputs == (g.tensor("flat"), g.tensor("fc_w"))
    assert unmodelled_ops(g) == {}


def test_float16_weights_take_the_weight_layout(tmp_path: Path) -> None:
    w16 = np.arange(6, dtype=np.float16).reshape(3, 1, 1, 2)
    tensors = [_t("x", (1, 4, 4, 2)), _t("w16", (3, 1, 1, 2), "FLOAT16", w16),
               _t("w", (3, 1, 1, 2)), _t("y", (1, 4, 4, 3))]
    ops: list[tuple[str, list[int], list[int], tuple[str, dict[str, Any]] | None]] = [
        ("DEQUANTIZE", [1], [2], None),
        ("CONV_2D", [0, 2, -1], [3], ("Conv2DOptions", {
            "Padding": VALID, "StrideW": 1, "StrideH": 1})),
    ]
    g = load_tflite(_write_tflite(tmp_path / "f16.tflite", tensors, ops, [0], [3]))
    deq, conv = g.nodes
    assert deq.op_type == "DequantizeLinear" and conv.op_type == "Conv"
    assert deq.outputs[0].shape == (3, 2, 1, 1) and conv.inputs[1] is deq.outputs[0]
    const = deq.inputs[0]
    assert const is not None and const.dtype is DType.FLOAT16 and const.data is not None
    np.testing.assert_array_equal(const.data, np.transpose(w16, (0, 3, 1, 2)))
    assert conv.outputs[0].shape == (1, 3, 4, 4) and conv.inputs[2:] == ()
    assert _activations(g) == []  # the dequantised weights are not reachable from the input


def test_zero_dimension_and_no_operators(tmp_path: Path) -> None:
    zero = _write_tflite(tmp_path / "zero.tflite", [_t("x", (1, 0, 4, 3)), _t("y", (1, 0, 4, 3))],
                         [("RELU", [0], [1], None)], [0], [1])
    message = _assert_import_error(zero)
    assert "'x'" in message and "non-positive" in message
    empty = _write_tflite(tmp_path / "noops.tflite", [_t("x", (1, 4))], [], [0], [0])
    assert "no operators" in _assert_import_error(empty)


def test_inconsistent_graphs(tmp_path: Path) -> None:
    tensors = [_t("x", (1, 4)), _t("y", (1, 4)), _t("z", (1, 4))]
    twice = _write_tflite(tmp_path / "twice.tflite", tensors,
                          [("RELU", [0], [1], None), ("TANH", [0], [1], None)], [0], [1])
    assert "more than one operator" in _assert_import_error(twice)
    cycle = _write_tflite(tmp_path / "cycle.tflite", tensors,
                          [("ADD", [0, 2], [1], None), ("RELU", [1], [2], None)], [0], [2])
    assert "cycle" in _assert_import_error(cycle)


def test_unknown_op_keeps_its_tensors(tmp_path: Path) -> None:
    tensors = [_t("x", (1, 4, 4, 2)), _t("idx", (3, 2), "INT32", np.zeros((3, 2), np.int32)),
               _t("y", (3, 2)), _t("shape", (4,), "INT32")]
    g = load_tflite(_write_tflite(tmp_path / "gnd.tflite", tensors,
                                  [("GATHER_ND", [0, 1], [2], None), ("SHAPE", [0], [3], None)],
                                  [0], [2, 3]))
    node = g.nodes[0]
    assert node.op_type == node.source_op == "GATHER_ND"
    # SHAPE of a rank-4 tensor yields NHWC-ordered values: not the logical Shape op
    assert unmodelled_ops(g) == {"GATHER_ND": ["y"], "SHAPE": ["shape"]}
    idx = node.inputs[1]
    assert idx is not None and idx.shape == (3, 2) and idx.data is not None  # unconverted
    assert node.outputs[0].size_bytes == 24
