"""Pass infrastructure: :class:`Pass`, :class:`PassResult`, :class:`PassManager`.

Modelled on onnx-ir's ``_pass_infra`` and MLIR's pass rules: a pass keeps no state between calls
and touches no globals (options are constructor arguments); it declares what it requires and
ensures; the manager wraps failures with the pass's name and the passes that ran before it, and
can verify the graph after every pass.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cnnmem.errors import CnnmemError, InvariantError, PassError
from cnnmem.ir.graph import Graph
from cnnmem.ir.verify import verify


@dataclass(frozen=True, slots=True)
class PassResult:
    """What a pass returns: the (same, mutated) graph, whether it changed, and statistics."""

    graph: Graph
    modified: bool
    stats: Mapping[str, int] = field(default_factory=dict)


class Pass(abc.ABC):
    """A graph transformation. Subclasses implement :meth:`call`; passes here work in place."""

    name: str = "pass"

    def requires(self, graph: Graph) -> None:  # noqa: B027 - optional hook
        """Raise :class:`~cnnmem.errors.PreconditionError` if ``graph`` is not acceptable."""

    def ensures(self, graph: Graph) -> None:  # noqa: B027 - optional hook
        """Raise :class:`~cnnmem.errors.PostconditionError` if the result breaks the contract."""

    @abc.abstractmethod
    def call(self, graph: Graph) -> PassResult:
        """Transform ``graph`` in place and report what changed."""

    def __call__(self, graph: Graph) -> PassResult:
        self.requires(graph)
        result = self.call(graph)
        self.ensures(result.graph)
        return result

    def describe(self) -> str:
        """The pass's name with its options, for pipeline descriptions."""
        return self.name


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """Result of a :class:`PassManager` run: final graph and per-pass statistics."""

    graph: Graph
    modified: bool
    stats: Mapping[str, Mapping[str, int]]


class PassManager:
    """Run passes in sequence, optionally verifying after each.

    Args:
        passes: the passes, in order.
        verify_each: run :func:`cnnmem.ir.verify` after every pass (default on; cheap).
    """

    def __init__(self, passes: Sequence[Pass], *, verify_each: bool = True) -> None:
        self.passes = tuple(passes)
        self.verify_each = verify_each

    def describe(self) -> str:
        """Textual pipeline, e.g. ``identity-elimination,bn-fold,activation-fusion``."""
        return ",".join(p.describe() for p in self.passes)

    def __call__(self, graph: Graph) -> PipelineResult:
        stats: dict[str, Mapping[str, int]] = {}
        modified = False
        done: list[str] = []
        for p in self.passes:
            try:
                result = p(graph)
                if self.verify_each:
                    verify(result.graph)
            except InvariantError as e:
                raise PassError(f"pass {p.name} broke the graph (after "
                                f"{', '.join(done) or 'no other pass'}): {e}") from e
            except CnnmemError:
                raise
            except Exception as e:
                raise PassError(f"pass {p.name} failed (after {', '.join(done) or 'no other pass'}"
                                f"): {type(e).__name__}: {e}") from e
            graph = result.graph
            modified |= result.modified
            stats[p.name] = dict(result.stats)
            done.append(p.name)
        return PipelineResult(graph, modified, stats)
