"""Tests of the built-in network zoo: exact parameter/MAC counts against the reference
implementations, shapes, resolution/width rules, naming and metadata."""

from __future__ import annotations

import math

import pytest

from cnnmem.analysis.counts import count_graph
from cnnmem.errors import ConfigError
from cnnmem.ir import DType, Graph, TensorKind, param_inputs, verify
from cnnmem.zoo import ZooEntry, build_network, get_entry, list_networks
from cnnmem.zoo.classification import make_divisible

ALL = [e.name for e in list_networks()]

# Exact (params, MACs) of torchvision models at 224x224, batch 1: MANIFEST of ../shared/models
# (params = sum(p.numel() for p in model.parameters()); MACs = Conv2d/Linear forward hooks).
TORCHVISION_EXACT = {
    "resnet18": (11_689_512, 1_814_073_344),
    "resnet50": (25_557_032, 4_089_184_256),
    "mobilenet_v2": (3_504_872, 300_774_272),
    "squeezenet1_1": (1_235_496, 349_151_936),
    "vgg16": (138_357_544, 15_470_264_320),
}

# Params exact, MACs within the rounding of torchvision's documented "GFLOPS" (MACs, 2 decimals).
TORCHVISION_ROUNDED = {
    # GoogLeNet_Weights.IMAGENET1K_V1: num_params 6,624,904 (no aux heads); GFLOPS 1.50.
    "googlenet": (6_624_904, 1.50e9),
    # Inception_V3_Weights.IMAGENET1K_V1: num_params 27,161,264 includes AuxLogits'
    # 3,326,696 parameters, which do not run at inference: 23,834,568; GFLOPS 5.71 at 299x299.
    "inception_v3": (23_834_568, 5.71e9),
}

# Largest intermediate activation (elements) of the torchvision ONNX exports, MANIFEST of
# ../shared/models: an independent check of the spatial sizes.
TORCHVISION_LARGEST_ACTIVATION = {
    "resnet18": 802_816,
    "resnet50": 802_816,
    "mobilenet_v2": 1_204_224,
    "squeezenet1_1": 788_544,
    "vgg16": 3_211_264,
}

# Our own counts for networks without a torchvision reference, each checked by hand:
# - tiny_yolov2: 15,855,536 conv weights + 125 bias + 6,112 BN = 15,861,773; Darknet prints
#   6.97 BFLOPs for tiny-yolo-voc at 416 = 2 x 3.49 G MACs.
# - dncnn: 640 + 15 x (36,864 + 128) + 576 = 556,096 (the DnCNN paper's ~0.56 M).
# - ffdnet: 2,944 + 13 x (36,928 + 128) + 2,308 = 486,980 (the FFDNet paper's ~0.49 M).
# - vdsr: 576 + 18 x 36,864 + 576 = 664,704 (the usual "665 K" of SR surveys).
# - fcn: resnet18 trunk 11,176,512 + score convs 18,879 + deconvs 127,008 = 11,322,399.
# - blazeface: stem 1,824 + single blocks 11,472 + double blocks 44,688 + heads 13,192
#   = 71,176 (no published count for the paper's Table 4 network).
OWN_COUNTS = {
    "tiny_yolov2": (15_861_773, 3_485_520_896),
    "dncnn": (556_096, 36_314_284_032),
    "ffdnet": (486_980, 7_936_671_744),
    "vdsr": (664_704, 43_562_041_344),
    "fcn": (11_322_399, 9_965_654_016),
    "blazeface": (71_176, 34_140_672),
}

EXPECTED_OUTPUTS = {
    "vgg16": [(1, 1000)],
    "resnet18": [(1, 1000)],
    "resnet50": [(1, 1000)],
    "mobilenet_v2": [(1, 1000)],
    "squeezenet1_1": [(1, 1000)],
    "googlenet": [(1, 1000)],
    "inception_v3": [(1, 1000)],
    "tiny_yolov2": [(1, 125, 13, 13)],
    "blazeface": [(1, 896, 1), (1, 896, 16)],
    "dncnn": [(1, 1, 256, 256)],
    "ffdnet": [(1, 1, 256, 256)],
    "vdsr": [(1, 1, 256, 256)],
    "fcn": [(1, 21, 512, 512)],
}

