"""Golden numbers of the domain suite, with their derivations.

Accounting of every number here: the suite's default, 16-bit activations and weights (2 B per
element), 32-bit partial sums, weights in DRAM, 30 fps. ``python bench/requirements.py``
prints the whole suite table; a changed number here means the cost model or a zoo network
changed: re-derive it, do not just paste it.
"""

from __future__ import annotations

import pytest

import cnnmem.api as cm
from cnnmem.api import ModelOptions, load
from cnnmem.dse.cost import evaluate
from cnnmem.dse.space import whole_tile_schedule
from cnnmem.dse.workload import extract_workload
from cnnmem.requirements import SUITE, Scenario

HW16 = cm.requirements_hardware()  # default: int16, 1 MiB shared budget, 8 GB/s
P = 1080 * 1920  # pixels of an HD frame

# S1 per network: (largest layer with everything on chip, layer-by-layer traffic per frame)
S1_GOLDEN = {
    "vgg16": (205_587_456, 337_362_464),
    "resnet50": (4_970_496, 129_779_360),
    "mobilenet_v2": (3_012_480, 35_294_560),
    "tiny_yolov2": (19_568_640, 61_698_372),
    "blazeface": (589_824, 7_692_048),
    "dncnn": (530_915_456, 8_515_311_872),
    "ffdnet": (132_784_256, 1_895_204_232),
    "vdsr": (530_915_328, 10_108_055_808),
    "fcn": (11_407_872, 119_532_094),
}
# Networks with a strided 1x1 layer whose box of needed input skips the last row and column
# (ResNet-50's downsampling shortcuts, FCN's ResNet-18 encoder): their S1 traffic is below the
# closed form sum of whole tensors.
READS_A_BOX = {"resnet50", "fcn"}


def test_suite_is_the_issue_list() -> None:
    assert [(n.name, n.resolution, n.domain) for n in SUITE] == [
        ("vgg16", (224, 224), "classification"),
        ("resnet50", (224, 224), "classification"),
        ("mobilenet_v2", (224, 224), "classification"),
        ("tiny_yolov2", (416, 416), "detection"),
        ("blazeface", (128, 128), "detection"),
        ("dncnn", (1080, 1920), "denoising"),
        ("ffdnet", (1080, 1920), "denoising"),
        ("vdsr", (1080, 1920), "super-resolution"),
        ("fcn", (512, 512), "segmentation"),
    ]


@pytest.mark.parametrize("net", SUITE, ids=lambda n: n.name)
def test_s1_golden_and_closed_form(net: object) -> None:
    """S1 = one whole-layer tile per layer (the scenario's single member): buffer = max over
    layers of 2 B x (|X| + |Y| + |W|); traffic = sum over layers of 2 B x (|X| + |W| + |Y|)
    (every input, weight and output crosses DRAM once per layer)."""
    name, res = net.name, net.resolution  # type: ignore[attr-defined]
    wl = extract_workload(load(ModelOptions(name, resolution=res)))
    costs = [evaluate(g, whole_tile_schedule(g), HW16.with_shared_buffer(1 << 40))
             for g in (wl.group(i, i + 1) for i in range(len(wl.layers)))]
    got = (max(c.buffer_bytes for c in costs), sum(c.dram_bytes for c in costs))
    assert got == S1_GOLDEN[name]
    closed = sum(2 * (sum(wl.tensors[t].elements for t in (*la.inputs, *la.outputs)) +
                      la.weight_elements) for la in wl.layers)
    if name in READS_A_BOX:
        assert got[1] < closed
    else:
        assert got[1] == closed


