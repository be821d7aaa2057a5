"""TFLite's fixed-point requantisation arithmetic, vectorised with numpy.

Integer kernels of TensorFlow Lite (``tensorflow/lite/kernels/internal/common.h`` and
``quantization_util.cc``; the gemmlowp primitives in ``fixedpoint/fixedpoint.h``) never multiply
by a real scale. A real multiplier ``M`` is stored as a Q0.31 significand and a power-of-two
exponent (:func:`quantize_multiplier`), and an int32 accumulator ``x`` is rescaled with

``MultiplyByQuantizedMultiplier(x, m, shift) =``
``RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2**max(shift, 0), m), max(-shift, 0))``

(the "double rounding" form: the high half of the doubled 64-bit product is rounded to nearest,
ties away from zero, then the right shift rounds to nearest, ties away from zero).
:func:`multiply_by_quantized_multiplier_single_round` is the single-rounding form
(``TFLITE_SINGLE_ROUNDING`` / ruy: ``(x * m + 2**(30 - shift)) >> (31 - shift)``), kept for
comparison.

All functions take numpy arrays (any shape; ``m`` and ``shift`` broadcast against ``x``, e.g. one
per output channel) and compute in int64, wrapping to int32 where the C code does.
"""

from __future__ import annotations

import math

import numpy as np

from cnnmem.ir.types import Activation, DType, QuantParams

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

__all__ = [
    "activation_range",
    "int_range",
    "multiply_by_quantized_multiplier",
    "multiply_by_quantized_multiplier_single_round",
    "quantize_multiplier",
    "quantize_multipliers",
    "rounding_divide_by_pot",
    "saturating_rounding_doubling_high_mul",
    "tflite_round",
    "wrap_int32",
]