# A second resolution per network (smaller, or the next valid one).
SECOND_RESOLUTION = {
    "vgg16": (448, 224),
    "resnet18": (128, 128),
    "resnet50": (128, 160),
    "mobilenet_v2": (128, 128),
    "squeezenet1_1": (128, 128),
    "googlenet": (128, 128),
    "inception_v3": (150, 150),
    "tiny_yolov2": (320, 320),
    "blazeface": (256, 256),
    "dncnn": (64, 48),
    "ffdnet": (64, 48),
    "vdsr": (64, 48),
    "fcn": (256, 320),
}


@pytest.fixture(scope="module")
def default_graphs() -> dict[str, Graph]:
    return {name: build_network(name) for name in ALL}


def test_registry_lists_every_network_sorted() -> None:
    names = [e.name for e in list_networks()]
    assert names == sorted(names)
    assert set(names) >= set(EXPECTED_OUTPUTS)
    assert set(names) == set(EXPECTED_OUTPUTS)  # every network has its shape test below
    for entry in list_networks():
        assert isinstance(entry, ZooEntry)
        assert entry.name == entry.name.lower()
        assert entry.domain in ("classification", "detection", "denoising", "super-resolution",
                                "segmentation")
        assert "\n" not in entry.description and entry.description
        assert get_entry(entry.name) is entry
        h, w = entry.default_resolution
        assert h >= entry.min_resolution and w >= entry.min_resolution
        assert h % entry.resolution_multiple == 0 and w % entry.resolution_multiple == 0
        assert entry.min_resolution % entry.resolution_multiple == 0


@pytest.mark.parametrize("name", ALL)
def test_default_build_verifies_with_metadata_and_io(name: str,
                                                     default_graphs: dict[str, Graph]) -> None:
    graph = default_graphs[name]
    entry = get_entry(name)
    verify(graph)
    assert graph.metadata["source_format"] == "zoo"
    assert graph.metadata["network"] == name
    assert graph.metadata["domain"] == entry.domain
    assert graph.metadata["source_layout"] == "NCHW"
    x = graph.inputs[0]
    assert x.name == "input"
    assert x.shape == (1, entry.input_channels, *entry.default_resolution)
    assert x.dtype is DType.FLOAT32
    assert [t.shape for t in graph.outputs] == EXPECTED_OUTPUTS[name]
    # shapes only by default
    assert all(t.data is None for n in graph.nodes for t in param_inputs(n))


@pytest.mark.parametrize("name", sorted(TORCHVISION_EXACT))
def test_torchvision_params_and_macs_exact(name: str, default_graphs: dict[str, Graph]) -> None:
    counts = count_graph(default_graphs[name])
    assert (counts.params, counts.macs) == TORCHVISION_EXACT[name]


@pytest.mark.parametrize("name", sorted(TORCHVISION_ROUNDED))
def test_torchvision_params_exact_and_macs_within_rounding(
        name: str, default_graphs: dict[str, Graph]) -> None:
    counts = count_graph(default_graphs[name])
    params, gmacs = TORCHVISION_ROUNDED[name]
    assert counts.params == params
    assert abs(counts.macs - gmacs) <= 0.005e9


@pytest.mark.parametrize("name", sorted(TORCHVISION_LARGEST_ACTIVATION))
def test_largest_activation_matches_torchvision_export(
        name: str, default_graphs: dict[str, Graph]) -> None:
    graph = default_graphs[name]
    largest = max(t.num_elements for t in graph.tensors.values()
                  if t.kind is TensorKind.ACTIVATION)
    assert largest == TORCHVISION_LARGEST_ACTIVATION[name]


@pytest.mark.parametrize("name", sorted(OWN_COUNTS))
def test_other_networks_counts(name: str, default_graphs: dict[str, Graph]) -> None:
    counts = count_graph(default_graphs[name])
    assert (counts.params, counts.macs) == OWN_COUNTS[name]


def test_tiny_yolov2_matches_darknet_bflops(default_graphs: dict[str, Graph]) -> None:
    # Darknet prints 6.97 BFLOPs (2 x MACs) for tiny-yolo-voc at 416x416.
    assert round(2 * count_graph(default_graphs["tiny_yolov2"]).macs / 1e9, 2) == 6.97


