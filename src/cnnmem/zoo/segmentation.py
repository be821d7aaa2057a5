"""Semantic segmentation network of the zoo: an FCN-8s head on a ResNet-18 encoder."""

from __future__ import annotations

from cnnmem.ir import GraphBuilder, Tensor
from cnnmem.zoo.classification import resnet_features

_VOC_CLASSES = 21  # 20 PASCAL VOC classes + background


def fcn(b: GraphBuilder, x: Tensor, width: float = 1.0) -> list[Tensor]:
    """FCN-8s (Long, Shelhamer & Darrell, "Fully Convolutional Networks for Semantic
    Segmentation", CVPR 2015) with a torchvision ResNet-18 encoder instead of VGG-16.

    Encoder: torchvision ``resnet18`` up to ``layer4`` (no pooling/fc), named ``backbone.*``.
    Head, with the Caffe FCN-8s layer names: 1x1 score convs (with bias) on the stride-32
    (``score_fr``, on ``layer4``), stride-16 (``score_pool4``, on ``layer3``) and stride-8
    (``score_pool3``, on ``layer2``) features, 21 PASCAL VOC classes; learned, bias-free
    ``ConvTranspose`` upsampling: ``upscore2`` (4x4/2) to stride 16 + ``score_pool4``,
    ``upscore_pool4`` (4x4/2) to stride 8 + ``score_pool3``, ``upscore8`` (16x16/8) to the input
    resolution. The transposed convs are padded (1, 1 and 4) so that the maps align exactly
    when H and W are multiples of 32, which replaces FCN's Crop layers.

    Args:
        b: the graph builder.
        x: input ``N x 3 x H x W`` (512x512 by default; H and W multiples of 32).
        width: ignored.

    Returns:
        Per-pixel class scores ``N x 21 x H x W``.
    """
    _, stride8, stride16, stride32 = resnet_features(b, x, bottleneck=False, layers=(2, 2, 2, 2),
                                                     prefix="backbone")
    score = b.conv(stride32, _VOC_CLASSES, 1, name="score_fr")
    score = b.conv_transpose(score, _VOC_CLASSES, 4, stride=2, padding=1, bias=False,
                             name="upscore2")
    score = b.add(score, b.conv(stride16, _VOC_CLASSES, 1, name="score_pool4"),
                  name="fuse_pool4")
    score = b.conv_transpose(score, _VOC_CLASSES, 4, stride=2, padding=1, bias=False,
                             name="upscore_pool4")
    score = b.add(score, b.conv(stride8, _VOC_CLASSES, 1, name="score_pool3"),
                  name="fuse_pool3")
    return [b.conv_transpose(score, _VOC_CLASSES, 16, stride=8, padding=4, bias=False,
                             name="upscore8")]