def tflite_round(x: float) -> int:
    """``std::round``: round to nearest, ties away from zero."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def int_range(dtype: np.dtype[np.generic] | type[np.generic]) -> tuple[int, int]:
    """(min, max) of an integer dtype."""
    info = np.iinfo(np.dtype(dtype).name)
    return int(info.min), int(info.max)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier``: ``real ~= m * 2**(shift - 31)`` with ``m`` in
    ``[2**30, 2**31)`` (Q0.31 significand from ``frexp``, rounded half away from zero).

    Multipliers below ``2**-32`` flush to ``(0, 0)``.
    """
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = tflite_round(q * float(1 << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(q_fixed), int(shift)


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`quantize_multiplier` of every element: (multipliers, shifts) as int64 arrays."""
    flat = [quantize_multiplier(float(r)) for r in np.asarray(reals, np.float64).reshape(-1)]
    shape = np.shape(reals)
    m = np.asarray([f[0] for f in flat], np.int64).reshape(shape)
    s = np.asarray([f[1] for f in flat], np.int64).reshape(shape)
    return m, s


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to the int32 range (kept as int64)."""
    x = np.asarray(x, np.int64)
    return ((x + 2**31) & 0xFFFFFFFF) - 2**31


def _trunc_div_pow2(x: np.ndarray, bits: int) -> np.ndarray:
    """C integer division by ``2**bits`` (truncation toward zero) of int64 values."""
    return np.where(x >= 0, x >> bits, -((-x) >> bits))


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` of int32 values (int64 arrays in/out).

    ``(a * b * 2 + 2**31) / 2**32`` rounded to nearest (ties away from zero via the nudge, then C
    truncating division), saturating the single overflow case ``a == b == INT32_MIN``.
    """
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    high = _trunc_div_pow2(ab + nudge, 31)
    overflow = (a == b) & (a == INT32_MIN)
    return np.where(overflow, np.int64(INT32_MAX), high)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """gemmlowp ``RoundingDivideByPOT``: ``x / 2**exponent`` rounded to nearest, ties away from
    zero (``exponent`` in ``[0, 31]``, broadcast against ``x``)."""
    x = np.asarray(x, np.int64)
    e = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0).astype(np.int64)
    return (x >> e) + (remainder > threshold).astype(np.int64)


def rounding_right_shift_up(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """``(x + 2**(exponent - 1)) >> exponent``: round to nearest, ties toward +infinity (the
    rounding right shift of ruy's x86 kernels)."""
    x = np.asarray(x, np.int64)
    e = np.asarray(exponent, np.int64)
    rnd = np.where(e > 0, np.int64(1) << np.maximum(e - 1, 0), np.int64(0))
    return (x + rnd) >> e


def multiply_by_quantized_multiplier(x: np.ndarray, multiplier: np.ndarray | int,
                                     shift: np.ndarray | int, rounding: str = "double"
                                     ) -> np.ndarray:
    """TFLite ``MultiplyByQuantizedMultiplier(int32 x, int32 m, int shift)``.

    ``x`` holds int32 values (int64 array); ``multiplier``/``shift`` broadcast against it.
    Returns int64 values in the int32 range.

    ``rounding``:

    - ``"double"`` (TFLite ``common.h``): ``SaturatingRoundingDoublingHighMul`` then
      ``RoundingDivideByPOT`` (both ties away from zero);
    - ``"double_up"`` (ruy's x86 kernels, used by LiteRT's optimized GEMM-based kernels): the
      same high multiply, then a rounding right shift with ties toward +infinity;
    - ``"single"`` (``TFLITE_SINGLE_ROUNDING``): one rounding of the 64-bit product.
    """
    if rounding == "single":
        return multiply_by_quantized_multiplier_single_round(x, multiplier, shift)
    x = np.asarray(x, np.int64)
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    high = saturating_rounding_doubling_high_mul(wrap_int32(x << left), multiplier)
    if rounding == "double_up":
        return rounding_right_shift_up(high, right)
    return rounding_divide_by_pot(high, right)


def multiply_by_quantized_multiplier_single_round(x: np.ndarray, multiplier: np.ndarray | int,
                                                  shift: np.ndarray | int) -> np.ndarray:
    """The single-rounding variant (``TFLITE_SINGLE_ROUNDING``, ruy's ``ApplyMultiplier``):
    ``(x * m + 2**(30 - shift)) >> (31 - shift)``, saturated to int32."""
    x = np.asarray(x, np.int64)
    total = 31 - np.asarray(shift, np.int64)
    m = np.asarray(multiplier, np.int64)
    # |x * m| < 2**62 and the rounding term is at most 2**61: no int64 overflow
    prod = x * m
    rnd = np.int64(1) << (total - 1)
    out = (prod + rnd) >> total
    return np.clip(out, INT32_MIN, INT32_MAX)


def activation_range(act: Activation | None, dtype: DType, quant: QuantParams | None
                     ) -> tuple[int, int]:
    """TFLite ``CalculateActivationRangeQuantized``: the clamp bounds of a fused activation in
    the quantised domain of the output tensor.

    ``Relu`` clamps below at ``quantize(0)``, ``Clip(min, max)`` (Relu6, Relu1) at
    ``quantize(min)`` / ``quantize(max)``, where ``quantize(f) = zp + round(f / scale)``
    (float32 division, ties away from zero); no activation gives the dtype's range.

    Raises:
        ValueError: the activation has no quantised clamp form (Tanh, Sigmoid...).
    """
    qmin, qmax = int_range(dtype.numpy)
    if act is None:
        return qmin, qmax
    if quant is None:
        raise ValueError("a fused activation on a quantised tensor needs its quantisation")
    scale = np.float32(quant.scale[0])
    zp = int(quant.zero_point[0])

    def quantize(f: float) -> int:
        return zp + tflite_round(float(np.float32(f) / scale))

    if act.op_type == "Relu":
        return max(qmin, quantize(0.0)), qmax
    if act.op_type == "Clip":
        lo = act.param("min", -math.inf)
        hi = act.param("max", math.inf)
        return (max(qmin, quantize(lo)) if math.isfinite(lo) else qmin,
                min(qmax, quantize(hi)) if math.isfinite(hi) else qmax)
    raise ValueError(f"fused activation {act.describe()} has no quantised clamp form")
