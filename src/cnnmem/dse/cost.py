"""Analytical cost model: DRAM traffic, on-chip buffer and MACs of a fused, tiled group.

``evaluate(group, schedule, hw) -> CostBreakdown`` is a pure function. Its semantics (what a
tile loads, keeps, computes, spills and writes) are stated below; :mod:`cnnmem.dse.trace`
executes the same semantics tile by tile with explicit on-chip element sets, and the tests
require both to agree exactly.

Execution semantics of a group (layers ``l_1..l_m``, anchor ``l_m``):

1. Tiles ``tau`` are visited in loop order (``n`` outermost, then ``schedule.loop_order``).
   For every tile, each tensor ``t`` of the group has a needed region ``R_t(tau)``, a box
   (:mod:`cnnmem.dse.regions`): the anchor's output tile, propagated backwards.
2. During ``tau`` the on-chip part of every input and intermediate tensor is exactly
   ``R_t(tau)``: what is missing is loaded from DRAM (group inputs) or computed (intermediates).
3. After ``tau``, CACHE keeps ``R_t(tau) & R_t(tau+1)``; RECOMPUTE keeps ``R_t(tau)`` only if
   ``R_t(tau+1) == R_t(tau)``, else nothing.
4. Weights: resident weights are loaded once before the first tile. Streamed weights follow
   rule 2-3 with CACHE semantics over their own boxes (the anchor's slice
   ``Tc x Tci x FY x FX`` changes with the channel tiles; other layers' weights never change).
5. The anchor's output tile is held on chip while it is computed. With input-channel tiles
   (``n_c > 1``) it holds partial sums; when the next tile is a different output tile and this
   one is unfinished, it is spilled to DRAM and read back on the next visit. Finished tiles
   are written to DRAM once.
6. Other group outputs (intermediates read outside the group) are written once: each element
   when first computed. A schedule under which some element of such a tensor is never computed
   is invalid.

Per-tile sums factorise over the loop axes (:class:`~cnnmem.dse.regions.AxisStats`): with
levels ``L_0 = n, L_1..L_4 = loop_order``,

- ``sum_tau |R(tau)| = F * prod_q total_q``; ``max_tau |R(tau)| = F * prod_q max_q``;
- kept between consecutive tiles (CACHE):
  ``K = F * sum_p (prod_{q<p} total_q) * adjacent_overlap_p * prod_{q>p} wrap_overlap_q``
  (a transition advances level ``p``, keeps the outer levels, restarts the inner ones);
  RECOMPUTE uses the ``identical`` sums instead;
- loaded / computed: ``new = sum_tau |R(tau)| - K``,

where ``F`` is an item's constant factor (1 for activations; ``FY*FX*C/g`` for a weight whose
input channels are not tiled, ``FY*FX`` otherwise).

Element sizes: activations ``act_B``, partial sums ``psum_B``, weights and other constants
``weight_B``, biases (per-output-channel constants, ``Layer.bias_elements``) ``bias_B``
(:attr:`~cnnmem.dse.hw.HardwareSpec.bias_bytes`; int32 in int8 networks). Below, ``B_w`` is
the size of weight item ``w`` (``bias_B`` for a bias, else ``weight_B``). The explorer
evaluates whole grids of tile sizes at once through the same code (:func:`evaluate_tiles`).

# NOTE: buffer accounting is static: every tensor (and weight) of the group gets its own buffer
# of its peak size, ``buffer_bytes`` is their sum (what a compiler allocating one buffer per
# tensor needs). The trace also reports the true simultaneous peak, which never exceeds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace

import numpy as np

from cnnmem.dse.hw import HardwareSpec
from cnnmem.dse.pareto import HasCost
from cnnmem.dse.regions import STAT_FIELDS, axis_table, item_keys
from cnnmem.dse.space import GroupSchedule, HaloPolicy, NetworkSchedule, schedule_problem
from cnnmem.dse.workload import LayerGroup, LayerKind, Workload
from cnnmem.errors import ConfigError


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """Cost of one group under one schedule; every count is exact.

    Attributes:
        dram_act_read_bytes: group inputs read from DRAM, halo re-reads included:
            ``act_B * sum_{x in inputs} new_x`` (module docstring for ``new``).
        dram_weight_read_bytes: weights read from DRAM, reloads included: resident
            ``sum_l (weight_B * (weights_l - biases_l) + bias_B * biases_l)``; streamed
            ``sum_w B_w * F_w * new_w``. 0 when weights live in a separate memory.
        dram_psum_read_bytes: partial sums read back: ``psum_B * (v - 1) * |anchor output|``,
            ``v`` = visits per output tile (``n_c`` if a loop inside ``c`` has more than one
            trip, else 1).
        dram_act_write_bytes: group outputs written once: ``act_B * sum_{t in outputs} |t|``.
        dram_psum_write_bytes: partial sums spilled: ``psum_B * (v - 1) * |anchor output|``.
        weight_memory_read_bytes: weights read from a separate weight memory (flash / weight
            SRAM); same formula as ``dram_weight_read_bytes``; 0 when weights are in DRAM.
        buffer_act_bytes: activation buffers: ``act_B * (sum_{t != anchor out} max_t +
            [n_c == 1] * max_tile)``, ``max_t = max_tau |R_t(tau)|``, ``max_tile`` = largest
            anchor output tile.
        buffer_weight_bytes: weight buffers: resident as ``dram_weight_read_bytes``; streamed
            ``sum_w B_w * F_w * max_w``; 0 with a separate weight memory.
        buffer_psum_bytes: partial-sum buffer ``psum_B * max_tile`` when ``n_c > 1``, else 0.
        macs: multiply-accumulates including recomputation:
            ``macs(anchor) + sum_{l != anchor} macs_per_output_l * new_{out(l)}``.
    """

    dram_act_read_bytes: int
    dram_weight_read_bytes: int
    dram_psum_read_bytes: int
    dram_act_write_bytes: int
    dram_psum_write_bytes: int
    weight_memory_read_bytes: int
    buffer_act_bytes: int
    buffer_weight_bytes: int
    buffer_psum_bytes: int
    macs: int

    @property
    def dram_read_bytes(self) -> int:
        """``dram_act_read_bytes + dram_weight_read_bytes + dram_psum_read_bytes``."""
        return self.dram_act_read_bytes + self.dram_weight_read_bytes + self.dram_psum_read_bytes

    @property
    def dram_write_bytes(self) -> int:
        """``dram_act_write_bytes + dram_psum_write_bytes``."""
        return self.dram_act_write_bytes + self.dram_psum_write_bytes

    @property
    def dram_bytes(self) -> int:
        """``dram_read_bytes + dram_write_bytes``."""
        return self.dram_read_bytes + self.dram_write_bytes

    @property
    def buffer_bytes(self) -> int:
        """Everything on chip at once: ``buffer_act_bytes + buffer_weight_bytes +
        buffer_psum_bytes``."""
        return self.buffer_act_bytes + self.buffer_weight_bytes + self.buffer_psum_bytes

    def to_dict(self) -> dict[str, int]:
        """Every field plus the totals, for JSON / CSV reports."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out.update(dram_read_bytes=self.dram_read_bytes, dram_write_bytes=self.dram_write_bytes,
                   dram_bytes=self.dram_bytes, buffer_bytes=self.buffer_bytes)
        return out


