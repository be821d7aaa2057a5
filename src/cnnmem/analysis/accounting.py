"""Accounting: what a memory figure counts, stated once and carried into every report.

Every figure cnnmem prints says its dtype and bytes per element, whether the graph was fused,
whether graph inputs/outputs are included and the alignment. :class:`Accounting` holds those
choices and computes tensor sizes under them.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnmem.ir.graph import Tensor
from cnnmem.ir.types import DType


@dataclass(frozen=True, slots=True)
class Accounting:
    """How bytes are counted.

    Attributes:
        dtype: if set, the element type assumed for activations and weights (``--dtype``):
            tensors stored as floating point or as 8/16-bit integers are counted at this size;
            int32 (biases, accumulators) and int64/bool (shape arithmetic) tensors keep their
            own size. ``None``: every tensor at its file dtype.
        fused: the graph was simplified (BN folded, activations fused, Reshape/Flatten/Squeeze
            are aliases with no buffer of their own). Set by the pipeline, reported.
        include_io: graph inputs and outputs count in live-memory figures (they occupy memory
            while the network runs).
        alignment: buffer sizes are rounded up to a multiple of this many bytes.
    """

    dtype: DType | None = None
    fused: bool = True
    include_io: bool = True
    alignment: int = 1

    def element_size(self, t: Tensor) -> int:
        """Bytes per element of ``t`` under this accounting."""
        if self.dtype is not None and (t.dtype.is_float or t.dtype.is_quantized_storage):
            return self.dtype.itemsize
        return t.dtype.itemsize

    def raw_bytes(self, t: Tensor) -> int:
        """``num_elements * element_size`` without alignment."""
        return t.num_elements * self.element_size(t)

    def buffer_bytes(self, t: Tensor) -> int:
        """Size of ``t``'s buffer: :meth:`raw_bytes` rounded up to :attr:`alignment`."""
        raw = self.raw_bytes(t)
        a = max(1, self.alignment)
        return -(-raw // a) * a

    def dtype_label(self, tensors: list[Tensor] | None = None) -> str:
        """Human label of the element type(s), e.g. ``int8 (1 B/elem, --dtype)``."""
        if self.dtype is not None:
            return f"{self.dtype.short_name} ({self.dtype.itemsize} B/elem, overridden)"
        kinds = sorted({t.dtype.short_name for t in tensors or []})
        return "as stored in the file" + (f" ({', '.join(kinds)})" if kinds else "")

    def describe(self) -> str:
        """One-line statement of the accounting for report headers."""
        parts = [
            f"dtype {self.dtype.short_name} ({self.dtype.itemsize} B/elem)" if self.dtype
            else "dtype as stored in the model",
            "fused graph (BN folded, activations fused, reshapes alias)" if self.fused
            else "unfused graph",
            "graph inputs/outputs included" if self.include_io else "graph inputs/outputs "
            "excluded",
            f"alignment {self.alignment} B",
        ]
        return "; ".join(parts)
