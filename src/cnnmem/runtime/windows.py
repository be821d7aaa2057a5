"""Sliding-window cores (convolution, transposed convolution, pooling) on NCHW numpy arrays.

Semantics are those of the ONNX operators (opset 17) as onnxruntime computes them:

- Output length per spatial axis: ``floor((in + pad_begin + pad_end - k_eff) / s) + 1`` with
  ``k_eff = d * (k - 1) + 1``; with ``ceil_mode`` the division rounds up and a last window that
  would start in the end padding is dropped (ONNX/PyTorch rule, as
  :meth:`cnnmem.ir.types.WindowGeometry.output_size`).
- Padding is explicit (``auto_pad`` is resolved at import); negative pads crop.
- Convolution padding cells hold 0 (the caller subtracts the input zero point first for
  quantised data, which makes this TFLite's "skip padded cells").
- MaxPool ignores padding and ceil-mode overflow cells.
- AveragePool divides by the number of counted cells of each window: with
  ``count_include_pad = 0`` the cells of the input only; with ``count_include_pad = 1`` the cells
  of the input and of the explicit padding, but not the cells a ceil-mode window runs past the
  end padding (onnxruntime and PyTorch).

Everything is vectorised: convolutions are an im2col (``sliding_window_view``) followed by one
batched matmul per chunk of output rows (depthwise convolutions: one multiply-add per kernel
tap); pooling reduces a strided window view.

**Slabs.** Every core takes the padding as an argument, so an output row ``j`` can be computed
from input rows ``[lo, hi)`` (``lo = j * s - pad_top``, ``hi = lo + k_eff``) alone: pass the
rows ``[max(lo, 0), min(hi, H))`` with ``pad_top = max(0, -lo)`` and
``pad_bottom = max(0, hi - H)``. ``ceil_mode`` stays in force with explicit pads; it changes
nothing when the slab plus its pads spans whole windows (``(rows + top + bottom - k_eff) % s ==
0``, always true for such a slab). The one case that needs care is an AveragePool with
``count_include_pad = 1`` whose last (ceil-mode) window runs past the original end padding:
those overflow cells are not counted, so the slab's bottom pad must be clipped to the node's own
end padding (``hi = min(hi, H + pad_bottom)``); ceil mode then still yields the one output row.
For MaxPool and ``count_include_pad = 0`` both forms give the same result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["Geometry", "conv2d", "conv_transpose2d", "out_length", "pad_spatial",
           "window_max", "window_sum_count"]

_CHUNK_BYTES = 48 << 20  # im2col buffer budget per matmul


def out_length(size: int, k_eff: int, stride: int, begin: int, end: int, ceil_mode: bool) -> int:
    """Number of windows along one axis (ONNX rule, see the module docstring)."""
    span = size + begin + end - k_eff
    n = span // stride + 1
    if ceil_mode:
        n = -(-span // stride) + 1
        if (n - 1) * stride >= size + begin:
            n -= 1
    return n


@dataclass(frozen=True, slots=True)
class Geometry:
    """2-D window geometry (H then W); ``pads`` are (top, left, bottom, right)."""

    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    ceil_mode: bool = False

    @property
    def k_eff(self) -> tuple[int, int]:
        """Kernel extent including dilation."""
        return (self.dilation[0] * (self.kernel[0] - 1) + 1,
                self.dilation[1] * (self.kernel[1] - 1) + 1)

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        """Output (H, W) of a forward window op on an ``h x w`` input."""
        t, left, b, r = self.pads
        return (out_length(h, self.k_eff[0], self.stride[0], t, b, self.ceil_mode),
                out_length(w, self.k_eff[1], self.stride[1], left, r, self.ceil_mode))


def pad_spatial(x: np.ndarray, top: int, left: int, bottom: int, right: int,
                value: float | int = 0) -> np.ndarray:
    """Pad (positive) or crop (negative) the last two axes of ``x`` with ``value``."""
    crop = (slice(max(0, -top), x.shape[-2] - max(0, -bottom)),
            slice(max(0, -left), x.shape[-1] - max(0, -right)))
    x = x[..., crop[0], crop[1]]
    widths = [(0, 0)] * (x.ndim - 2) + [(max(0, top), max(0, bottom)),
                                        (max(0, left), max(0, right))]
    if all(a == 0 and b == 0 for a, b in widths):
        return x
    return np.pad(x, widths, mode="constant", constant_values=value)


def _padded_for_windows(x: np.ndarray, geom: Geometry, value: float | int
                        ) -> tuple[np.ndarray, int, int]:
    """``x`` padded by ``geom.pads`` plus the ceil-mode overflow, and the output size."""
    h, w = x.shape[-2:]
    oh, ow = geom.out_size(h, w)
    if oh < 1 or ow < 1:
        raise ValueError(f"window {geom.kernel} stride {geom.stride} pads {geom.pads} does not "
                         f"fit an input of {h}x{w}")
    t, left, b, r = geom.pads
    extra_b = max(0, (oh - 1) * geom.stride[0] + geom.k_eff[0] - (h + t + b))
    extra_r = max(0, (ow - 1) * geom.stride[1] + geom.k_eff[1] - (w + left + r))
    return pad_spatial(x, t, left, b + extra_b, r + extra_r, value), oh, ow


def _windows(xp: np.ndarray, geom: Geometry, oh: int, ow: int) -> np.ndarray:
    """Strided view ``(..., oh, ow, kh, kw)`` of the windows of a padded array."""
    view = sliding_window_view(xp, geom.k_eff, axis=(-2, -1))
    sh, sw = geom.stride
    dh, dw = geom.dilation
    return view[..., :(oh - 1) * sh + 1:sh, :(ow - 1) * sw + 1:sw, ::dh, ::dw]


def conv2d(x: np.ndarray, w: np.ndarray, geom: Geometry, group: int) -> np.ndarray:
    """ONNX Conv without bias: ``x`` (N, C, H, W), ``w`` (O, C / group, kH, kW), zero padding.

    Computes in the dtype of ``x`` (float32 for float graphs; float64 for exact integer
    accumulation of quantised data: products of int8 values summed in float64 are exact
    below 2**53).
    """
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    if c != cg * group or o % group:
        raise ValueError(f"conv input has {c} channels, weight {w.shape} with group {group}")
    og = o // group
    w = w.astype(x.dtype, copy=False)
    xp, oh, ow = _padded_for_windows(x, geom, 0)
    sh, sw = geom.stride
    dh, dw = geom.dilation
    if cg == 1 and og >= 1 and group > 1:  # depthwise (channel multiplier og): tap by tap
        out = np.zeros((n, group, og, oh, ow), dtype=x.dtype)
        wg = w.reshape(group, og, kh, kw)
        for i in range(kh):
            for j in range(kw):
                tap = xp[:, :, i * dh:i * dh + (oh - 1) * sh + 1:sh,
                         j * dw:j * dw + (ow - 1) * sw + 1:sw]
                out += tap[:, :, None] * wg[None, :, :, i, j, None, None]
        return out.reshape(n, o, oh, ow)
    wm = w.reshape(group, og, cg * kh * kw)
    if kh == kw == 1 and geom.pads == (0, 0, 0, 0) and geom.stride == (1, 1):
        cols = xp.reshape(n, group, cg, oh * ow)
        return np.matmul(wm, cols).reshape(n, o, oh, ow)
    win = _windows(xp, geom, oh, ow)  # (N, C, oh, ow, kh, kw)
    win = win.reshape(n, group, cg, oh, ow, kh, kw)
    out = np.empty((n, group, og, oh, ow), dtype=x.dtype)
    row_bytes = n * c * kh * kw * ow * x.dtype.itemsize
    step = max(1, _CHUNK_BYTES // max(row_bytes, 1))
    for r0 in range(0, oh, step):
        r1 = min(oh, r0 + step)
        part = win[:, :, :, r0:r1].transpose(0, 1, 2, 5, 6, 3, 4)
        cols = part.reshape(n, group, cg * kh * kw, (r1 - r0) * ow)
        out[:, :, :, r0:r1] = np.matmul(wm, cols).reshape(n, group, og, r1 - r0, ow)
    return out.reshape(n, o, oh, ow)


def conv_transpose2d(x: np.ndarray, w: np.ndarray, geom: Geometry, group: int) -> np.ndarray:
    """ONNX ConvTranspose without bias: ``x`` (N, C, H, W), ``w`` (C, O / group, kH, kW).

    Output ``(H - 1) * s - pad_begin - pad_end + k_eff`` per axis; a negative end pad (the
    frontends' form of ``output_padding``) appends rows that receive no contribution.
    """
    n, c, h, wd = x.shape
    cw, og, kh, kw = w.shape
    if cw != c or c % group:
        raise ValueError(f"conv-transpose input has {c} channels, weight {w.shape}")
    cg = c // group
    w = w.astype(x.dtype, copy=False)
    sh, sw = geom.stride
    dh, dw = geom.dilation
    fh = (h - 1) * sh + geom.k_eff[0]
    fw = (wd - 1) * sw + geom.k_eff[1]
    full = np.zeros((n, group, og, fh, fw), dtype=x.dtype)
    xg = x.reshape(n, group, cg, h * wd)
    # (group, og * kh * kw, cg) @ (n, group, cg, h*w) -> every tap's contribution at once
    wt = w.reshape(group, cg, og * kh * kw).transpose(0, 2, 1)
    contrib = np.matmul(wt, xg).reshape(n, group, og, kh, kw, h, wd)
    for i in range(kh):
        for j in range(kw):
            full[:, :, :, i * dh:i * dh + (h - 1) * sh + 1:sh,
                 j * dw:j * dw + (wd - 1) * sw + 1:sw] += contrib[:, :, :, i, j]
    t, left, b, r = geom.pads
    out = pad_spatial(full, -t, -left, -b, -r, 0)
    return out.reshape(n, group * og, out.shape[-2], out.shape[-1])


def window_max(x: np.ndarray, geom: Geometry, fill: float | int) -> np.ndarray:
    """Max over every window; padding and overflow cells hold ``fill`` (-inf / dtype min)."""
    xp, oh, ow = _padded_for_windows(x, geom, fill)
    return _windows(xp, geom, oh, ow).max(axis=(-2, -1))


def _counts(size: int, begin: int, end: int, k_eff: int, stride: int, dilation: int, n_out: int,
            include_pad: bool) -> np.ndarray:
    """Counted cells of each window along one axis (see the module docstring)."""
    total = (n_out - 1) * stride + k_eff
    pos = np.arange(total) - begin  # input index of each padded position
    if include_pad:
        mask = (pos >= -begin) & (pos < size + end)
    else:
        mask = (pos >= 0) & (pos < size)
    win = sliding_window_view(mask.astype(np.int64), k_eff)[::stride][:n_out, ::dilation]
    return win.sum(axis=-1)


def window_sum_count(x: np.ndarray, geom: Geometry, count_include_pad: bool,
                     acc_dtype: type[np.generic] | np.dtype[np.generic]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Sum over every window (zero padding, accumulated in ``acc_dtype``) and the number of
    counted cells of each window (int64, shape (oh, ow))."""
    h, w = x.shape[-2:]
    xp, oh, ow = _padded_for_windows(x.astype(acc_dtype, copy=False), geom, 0)
    sums = _windows(xp, geom, oh, ow).sum(axis=(-2, -1), dtype=acc_dtype)
    t, left, b, r = geom.pads
    ch = _counts(h, t, b, geom.k_eff[0], geom.stride[0], geom.dilation[0], oh,
                 count_include_pad)
    cw = _counts(w, left, r, geom.k_eff[1], geom.stride[1], geom.dilation[1], ow,
                 count_include_pad)
    return sums, ch[:, None] * cw[None, :]