COST_FIELDS = tuple(f.name for f in fields(CostBreakdown))


class CostView:
    """Mixin for values that hold a ``cost`` (a schedule with its cost, a front point): the
    three figures fronts are built on, read from ``cost``. Slotted dataclasses may use it."""

    __slots__ = ()
    cost: HasCost  # a CostBreakdown or a NetworkCost

    @property
    def buffer_bytes(self) -> int:
        """On-chip bytes (``cost.buffer_bytes``: a group's buffer, or the largest group's)."""
        return self.cost.buffer_bytes

    @property
    def dram_bytes(self) -> int:
        """DRAM bytes moved, reads + writes (``cost.dram_bytes``)."""
        return self.cost.dram_bytes

    @property
    def macs(self) -> int:
        """Multiply-accumulates, recomputation included (``cost.macs``)."""
        return self.cost.macs


@dataclass(frozen=True, slots=True)
class CostGrid:
    """:func:`evaluate_tiles` result: each field of :class:`CostBreakdown` as an int64 array
    over ``rows x cols`` tile sizes, plus ``valid`` (every group output fully written)."""

    rows: tuple[int, ...]
    cols: tuple[int, ...]
    values: Mapping[str, np.ndarray]
    valid: np.ndarray

    def breakdown(self, i: int, j: int) -> CostBreakdown:
        """The cost at ``rows[i] x cols[j]``."""
        return CostBreakdown(*(int(self.values[name][i, j]) for name in COST_FIELDS))

    def field(self, name: str) -> np.ndarray:
        """One field (or ``dram_bytes`` / ``buffer_bytes`` / ``buffer_weight_bytes``...)."""
        v = self.values
        if name == "dram_bytes":
            return (v["dram_act_read_bytes"] + v["dram_weight_read_bytes"] +
                    v["dram_psum_read_bytes"] + v["dram_act_write_bytes"] +
                    v["dram_psum_write_bytes"])
        if name == "buffer_bytes":
            return v["buffer_act_bytes"] + v["buffer_weight_bytes"] + v["buffer_psum_bytes"]
        return v[name]


