"""Trace simulator: execute a group schedule tile by tile and count every element moved.

An independent implementation of the execution semantics stated in :mod:`cnnmem.dse.cost`:
it walks the tile loops explicitly, enumerates the input positions each layer reads (loops over
output coordinates and kernel taps, no closed forms), keeps one boolean mask per tensor and
weight saying which elements are on chip, and counts transfers, computed elements, partial-sum
spills and occupancy. It shares no code with :mod:`cnnmem.dse.regions` or the cost formulas,
only the definition of a tile's region (per dimension, the hull of the positions its readers
in the group touch); the tests require ``simulate(...).cost == evaluate(...)`` field by field.

Element-granular but meant for tests and small inputs: its work grows with the number of tiles
times the tile regions (masks are only touched inside the current tile's box).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from cnnmem.dse.cost import CostBreakdown, NetworkCost
from cnnmem.dse.hw import HardwareSpec
from cnnmem.dse.space import GroupSchedule, HaloPolicy, NetworkSchedule, schedule_problem
from cnnmem.dse.workload import Layer, LayerGroup, LayerKind, TensorShape, Workload
from cnnmem.errors import ConfigError

Box = tuple[tuple[int, int], ...]
"""Half-open ``(lo, hi)`` per dimension; an empty dimension is ``(0, 0)``."""

_UNTOUCHED, _ACCUMULATING, _SPILLED, _DONE = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class TraceResult:
    """What the simulator counted.

    Attributes:
        cost: the same quantities as :func:`cnnmem.dse.cost.evaluate` (buffers: the sum over
            tensors / weights of each one's peak on-chip size).
        peak_live_bytes: the largest number of bytes actually on chip at one time (never more
            than ``cost.buffer_bytes``).
        tiles: tiles executed.
    """

    cost: CostBreakdown
    peak_live_bytes: int
    tiles: int


def _tile_ranges(extent: int, size: int) -> list[range]:
    return [range(lo, min(lo + size, extent)) for lo in range(0, extent, size)]


def _touched(layer: Layer, x: TensorShape, out: TensorShape,
             need: tuple[set[int], ...]) -> tuple[set[int], ...]:
    """Positions of input ``x`` (per dimension n, c, h, w) that ``layer`` reads to produce the
    output positions ``need`` (per dimension), by enumeration."""
    n_out, c_out, y_out, x_out = need
    kind = layer.kind
    if kind in (LayerKind.DENSE, LayerKind.GLOBAL, LayerKind.OPAQUE):
        return tuple(set(range(size)) if s else set()
                     for s, size in zip(need, x.dims, strict=True))

    def same(s: set[int], size_in: int, size_out: int) -> set[int]:
        if size_in == size_out:
            return set(s)
        return {0} if s else set()  # broadcast axis

    ns = same(n_out, x.n, out.n)
    if kind in (LayerKind.CONV, LayerKind.POOL):
        ys = {o * layer.stride[0] - layer.pad[0] + j * layer.dilation[0]
              for o in y_out for j in range(layer.fy)}
        xs = {o * layer.stride[1] - layer.pad[1] + j * layer.dilation[1]
              for o in x_out for j in range(layer.fx)}
        ys = {v for v in ys if 0 <= v < x.h}
        xs = {v for v in xs if 0 <= v < x.w}
        if kind is LayerKind.CONV:
            per_out, per_in = layer.k // layer.groups, layer.c // layer.groups
            cs: set[int] = set()
            for g in {k // per_out for k in c_out}:  # the groups of the needed channels
                cs.update(range(g * per_in, (g + 1) * per_in))
        else:
            cs = set(c_out)
        return ns, cs, ys, xs
    if kind is LayerKind.CHANNEL_REDUCE:
        return (ns, set(c_out), set(range(x.h)) if y_out else set(),
                set(range(x.w)) if x_out else set())
    if kind is LayerKind.CONCAT:
        offset = layer.concat_offsets[layer.inputs.index(x.name)]
        cs = {k - offset for k in c_out if 0 <= k - offset < x.c}
        return ns, cs, set(y_out), set(x_out)
    return ns, same(c_out, x.c, out.c), same(y_out, x.h, out.h), same(x_out, x.w, out.w)


def _hull(s: set[int]) -> tuple[int, int]:
    return (min(s), max(s) + 1) if s else (0, 0)


class _Simulator:
    def __init__(self, group: LayerGroup, schedule: GroupSchedule, hw: HardwareSpec,
                 check: bool) -> None:
        self.check = check
        self.group = group
        self.schedule = schedule
        self.hw = hw
        self.anchor = group.anchor
        self.shapes = {t.name: t for t in group.tensors}
        self.c_tiled = schedule.tile_in_channels is not None
        a = self.anchor
        self.loops: dict[str, list[range]] = {
            "n": [range(i, i + 1) for i in range(a.n)],
            "k": _tile_ranges(a.k, schedule.tile_channels),
            "c": _tile_ranges(a.c, schedule.tile_in_channels)
            if schedule.tile_in_channels is not None else [range(a.c)],
            "y": _tile_ranges(a.oy, schedule.tile_rows),
            "x": _tile_ranges(a.ox, schedule.tile_cols),
        }
        self.levels = ("n", *schedule.loop_order)

    # ------------------------------------------------------------------ tiles and regions
    def tiles(self) -> list[dict[str, int]]:
        counts = [range(len(self.loops[a])) for a in self.levels]
        return [dict(zip(self.levels, idx, strict=True)) for idx in itertools.product(*counts)]

    def regions(self, tile: dict[str, int]) -> dict[str, Box]:
        """Box of every activation tensor needed by ``tile`` (anchor output: the tile)."""
        rng = {a: self.loops[a][i] for a, i in tile.items()}
        need: dict[str, tuple[set[int], ...]] = {
            self.anchor.output: (set(rng["n"]), set(rng["k"]), set(rng["y"]), set(rng["x"]))}
        for layer in reversed(self.group.layers):
            if layer.output not in need:
                raise ConfigError(f"layer {layer.name!r} does not feed the group's anchor")
            # the layer computes the whole box of its output, so it needs inputs for all of it
            out_need = tuple(set(range(*_hull(s))) for s in need[layer.output])
            out = self.shapes[layer.output]
            for name in layer.inputs:
                sets = _touched(layer, self.shapes[name], out, out_need)
                if layer is self.anchor and self.c_tiled:
                    sets = (sets[0], set(rng["c"]), sets[2], sets[3])
                old = need.get(name)
                need[name] = sets if old is None else tuple(
                    a | b for a, b in zip(old, sets, strict=True))
        return {name: tuple(_hull(s) for s in sets) for name, sets in need.items()}

    def weight_needs(self, tile: dict[str, int]) -> dict[tuple[str, str], Box]:
        """Box of every weight item a tile needs: main weight ``(K, C/g, FY*FX)``, bias
        ``(K,)``, other constants ``(E,)``."""
        out: dict[tuple[str, str], Box] = {}
        k_rng = self.loops["k"][tile["k"]]
        c_rng = self.loops["c"][tile["c"]]
        for layer in self.group.layers:
            is_anchor = layer is self.anchor
            k_box = (k_rng.start, k_rng.stop) if is_anchor else (0, layer.k)
            if layer.kc_weight_elements:
                cin = layer.in_channels_per_group
                c_box = (c_rng.start, c_rng.stop) if (is_anchor and self.c_tiled) else (0, cin)
                out[("w", layer.name)] = (k_box, c_box, (0, layer.kc_weight_elements))
            if layer.bias_elements:
                out[("b", layer.name)] = (k_box,)
            if layer.other_weight_elements:
                out[("o", layer.name)] = ((0, layer.other_weight_elements),)
        return out

    def weight_dims(self) -> dict[tuple[str, str], tuple[int, ...]]:
        out: dict[tuple[str, str], tuple[int, ...]] = {}
        for layer in self.group.layers:
            if layer.kc_weight_elements:
                out[("w", layer.name)] = (layer.k, layer.in_channels_per_group,
                                          layer.kc_weight_elements)
            if layer.bias_elements:
                out[("b", layer.name)] = (layer.k,)
            if layer.other_weight_elements:
                out[("o", layer.name)] = (layer.other_weight_elements,)
        return out

    # ------------------------------------------------------------------ the run
    def run(self) -> TraceResult:
        hw, group, anchor = self.hw, self.group, self.anchor
        act_b, w_b, p_b = (hw.act_bytes_per_element, hw.weight_bytes_per_element,
                           hw.psum_bytes_per_element)
        cache = self.schedule.halo is HaloPolicy.CACHE
        resident = self.schedule.weights_resident
        tiles = self.tiles()
        regions = [self.regions(t) for t in tiles]
        held = [*group.external_inputs, *(layer.output for layer in group.layers[:-1])]
        acts = {t: _Store(self.shapes[t].dims, self.check) for t in held}
        written = {t: np.zeros(self.shapes[t].dims, dtype=bool) for t in group.outputs[1:]}
        weights = {key: _Store(d, self.check) for key, d in self.weight_dims().items()}
        out_dims = self.shapes[anchor.output].dims
        psum_state = np.full(out_dims, _UNTOUCHED, dtype=np.int8)
        n_c = len(self.loops["c"])
        tile_peak = 0
        act_read = weight_read = act_write = psum_read = psum_write = macs = 0
        peak_live = 0

        # weight_read counts bytes: biases have their own element size
        w_size = {key: hw.bias_bytes if key[0] == "b" else w_b for key in weights}
        if resident:
            for key, store in weights.items():
                weight_read += store.load(tuple((0, d) for d in store.mask.shape)) * w_size[key]

        for index, (tile, region) in enumerate(zip(tiles, regions, strict=True)):
            # 1. group inputs: load what is missing
            for t in group.external_inputs:
                act_read += acts[t].load(region[t])
            # 2. streamed weights: load the slices this tile needs
            w_need = self.weight_needs(tile)
            if not resident:
                for key, box in w_need.items():
                    weight_read += weights[key].load(box) * w_size[key]
            # 3. intermediate layers: compute what is missing, write group outputs
            for layer in group.layers[:-1]:
                t = layer.output
                macs += acts[t].load(region[t]) * layer.macs_per_output
                if t in written:
                    view = written[t][_slices(region[t])]
                    act_write += int(view.size - view.sum())
                    view[...] = True
            # 4. the anchor tile (partial sums, or the output tile when C is not tiled)
            out_view = psum_state[_slices(region[anchor.output])]
            psum_read += int((out_view == _SPILLED).sum())
            out_view[...] = _ACCUMULATING
            c_rng = self.loops["c"][tile["c"]]
            per_output = (len(c_rng) * anchor.fy * anchor.fx if self.c_tiled
                          else anchor.macs_per_output)
            tile_elems = int(out_view.size)
            macs += tile_elems * per_output
            if tile["c"] == n_c - 1:
                act_write += tile_elems
                out_view[...] = _DONE
            tile_peak = max(tile_peak, tile_elems)
            # 5. occupancy
            live = tile_elems * (p_b if n_c > 1 else act_b)
            live += sum(store.count() for store in acts.values()) * act_b
            weight_live = sum(store.count() * w_size[key] for key, store in weights.items())
            if not hw.weights_in_separate_memory:
                live += weight_live
            peak_live = max(peak_live, live)
            # 6. what stays for the next tile
            if index + 1 == len(tiles):
                break
            nxt_tile, nxt = tiles[index + 1], regions[index + 1]
            for t, store in acts.items():
                # CACHE keeps the overlap; RECOMPUTE keeps all only if the box is the same
                store.keep(nxt[t] if cache or nxt[t] == region[t] else None)
            if not resident:
                nxt_w = self.weight_needs(nxt_tile)
                for key, store in weights.items():
                    store.keep(nxt_w[key])
            if tile["c"] != n_c - 1 and nxt[anchor.output] != region[anchor.output]:
                psum_write += tile_elems
                out_view[...] = _SPILLED

        for t, m in written.items():
            if not m.all():
                raise ConfigError(f"group {group.describe()}: {int((~m).sum())} elements of "
                                  f"output {t!r} are never computed under "
                                  f"{self.schedule.describe()}")
        assert bool((psum_state == _DONE).all()), "anchor output not fully computed"
        separate = hw.weights_in_separate_memory
        weight_bytes = weight_read
        weight_buffer = sum(store.peak * w_size[key] for key, store in weights.items())
        act_buffer = sum(store.peak for store in acts.values())
        cost = CostBreakdown(
            dram_act_read_bytes=act_read * act_b,
            dram_weight_read_bytes=0 if separate else weight_bytes,
            dram_psum_read_bytes=psum_read * p_b,
            dram_act_write_bytes=act_write * act_b,
            dram_psum_write_bytes=psum_write * p_b,
            weight_memory_read_bytes=weight_bytes if separate else 0,
            buffer_act_bytes=(act_buffer + (tile_peak if n_c == 1 else 0)) * act_b,
            buffer_weight_bytes=0 if separate else weight_buffer,
            buffer_psum_bytes=tile_peak * p_b if n_c > 1 else 0,
            macs=macs)
        return TraceResult(cost, peak_live, len(tiles))


def _slices(box: Box) -> tuple[slice, ...]:
    return tuple(slice(lo, hi) for lo, hi in box)


class _Store:
    """Which elements of one tensor (or weight) are on chip: a boolean mask.

    Its rules keep the content inside the box of the tile being run (loaded: the box; kept for
    the next tile: part of the next box), so counting and clearing only touch that box.
    ``check`` verifies this against whole-mask counts after every step (slow; for tests).
    """

    def __init__(self, dims: tuple[int, ...], check: bool) -> None:
        self.mask = np.zeros(dims, dtype=bool)
        self.box: Box | None = None
        self.peak = 0
        self.check = check

    def load(self, box: Box) -> int:
        """Bring the box on chip; returns how many elements were missing."""
        view = self.mask[_slices(box)]
        missing = int(view.size - view.sum())
        view[...] = True
        self.box = box
        self.peak = max(self.peak, self.count())
        return missing

    def count(self) -> int:
        """Elements on chip."""
        if self.box is None:
            return 0
        n = int(self.mask[_slices(self.box)].sum())
        if self.check:
            assert n == int(self.mask.sum()), "on-chip content left the tile's box"
        return n

    def keep(self, box: Box | None) -> None:
        """Keep only the elements inside ``box``; ``None`` drops everything."""
        if self.box is None:
            return
        current = _slices(self.box)
        if box is None:
            self.mask[current] = False
            self.box = None
            return
        kept = self.mask[_slices(box)].copy()
        self.mask[current] = False
        self.mask[_slices(box)] = kept
        self.box = box
        if self.check:
            assert int(self.mask.sum()) == int(kept.sum())


def _simulate_opaque(group: LayerGroup, hw: HardwareSpec) -> TraceResult:
    """An OPAQUE layer runs whole: every input in, every output out, once."""
    layer = group.anchor
    shapes = {t.name: t for t in group.tensors}
    act_b, w_b = hw.act_bytes_per_element, hw.weight_bytes_per_element
    reads = sum(shapes[t].elements for t in layer.inputs)
    held = reads + sum(shapes[t].elements for t in layer.outputs)
    weights = layer.bias_elements * hw.bias_bytes + \
        (layer.weight_elements - layer.bias_elements) * w_b
    separate = hw.weights_in_separate_memory
    cost = CostBreakdown(
        dram_act_read_bytes=reads * act_b,
        dram_weight_read_bytes=0 if separate else weights,
        dram_psum_read_bytes=0,
        dram_act_write_bytes=sum(shapes[t].elements for t in group.outputs) * act_b,
        dram_psum_write_bytes=0,
        weight_memory_read_bytes=weights if separate else 0,
        buffer_act_bytes=held * act_b,
        buffer_weight_bytes=0 if separate else weights,
        buffer_psum_bytes=0,
        macs=layer.macs)
    return TraceResult(cost, cost.buffer_bytes, 1)


def simulate(group: LayerGroup, schedule: GroupSchedule, hw: HardwareSpec, *,
             check_invariants: bool = False) -> TraceResult:
    """Execute ``schedule`` on ``group`` tile by tile and count everything (module docstring).

    ``check_invariants`` re-counts whole masks after every step to verify that on-chip
    content never leaves the current tile's box (slow; for tests on small tensors).

    Raises:
        ConfigError: the schedule does not apply, or leaves part of a group output uncomputed.
    """
    problem = schedule_problem(group, schedule)
    if problem is not None:
        raise ConfigError(f"group {group.describe()}: {problem}")
    if group.anchor.kind is LayerKind.OPAQUE:
        return _simulate_opaque(group, hw)
    return _Simulator(group, schedule, hw, check_invariants).run()


def simulate_network(workload: Workload, schedule: NetworkSchedule,
                     hw: HardwareSpec) -> tuple[NetworkCost, int]:
    """Simulate every group; returns the network cost and the largest true on-chip peak."""
    schedule.check(workload)
    results = [simulate(workload.group(g.first, g.stop), g, hw) for g in schedule.groups]
    return (NetworkCost(tuple(r.cost for r in results)),
            max((r.peak_live_bytes for r in results), default=0))

