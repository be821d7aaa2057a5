"""Small layer helpers shared by the zoo's network builders.

Layer names are full dotted module paths, as in the reference implementation's ``state_dict``
(``layer1.0.conv1`` with weight ``layer1.0.conv1.weight``), so the builders pass complete names
rather than using :meth:`GraphBuilder.scope`, which joins with ``/``.
"""

from __future__ import annotations

from collections.abc import Sequence

from cnnmem.ir import GraphBuilder, Tensor

IntOrPair = int | tuple[int, int]


def conv_bn_act(b: GraphBuilder, x: Tensor, out_channels: int, kernel: IntOrPair, *,
                name: str, stride: IntOrPair = 1,
                padding: IntOrPair | tuple[int, int, int, int] = 0, groups: int = 1,
                eps: float = 1e-5, act: str | None = "relu", conv_name: str = "conv",
                bn_name: str = "bn", act_name: str = "relu") -> Tensor:
    """Conv (no bias) + BatchNormalization + optional activation, named ``name.<part>``.

    Args:
        b: the graph builder.
        x: input feature map.
        out_channels: output channels of the convolution.
        kernel: kernel size.
        name: module path of the block; parts are ``name.conv_name`` etc. (an empty part name
            means the part is called ``name`` itself).
        stride: convolution stride.
        padding: symmetric padding, or explicit ONNX pads (top, left, bottom, right).
        groups: convolution groups (``C`` for depthwise).
        eps: BatchNormalization epsilon.
        act: ``"relu"``, ``"relu6"``, ``"leaky"`` (slope 0.1) or ``None``.
        conv_name: name of the convolution within the block.
        bn_name: name of the BatchNormalization within the block.
        act_name: name of the activation within the block.

    Returns:
        The block's output.
    """
    y = b.conv(x, out_channels, kernel, stride=stride, padding=padding, groups=groups,
               bias=False, name=join(name, conv_name))
    y = b.batch_norm(y, eps=eps, name=join(name, bn_name))
    return activation(b, y, act, join(name, act_name))


def activation(b: GraphBuilder, x: Tensor, act: str | None, name: str) -> Tensor:
    """Apply ``act`` (``relu``, ``relu6``, ``leaky`` or ``None``) to ``x``."""
    if act is None:
        return x
    if act == "relu":
        return b.relu(x, name=name)
    if act == "relu6":
        return b.relu6(x, name=name)
    if act == "leaky":
        return b.leaky_relu(x, 0.1, name=name)
    raise ValueError(f"unknown activation {act!r}")


def join(*parts: str) -> str:
    """Join module-path parts with ``.``, skipping empty ones."""
    return ".".join(p for p in parts if p)


def explicit_max_pool(b: GraphBuilder, x: Tensor, kernel: int, stride: int,
                      pads: Sequence[int], *, name: str) -> Tensor:
    """MaxPool with explicit, possibly asymmetric ONNX pads (top, left, bottom, right)."""
    return b.op("MaxPool", x, name=name, kernel_shape=(kernel, kernel), strides=(stride, stride),
                pads=tuple(int(p) for p in pads), dilations=(1, 1), ceil_mode=0)