def test_weights_follow_torchvision_state_dict_names(default_graphs: dict[str, Graph]) -> None:
    resnet = default_graphs["resnet18"]
    for key in ("conv1.weight", "bn1.running_var", "layer1.0.conv1.weight",
                "layer2.0.downsample.0.weight", "layer4.1.bn2.bias", "fc.weight", "fc.bias"):
        assert resnet.has_tensor(key), key
    assert resnet.node("layer1.0.conv1").op_type == "Conv"
    mbv2 = default_graphs["mobilenet_v2"]
    for key in ("features.0.0.weight", "features.1.conv.0.0.weight", "features.1.conv.2.weight",
                "features.2.conv.3.running_mean", "features.18.1.weight",
                "classifier.1.weight"):
        assert mbv2.has_tensor(key), key
    inception = default_graphs["inception_v3"]
    assert inception.has_tensor("Mixed_7c.branch3x3dbl_3b.bn.weight")
    assert not any("AuxLogits" in t for t in inception.tensors)
    googlenet = default_graphs["googlenet"]
    assert not any(t.startswith("aux") for t in googlenet.tensors)
    w = googlenet.tensor("inception3a.branch3.1.conv.weight")
    assert w.shape == (32, 16, 3, 3)  # torchvision's 3x3 in the "5x5" branch


@pytest.mark.parametrize("name", ALL)
def test_second_resolution_builds(name: str) -> None:
    h, w = SECOND_RESOLUTION[name]
    graph = build_network(name, resolution=(h, w))
    verify(graph)
    assert graph.inputs[0].shape[2:] == (h, w)
    out = graph.outputs[0].shape
    if get_entry(name).domain in ("denoising", "super-resolution", "segmentation"):
        assert out[2:] == (h, w)


@pytest.mark.parametrize("name", ALL)
def test_min_resolution_is_the_smallest_valid(name: str) -> None:
    entry = get_entry(name)
    m, low = entry.resolution_multiple, entry.min_resolution
    verify(build_network(name, resolution=(low, low)))
    if low - m >= 1:
        with pytest.raises(ConfigError, match=name):
            build_network(name, resolution=(low - m, low - m))


@pytest.mark.parametrize("resolution", [(0, 224), (-32, 224), (224,), (224, 224, 3),
                                        (224.0, 224), (True, 224), "224x224"])
def test_bad_resolution_raises_config_error(resolution: object) -> None:
    with pytest.raises(ConfigError, match=r"resnet18.*H, W >= 1"):
        build_network("resnet18", resolution=resolution)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "resolution"), [("tiny_yolov2", (400, 416)),
                                                  ("fcn", (500, 512)), ("blazeface", (130, 128)),
                                                  ("ffdnet", (255, 256)), ("vgg16", (256, 256)),
                                                  ("inception_v3", (74, 299))])
def test_incompatible_resolution_names_network_and_rule(name: str,
                                                        resolution: tuple[int, int]) -> None:
    entry = get_entry(name)
    with pytest.raises(ConfigError) as info:
        build_network(name, resolution=resolution)
    message = str(info.value)
    assert name in message and "\n" not in message
    assert f"H, W >= {entry.min_resolution}" in message


def test_unknown_network_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown network 'foo': choose one of .*resnet18"):
        build_network("foo")
    with pytest.raises(ConfigError, match="see `cnnmem zoo`"):
        get_entry("alexnet")
    assert get_entry("ResNet18").name == "resnet18"
    assert get_entry("mobilenet-v2").name == "mobilenet_v2"


def test_width_only_where_supported() -> None:
    assert [e.name for e in list_networks() if e.supports_width] == ["mobilenet_v2"]
    with pytest.raises(ConfigError, match=r"resnet18.*no width multiplier.*mobilenet_v2"):
        build_network("resnet18", width=0.5)
    for bad in (0, -0.5, 5.0, math.nan, math.inf):
        with pytest.raises(ConfigError, match=r"mobilenet_v2.*0 < width <= 4"):
            build_network("mobilenet_v2", width=bad)


def test_make_divisible_follows_torchvision() -> None:
    assert make_divisible(32 * 0.35) == 16  # rounds up when rounding loses more than 10 %
    assert make_divisible(32 * 0.5) == 16
    assert make_divisible(24 * 0.75) == 24  # 18 -> 16 would lose 11 %
    assert make_divisible(16 * 1.4) == 24
    assert make_divisible(1280 * 1.4) == 1792