# ----------------------------------------------------------------------------- the model
def _new_and_max(shaped: dict[str, dict[str, np.ndarray]], levels: Sequence[str],
                 cache: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(max_tau |R|, new)`` of every item with unit factor (module docstring), as
    ``items x rows x cols`` arrays; ``shaped[axis][field]`` are the broadcastable tables."""
    maximum = shaped[levels[0]]["maximum"]
    total = shaped[levels[0]]["total"]
    for a in levels[1:]:
        maximum = maximum * shaped[a]["maximum"]
        total = total * shaped[a]["total"]
    adj, wrap = ("adjacent_overlap", "wrap_overlap") if cache else \
        ("adjacent_identical", "wrap_identical")
    kept = np.zeros((1, 1, 1), dtype=np.int64)
    for p, a in enumerate(levels):
        term = shaped[a][adj]
        for q in levels[:p]:
            term = term * shaped[q]["total"]
        for q in levels[p + 1:]:
            term = term * shaped[q][wrap]
        kept = kept + term
    return maximum, total - kept


def _opaque_values(group: LayerGroup, hw: HardwareSpec) -> dict[str, int]:
    layer = group.anchor
    in_elems = sum(group.tensor(t).elements for t in layer.inputs)
    out_elems = sum(group.tensor(t).elements for t in layer.outputs)
    written = sum(group.tensor(t).elements for t in group.outputs)
    weights = hw.weight_item_bytes(layer.weight_elements, layer.bias_elements)
    separate = hw.weights_in_separate_memory
    return {"dram_act_read_bytes": in_elems * hw.act_bytes_per_element,
            "dram_weight_read_bytes": 0 if separate else weights,
            "dram_psum_read_bytes": 0,
            "dram_act_write_bytes": written * hw.act_bytes_per_element,
            "dram_psum_write_bytes": 0,
            "weight_memory_read_bytes": weights if separate else 0,
            "buffer_act_bytes": (in_elems + out_elems) * hw.act_bytes_per_element,
            "buffer_weight_bytes": 0 if separate else weights,
            "buffer_psum_bytes": 0,
            "macs": layer.macs}


_SHAPES = {"n": (-1, 1, 1), "k": (-1, 1, 1), "c": (-1, 1, 1), "y": (-1, 0, 1),
           "x": (-1, 1, 0)}


class GroupModel:
    """The cost model of one group, with its per-axis tables computed once and reused.

    Each method is a pure function of its arguments and the group; the object only memoises
    the region tables (:func:`cnnmem.dse.regions.axis_table`), so that the explorer can
    evaluate many templates of a group cheaply.
    """

    def __init__(self, group: LayerGroup) -> None:
        self.group = group
        self.keys = item_keys(group)
        self._tables: dict[tuple[str, tuple[int, ...], bool], dict[str, np.ndarray]] = {}
        self._sums: dict[tuple[object, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._valids: dict[tuple[object, ...], np.ndarray] = {}
        anchor = group.anchor
        index = {k: i for i, k in enumerate(self.keys)}
        n = len(self.keys)
        self.anchor_row = index[("act", anchor.output)]
        self.external = np.zeros(n, dtype=np.int64)
        for t in group.external_inputs:
            self.external[index[("act", t)]] = 1
        self.internal = np.zeros(n, dtype=np.int64)
        self.macs_per_output = np.zeros(n, dtype=np.int64)
        self.must_cover = np.zeros(n, dtype=bool)
        for layer in group.layers[:-1]:
            row = index[("act", layer.output)]
            self.internal[row] = 1
            self.macs_per_output[row] = layer.macs_per_output
            self.must_cover[row] = layer.output in group.outputs
        self.held = self.external + self.internal
        self.out_elements = group.tensor(anchor.output).elements
        self.written = sum(group.tensor(t).elements for t in group.outputs)
        self.weight_rows = np.array([i for i, k in enumerate(self.keys) if k[0] != "act"],
                                    dtype=np.int64)
        self.layers = {layer.name: layer for layer in group.layers}

    def _shaped(self, axis: str, tiles: tuple[int, ...], c_tiled: bool,
                ) -> dict[str, np.ndarray]:
        """The axis table with each field shaped to broadcast over items x rows x cols."""
        key = (axis, tiles, c_tiled)
        if key not in self._tables:
            table = axis_table(self.group, axis, tiles, c_tiled)
            dims = tuple(len(tiles) if d == 0 else d for d in _SHAPES[axis])
            self._tables[key] = {f: getattr(table, f).reshape(dims) for f in STAT_FIELDS}
        return self._tables[key]

    def _new_and_max(self, tiles_key: tuple[object, ...], shaped: dict[str, dict[str, np.ndarray]],
                     levels: tuple[str, ...], cache: bool, shape: tuple[int, int],
                     ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`_new_and_max` as contiguous ``items x (rows * cols)`` arrays, memoised (the
        weight-residency variants of a template share it)."""
        key = (*tiles_key, levels, cache)
        if key not in self._sums:
            maximum, new = _new_and_max(shaped, levels, cache)
            full = (len(self.keys), *shape)
            flat = (len(self.keys), shape[0] * shape[1])
            self._sums = {key: (np.broadcast_to(maximum, full).reshape(flat),
                                np.broadcast_to(new, full).reshape(flat))}
        return self._sums[key]

    def _valid(self, tiles_key: tuple[object, ...], shaped: dict[str, dict[str, np.ndarray]],
               shape: tuple[int, int]) -> np.ndarray:
        """Grid of "every group output read outside the group is fully computed"."""
        if not self.must_cover.any():
            return np.ones(shape, dtype=bool)
        if tiles_key not in self._valids:
            covered = np.ones((len(self.keys), *shape), dtype=bool)
            for a in ("n", "k", "y", "x"):
                covered = covered & shaped[a]["covers"].astype(bool)
            self._valids = {tiles_key: np.asarray(covered[self.must_cover].all(axis=0))}
        return self._valids[tiles_key]

    def _weight_factors(self, c_tiled: bool, hw: HardwareSpec) -> np.ndarray:
        """``B_w * F_w`` of every weight row (bytes per unit of its region)."""
        anchor = self.group.anchor
        out = []
        w_b = hw.weight_bytes_per_element
        for kind, name in (self.keys[i] for i in self.weight_rows):
            layer = self.layers[name]
            if kind == "w":
                per_pair = layer.kc_weight_elements
                out.append(w_b * (per_pair if (layer is anchor and c_tiled)
                                  else per_pair * layer.in_channels_per_group))
            elif kind == "b":
                out.append(hw.bias_bytes)
            else:
                out.append(w_b * layer.other_weight_elements)
        return np.array(out, dtype=np.int64)

    def evaluate_tiles(self, schedule: GroupSchedule, hw: HardwareSpec, rows: Sequence[int],
                       cols: Sequence[int], *, check: bool = True) -> CostGrid:
        """See :func:`evaluate_tiles`; ``check=False`` skips the structural check (for
        schedules built by the candidate generator)."""
        group = self.group
        rows, cols = tuple(rows), tuple(cols)
        if check:
            # Structure does not depend on the tile sizes except through their bounds.
            for th, tw in ((min(rows), min(cols)), (max(rows), max(cols))):
                problem = schedule_problem(group, replace(schedule, tile_rows=th, tile_cols=tw))
                if problem is not None:
                    raise ConfigError(f"group {group.describe()}: {problem}")
        shape = (len(rows), len(cols))
        anchor = group.anchor
        if anchor.kind is LayerKind.OPAQUE:
            scalars = _opaque_values(group, hw)
            values = {k: np.full(shape, v, dtype=np.int64) for k, v in scalars.items()}
            return CostGrid(rows, cols, values, np.ones(shape, dtype=bool))

        c_tiled = schedule.tile_in_channels is not None
        tci = schedule.tile_in_channels if schedule.tile_in_channels is not None else anchor.c
        tiles = {"n": (1,), "k": (schedule.tile_channels,), "c": (tci,), "y": rows, "x": cols}
        shaped = {a: self._shaped(a, sizes, c_tiled) for a, sizes in tiles.items()}
        levels = ("n", *schedule.loop_order)
        cache = schedule.halo is HaloPolicy.CACHE
        act_b, p_b = hw.act_bytes_per_element, hw.psum_bytes_per_element
        tiles_key = (schedule.tile_channels, tci, rows, cols, c_tiled)
        maximum, new = self._new_and_max(tiles_key, shaped, levels, cache, shape)
        tile_max = maximum[self.anchor_row].reshape(shape)
        act_read = (self.external @ new).reshape(shape)
        act_buffer = (self.held @ maximum).reshape(shape)
        macs = (self.macs_per_output @ new).reshape(shape) + anchor.macs
        valid = self._valid(tiles_key, shaped, shape)

        # weight_read / weight_buffer are in bytes
        if schedule.weights_resident or len(self.weight_rows) == 0:
            biases = sum(layer.bias_elements for layer in group.layers)
            weight_read = np.full(shape, hw.weight_item_bytes(group.weight_elements, biases),
                                  dtype=np.int64)
            weight_buffer = weight_read
        else:
            factors = self._weight_factors(c_tiled, hw)
            w_new = new if cache else \
                self._new_and_max(tiles_key, shaped, levels, True, shape)[1]
            weight_read = (factors @ w_new[self.weight_rows]).reshape(shape)
            weight_buffer = (factors @ maximum[self.weight_rows]).reshape(shape)

        # partial sums: an output tile is visited n_c times unless the c loop's inner loops
        # all have one trip (then its visits are consecutive and it never leaves the chip)
        count = {a: shaped[a]["count"][self.anchor_row] for a in levels}
        n_c = int(count["c"].reshape(-1)[0])
        inner = np.ones((1, 1), dtype=np.int64)
        for a in levels[levels.index("c") + 1:]:
            inner = inner * count[a]
        visits = np.where(inner > 1, n_c, 1)
        spills = np.broadcast_to((visits - 1) * self.out_elements * p_b, shape)
        separate = hw.weights_in_separate_memory
        zero = np.zeros(shape, dtype=np.int64)
        psum_tiles = n_c > 1
        values = {
            "dram_act_read_bytes": act_read * act_b,
            "dram_weight_read_bytes": zero if separate else weight_read,
            "dram_psum_read_bytes": spills,
            "dram_act_write_bytes": np.full(shape, self.written * act_b, dtype=np.int64),
            "dram_psum_write_bytes": spills,
            "weight_memory_read_bytes": weight_read if separate else zero,
            "buffer_act_bytes": (act_buffer + (zero if psum_tiles else tile_max)) * act_b,
            "buffer_weight_bytes": zero if separate else weight_buffer,
            "buffer_psum_bytes": (tile_max if psum_tiles else zero) * p_b,
            "macs": macs,
        }
        return CostGrid(rows, cols, values, valid)


def evaluate_tiles(group: LayerGroup, schedule: GroupSchedule, hw: HardwareSpec,
                   rows: Sequence[int], cols: Sequence[int]) -> CostGrid:
    """:func:`evaluate` of ``schedule`` with ``tile_rows`` in ``rows`` and ``tile_cols`` in
    ``cols`` (its own tile_rows/tile_cols are ignored), as arrays over the grid.

    Raises:
        ConfigError: the schedule does not apply to the group (:func:`schedule_problem`).
    """
    return GroupModel(group).evaluate_tiles(schedule, hw, rows, cols)


def evaluate(group: LayerGroup, schedule: GroupSchedule, hw: HardwareSpec) -> CostBreakdown:
    """Exact DRAM traffic, buffer and MACs of ``group`` run under ``schedule`` on ``hw``.

    Pure and deterministic; formulas in the module and :class:`CostBreakdown` docstrings.

    Raises:
        ConfigError: the schedule does not apply to the group, or leaves part of a group
            output uncomputed (e.g. a strided 1x1 layer that skips rows of a tensor that is
            also read outside the group).
    """
    grid = evaluate_tiles(group, schedule, hw, (schedule.tile_rows,), (schedule.tile_cols,))
    if not bool(grid.valid[0, 0]):
        raise ConfigError(f"group {group.describe()}: under {schedule.describe()} some "
                          "elements of a group output read outside the group are never "
                          "computed; fuse fewer layers or use other tiles")
    return grid.breakdown(0, 0)


def fits(cost: CostBreakdown, hw: HardwareSpec) -> bool:
    """True if the group's buffers fit the hardware's on-chip buffer(s)."""
    return hw.fits(cost.buffer_weight_bytes, cost.buffer_act_bytes + cost.buffer_psum_bytes)


# ----------------------------------------------------------------------------- networks
@dataclass(frozen=True, slots=True)
class NetworkCost:
    """Cost of a whole-network schedule: groups run one after another.

    Attributes:
        groups: each group's cost, in order.
    """

    groups: tuple[CostBreakdown, ...]

    def total(self, name: str) -> int:
        """Sum over groups of a :class:`CostBreakdown` field or total (``dram_bytes``...)."""
        return sum(getattr(g, name) for g in self.groups)

    @property
    def dram_read_bytes(self) -> int:
        """Sum over groups."""
        return self.total("dram_read_bytes")

    @property
    def dram_write_bytes(self) -> int:
        """Sum over groups."""
        return self.total("dram_write_bytes")

    @property
    def dram_bytes(self) -> int:
        """Sum over groups of reads and writes."""
        return self.total("dram_bytes")

    @property
    def macs(self) -> int:
        """Sum over groups."""
        return self.total("macs")

    @property
    def buffer_bytes(self) -> int:
        """Largest group buffer: groups run one after another and reuse the buffer."""
        return max((g.buffer_bytes for g in self.groups), default=0)


def evaluate_network(workload: Workload, schedule: NetworkSchedule,
                     hw: HardwareSpec) -> NetworkCost:
    """Cost of every group of ``schedule`` (buffer = max, traffic and MACs = sum).

    Raises:
        ConfigError: the schedule does not cover the workload or a group is invalid.
    """
    schedule.check(workload)
    return NetworkCost(tuple(evaluate(workload.group(g.first, g.stop), g, hw)
                             for g in schedule.groups))


def compulsory_traffic(workload: Workload, hw: HardwareSpec) -> CostBreakdown:
    """The physical lower bound: every graph input read once, every weight read once (unless
    in a separate memory) and every graph output written once; buffer fields are 0 and MACs
    are the network's."""
    used = {t for layer in workload.layers for t in layer.inputs}
    in_elems = sum(workload.tensors[t].elements for t in workload.graph_inputs if t in used)
    produced = {t for layer in workload.layers for t in layer.outputs}
    out_elems = sum(workload.tensors[t].elements for t in workload.graph_outputs
                    if t in produced)
    weights = hw.weight_item_bytes(workload.weight_elements,
                                   sum(layer.bias_elements for layer in workload.layers))
    separate = hw.weights_in_separate_memory
    return CostBreakdown(
        dram_act_read_bytes=in_elems * hw.act_bytes_per_element,
        dram_weight_read_bytes=0 if separate else weights,
        dram_psum_read_bytes=0,
        dram_act_write_bytes=out_elems * hw.act_bytes_per_element,
        dram_psum_write_bytes=0,
        weight_memory_read_bytes=weights if separate else 0,
        buffer_act_bytes=0, buffer_weight_bytes=0, buffer_psum_bytes=0,
        macs=sum(layer.macs for layer in workload.layers))


@dataclass(frozen=True, slots=True)
class LatencyEstimate:
    """Roofline time of a cost on a hardware (DRAM and compute overlap perfectly).

    Attributes:
        dram_s: ``dram_bytes / dram_bandwidth_bytes_per_s``.
        compute_s: ``macs / (macs_per_cycle * clock_hz)``.
    """

    dram_s: float
    compute_s: float

    @property
    def bound_s(self) -> float:
        """``max(dram_s, compute_s)``."""
        return max(self.dram_s, self.compute_s)


def estimate_latency(dram_bytes: int, macs: int, hw: HardwareSpec) -> LatencyEstimate:
    """Roofline estimate of ``dram_bytes`` of traffic and ``macs`` on ``hw``."""
    return LatencyEstimate(dram_bytes / hw.dram_bandwidth_bytes_per_s,
                           macs / hw.peak_macs_per_s)
