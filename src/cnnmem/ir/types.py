"""Value types of the IR: element types, quantisation, fused activations, window geometry.

All are small frozen dataclasses or enums; derive new values with :func:`dataclasses.replace`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from cnnmem.errors import ConfigError


class DType(enum.Enum):
    """Element type of a tensor, with its storage size.

    The value is ``(name, bytes per element, numpy dtype name, is_float)``.
    """

    FLOAT32 = ("float32", 4, "float32", True)
    FLOAT16 = ("float16", 2, "float16", True)
    BFLOAT16 = ("bfloat16", 2, "float32", True)  # no numpy bfloat16: data held as float32
    FLOAT64 = ("float64", 8, "float64", True)
    INT8 = ("int8", 1, "int8", False)
    UINT8 = ("uint8", 1, "uint8", False)
    INT16 = ("int16", 2, "int16", False)
    UINT16 = ("uint16", 2, "uint16", False)
    INT32 = ("int32", 4, "int32", False)
    UINT32 = ("uint32", 4, "uint32", False)
    INT64 = ("int64", 8, "int64", False)
    BOOL = ("bool", 1, "bool", False)

    @property
    def short_name(self) -> str:
        """The lower-case name used in files and on the command line (``"int8"``)."""
        return self.value[0]

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return self.value[1]

    @property
    def numpy(self) -> np.dtype[np.generic]:
        """The numpy dtype used to hold data of this type."""
        return np.dtype(self.value[2])

    @property
    def is_float(self) -> bool:
        """True for floating-point types."""
        return self.value[3]

    @property
    def is_quantized_storage(self) -> bool:
        """True for the narrow integer types that quantised networks store activations in."""
        return self in (DType.INT8, DType.UINT8, DType.INT16, DType.UINT16)

    @classmethod
    def parse(cls, name: str) -> DType:
        """Parse a user-facing dtype name (``int8``, ``float32``, ``fp16``...).

        Raises:
            ConfigError: the name is not a known element type.
        """
        aliases = {"fp32": "float32", "float": "float32", "fp16": "float16", "half": "float16",
                   "bf16": "bfloat16", "i8": "int8", "u8": "uint8", "i16": "int16"}
        key = aliases.get(name.strip().lower(), name.strip().lower())
        for member in cls:
            if member.short_name == key:
                return member
        known = ", ".join(m.short_name for m in cls)
        raise ConfigError(f"unknown dtype {name!r}: use one of {known}")


@dataclass(frozen=True, slots=True)
class QuantParams:
    """Affine quantisation ``real = scale * (q - zero_point)``.

    ``axis`` is the channel axis (in the tensor's logical shape) for per-channel parameters,
    ``None`` for per-tensor parameters.
    """

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int | None = None

    @property
    def per_channel(self) -> bool:
        """True when there is one (scale, zero point) pair per channel."""
        return len(self.scale) > 1


@dataclass(frozen=True, slots=True)
class Activation:
    """An element-wise activation fused into the op that produces a tensor.

    ``op_type`` uses the IR op vocabulary (``Relu``, ``Clip``, ``Sigmoid``, ``HardSwish``,
    ``HardSigmoid``, ``LeakyRelu``, ``Tanh``); ``params`` are its attributes as sorted
    ``(name, value)`` pairs, e.g. ``Clip`` with ``(("max", 6.0), ("min", 0.0))``.
    """

    op_type: str
    params: tuple[tuple[str, float], ...] = ()

    def param(self, name: str, default: float) -> float:
        """The value of parameter ``name``, or ``default`` if absent."""
        for key, value in self.params:
            if key == name:
                return value
        return default

    def describe(self) -> str:
        """Short text form, e.g. ``Clip(max=6,min=0)``."""
        if not self.params:
            return self.op_type
        inner = ",".join(f"{k}={v:g}" for k, v in self.params)
        return f"{self.op_type}({inner})"


@dataclass(frozen=True, slots=True)
class WindowGeometry:
    """Sliding-window geometry of a 2-D convolution-like or pooling op.

    Spatial only (H then W). ``pads`` are ``(top, left, bottom, right)`` in input elements, the
    ONNX ``pads`` order. ``groups`` is 1 for pooling. ``transposed`` marks ConvTranspose, whose
    ``stride`` is the upsampling factor.
    """

    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    ceil_mode: bool = False
    transposed: bool = False

    @property
    def effective_kernel(self) -> tuple[int, int]:
        """Kernel extent including dilation: ``d * (k - 1) + 1`` per axis."""
        return (self.dilation[0] * (self.kernel[0] - 1) + 1,
                self.dilation[1] * (self.kernel[1] - 1) + 1)

    def output_size(self, in_h: int, in_w: int) -> tuple[int, int]:
        """Output spatial size for an input of ``in_h x in_w``.

        Forward windows: ``floor_or_ceil((in + pad_begin + pad_end - eff_k) / s) + 1``; with
        ``ceil_mode`` the last window must start inside the input or the begin padding (ONNX and
        PyTorch rule). Transposed: ``(in - 1) * s - pad_begin - pad_end + eff_k``
        (output_padding is folded into ``pads`` with a negative end pad by the frontends).
        """
        out = []
        for axis, size in enumerate((in_h, in_w)):
            k = self.effective_kernel[axis]
            s = self.stride[axis]
            begin = self.pads[axis]
            end = self.pads[axis + 2]
            if self.transposed:
                out.append((size - 1) * s - begin - end + k)
                continue
            span = size + begin + end - k
            if self.ceil_mode:
                n = math.ceil(span / s) + 1
                if (n - 1) * s >= size + begin:
                    n -= 1
            else:
                n = span // s + 1
            out.append(n)
        return out[0], out[1]
