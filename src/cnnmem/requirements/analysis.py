"""Memory requirements of a network: per-layer scenarios, the fused trade-off, design points.

:func:`analyse` is a pure function ``workload x hardware x fps x budget -> RequirementsReport``:

1. per layer, the families S1..S5 (:mod:`cnnmem.requirements.scenarios`) and each one's
   minimum on-chip point;
2. per network, scenario S1..S5 = every layer at its scenario minimum, run one after another:
   buffer = max over layers, traffic = sum over layers;
3. S6 (fused groups): :func:`cnnmem.dse.explore.explore` with a buffer cap equal to the S1
   network buffer (what layer-by-layer processing needs anyway) and groups of at most
   ``max_group_layers`` layers. Its family is the fused network schedules reaching the least
   traffic found; the minimum is the smallest buffer among them (the last point of the DSE
   Pareto front). Every S1 and S5 network schedule lies in the explored space within the cap,
   so S6 never needs more traffic than S1 or S5;
4. the trade-off curve: the DSE Pareto front (buffer -> least DRAM bytes), as bandwidth at the
   target frame rate, and the achievable frame rate on the hardware (roofline: DRAM time vs
   compute time, :func:`cnnmem.dse.cost.estimate_latency`);
5. design points for the on-chip budget: per layer, the scenario member that fits the budget
   with the least traffic (ties: fewer MACs, fewer tiles, smaller buffer, then S1 before S2
   ... S5), with a one-line rationale.

Bandwidth = traffic per frame x fps (bytes/s). Per-layer bandwidth is the layer's share:
``layer traffic x fps``; the network figure is the sum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cnnmem.dse.cost import estimate_latency
from cnnmem.dse.explore import ExplorationResult, FrontPoint, explore
from cnnmem.dse.hw import HardwareSpec, format_size
from cnnmem.dse.pareto import best_within
from cnnmem.dse.space import CandidateOptions
from cnnmem.dse.workload import Workload
from cnnmem.errors import ConfigError
from cnnmem.requirements.scenarios import (
    LAYER_SCENARIOS,
    Family,
    Scenario,
    ScenarioPoint,
    layer_families,
)

DEFAULT_MAX_GROUP_LAYERS = 4
"""Longest fused group the S6 search considers (the DSE's own default is 16; 4 keeps the whole
domain suite under a minute)."""

MAX_RECOMPUTE = 0.25
"""S6 drops fused schedules recomputing more than 25% extra MACs (as ``cnnmem explore``)."""

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class DesignChoice:
    """The design point of one layer for an on-chip budget.

    Attributes:
        point: the chosen scenario member, or ``None`` if no member fits the budget.
        rationale: one line saying why.
    """

    point: ScenarioPoint | None
    rationale: str


@dataclass(frozen=True, slots=True)
class LayerRequirements:
    """Sizes, MACs and scenario minima of one layer.

    Attributes:
        index: workload index.
        name: layer name.
        op_type: IR op.
        weight_bytes: every constant element x weight bytes.
        input_bytes: every activation input x activation bytes.
        output_bytes: every output x activation bytes.
        macs: multiply-accumulates.
        minima: the minimum point of S1..S5, in that order.
        design: the design point at the budget.
    """

    index: int
    name: str
    op_type: str
    weight_bytes: int
    input_bytes: int
    output_bytes: int
    macs: int
    minima: tuple[ScenarioPoint, ...]
    design: DesignChoice

    def minimum(self, scenario: Scenario) -> ScenarioPoint:
        """The minimum point of a per-layer scenario."""
        return self.minima[LAYER_SCENARIOS.index(scenario)]


@dataclass(frozen=True, slots=True)
class NetworkPoint:
    """A whole-network figure: buffer (max over groups), traffic and MACs (sums).

    Attributes:
        label: scenario value (``"S1"``...) or a name (``"design"``).
        buffer_bytes: on-chip bytes.
        dram_read_bytes: DRAM bytes read per frame.
        dram_write_bytes: DRAM bytes written per frame.
        macs: multiply-accumulates per frame, recomputation included.
        groups: number of groups (layers for S1..S5).
    """

    label: str
    buffer_bytes: int
    dram_read_bytes: int
    dram_write_bytes: int
    macs: int
    groups: int

    @property
    def dram_bytes(self) -> int:
        """Reads + writes per frame."""
        return self.dram_read_bytes + self.dram_write_bytes


@dataclass(frozen=True, slots=True)
class TradeoffPoint:
    """One point of a buffer -> traffic curve (a DSE Pareto front).

    Attributes:
        buffer_bytes: on-chip bytes.
        dram_bytes: least DRAM bytes per frame within that buffer.
        macs: MACs of that schedule (recomputation included).
    """

    buffer_bytes: int
    dram_bytes: int
    macs: int


@dataclass(frozen=True, slots=True)
class Throughput:
    """Roofline frame rate of a schedule on a hardware.

    Attributes:
        fps: frames per second, ``1 / max(dram_s, compute_s)``.
        bound: ``"memory"`` or ``"compute"``.
    """

    fps: float
    bound: str


def throughput(dram_bytes: int, macs: int, hw: HardwareSpec) -> Throughput:
    """Achievable frame rate at ``hw``'s DRAM bandwidth and ``macs_per_cycle x clock``
    (DRAM and compute overlap perfectly; :func:`cnnmem.dse.cost.estimate_latency`)."""
    lat = estimate_latency(dram_bytes, macs, hw)
    fps = 1.0 / lat.bound_s if lat.bound_s > 0 else math.inf
    return Throughput(fps, "memory" if lat.dram_s >= lat.compute_s else "compute")


@dataclass(frozen=True, slots=True)
class RequirementsReport:
    """Everything ``cnnmem requirements`` reports for one network.

    Attributes:
        model: network name.
        input_shape: the (first) graph input's ``n x c x h x w``.
        fps: target frame rate.
        hw: element sizes, bandwidth and compute (its buffer is the design budget).
        layers: per-layer requirements.
        network: S1..S6 network points, in order.
        fused_front: the DSE Pareto front (buffer ascending, traffic descending), within the
            S1 buffer.
        layer_by_layer_front: the same with one layer per group.
        compulsory_dram_bytes: each graph input, weight and output crossing DRAM once.
        design: the network at the design points, or ``None`` if some layer does not fit.
        fused_at_budget: the least-traffic point of the fused front within the budget's total
            bytes, seen as one shared buffer (``None``: none fits).
        max_group_layers: longest fused group of S6.
        seconds: analysis time (not part of the results' determinism).
    """

    model: str
    input_shape: tuple[int, ...]
    fps: float
    hw: HardwareSpec
    layers: tuple[LayerRequirements, ...]
    network: tuple[NetworkPoint, ...]
    fused_front: tuple[TradeoffPoint, ...]
    layer_by_layer_front: tuple[TradeoffPoint, ...]
    compulsory_dram_bytes: int
    design: NetworkPoint | None
    fused_at_budget: TradeoffPoint | None
    max_group_layers: int
    seconds: float

    @property
    def budget_bytes(self) -> int:
        """The design budget: all of the hardware's on-chip buffer bytes."""
        return self.hw.total_buffer_bytes

    @property
    def weight_bytes(self) -> int:
        """All weights of the network."""
        return sum(layer.weight_bytes for layer in self.layers)

    @property
    def macs(self) -> int:
        """All MACs of the network (no recomputation)."""
        return sum(layer.macs for layer in self.layers)

    @property
    def max_activation_bytes(self) -> int:
        """Largest input + output of one layer."""
        return max((la.input_bytes + la.output_bytes for la in self.layers), default=0)

    def scenario(self, scenario: Scenario) -> NetworkPoint:
        """The network point of a scenario."""
        return self.network[list(Scenario).index(scenario)]

    def bandwidth(self, dram_bytes: int) -> float:
        """Bytes/s needed at the target frame rate: ``dram_bytes x fps``."""
        return dram_bytes * self.fps

    def accounting(self) -> str:
        """One line stating the accounting of every figure."""
        hw = self.hw
        weights = "weights in a separate memory (no buffer, no DRAM)" \
            if hw.weights_in_separate_memory else "weights in DRAM"
        return (f"elements: activations {hw.act_bytes_per_element} B, weights "
                f"{hw.weight_bytes_per_element} B, partial sums {hw.psum_bytes_per_element} B; "
                f"{weights}; traffic = DRAM reads + writes per frame; bandwidth = traffic x "
                f"{self.fps:g} fps; fps = roofline at {hw.dram_bandwidth_bytes_per_s / 1e9:g} "
                f"GB/s and {hw.macs_per_cycle} MACs/cycle x {hw.clock_hz / 1e6:g} MHz; "
                "MACs = multiply-accumulates")


# ----------------------------------------------------------------------------- design points
def _rationale(point: ScenarioPoint | None, families: Sequence[Family], hw: HardwareSpec,
               sizes: tuple[int, int, int]) -> str:
    """One line explaining a layer's design point; ``sizes`` as in :func:`design_choice`."""
    weight_b, act_b, whole_b = sizes
    budget = format_size(hw.total_buffer_bytes)
    if point is None:
        smallest = min(p.buffer_bytes for f in families for p in f.points)
        return (f"does not fit: the smallest tiling needs {format_size(smallest)} > "
                f"budget {budget}")
    s = point.schedule
    s1_traffic = families[0].points[0].dram_bytes
    extra = point.dram_bytes - s1_traffic
    reread = f" (+{format_size(extra)} re-read)" if extra > 0 else ""
    w_txt = f"weights {format_size(weight_b)}"
    a_txt = f"activations {format_size(act_b)}"
    too_big = [t for t, b in ((w_txt, weight_b), (a_txt, act_b))
               if b > hw.total_buffer_bytes]
    if too_big:
        why = " and ".join(too_big) + " > budget"
    elif whole_b > hw.total_buffer_bytes:
        why = f"whole layer {format_size(whole_b)} > budget {budget}"
    else:  # the whole layer fits, but a tiling skips input the layer never reads (strides)
        why = f"{format_size(s1_traffic - point.dram_bytes)} less traffic than the whole layer"
    sc = point.scenario
    if sc is Scenario.S1:
        return f"whole layer {format_size(whole_b)} fits {budget}: keep everything on chip"
    if sc is Scenario.S2:
        what = "stream weights in" if weight_b else "compute"
        return (f"{why}: keep the input, {what} {s.tile_channels}-output-channel slices "
                "(whole planes)")
    if sc is Scenario.S3:
        return (f"{why}: keep weights, stream activations in {s.tile_rows}x{s.tile_cols} "
                f"output tiles{reread}")
    if sc is Scenario.S4:
        return f"{why}: keep weights and a line buffer of input rows"
    weights = "keep weights" if s.weights_resident else "stream weights"
    tci = f", {s.tile_in_channels} input channels" if s.tile_in_channels else ""
    return (f"{why}: {weights}, {s.tile_rows}x{s.tile_cols}x{s.tile_channels} output "
            f"tiles{tci}, order {s.loop_order}{reread}")


def design_choice(families: Sequence[Family], hw: HardwareSpec,
                  sizes: tuple[int, int, int]) -> DesignChoice:
    """The least-traffic member of S1..S5 that fits ``hw`` (ties, as the DSE's ``relax``:
    fewer MACs, fewer tiles, smaller buffer, then the earlier scenario), with its rationale.
    ``sizes`` = (weight, activation in + out, S1 buffer) bytes, for the text."""
    best: tuple[tuple[int, int, int, int, int], ScenarioPoint] | None = None
    for rank, family in enumerate(families):
        p = family.best_within(hw)
        if p is not None:
            key = (p.dram_bytes, p.cost.macs, p.tiles, p.buffer_bytes, rank)
            if best is None or key < best[0]:
                best = (key, p)
    point = best[1] if best is not None else None
    return DesignChoice(point, _rationale(point, families, hw, sizes))


# ----------------------------------------------------------------------------- the analysis
def _network_point(label: str, points: Sequence[ScenarioPoint]) -> NetworkPoint:
    return NetworkPoint(label, max((p.buffer_bytes for p in points), default=0),
                        sum(p.cost.dram_read_bytes for p in points),
                        sum(p.cost.dram_write_bytes for p in points),
                        sum(p.cost.macs for p in points), len(points))


def _curve(front: Sequence[FrontPoint]) -> tuple[TradeoffPoint, ...]:
    return tuple(TradeoffPoint(p.buffer_bytes, p.dram_bytes, p.macs) for p in front)


def analyse(workload: Workload, hw: HardwareSpec, *, fps: float = 30.0,
            max_group_layers: int = DEFAULT_MAX_GROUP_LAYERS,
            progress: ProgressFn | None = None) -> RequirementsReport:
    """Requirements of ``workload`` (module docstring). ``hw`` gives element sizes, DRAM
    bandwidth, compute and the design budget (its buffer(s)).

    Raises:
        ConfigError: ``fps`` not positive, ``max_group_layers`` < 1, or no compute layers.
    """
    import time

    if not fps > 0 or math.isinf(fps):
        raise ConfigError(f"--fps must be a positive frame rate, got {fps!r}")
    if max_group_layers < 1:
        raise ConfigError(f"--max-group-layers must be >= 1, got {max_group_layers}")
    if not workload.layers:
        raise ConfigError(f"{workload.name}: no compute layers to analyse")
    start = time.perf_counter()
    a_b, w_b = hw.act_bytes_per_element, hw.weight_bytes_per_element
    layers: list[LayerRequirements] = []
    n = len(workload.layers)
    for layer in workload.layers:
        group = workload.group(layer.index, layer.index + 1)
        families = layer_families(group, hw)
        in_b = sum(group.tensor(t).elements for t in layer.inputs) * a_b
        out_b = sum(group.tensor(t).elements for t in layer.outputs) * a_b
        weight_b = layer.weight_elements * w_b
        s1 = families[0].points[0]
        choice = design_choice(families, hw, (weight_b, in_b + out_b, s1.buffer_bytes))
        layers.append(LayerRequirements(layer.index, layer.name, layer.op_type, weight_b,
                                        in_b, out_b, layer.macs,
                                        tuple(f.minimum() for f in families), choice))
        if progress is not None:
            progress(layer.index + 1, n)
    network = [_network_point(s.value, [la.minimum(s) for la in layers])
               for s in LAYER_SCENARIOS]
    cap = network[0].buffer_bytes
    result: ExplorationResult = explore(
        workload, hw.with_shared_buffer(max(cap, 1)), max_group_layers=max_group_layers,
        options=CandidateOptions(max_recompute=MAX_RECOMPUTE),
        progress=(lambda done, total: progress(n + done, n + total))
        if progress is not None else None)
    fused = _curve(result.front)
    lbl = _curve(result.layer_by_layer_front)
    last = result.front[-1]
    network.append(NetworkPoint(Scenario.S6.value, last.buffer_bytes,
                                last.cost.dram_read_bytes, last.cost.dram_write_bytes,
                                last.macs, len(last.schedule.groups)))
    chosen = [la.design.point for la in layers]
    design = None if any(p is None for p in chosen) else \
        _network_point("design", [p for p in chosen if p is not None])
    at_budget = best_within(fused, hw.total_buffer_bytes)
    first_input = workload.tensors[workload.graph_inputs[0]].dims if workload.graph_inputs \
        else ()
    return RequirementsReport(
        model=workload.name, input_shape=tuple(first_input), fps=fps, hw=hw,
        layers=tuple(layers), network=tuple(network), fused_front=fused,
        layer_by_layer_front=lbl, compulsory_dram_bytes=result.compulsory.dram_bytes,
        design=design, fused_at_budget=at_budget, max_group_layers=max_group_layers,
        seconds=time.perf_counter() - start)
