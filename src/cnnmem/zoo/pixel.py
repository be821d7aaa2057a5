"""Pixel-to-pixel networks of the zoo: denoisers (DnCNN, FFDNet) and super-resolution (VDSR).

They run at full resolution all the way through, which makes them the activation-memory
extreme of the zoo: every layer's feature map is ``64 x H x W``.
"""

from __future__ import annotations

from cnnmem.ir import GraphBuilder, Tensor

_FEATURES = 64


def dncnn(b: GraphBuilder, x: Tensor, width: float = 1.0) -> list[Tensor]:
    """DnCNN-S (Zhang et al., "Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for
    Image Denoising", IEEE TIP 2017), as in the authors' PyTorch code (cszn/DnCNN,
    ``TrainingCodes/dncnn_pytorch``): depth 17, 64 channels, 3x3 kernels.

    ``dncnn.0`` conv (bias) + ReLU; 15 x (conv without bias + BN(eps=1e-4) + ReLU); a final conv
    without bias to the image channels, which estimates the noise; output = input - noise (Sub).

    Args:
        b: the graph builder.
        x: the noisy image ``N x 1 x H x W``.
        width: ignored.

    Returns:
        The denoised image ``N x 1 x H x W``.
    """
    y = b.relu(b.conv(x, _FEATURES, 3, padding=1, name="dncnn.0"), name="dncnn.1")
    index = 2
    for _ in range(15):
        y = b.conv(y, _FEATURES, 3, padding=1, bias=False, name=f"dncnn.{index}")
        y = b.batch_norm(y, eps=1e-4, name=f"dncnn.{index + 1}")
        y = b.relu(y, name=f"dncnn.{index + 2}")
        index += 3
    noise = b.conv(y, x.shape[1], 3, padding=1, bias=False, name=f"dncnn.{index}")
    return [b.sub(x, noise, name="sub")]


def ffdnet(b: GraphBuilder, x: Tensor, width: float = 1.0) -> list[Tensor]:
    """FFDNet for grayscale images (Zhang, Zuo & Zhang, "FFDNet: Toward a Fast and Flexible
    Solution for CNN based Image Denoising", IEEE TIP 2018), as KAIR's
    ``FFDNet(in_nc=1, out_nc=1, nc=64, nb=15, act_mode='BR')`` (cszn/KAIR), i.e. with the
    paper's BatchNorm in the middle layers.

    The image is pixel-unshuffled (``SpaceToDepth``, block 2: 1 -> 4 channels at H/2 x W/2) and
    concatenated with the noise-level map, a second graph input ``sigma`` of shape
    ``N x 1 x H/2 x W/2``. Then 15 convs 3x3 (all with bias): conv 5 -> 64 + ReLU, 13 x (conv
    64 -> 64 + BN(eps=1e-4) + ReLU), conv 64 -> 4, and ``DepthToSpace`` (block 2, CRD = PyTorch
    ``PixelShuffle``) back to ``N x 1 x H x W``. H and W must be even (KAIR pads odd sizes by
    replication before the network).

    Args:
        b: the graph builder.
        x: the noisy image ``N x 1 x H x W``.
        width: ignored.

    Returns:
        The denoised image ``N x 1 x H x W``.
    """
    n, c, h, w = x.shape
    sigma = b.input("sigma", (n, 1, h // 2, w // 2))
    y = b.op("SpaceToDepth", x, name="m_down", blocksize=2)
    y = b.concat([y, sigma], axis=1, name="concat")
    y = b.relu(b.conv(y, _FEATURES, 3, padding=1, name="model.0"), name="model.1")
    index = 2
    for _ in range(13):
        y = b.conv(y, _FEATURES, 3, padding=1, name=f"model.{index}")
        y = b.batch_norm(y, eps=1e-4, name=f"model.{index + 1}")
        y = b.relu(y, name=f"model.{index + 2}")
        index += 3
    y = b.conv(y, c * 4, 3, padding=1, name=f"model.{index}")
    return [b.op("DepthToSpace", y, name="m_up", blocksize=2, mode="CRD")]


def vdsr(b: GraphBuilder, x: Tensor, width: float = 1.0) -> list[Tensor]:
    """VDSR (Kim, Lee & Lee, "Accurate Image Super-Resolution Using Very Deep Convolutional
    Networks", CVPR 2016), as the widely used PyTorch port twtygqyy/pytorch-vdsr.

    20 conv layers 3x3 without bias: conv 1 -> 64 + ReLU, 18 x (conv 64 -> 64 + ReLU), conv
    64 -> 1; the output is the input (the bicubic-upscaled luminance) plus the predicted
    residual. Names follow the port (``residual_layer.K.conv``), with its ``input``/``output``
    convs called ``input_conv``/``output_conv`` (``input`` is the graph input's name).

    Args:
        b: the graph builder.
        x: the upscaled low-resolution luminance ``N x 1 x H x W``.
        width: ignored.

    Returns:
        The super-resolved luminance ``N x 1 x H x W``.
    """
    y = b.relu(b.conv(x, _FEATURES, 3, padding=1, bias=False, name="input_conv"), name="relu")
    for k in range(18):
        y = b.conv(y, _FEATURES, 3, padding=1, bias=False, name=f"residual_layer.{k}.conv")
        y = b.relu(y, name=f"residual_layer.{k}.relu")
    y = b.conv(y, x.shape[1], 3, padding=1, bias=False, name="output_conv")
    return [b.add(y, x, name="add")]
