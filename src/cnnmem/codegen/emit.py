"""Emit a whole network schedule as one plain C99 program.

The program (``model.c``) holds:

- one DRAM array per tensor that crosses a group boundary (graph inputs, group outputs), per
  weight item, and per partial-sum spill area;
- ONE on-chip array ``onchip``: each group places its items (:mod:`cnnmem.codegen.layout`)
  from offset 0, groups run one after another, so ``sizeof(onchip)`` is the largest group's
  buffer, the model's network ``buffer_bytes``;
- per group a function with the tile loops in the schedule's order and, per tile, the
  execution semantics of :mod:`cnnmem.dse.cost` (mirroring :mod:`cnnmem.dse.trace`):

  1. group inputs: load the part of the tile's box not kept from the previous tile;
  2. streamed weights: the same over their own boxes (resident weights have one constant box,
     so they are loaded by the first tile only);
  3. intermediate layers: compute the part of the box not kept; an intermediate read outside
     the group is written to DRAM the first time each element is computed;
  4. the anchor's output tile: computed and written once; with input-channel tiles it
     accumulates partial sums, spilled to DRAM when the next tile is another output tile and
     read back on the next visit;
  5. kept for the next tile: CACHE keeps the intersection of consecutive boxes, RECOMPUTE the
     whole box only if the next box is identical; weights always keep the intersection.

- every DRAM <-> on-chip copy goes through ``dma_copy``, which adds ``elements *
  sizeof(elem_t)`` to one of five counters (activation / weight / partial-sum reads,
  activation / partial-sum writes); per-group counters and MACs are kept too.

``main(weights.bin, input.bin, output.bin)`` reads the weights and graph inputs (raw float32 in
the order of :class:`ProgramIO`), runs the groups, writes the graph outputs and prints one JSON
line with the counters and ``sizeof(onchip)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cnnmem.codegen import qkernels as qk
from cnnmem.codegen.kernels import conv_partial, element_body, fused_activation
from cnnmem.codegen.layout import GroupLayout
from cnnmem.dse.space import GroupSchedule, HaloPolicy
from cnnmem.dse.workload import Layer, LayerGroup, Workload
from cnnmem.ir.graph import Node, Tensor

COUNTERS = ("dram_act_read_bytes", "dram_weight_read_bytes", "dram_psum_read_bytes",
            "dram_act_write_bytes", "dram_psum_write_bytes", "macs")
"""Counter names, in the order of the C ``counters`` array (the cost model's field names)."""

_ENUM = ("ACT_READ", "WEIGHT_READ", "PSUM_READ", "ACT_WRITE", "PSUM_WRITE", "MACS")

ITEM_KINDS = ("act", "out", "psum", "w", "b", "o")


@dataclass(frozen=True, slots=True)
class Storage:
    """The C element type of every item kind (:mod:`cnnmem.codegen.layout`) of a program.

    Attributes:
        name: ``float32`` or ``int8``.
        ctypes: item kind -> C type (``float``; or ``int8_t``, ``int32_t``).
        chip_type: the element type of the ``onchip`` array (items of another type are read
            and written through ``rd_i32`` / ``wr_i32`` at byte offsets).
    """

    name: str
    ctypes: Mapping[str, str]
    chip_type: str

    def bytes_of(self, kind: str) -> int:
        """Bytes of one element of item kind ``kind``."""
        return _C_SIZES[self.ctypes[kind]]

    @property
    def element_bytes(self) -> dict[str, int]:
        """Item kind -> element bytes (for :func:`cnnmem.codegen.layout.group_layout`)."""
        return {k: self.bytes_of(k) for k in ITEM_KINDS}

    @property
    def quantized(self) -> bool:
        """True for TFLite-style int8 programs."""
        return self.name == "int8"


_C_SIZES = {"float": 4, "int8_t": 1, "int32_t": 4}
FLOAT32 = Storage("float32", dict.fromkeys(ITEM_KINDS, "float"), "float")
"""Float32 graphs: every element is a 4-byte float."""
INT8 = Storage("int8", {"act": "int8_t", "out": "int8_t", "w": "int8_t", "o": "int8_t",
                        "b": "int32_t", "psum": "int32_t"}, "int8_t")
"""TFLite int8 graphs: int8 activations and weights, int32 biases and partial sums."""


@dataclass(frozen=True, slots=True)
class ProgramIO:
    """The binary files of the generated program (raw little-endian float32, row-major).

    Attributes:
        weights: ``(layer, item kind, elements)`` in ``weights.bin`` order.
        inputs: ``(graph input, shape)`` in ``input.bin`` order.
        outputs: ``(tensor, shape)`` in ``output.bin`` order (alias-resolved graph outputs).
    """

    weights: tuple[tuple[str, str, int], ...]
    inputs: tuple[tuple[str, tuple[int, ...]], ...]
    outputs: tuple[tuple[str, tuple[int, ...]], ...]


_ZERO_BOX = r"""
static void zero_box(slot_t s, box_t b)
{
    int i0, i1, i2, i3;
    for (i0 = b.lo[0]; i0 < b.hi[0]; ++i0)
        for (i1 = b.lo[1]; i1 < b.hi[1]; ++i1)
            for (i2 = b.lo[2]; i2 < b.hi[2]; ++i2)
                for (i3 = b.lo[3]; i3 < b.hi[3]; ++i3)
                    memset(CHIP + slot_byte(s, i0, i1, i2, i3), 0, (size_t)s.es);
}
"""

_INT32_ACCESS = r"""
/* int32 elements (biases, partial sums) of the byte-addressed on-chip array */
static inline int32_t rd_i32(long at)
{
    int32_t v;
    memcpy(&v, CHIP + at, sizeof(v));
    return v;
}

static inline void wr_i32(long at, int32_t v)
{
    memcpy(CHIP + at, &v, sizeof(v));
}
"""

_RUNTIME = r"""
typedef struct { int lo[4]; int hi[4]; } box_t;   /* half-open interval per dimension */
typedef struct { long off; int es; int e[4]; } slot_t;  /* an item's slice of onchip: first
                                                   byte, element bytes, modular extents */
static const box_t EMPTY_BOX = {{0, 0, 0, 0}, {0, 0, 0, 0}};

/* Every DRAM <-> on-chip transfer, counted in bytes. */
static void dma_copy(void *dst, const void *src, long bytes, int counter)
{
    memcpy(dst, src, (size_t)bytes);
    counters[counter] += (unsigned long long)bytes;
}

static int box_empty(box_t b)
{
    int d;
    for (d = 0; d < 4; ++d)
        if (b.hi[d] <= b.lo[d]) return 1;
    return 0;
}

static int box_eq(box_t a, box_t b)
{
    int d;
    for (d = 0; d < 4; ++d)
        if (a.lo[d] != b.lo[d] || a.hi[d] != b.hi[d]) return 0;
    return 1;
}

static box_t box_meet(box_t a, box_t b)
{
    box_t m;
    int d;
    for (d = 0; d < 4; ++d) {
        m.lo[d] = a.lo[d] > b.lo[d] ? a.lo[d] : b.lo[d];
        m.hi[d] = a.hi[d] < b.hi[d] ? a.hi[d] : b.hi[d];
    }
    return box_empty(m) ? EMPTY_BOX : m;
}

/* What stays on chip between consecutive tiles: CACHE keeps the intersection of the boxes,
 * RECOMPUTE keeps the box only if the next box is the same. */
static box_t keep_box(int first, int cache, box_t prev, box_t cur)
{
    if (first) return EMPTY_BOX;
    if (cache) return box_meet(prev, cur);
    return box_eq(prev, cur) ? cur : EMPTY_BOX;
}

static int box_has(const box_t *b, int i0, int i1, int i2, int i3)
{
    return i0 >= b->lo[0] && i0 < b->hi[0] && i1 >= b->lo[1] && i1 < b->hi[1] &&
           i2 >= b->lo[2] && i2 < b->hi[2] && i3 >= b->lo[3] && i3 < b->hi[3];
}

static long slot_byte(slot_t s, int i0, int i1, int i2, int i3)
{
    return s.off + s.es * ((((long)(i0 % s.e[0]) * s.e[1] + i1 % s.e[1]) * s.e[2] +
                            i2 % s.e[2]) * s.e[3] + i3 % s.e[3]);
}

/* Copy elements [x0, x1) of one row between DRAM and a slot (split where the slot wraps). */
static void copy_row(slot_t s, void *dram, const int d[4], int i0, int i1, int i2, int x0,
                     int x1, int counter, int to_dram)
{
    while (x0 < x1) {
        int run = x1 - x0, room = s.e[3] - x0 % s.e[3];
        unsigned char *chip = CHIP + slot_byte(s, i0, i1, i2, x0);
        unsigned char *mem = (unsigned char *)dram +
            ((((long)i0 * d[1] + i1) * d[2] + i2) * d[3] + x0) * s.es;
        if (run > room) run = room;
        if (to_dram) dma_copy(mem, chip, (long)run * s.es, counter);
        else dma_copy(chip, mem, (long)run * s.es, counter);
        x0 += run;
    }
}

/* Load the elements of box `need` that are not in `kept` (empty, or a sub-box of need). */
static void load_box(slot_t s, void *dram, const int d[4], box_t need, box_t kept,
                     int counter)
{
    int has_kept = !box_empty(kept), i0, i1, i2;
    for (i0 = need.lo[0]; i0 < need.hi[0]; ++i0)
        for (i1 = need.lo[1]; i1 < need.hi[1]; ++i1)
            for (i2 = need.lo[2]; i2 < need.hi[2]; ++i2) {
                if (has_kept && box_has(&kept, i0, i1, i2, kept.lo[3])) {
                    int a = kept.lo[3] < need.hi[3] ? kept.lo[3] : need.hi[3];
                    int b = kept.hi[3] > need.lo[3] ? kept.hi[3] : need.lo[3];
                    copy_row(s, dram, d, i0, i1, i2, need.lo[3], a, counter, 0);
                    copy_row(s, dram, d, i0, i1, i2, b, need.hi[3], counter, 0);
                } else {
                    copy_row(s, dram, d, i0, i1, i2, need.lo[3], need.hi[3], counter, 0);
                }
            }
}

/* Write box `b` of a slot to DRAM. */
static void store_box(slot_t s, void *dram, const int d[4], box_t b, int counter)
{
    int i0, i1, i2;
    for (i0 = b.lo[0]; i0 < b.hi[0]; ++i0)
        for (i1 = b.lo[1]; i1 < b.hi[1]; ++i1)
            for (i2 = b.lo[2]; i2 < b.hi[2]; ++i2)
                copy_row(s, dram, d, i0, i1, i2, b.lo[3], b.hi[3], counter, 1);
}

"""


def _comment(text: str) -> str:
    return text.replace("*/", "* /").replace("\n", " ")


def _ints(values: Sequence[int]) -> str:
    return "{" + ", ".join(str(v) for v in values) + "}"


class _Program:
    """Collects the C text of one program."""

    def __init__(self, workload: Workload, nodes: dict[str, Node],
                 resolve: Callable[[Tensor], str], storage: Storage) -> None:
        self.storage = storage
        self.workload = workload
        self.nodes = nodes
        self.resolve = resolve
        self.decls: list[str] = []
        self.funcs: list[str] = []
        self.dram: dict[str, str] = {}  # tensor -> C array name
        self.weights: list[tuple[str, str, int, str]] = []  # layer, kind, elements, C name
        self.write_flags: dict[str, str] = {}

    def dram_array(self, tensor: str) -> str:
        if tensor not in self.dram:
            t = self.workload.tensors[tensor]
            name = f"T{len(self.dram)}"
            self.dram[tensor] = name
            self.decls.append(f"static {self.storage.ctypes['act']} {name}[{t.elements}];"
                              "  /* tensor "
                              f"{_comment(tensor)} {t.n}x{t.c}x{t.h}x{t.w} */")
            self.decls.append(f"static const int D_{name}[4] = {_ints(t.dims)};")
        return self.dram[tensor]

    def weight_array(self, layer: str, kind: str, dims: tuple[int, ...]) -> str:
        name = f"W{len(self.weights)}"
        elements = math.prod(dims)
        self.weights.append((layer, kind, elements, name))
        self.decls.append(f"static {self.storage.ctypes[kind]} {name}[{elements}];  /* {kind} "
                          "of layer "
                          f"{_comment(layer)} */")
        self.decls.append(f"static const int D_{name}[4] = {_ints(dims)};")
        return name

    # ------------------------------------------------------------------ one group
    def group(self, g: int, group: LayerGroup, schedule: GroupSchedule,
              layout: GroupLayout) -> None:
        anchor = group.anchor
        macro: dict[tuple[str, str], str] = {}
        dram_of: dict[tuple[str, str], str] = {}
        lines: list[str] = [f"/* group {g}: {_comment(group.describe())}, "
                            f"{_comment(schedule.describe())} */"]
        for j, it in enumerate(layout.items):
            name = f"G{g}_{j}"
            macro[it.key] = name
            e = [max(v, 1) for v in it.extents]
            kind, ref = it.key
            ctype = self.storage.ctypes[kind]
            lines.append(f"/* item {j}: {kind} {_comment(ref)}, dims "
                         f"{'x'.join(map(str, it.dims))}, slice {'x'.join(map(str, it.extents))}"
                         f" = {it.size} x {ctype} at byte {it.offset} */")
            if kind != "act" or ref in group.external_inputs:  # used by load/store_box
                lines.append(f"static const slot_t S_{name} = {{{it.offset}L, "
                             f"{it.element_bytes}, {_ints(e)}}};")
            index = (f"((((long)((a) % {e[0]}) * {e[1]} + (b) % {e[1]}) * {e[2]} + (c) % {e[2]})"
                     f" * {e[3]} + (d) % {e[3]})")
            if ctype == self.storage.chip_type:
                chip_es = _C_SIZES[ctype]
                lines.append(f"#define {name}(a, b, c, d) onchip[{it.offset // chip_es}L + "
                             f"{index}]")
            else:  # int32 in the int8 array: read / write at byte offsets
                at = f"{it.offset}L + {it.element_bytes}L * {index}"
                lines.append(f"#define {name}(a, b, c, d) rd_i32({at})")
                lines.append(f"#define {name}_SET(a, b, c, d, v) wr_i32({at}, v)")
                lines.append(f"#define {name}_BYTE(a, b, c, d) onchip[{at}]")
            for d, table in enumerate(it.tables):
                if table is not None:
                    lines.append(f"static const int {name}_LO{d}[] = {_ints(table[0])};")
                    lines.append(f"static const int {name}_HI{d}[] = {_ints(table[1])};")
            kind, ref = it.key
            if kind == "act" and ref in group.external_inputs:
                dram_of[it.key] = self.dram_array(ref)
            elif kind in ("w", "b", "o"):
                dram_of[it.key] = self.weight_array(ref, kind, it.dims)
            elif kind in ("out", "psum"):
                dram_of[it.key] = self.dram_array(ref)
        psum_dram = None
        if layout.c_tiled:
            out_t = group.tensor(anchor.output)
            psum_dram = f"P{g}"
            lines.append(f"static {self.storage.ctypes['psum']} {psum_dram}[{out_t.elements}];"
                         "  /* partial-sum spill area of the anchor */")
            lines.append(f"static const int C{g}_LO[] = {_ints(layout.c_table[0])};")
            lines.append(f"static const int C{g}_HI[] = {_ints(layout.c_table[1])};")

        def acc(key: tuple[str, str]) -> str:
            if key[0] == "act" and key[1] == anchor.output:
                return macro[("psum" if layout.c_tiled else "out", key[1])]
            return macro[key]

        # layer functions
        out_key = ("psum" if layout.c_tiled else "out", anchor.output)
        for li, layer in enumerate(group.layers):
            node = self.nodes[layer.name]
            is_anchor = layer is anchor
            target = macro[out_key] if is_anchor else macro[("act", layer.output)]
            written = (not is_anchor) and layer.output in group.outputs
            fn = f"g{g}_layer{li}"
            lines.append(f"/* layer {_comment(layer.name)} ({node.op_type}, "
                         f"{layer.kind.value}) */")
            if self.storage.quantized:
                lines += self._int8_layer(fn, layer, node, group, acc, target, written,
                                          is_anchor and layout.c_tiled,
                                          dram_of[out_key] if is_anchor else "")
                continue
            if is_anchor and layout.c_tiled:
                per_tap = layer.fy * layer.fx
                lines += [f"static void {fn}_partial(box_t r, int c0, int c1)", "{",
                          "    int n, k, y, x;", *self._box_loops("r"),
                          "        double v = 0.0;",
                          *("        " + s for s in conv_partial(layer, group, acc)),
                          f"        {target}(n, k, y, x) += v;",
                          f"        counters[MACS] += (unsigned long long)(c1 - c0) * {per_tap};",
                          "    }", "}"]
                bias = f" + {macro[('b', layer.name)]}(0, 0, 0, k)" if layer.bias_elements \
                    else ""
                lines += [f"static void {fn}_finish(box_t r)", "{", "    int n, k, y, x;",
                          *self._box_loops("r"),
                          f"        float v = {target}(n, k, y, x){bias};",
                          f"        {target}(n, k, y, x) = "
                          f"{fused_activation(node.activation, 'v')};",
                          "    }", "}"]
                continue
            body = element_body(layer, node, group, acc, self.resolve)
            lines += [f"static void {fn}(box_t r, box_t kept)", "{",
                      "    int n, k, y, x, has_kept = !box_empty(kept);", *self._box_loops("r"),
                      "        if (has_kept && box_has(&kept, n, k, y, x)) continue;",
                      "        {", *("            " + s for s in body),
                      "            float r = (float)v;",
                      f"            {target}(n, k, y, x) = "
                      f"{fused_activation(node.activation, 'r')};",
                      f"            counters[MACS] += {layer.macs_per_output};"]
            if written:
                lines += self._write_once(layer.output, target, "            ")
            lines += ["        }", "    }", "}"]

        # the tile loops
        levels = ("n", *schedule.loop_order)
        cache = schedule.halo is HaloPolicy.CACHE
        lines += [f"static void group_{g}(void)", "{", "    int first = 1, prev_unfinished = 0;",
                  "    int t_n, t_k, t_c, t_y, t_x;"]
        n_items = len(layout.items)
        lines.append(f"    box_t prev[{n_items}], cur[{n_items}], kept[{n_items}];")
        lines.append("    (void)prev_unfinished;")
        depth = 1
        for a in levels:
            lines.append("    " * depth + f"for (t_{a} = 0; t_{a} < {layout.counts[a]}; ++t_{a})")
        lines.append("    {")
        ind = "        "
        for j, it in enumerate(layout.items):
            lo, hi = [], []
            for d, axis in enumerate(it.axes):
                if axis is None:
                    lo.append("0")
                    hi.append(str(it.dims[d]))
                else:
                    lo.append(f"{macro[it.key]}_LO{d}[t_{axis}]")
                    hi.append(f"{macro[it.key]}_HI{d}[t_{axis}]")
            lines.append(f"{ind}{{ box_t b = {{{{{', '.join(lo)}}}, {{{', '.join(hi)}}}}}; "
                         f"cur[{j}] = b; }}")
        lines.append(f"{ind}/* kept from the previous tile */")
        for j, it in enumerate(layout.items):
            kind = it.key[0]
            if kind in ("out", "psum"):
                continue
            policy = 0 if kind == "act" and not cache else 1  # weights: always the overlap
            lines.append(f"{ind}kept[{j}] = keep_box(first, {policy}, prev[{j}], cur[{j}]);")
        lines.append(f"{ind}/* 1-2: group inputs and weights missing on chip */")
        for j, it in enumerate(layout.items):
            kind, ref = it.key
            if kind == "act" and ref in group.external_inputs:
                arr = dram_of[it.key]
                lines.append(f"{ind}load_box(S_{macro[it.key]}, {arr}, D_{arr}, cur[{j}], "
                             f"kept[{j}], ACT_READ);")
            elif kind in ("w", "b", "o"):
                arr = dram_of[it.key]
                lines.append(f"{ind}load_box(S_{macro[it.key]}, {arr}, D_{arr}, cur[{j}], "
                             f"kept[{j}], WEIGHT_READ);")
        lines.append(f"{ind}/* 3: intermediate layers, elements not kept */")
        position = {it.key: j for j, it in enumerate(layout.items)}
        for li, layer in enumerate(group.layers[:-1]):
            j = position[("act", layer.output)]
            lines.append(f"{ind}g{g}_layer{li}(cur[{j}], kept[{j}]);")
        lines.append(f"{ind}/* 4: the anchor's output tile */")
        jo = position[out_key]
        so = f"S_{macro[out_key]}"
        out_arr = dram_of[out_key]
        last = len(group.layers) - 1
        if layout.c_tiled:
            nc = layout.counts["c"]
            lines += [f"{ind}if (!first && prev_unfinished && !box_eq(prev[{jo}], cur[{jo}]))",
                      f"{ind}    store_box({so}, {psum_dram}, D_{out_arr}, prev[{jo}], "
                      "PSUM_WRITE);",
                      f"{ind}if (first || !box_eq(prev[{jo}], cur[{jo}])) {{",
                      f"{ind}    if (t_c > 0) load_box({so}, {psum_dram}, D_{out_arr}, "
                      f"cur[{jo}], EMPTY_BOX, PSUM_READ);",
                      f"{ind}    else zero_box({so}, cur[{jo}]);", f"{ind}}}",
                      f"{ind}g{g}_layer{last}_partial(cur[{jo}], C{g}_LO[t_c], C{g}_HI[t_c]);",
                      f"{ind}if (t_c == {nc - 1}) {{",
                      f"{ind}    g{g}_layer{last}_finish(cur[{jo}]);",
                      # int8: finish requantises and writes each element (1 byte) itself
                      *([] if self.storage.quantized else
                        [f"{ind}    store_box({so}, {out_arr}, D_{out_arr}, cur[{jo}], "
                         "ACT_WRITE);"]),
                      f"{ind}}}", f"{ind}prev_unfinished = t_c != {nc - 1};"]
        else:
            lines += [f"{ind}g{g}_layer{last}(cur[{jo}], EMPTY_BOX);",
                      f"{ind}store_box({so}, {out_arr}, D_{out_arr}, cur[{jo}], ACT_WRITE);"]
        lines += [f"{ind}/* 5: what stays for the next tile */",
                  f"{ind}memcpy(prev, cur, sizeof(prev));", f"{ind}first = 0;", "    }",
                  "    (void)t_n; (void)t_k; (void)t_c; (void)t_y; (void)t_x; (void)kept;", "}"]
        self.funcs.append("\n".join(lines))

    def _write_once(self, tensor: str, target: str, ind: str) -> list[str]:
        """Write element ``(n, k, y, x)`` of an intermediate read outside the group to DRAM the
        first time it is computed."""
        arr = self.dram_array(tensor)
        flags = f"WR_{arr}"
        if flags not in self.write_flags.values():
            t = self.workload.tensors[tensor]
            self.decls.append(f"static unsigned char {flags}[{t.elements}];  /* "
                              "bookkeeping: element already written to DRAM */")
            self.write_flags[tensor] = flags
        return [f"{ind}long at = (((long)n * D_{arr}[1] + k) * D_{arr}[2] + y)"
                f" * D_{arr}[3] + x;",
                f"{ind}if (!{flags}[at]) {{",
                f"{ind}    {flags}[at] = 1;",
                f"{ind}    dma_copy(&{arr}[at], &{target}(n, k, y, x), sizeof({arr}[0]), "
                "ACT_WRITE);", f"{ind}}}"]

    def _int8_layer(self, fn: str, layer: Layer, node: Node, group: LayerGroup,
                    acc: Callable[[tuple[str, str]], str], target: str, written: bool,
                    partial: bool, out_arr: str) -> list[str]:
        """The int8 functions of one layer (:mod:`cnnmem.codegen.qkernels`): ``fn(r, kept)``
        computing the elements of box ``r`` not in ``kept``; for an input-channel-tiled anchor
        ``fn_partial(r, c0, c1)`` (int32 partial sums) and ``fn_finish(r)`` (bias,
        requantisation, clamp; each int8 result is stored over its partial sum and written to
        DRAM, 1 byte)."""
        tables = qk.tables(layer, node, fn)
        if partial:
            per_tap = layer.fy * layer.fx
            bias = f" + {acc(('b', layer.name))}(0, 0, 0, k)" if layer.bias_elements else ""
            arr = out_arr
            return [*tables, f"static void {fn}_partial(box_t r, int c0, int c1)", "{",
                    "    int n, k, y, x;", *self._box_loops("r"),
                    "        int32_t v = 0;",
                    *("        " + line for line in qk.conv_partial(layer, node, group, acc, fn)),
                    f"        {target}_SET(n, k, y, x, {target}(n, k, y, x) + v);",
                    f"        counters[MACS] += (unsigned long long)(c1 - c0) * {per_tap};",
                    "    }", "}",
                    f"static void {fn}_finish(box_t r)", "{", "    int n, k, y, x;",
                    *self._box_loops("r"),
                    "        long at;",
                    f"        int32_t acc = {target}(n, k, y, x){bias};",
                    "        int32_t v;",
                    *("        " + line for line in qk.requantize(layer, node, fn)),
                    f"        {target}_BYTE(n, k, y, x) = (int8_t)v;",
                    f"        at = (((long)n * D_{arr}[1] + k) * D_{arr}[2] + y) * D_{arr}[3] + x;",
                    f"        dma_copy(&{arr}[at], &{target}_BYTE(n, k, y, x), 1, ACT_WRITE);",
                    "    }", "}"]
        body = qk.element_body(layer, node, group, acc, self.resolve, fn)
        lines = [*tables, f"static void {fn}(box_t r, box_t kept)", "{",
                 "    int n, k, y, x, has_kept = !box_empty(kept);", *self._box_loops("r"),
                 "        if (has_kept && box_has(&kept, n, k, y, x)) continue;",
                 "        {", *("            " + line for line in body),
                 f"            {target}(n, k, y, x) = (int8_t)v;",
                 f"            counters[MACS] += {layer.macs_per_output};"]
        if written:
            lines += self._write_once(layer.output, target, "            ")
        return [*lines, "        }", "    }", "}"]

    @staticmethod
    def _box_loops(box: str) -> list[str]:
        return [f"    for (n = {box}.lo[0]; n < {box}.hi[0]; ++n)",
                f"    for (k = {box}.lo[1]; k < {box}.hi[1]; ++k)",
                f"    for (y = {box}.lo[2]; y < {box}.hi[2]; ++y)",
                f"    for (x = {box}.lo[3]; x < {box}.hi[3]; ++x) {{"]


def emit_program(workload: Workload, nodes: dict[str, Node], resolve: Callable[[Tensor], str],
                 groups: Sequence[tuple[LayerGroup, GroupSchedule, GroupLayout]],
                 graph_inputs: Sequence[str], graph_outputs: Sequence[str],
                 header: str, storage: Storage = FLOAT32) -> tuple[str, ProgramIO]:
    """The C program of a network schedule (module docstring) and its file layout; element
    types from ``storage`` (layouts placed with ``storage.element_bytes``)."""
    prog = _Program(workload, nodes, resolve, storage)
    for name in graph_inputs:
        prog.dram_array(name)
    for g, (group, schedule, layout) in enumerate(groups):
        prog.group(g, group, schedule, layout)
    chip_es = _C_SIZES[storage.chip_type]
    onchip = max(layout.nbytes for _, _, layout in groups) // chip_es
    n_groups = len(groups)
    main = ["static int read_array(FILE *f, void *a, size_t bytes)",
            "{", "    return fread(a, 1, bytes, f) == bytes;", "}", "",
            "int main(int argc, char **argv)", "{",
            "    FILE *f;", "    int g, i;",
            "    unsigned long long before[NUM_COUNTERS];",
            "    if (argc != 4) {",
            '        fprintf(stderr, "usage: %s weights.bin input.bin output.bin\\n", argv[0]);',
            "        return 2;", "    }",
            '    f = fopen(argv[1], "rb");',
            '    if (!f) { fprintf(stderr, "cannot open %s\\n", argv[1]); return 1; }']
    for *_, name in prog.weights:
        main.append(f"    if (!read_array(f, {name}, sizeof({name}))) "
                    '{ fprintf(stderr, "weights.bin too short\\n"); return 1; }')
    main += ["    if (fgetc(f) != EOF) { fprintf(stderr, \"weights.bin too long\\n\"); return 1; }",
             "    fclose(f);", '    f = fopen(argv[2], "rb");',
             '    if (!f) { fprintf(stderr, "cannot open %s\\n", argv[2]); return 1; }']
    for name in graph_inputs:
        main.append(f"    if (!read_array(f, {prog.dram[name]}, sizeof({prog.dram[name]}))) "
                    '{ fprintf(stderr, "input.bin too short\\n"); return 1; }')
    main += ["    if (fgetc(f) != EOF) { fprintf(stderr, \"input.bin too long\\n\"); return 1; }",
             "    fclose(f);"]
    for g in range(n_groups):
        main += ["    memcpy(before, counters, sizeof(before));", f"    group_{g}();",
                 "    for (i = 0; i < NUM_COUNTERS; ++i) "
                 f"group_counters[{g}][i] = counters[i] - before[i];"]
    main += ['    f = fopen(argv[3], "wb");',
             '    if (!f) { fprintf(stderr, "cannot open %s\\n", argv[3]); return 1; }']
    for name in graph_outputs:
        main.append(f"    fwrite({prog.dram[name]}, 1, sizeof({prog.dram[name]}), f);")
    main += ["    fclose(f);",
             '    printf("{\\"onchip_bytes\\": %lu, \\"counters\\": [", '
             "(unsigned long)sizeof(onchip));",
             "    for (i = 0; i < NUM_COUNTERS; ++i) "
             'printf("%s%llu", i ? ", " : "", counters[i]);',
             '    printf("], \\"groups\\": [");',
             "    for (g = 0; g < NUM_GROUPS; ++g) {",
             '        printf("%s[", g ? ", " : "");',
             "        for (i = 0; i < NUM_COUNTERS; ++i) "
             'printf("%s%llu", i ? ", " : "", group_counters[g][i]);',
             '        printf("]");', "    }", '    printf("]}\\n");', "    return 0;", "}"]
    text = "\n".join([
        header,
        "#include <math.h>", "#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>",
        "#include <stdint.h>", "",
        f"/* element types ({storage.name}): "
        + ", ".join(f"{k} {storage.ctypes[k]}" for k in ITEM_KINDS) + " */",
        f"#define NUM_GROUPS {n_groups}",
        f"enum {{ {', '.join(_ENUM)}, NUM_COUNTERS }};",
        "static unsigned long long counters[NUM_COUNTERS];  /* bytes moved (MACS: count) */",
        "static unsigned long long group_counters[NUM_GROUPS][NUM_COUNTERS];",
        f"static {storage.chip_type} onchip[{onchip}];  /* the on-chip buffer: largest group's "
        "items */",
        "#define CHIP ((unsigned char *)onchip)",
        _RUNTIME, _ZERO_BOX if any(layout.c_tiled for _, _, layout in groups) else "",
        _INT32_ACCESS if storage.quantized else "", qk.HELPERS if storage.quantized else "",
        "/* DRAM */", *prog.decls, "", *prog.funcs, "", *main, ""])
    io = ProgramIO(tuple((layer, kind, n) for layer, kind, n, _ in prog.weights),
                   tuple((n, workload.tensors[n].dims) for n in graph_inputs),
                   tuple((n, workload.tensors[n].dims) for n in graph_outputs))
    return text, io
