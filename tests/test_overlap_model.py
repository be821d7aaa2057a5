"""The overlap model against a brute-force simulator over random layer geometries.

The simulator knows nothing of the model's formulas: it enumerates, straight from each op's
definition, every input element that each output unit reads, then tries every distance
``d = 0, 1, ...`` between output and input bases, tracking which input bytes have been
overwritten; the smallest safe ``d`` must equal the model's ``d_min`` exactly, and every larger
``d`` must be safe too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnmem.errors import CnnmemError
from cnnmem.ir import GraphBuilder, Node
from cnnmem.planning.overlap import Dataflow, overlap_model

Elem = tuple[int, int, int]  # (c, y, x)


def _input_reads(node: Node, k: int, c: int, y: int, x: int) -> Iterator[Elem]:
    """Input-``k`` elements that output element (c, y, x) depends on, by definition."""
    xin = node.inputs[k]
    assert xin is not None
    _, cin, hin, win = xin.shape
    op = node.op_type
    if op in ("Conv", "MaxPool", "AveragePool", "ConvTranspose"):
        kh, kw = node.attr_ints("kernel_shape", ())
        sh, sw = node.attr_ints("strides", (1, 1))
        dh, dw = node.attr_ints("dilations", (1, 1))
        pt, pl, _, _ = node.attr_ints("pads", (0, 0, 0, 0))
        group = node.attr_int("group", 1)
        if op == "Conv" or op == "ConvTranspose":
            per_in, per_out = cin // group, node.outputs[0].shape[1] // group
            chans = range((c // per_out) * per_in, (c // per_out + 1) * per_in)
        else:
            chans = range(c, c + 1)
        for ci in chans:
            for ky in range(kh):
                for kx in range(kw):
                    if op == "ConvTranspose":
                        # output y receives input iy when iy*s - p + ky*d == y
                        ny, nx = y + pt - ky * dh, x + pl - kx * dw
                        if ny % sh or nx % sw:
                            continue
                        iy, ix = ny // sh, nx // sw
                    else:
                        iy, ix = y * sh - pt + ky * dh, x * sw - pl + kx * dw
                    if 0 <= iy < hin and 0 <= ix < win:
                        yield ci, iy, ix
    elif op == "Add":
        yield c, y, x
    elif op == "Concat":
        start = sum(t.shape[1] for t in node.inputs[:k] if t is not None)
        if start <= c < start + cin:
            yield c - start, y, x
    elif op == "Resize":
        fh, fw = node.outputs[0].shape[2] // hin, node.outputs[0].shape[3] // win
        yield c, y // fh, x // fw
    elif op == "GlobalAveragePool":
        for iy in range(hin):
            for ix in range(win):
                yield c, iy, ix
    else:  # pragma: no cover
        raise AssertionError(op)


def _offset(shape: tuple[int, ...], e: Elem, dataflow: Dataflow) -> int:
    _, cc, hh, ww = shape
    c, y, x = e
    if dataflow is Dataflow.CHW_OUTER:
        return (c * hh + y) * ww + x
    return (y * ww + x) * cc + c


def _units(node: Node, dataflow: Dataflow) -> list[list[Elem]]:
    _, cout, hout, wout = node.outputs[0].shape
    if dataflow is Dataflow.HWC_ROW:
        return [[(c, y, x) for x in range(wout) for c in range(cout)] for y in range(hout)]
    if dataflow is Dataflow.HWC_PIXEL:
        return [[(c, y, x) for c in range(cout)] for y in range(hout) for x in range(wout)]
    if dataflow is Dataflow.HWC_ELEMENT:
        return [[(c, y, x)] for y in range(hout) for x in range(wout) for c in range(cout)]
    return [[(c, y, x) for y in range(hout) for x in range(wout)] for c in range(cout)]


def brute_force_d_min(node: Node, k: int, dataflow: Dataflow, e_in: int, e_out: int,
                      reverse: bool = False) -> int:
    """Smallest safe distance. Forward: output base ``d`` below the input base. Reverse (units
    in reverse order): output top ``d`` above the input top."""
    xin = node.inputs[k]
    assert xin is not None
    out_shape = node.outputs[0].shape
    units = _units(node, dataflow)
    reads, writes = [], []
    for unit in units:
        r: set[int] = set()
        w: set[int] = set()
        for elem in unit:
            for src in _input_reads(node, k, *elem):
                base = _offset(xin.shape, src, dataflow) * e_in
                r.update(range(base, base + e_in))
            base = _offset(out_shape, elem, dataflow) * e_out
            w.update(range(base, base + e_out))
        reads.append(r)
        writes.append(w)

    out_bytes = node.outputs[0].num_elements * e_out
    in_bytes = xin.num_elements * e_in
    steps = list(zip(reads, writes, strict=True))
    if reverse:
        steps.reverse()

    def safe(d: int) -> bool:
        # input-relative address of output byte b
        shift = (in_bytes + d - out_bytes) if reverse else -d
        clobbered: set[int] = set()
        for r, w in steps:
            if r & clobbered:
                return False
            clobbered.update(b + shift for b in w)
        return True

    d = 0
    while not safe(d):
        d += 1
        assert d <= out_bytes + 1, "even a disjoint placement failed"
    for extra in (1, 2, out_bytes // 2 + 1):
        assert safe(d + extra), "a larger distance must stay safe"
    return d


@st.composite
def layers(draw: st.DrawFn) -> tuple[Node, int]:
    kind = draw(st.sampled_from(["conv", "dwconv", "maxpool", "avgpool", "deconv", "add",
                                 "concat", "upsample", "gap"]))
    c = draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    b = GraphBuilder("t")
    x = b.input("x", (1, c, h, w))
    k_in = 0
    k = draw(st.integers(1, 3))
    s = draw(st.integers(1, 3))
    dil = draw(st.integers(1, 2))
    pads = tuple(draw(st.integers(0, k - 1)) for _ in range(4))
    try:
        if kind == "conv":
            y = b.conv(x, draw(st.integers(1, 3)), k, stride=s, dilation=dil, padding=pads)
        elif kind == "dwconv":
            mult = draw(st.integers(1, 2))
            y = b.conv(x, c * mult, k, stride=s, dilation=dil, padding=pads, groups=c)
        elif kind in ("maxpool", "avgpool"):
            y = b.op("MaxPool" if kind == "maxpool" else "AveragePool", x, kernel_shape=(k, k),
                     strides=(s, s), pads=pads, ceil_mode=int(draw(st.booleans())))
        elif kind == "deconv":
            y = b.conv_transpose(x, draw(st.integers(1, 3)), k, stride=s,
                                 padding=draw(st.integers(0, k - 1)))
        elif kind == "add":
            y = b.add(x, b.relu(x))
            k_in = draw(st.integers(0, 1))
        elif kind == "concat":
            other = b.input("z", (1, draw(st.integers(1, 3)), h, w))
            order = draw(st.booleans())
            y = b.concat([x, other] if order else [other, x])
            k_in = 0 if order else 1
        elif kind == "upsample":
            y = b.upsample(x, draw(st.integers(1, 3)))
        else:
            y = b.global_avg_pool(x)
    except (CnnmemError, ValueError):
        assume(False)
        raise
    assert y.producer is not None
    return y.producer, k_in


@settings(max_examples=400, deadline=None)
@given(layers(), st.sampled_from(list(Dataflow)), st.sampled_from([(1, 1), (2, 2), (1, 4)]))
def test_model_equals_brute_force(layer: tuple[Node, int], dataflow: Dataflow,
                                  elems: tuple[int, int]) -> None:
    node, k = layer
    e_in, e_out = elems
    model = overlap_model(node, k, dataflow, e_in, e_out)
    if node.op_type == "GlobalAveragePool" and dataflow in (Dataflow.HWC_ROW,
                                                            Dataflow.HWC_PIXEL):
        assert model is not None and model.min_distance_bytes == 0
        return
    if model is None:
        pytest.fail(f"no model for {node.op_type} under {dataflow.value}")
    where = (f"{node.op_type} {dict(node.attrs)} in {[t.shape for t in node.inputs if t]} -> "
             f"{node.outputs[0].shape}")
    assert model.min_distance_bytes == brute_force_d_min(node, k, dataflow, e_in, e_out), where
    if dataflow.reversible:
        assert model.reverse_distance_bytes == brute_force_d_min(node, k, dataflow, e_in,
                                                                 e_out, reverse=True), where
    else:
        assert model.reverse_distance_bytes == model.output_bytes  # forward only
    assert model.footprint_bytes <= model.input_bytes + model.output_bytes


def test_paper_formula_for_dncnn_layer() -> None:
    # hwc-row, 3x3 stride 1 pad 1, equal rows R: d_min = R, footprint = I + R, so the
    # saving versus ping-pong is 1/2 - p/(2H) (the published DnCNN model).
    b = GraphBuilder("t")
    x = b.input("x", (1, 64, 128, 128))
    y = b.conv(x, 64, 3, padding=1)
    assert y.producer is not None
    m = overlap_model(y.producer, 0, Dataflow.HWC_ROW, 1, 1)
    assert m is not None
    row = 128 * 64
    assert m.min_distance_bytes == row and m.reverse_distance_bytes == row
    assert m.saving_bytes / (m.input_bytes + m.output_bytes) == pytest.approx(0.5 - 1 / 256)


def test_dense_conv_in_chw_outer_overlaps_only_one_plane() -> None:
    b = GraphBuilder("t")
    x = b.input("x", (1, 8, 10, 10))
    dense = b.conv(x, 8, 3, padding=1)
    dw = b.conv(x, 8, 3, padding=1, groups=8)
    assert dense.producer is not None and dw.producer is not None
    m_dense = overlap_model(dense.producer, 0, Dataflow.CHW_OUTER, 1, 1)
    m_dw = overlap_model(dw.producer, 0, Dataflow.CHW_OUTER, 1, 1)
    assert m_dense is not None and m_dw is not None
    assert m_dense.min_distance_bytes == 7 * 100  # all planes but the last before overlapping
    assert m_dw.min_distance_bytes == 0  # channel c reads only input channel c