def test_dncnn_hd_golden() -> None:
    """DnCNN at 1920x1080: conv 1->64 (576 weights + 64 biases), 15 x conv 64->64 (36,864 +
    64), conv 64->1 (576, no bias), then the residual Sub (2 inputs, 1 output), P = 1920*1080
    pixels."""
    r = cm.requirements("dncnn", resolution=(1080, 1920)).report
    s = {sc: r.scenario(sc) for sc in Scenario}
    # S1 traffic: (P + 640 + 64P) + 15 (64P + 36,928 + 64P) + (64P + 576 + P) + 3P elements
    #           = 2053 P + 555,136 = 4,257,655,936 elements = 8,515,311,872 B
    assert s[Scenario.S1].dram_bytes == 2 * (2053 * P + 555_136) == 8_515_311_872
    # S1 buffer: a middle layer, 2 x (64P + 64P + 36,928)
    assert s[Scenario.S1].buffer_bytes == 2 * (128 * P + 36_928) == 530_915_456
    # S2: middle layer, whole input 64P + one output plane P + one slice 64*9 + 1 bias
    assert s[Scenario.S2].buffer_bytes == 2 * (65 * P + 577) == 269_569_154
    # S4: middle layer, 3 input rows x 1920 x 64 + one output row 64 x 1920 + all weights
    assert s[Scenario.S4].buffer_bytes == 2 * (3 * 1920 * 64 + 64 * 1920 + 36_928) == 1_056_896
    # S5: middle layer, a column strip 1080 x 1 x 1 channel with resident weights: its input
    # is 1080 rows x 3 columns x 64 channels (consecutive strips share 2 columns: no re-read;
    # shorter strips would re-read halo rows, and a 1920-wide row strip needs more input)
    assert s[Scenario.S5].buffer_bytes == 2 * (1080 * 3 * 64 + 1080 + 36_928) == 490_736
    for sc in (Scenario.S2, Scenario.S4, Scenario.S5):
        assert s[sc].dram_bytes == s[Scenario.S1].dram_bytes
    # S3: 1x1 tiles re-read each input row 3 times (the first and last rows of each 64-channel
    # plane twice): 3 x 64P - 2 x 64 x 1920 inputs instead of 64P per middle layer
    assert s[Scenario.S3].dram_bytes > 1.9 * s[Scenario.S1].dram_bytes
    # "hundreds of GB/s layer by layer at 30 fps": 8.515 GB x 30 = 255.5 GB/s
    assert r.bandwidth(s[Scenario.S1].dram_bytes) == pytest.approx(255.459e9, rel=1e-5)
    # S6 (DSE, groups of <= 4 layers, 25% recompute cap): pinned; ~4x less than S1
    assert (s[Scenario.S6].buffer_bytes, s[Scenario.S6].dram_bytes) == \
        (3_647_744, 2_136_918_272)
    # activation-dominated: the largest layer's activations are ~480x all the weights
    assert r.max_activation_bytes > 400 * r.weight_bytes


def test_vgg16_is_weight_dominated() -> None:
    """VGG-16 at 224: fc6 has 25,088 x 4,096 weights + 4,096 biases = 102,764,544; with its
    25,088 inputs and 4,096 outputs that is S1's buffer and every weight-resident scenario's
    (S3, S4)."""
    r = cm.requirements("vgg16").report
    fc6 = 2 * (102_764_544 + 25_088 + 4_096)
    assert r.scenario(Scenario.S1).buffer_bytes == fc6 == 205_587_456
    assert r.scenario(Scenario.S4).buffer_bytes == fc6
    assert r.scenario(Scenario.S3).buffer_bytes == fc6
    # weights: 138,357,544 parameters x 2 B; they are 82% of S1's traffic
    assert r.weight_bytes == 2 * 138_357_544
    assert r.weight_bytes > 0.8 * r.scenario(Scenario.S1).dram_bytes
    assert r.weight_bytes > 20 * r.max_activation_bytes
    # streaming fc6's weights one output at a time (S2) needs its input + 1 output + one row of
    # 25,088 weights + 1 bias; S2's network figure is set by a conv layer, larger than that
    assert r.layers[18].minimum(Scenario.S2).buffer_bytes == 2 * (25_088 + 1 + 25_089)
    # S5 and S6: pinned (DSE numbers)
    assert r.scenario(Scenario.S5).buffer_bytes == 1_266_288
    assert (r.scenario(Scenario.S6).buffer_bytes, r.scenario(Scenario.S6).dram_bytes) == \
        (35_628_008, 283_156_000)