def test_mobilenet_v2_width() -> None:
    half = build_network("mobilenet_v2", width=0.5)
    verify(half)
    assert half.metadata["width"] == "0.5"
    assert half.tensor("features.0.0.weight").shape == (16, 3, 3, 3)
    assert half.tensor("features.17.conv.2.weight").shape == (160, 480, 1, 1)  # 80 * 6
    assert half.tensor("features.18.0.weight").shape == (1280, 160, 1, 1)  # max(1280, ...)
    assert half.outputs[0].shape == (1, 1000)
    assert count_graph(half).params < 3_504_872
    wide = build_network("mobilenet_v2", width=1.4)
    assert wide.tensor("features.18.0.weight").shape == (1792, 448, 1, 1)
    assert count_graph(build_network("mobilenet_v2", width=1.0)).params == 3_504_872


def test_batch() -> None:
    graph = build_network("squeezenet1_1", batch=4)
    assert graph.inputs[0].shape == (4, 3, 224, 224)
    assert graph.outputs[0].shape == (4, 1000)
    assert count_graph(graph).macs == 4 * 349_151_936
    ffd = build_network("ffdnet", batch=2, resolution=(64, 32))
    assert [t.shape for t in ffd.inputs] == [(2, 1, 64, 32), (2, 1, 32, 16)]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match=r"squeezenet1_1.*batch"):
            build_network("squeezenet1_1", batch=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["squeezenet1_1", "blazeface", "tiny_yolov2", "ffdnet",
                                  "mobilenet_v2"])
def test_weights_carry_seeded_data(name: str) -> None:
    small = {"tiny_yolov2": (64, 64), "ffdnet": (32, 32), "mobilenet_v2": (64, 64)}
    graph = build_network(name, weights=True, seed=3, resolution=small.get(name))
    verify(graph)
    constants = [t for t in graph.tensors.values() if t.is_constant]
    assert constants and all(t.data is not None for t in constants)
    again = build_network(name, weights=True, seed=3, resolution=small.get(name))
    first = next(t for t in constants if t.name.endswith(".weight"))
    assert (again.tensor(first.name).data == first.data).all()  # type: ignore[union-attr]


def test_architecture_details(default_graphs: dict[str, Graph]) -> None:
    yolo = default_graphs["tiny_yolov2"]
    pool6 = yolo.node("pool6")
    assert pool6.attrs["pads"] == (0, 0, 1, 1) and pool6.attrs["strides"] == (1, 1)
    assert pool6.outputs[0].shape == (1, 512, 13, 13)
    assert yolo.tensor("conv8.weight").shape == (1024, 1024, 3, 3)
    assert not yolo.has_tensor("conv1.bias") and yolo.has_tensor("conv9.bias")

    dn = default_graphs["dncnn"]
    convs = [n for n in dn.nodes if n.op_type == "Conv"]
    assert len(convs) == 17
    assert sum(n.op_type == "BatchNormalization" for n in dn.nodes) == 15
    assert dn.nodes[-1].op_type == "Sub" and dn.nodes[-1].inputs[0] is dn.inputs[0]

    ffd = default_graphs["ffdnet"]
    assert [t.name for t in ffd.inputs] == ["input", "sigma"]
    assert ffd.inputs[1].shape == (1, 1, 128, 128)
    assert sum(n.op_type == "Conv" for n in ffd.nodes) == 15
    assert ffd.node("concat").outputs[0].shape == (1, 5, 128, 128)

    sr = default_graphs["vdsr"]
    assert sum(n.op_type == "Conv" for n in sr.nodes) == 20
    assert sr.nodes[-1].op_type == "Add" and sr.inputs[0] in sr.nodes[-1].inputs

    blaze = default_graphs["blazeface"]
    assert blaze.tensor("classifier_16").shape == (1, 2, 16, 16)
    assert blaze.tensor("regressor_8").shape == (1, 96, 8, 8)
    assert blaze.tensor("blocks.0.dw1.weight").shape == (24, 1, 5, 5)
    assert any(n.op_type == "Pad" for n in blaze.nodes)

    seg = default_graphs["fcn"]
    assert sum(n.op_type == "ConvTranspose" for n in seg.nodes) == 3
    assert seg.tensor("score_pool3").shape == (1, 21, 64, 64)
    assert seg.tensor("backbone.layer4.1.conv2.weight").shape == (512, 512, 3, 3)
