"""ImageNet classifiers of the zoo, each mirroring a torchvision model's eval-mode forward pass.

Every builder has the signature ``(builder, input, width) -> outputs``; ``width`` is ignored by
networks without a width multiplier. Layers are named by their torchvision module path, so
weights carry the ``state_dict`` keys (``features.0.weight``, ``layer1.0.bn1.running_mean``...).
Functional ops without a module (``F.relu``, ``torch.cat``, ``torch.flatten``...) get a name
under the module that calls them. Dropout is omitted (an identity at inference) and auxiliary
classifiers are not built (they do not run in eval mode).
"""

from __future__ import annotations

from cnnmem.ir import GraphBuilder, Tensor
from cnnmem.zoo._common import conv_bn_act, join

NUM_CLASSES = 1000


# ----------------------------------------------------------------------------- VGG16
_VGG16_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                                     512, 512, 512, "M", 512, 512, 512, "M")


def vgg16(b: GraphBuilder, x: Tensor, width: float = 1.0) -> list[Tensor]:
    """VGG-16 without BatchNorm (configuration "D").

    Follows torchvision ``vgg16`` (Simonyan & Zisserman, "Very Deep Convolutional Networks for
    Large-Scale Image Recognition", 2015): 13 conv3x3+ReLU with 5 max pools, then
    ``AdaptiveAvgPool2d((7, 7))`` and the classifier 25088 -> 4096 -> 4096 -> 1000. The adaptive
    pool is an identity at 224x224 and is omitted there; at larger inputs whose final feature map
    is a multiple of 7 it is the exact ``AveragePool`` with kernel = stride = size / 7.

    Args:
        b: the graph builder.
        x: input ``N x 3 x H x W``.
        width: ignored.

    Returns:
        The logits ``N x 1000``.
    """
    index = 0
    for v in _VGG16_CFG:
        if v == "M":
            x = b.max_pool(x, 2, 2, name=f"features.{index}")
            index += 1
        else:
            x = b.conv(x, int(v), 3, padding=1, name=f"features.{index}")
            x = b.relu(x, name=f"features.{index + 1}")
            index += 2
    h, w = x.shape[2], x.shape[3]
    if (h, w) != (7, 7):
        if h % 7 or w % 7:
            raise ValueError(f"vgg16: final feature map {h}x{w} is not a multiple of 7x7")
        x = b.avg_pool(x, (h // 7, w // 7), name="avgpool")
    x = b.flatten(x, name="flatten")
    x = b.relu(b.linear(x, 4096, name="classifier.0"), name="classifier.1")
    x = b.relu(b.linear(x, 4096, name="classifier.3"), name="classifier.4")
    return [b.linear(x, NUM_CLASSES, name="classifier.6")]


# ----------------------------------------------------------------------------- ResNet
def _basic_block(b: GraphBuilder, x: Tensor, planes: int, stride: int, name: str) -> Tensor:
    out = b.conv(x, planes, 3, stride=stride, padding=1, bias=False, name=f"{name}.conv1")
    out = b.relu(b.batch_norm(out, name=f"{name}.bn1"), name=f"{name}.relu")
    out = b.conv(out, planes, 3, padding=1, bias=False, name=f"{name}.conv2")
    out = b.batch_norm(out, name=f"{name}.bn2")
    identity = _downsample(b, x, planes, stride, name)
    return b.relu(b.add(out, identity, name=f"{name}.add"), name=f"{name}.relu")


def _bottleneck(b: GraphBuilder, x: Tensor, planes: int, stride: int, name: str) -> Tensor:
    # ResNet v1.5: the stride sits on the 3x3 convolution.
    out = b.conv(x, planes, 1, bias=False, name=f"{name}.conv1")
    out = b.relu(b.batch_norm(out, name=f"{name}.bn1"), name=f"{name}.relu")
    out = b.conv(out, planes, 3, stride=stride, padding=1, bias=False, name=f"{name}.conv2")
    out = b.relu(b.batch_norm(out, name=f"{name}.bn2"), name=f"{name}.relu")
    out = b.conv(out, planes * 4, 1, bias=False, name=f"{name}.conv3")
    out = b.batch_norm(out, name=f"{name}.bn3")
    identity = _downsample(b, x, planes * 4, stride, name)
    return b.relu(b.add(out, identity, name=f"{name}.add"), name=f"{name}.relu")


def _downsample(b: GraphBuilder, x: Tensor, channels: int, stride: int, name: str) -> Tensor:
    if stride == 1 and x.shape[1] == channels:
        return x
    y = b.conv(x, channels, 1, stride=stride, bias=False, name=f"{name}.downsample.0")
    return b.batch_norm(y, name=f"{name}.downsample.1")


def resnet_features(b: GraphBuilder, x: Tensor, *, bottleneck: bool,
                    layers: tuple[int, int, int, int], prefix: str = "") -> list[Tensor]:
    """The torchvision ResNet trunk (stem and ``layer1``..``layer4``).

    Args:
        b: the graph builder.
        x: input ``N x 3 x H x W``.
        bottleneck: Bottleneck blocks (ResNet-50) instead of BasicBlocks (ResNet-18).
        layers: blocks per stage.
        prefix: module-path prefix (``"backbone"`` when used as an encoder).

    Returns:
        The outputs of ``layer1``..``layer4`` (strides 4, 8, 16, 32).
    """
    x = b.conv(x, 64, 7, stride=2, padding=3, bias=False, name=join(prefix, "conv1"))
    x = b.relu(b.batch_norm(x, name=join(prefix, "bn1")), name=join(prefix, "relu"))
    x = b.max_pool(x, 3, 2, 1, name=join(prefix, "maxpool"))
    block = _bottleneck if bottleneck else _basic_block
    taps = []
    for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
        for i in range(count):
            stride = 2 if (stage > 0 and i == 0) else 1
            x = block(b, x, planes, stride, join(prefix, f"layer{stage + 1}.{i}"))
        taps.append(x)
    return taps


def _resnet(b: GraphBuilder, x: Tensor, *, bottleneck: bool,
            layers: tuple[int, int, int, int]) -> list[Tensor]:
    x = resnet_features(b, x, bottleneck=bottleneck, layers=layers)[-1]
    x = b.flatten(b.global_avg_pool(x, name="avgpool"), name="flatten")
    return [b.linear(x, NUM_CLASSES, name="fc")]


def resnet18(b: GraphBuilder, x: Tensor, width: float = 1.0) -> list[Tensor]:
    """ResNet-18: torchvision ``resnet18`` (He et al., "Deep Residual Learning", CVPR 2016).

    BasicBlocks [2, 2, 2, 2]; convs without bias, each followed by BatchNormalization.

    Args:
        b: the graph builder.
        x: input ``N x 3 x H x W``.
        width: ignored.

    Returns:
        The logits ``N x 1000``.
    """
    return _resnet(b, x, bottleneck=False, layers=(2, 2, 2, 2))


def resnet50(b: GraphBuilder, x: Tensor, width: float = 1.0) -> list[Tensor]:
    """ResNet-50 v1.5: torchvision ``resnet50`` (He et al., CVPR 2016; stride on the 3x3 conv).

    Bottleneck blocks [3, 4, 6, 3] with expansion 4.

    Args:
        b: the graph builder.
        x: input ``N x 3 x H x W``.
        width: ignored.

    Returns:
        The logits ``N x 1000``.
    """
    return _resnet(b, x, bottleneck=True, layers=(3, 4, 6, 3))


# ----------------------------------------------------------------------------- MobileNetV2
def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``divisor``) without
    going more than 10 % below it: torchvision's ``_make_divisible`` rule."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


# (expansion t, output channels c, repeats n, first stride s), from the paper's Table 2.
_MBV2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                  (6, 160, 3, 2), (6, 320, 1, 1))


def mobilenet_v2(b: GraphBuilder, x: Tensor, width: float = 1.0) -> list[Tensor]:
    """MobileNetV2: torchvision ``mobilenet_v2`` (Sandler et al., CVPR 2018).

    Channel counts are ``make_divisible(c * width, 8)``; the last conv has
    ``make_divisible(1280 * max(1, width), 8)`` channels, as in torchvision. Activations are
    ReLU6 (``Clip(0, 6)``); the projection conv of each inverted residual is linear.

    Args:
        b: the graph builder.
        x: input ``N x 3 x H x W``.
        width: width multiplier (torchvision ``width_mult``).

    Returns:
        The logits ``N x 1000``.
    """
    channels = make_divisible(32 * width)
    last_channels = make_divisible(1280 * max(1.0, width))
    x = conv_bn_act(b, x, channels, 3, stride=2, padding=1, act="relu6", name="features.0",
                    conv_name="0", bn_name="1", act_name="2")
    index = 1
    for t, c, n, s in _MBV2_SETTINGS:
        out_channels = make_divisible(c * width)
        for i in range(n):
            x = _inverted_residual(b, x, out_channels, s if i == 0 else 1, t,
                                   f"features.{index}")
            index += 1
    x = conv_bn_act(b, x, last_channels, 1, act="relu6", name=f"features.{index}",
                    conv_name="0", bn_name="1", act_name="2")
    x = b.flatten(b.global_avg_pool(x, name="adaptive_avg_pool2d"), name="flatten")
    return [b.linear(x, NUM_CLASSES, name="classifier.1")]


def _inverted_residual(b: GraphBuilder, x: Tensor, out_channels: int, stride: int,
                       expand_ratio: int, name: str) -> Tensor:
    in_channels = x.shape[1]
    hidden = round(in_channels * expand_ratio)
    y = x
    part = 0
    if expand_ratio != 1:
        y = conv_bn_act(b, y, hidden, 1, act="relu6", name=f"{name}.conv.{part}",
                        conv_name="0", bn_name="1", act_name="2")
        part += 1
    y = conv_bn_act(b, y, hidden, 3, stride=stride, padding=1, groups=hidden, act="relu6",
                    name=f"{name}.conv.{part}", conv_name="0", bn_name="1", act_name="2")
    y = b.conv(y, out_channels, 1, bias=False, name=f"{name}.conv.{part + 1}")
    y = b.batch_norm(y, name=f"{name}.conv.{part + 2}")
    if stride == 1 and in_channels == out_channels:
        y = b.add(x, y, name=f"{name}.add")
    return y


# ----------------------------------------------------------------------------- SqueezeNet 1.1
def squeezenet1_1(b: GraphBuilder, x: Tensor, width: float = 1.0) -> list[Tensor]:
    """SqueezeNet 1.1: torchvision ``squeezenet1_1`` (Iandola et al. 2016; the v1.1 variant
    from the SqueezeNet repository: 3x3/64 first conv, pooling after fire 2, 4 and 6).

    Max pools use ``ceil_mode=True``; the classifier is conv1x1 (512 -> 1000) + ReLU + global
    average pooling.

    Args:
        b: the graph builder.
        x: input ``N x 3 x H x W``.
        width: ignored.

    Returns:
        The logits ``N x 1000``.
    """
    x = b.relu(b.conv(x, 64, 3, stride=2, name="features.0"), name="features.1")
    layout: tuple[tuple[int, int, int] | None, ...] = (
        None, (16, 64, 64), (16, 64, 64), None, (32, 128, 128), (32, 128, 128), None,
        (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256))
    for offset, fire in enumerate(layout):
        index = offset + 2
        if fire is None:
            x = b.max_pool(x, 3, 2, ceil_mode=True, name=f"features.{index}")
        else:
            x = _fire(b, x, *fire, name=f"features.{index}")
    x = b.relu(b.conv(x, NUM_CLASSES, 1, name="classifier.1"), name="classifier.2")
    x = b.global_avg_pool(x, name="classifier.3")
    return [b.flatten(x, name="flatten")]


def _fire(b: GraphBuilder, x: Tensor, squeeze: int, expand1x1: int, expand3x3: int, *,
          name: str) -> Tensor:
    s = b.relu(b.conv(x, squeeze, 1, name=f"{name}.squeeze"),
               name=f"{name}.squeeze_activation")
    e1 = b.relu(b.conv(s, expand1x1, 1, name=f"{name}.expand1x1"),
                name=f"{name}.expand1x1_activation")
    e3 = b.relu(b.conv(s, expand3x3, 3, padding=1, name=f"{name}.expand3x3"),
                name=f"{name}.expand3x3_activation")
    return b.concat([e1, e3], axis=1, name=f"{name}.cat")


# ----------------------------------------------------------------------------- GoogLeNet
def _basic_conv(b: GraphBuilder, x: Tensor, out_channels: int, kernel: int | tuple[int, int], *,
                name: str, stride: int = 1, padding: int | tuple[int, int] = 0) -> Tensor:
    """torchvision's ``BasicConv2d``: conv (no bias) + BN(eps=0.001) + ReLU."""
    return conv_bn_act(b, x, out_channels, kernel, stride=stride, padding=padding, eps=1e-3,
                       name=name)


def _googlenet_inception(b: GraphBuilder, x: Tensor, ch1x1: int, ch3x3red: int, ch3x3: int,
                         ch5x5red: int, ch5x5: int, pool_proj: int, *, name: str) -> Tensor:
    b1 = _basic_conv(b, x, ch1x1, 1, name=f"{name}.branch1")
    b2 = _basic_conv(b, x, ch3x3red, 1, name=f"{name}.branch2.0")
    b2 = _basic_conv(b, b2, ch3x3, 3, padding=1, name=f"{name}.branch2.1")
    b3 = _basic_conv(b, x, ch5x5red, 1, name=f"{name}.branch3.0")
    # torchvision uses a 3x3 kernel here, not the paper's 5x5 (pytorch/vision#906).
    b3 = _basic_conv(b, b3, ch5x5, 3, padding=1, name=f"{name}.branch3.1")
    b4 = b.max_pool(x, 3, 1, 1, ceil_mode=True, name=f"{name}.branch4.0")
    b4 = _basic_conv(b, b4, pool_proj, 1, name=f"{name}.branch4.1")
    return b.concat([b1, b2, b3, b4], axis=1, name=f"{name}.cat")


def googlenet(b: GraphBuilder, x: Tensor, width: float = 1.0) -> list[Tensor]:
    """GoogLeNet (Inception v1): torchvision ``googlenet`` (Szegedy et al., "Going Deeper with
    Convolutions", CVPR 2015), eval mode: no auxiliary heads, ``transform_input`` not modelled.

    torchvision's variant: BatchNorm after every conv (``BasicConv2d``), a 3x3 conv in the
    "5x5" branch, max pools with ``ceil_mode=True``.

    Args:
        b: the graph builder.
        x: input ``N x 3 x H x W``.
        width: ignored.

    Returns:
        The logits ``N x 1000``.
    """
    x = _basic_conv(b, x, 64, 7, stride=2, padding=3, name="conv1")
    x = b.max_pool(x, 3, 2, ceil_mode=True, name="maxpool1")
    x = _basic_conv(b, x, 64, 1, name="conv2")
    x = _basic_conv(b, x, 192, 3, padding=1, name="conv3")
    x = b.max_pool(x, 3, 2, ceil_mode=True, name="maxpool2")
    x = _googlenet_inception(b, x, 64, 96, 128, 16, 32, 32, name="inception3a")
    x = _googlenet_inception(b, x, 128, 128, 192, 32, 96, 64, name="inception3b")
    x = b.max_pool(x, 3, 2, ceil_mode=True, name="maxpool3")
    x = _googlenet_inception(b, x, 192, 96, 208, 16, 48, 64, name="inception4a")
    x = _googlenet_inception(b, x, 160, 112, 224, 24, 64, 64, name="inception4b")
    x = _googlenet_inception(b, x, 128, 128, 256, 24, 64, 64, name="inception4c")
    x = _googlenet_inception(b, x, 112, 144, 288, 32, 64, 64, name="inception4d")
    x = _googlenet_inception(b, x, 256, 160, 320, 32, 128, 128, name="inception4e")
    x = b.max_pool(x, 2, 2, ceil_mode=True, name="maxpool4")
    x = _googlenet_inception(b, x, 256, 160, 320, 32, 128, 128, name="inception5a")
    x = _googlenet_inception(b, x, 384, 192, 384, 48, 128, 128, name="inception5b")
    x = b.flatten(b.global_avg_pool(x, name="avgpool"), name="flatten")
    return [b.linear(x, NUM_CLASSES, name="fc")]


# ----------------------------------------------------------------------------- Inception v3
def _inception_pool(b: GraphBuilder, x: Tensor, name: str) -> Tensor:
    # F.avg_pool2d(kernel 3, stride 1, padding 1) with PyTorch's default count_include_pad.
    return b.avg_pool(x, 3, 1, 1, count_include_pad=True, name=name)


def _inception_a(b: GraphBuilder, x: Tensor, pool_features: int, name: str) -> Tensor:
    b1 = _basic_conv(b, x, 64, 1, name=f"{name}.branch1x1")
    b5 = _basic_conv(b, x, 48, 1, name=f"{name}.branch5x5_1")
    b5 = _basic_conv(b, b5, 64, 5, padding=2, name=f"{name}.branch5x5_2")
    b3 = _basic_conv(b, x, 64, 1, name=f"{name}.branch3x3dbl_1")
    b3 = _basic_conv(b, b3, 96, 3, padding=1, name=f"{name}.branch3x3dbl_2")
    b3 = _basic_conv(b, b3, 96, 3, padding=1, name=f"{name}.branch3x3dbl_3")
    bp = _inception_pool(b, x, f"{name}.avg_pool")
    bp = _basic_conv(b, bp, pool_features, 1, name=f"{name}.branch_pool")
    return b.concat([b1, b5, b3, bp], axis=1, name=f"{name}.cat")


def _inception_b(b: GraphBuilder, x: Tensor, name: str) -> Tensor:
    b3 = _basic_conv(b, x, 384, 3, stride=2, name=f"{name}.branch3x3")
    bd = _basic_conv(b, x, 64, 1, name=f"{name}.branch3x3dbl_1")
    bd = _basic_conv(b, bd, 96, 3, padding=1, name=f"{name}.branch3x3dbl_2")
    bd = _basic_conv(b, bd, 96, 3, stride=2, name=f"{name}.branch3x3dbl_3")
    bp = b.max_pool(x, 3, 2, name=f"{name}.max_pool")
    return b.concat([b3, bd, bp], axis=1, name=f"{name}.cat")


def _inception_c(b: GraphBuilder, x: Tensor, c7: int, name: str) -> Tensor:
    b1 = _basic_conv(b, x, 192, 1, name=f"{name}.branch1x1")
    b7 = _basic_conv(b, x, c7, 1, name=f"{name}.branch7x7_1")
    b7 = _basic_conv(b, b7, c7, (1, 7), padding=(0, 3), name=f"{name}.branch7x7_2")
    b7 = _basic_conv(b, b7, 192, (7, 1), padding=(3, 0), name=f"{name}.branch7x7_3")
    bd = _basic_conv(b, x, c7, 1, name=f"{name}.branch7x7dbl_1")
    bd = _basic_conv(b, bd, c7, (7, 1), padding=(3, 0), name=f"{name}.branch7x7dbl_2")
    bd = _basic_conv(b, bd, c7, (1, 7), padding=(0, 3), name=f"{name}.branch7x7dbl_3")
    bd = _basic_conv(b, bd, c7, (7, 1), padding=(3, 0), name=f"{name}.branch7x7dbl_4")
    bd = _basic_conv(b, bd, 192, (1, 7), padding=(0, 3), name=f"{name}.branch7x7dbl_5")
    bp = _inception_pool(b, x, f"{name}.avg_pool")
    bp = _basic_conv(b, bp, 192, 1, name=f"{name}.branch_pool")
    return b.concat([b1, b7, bd, bp], axis=1, name=f"{name}.cat")


def _inception_d(b: GraphBuilder, x: Tensor, name: str) -> Tensor:
    b3 = _basic_conv(b, x, 192, 1, name=f"{name}.branch3x3_1")
    b3 = _basic_conv(b, b3, 320, 3, stride=2, name=f"{name}.branch3x3_2")
    b7 = _basic_conv(b, x, 192, 1, name=f"{name}.branch7x7x3_1")
    b7 = _basic_conv(b, b7, 192, (1, 7), padding=(0, 3), name=f"{name}.branch7x7x3_2")
    b7 = _basic_conv(b, b7, 192, (7, 1), padding=(3, 0), name=f"{name}.branch7x7x3_3")
    b7 = _basic_conv(b, b7, 192, 3, stride=2, name=f"{name}.branch7x7x3_4")
    bp = b.max_pool(x, 3, 2, name=f"{name}.max_pool")
    return b.concat([b3, b7, bp], axis=1, name=f"{name}.cat")


def _inception_e(b: GraphBuilder, x: Tensor, name: str) -> Tensor:
    b1 = _basic_conv(b, x, 320, 1, name=f"{name}.branch1x1")
    b3 = _basic_conv(b, x, 384, 1, name=f"{name}.branch3x3_1")
    b3 = b.concat([_basic_conv(b, b3, 384, (1, 3), padding=(0, 1), name=f"{name}.branch3x3_2a"),
                   _basic_conv(b, b3, 384, (3, 1), padding=(1, 0), name=f"{name}.branch3x3_2b")],
                  axis=1, name=f"{name}.branch3x3_cat")
    bd = _basic_conv(b, x, 448, 1, name=f"{name}.branch3x3dbl_1")
    bd = _basic_conv(b, bd, 384, 3, padding=1, name=f"{name}.branch3x3dbl_2")
    bd = b.concat([_basic_conv(b, bd, 384, (1, 3), padding=(0, 1),
                               name=f"{name}.branch3x3dbl_3a"),
                   _basic_conv(b, bd, 384, (3, 1), padding=(1, 0),
                               name=f"{name}.branch3x3dbl_3b")],
                  axis=1, name=f"{name}.branch3x3dbl_cat")
    bp = _inception_pool(b, x, f"{name}.avg_pool")
    bp = _basic_conv(b, bp, 192, 1, name=f"{name}.branch_pool")
    return b.concat([b1, b3, bd, bp], axis=1, name=f"{name}.cat")


def inception_v3(b: GraphBuilder, x: Tensor, width: float = 1.0) -> list[Tensor]:
    """Inception v3: torchvision ``inception_v3`` (``Inception3``; Szegedy et al., "Rethinking
    the Inception Architecture for Computer Vision", CVPR 2016), eval mode: no ``AuxLogits``,
    ``transform_input`` not modelled.

    ``BasicConv2d`` = conv (no bias) + BN(eps=0.001) + ReLU; the in-block average pools count
    padding (PyTorch's default ``count_include_pad=True``).

    Args:
        b: the graph builder.
        x: input ``N x 3 x H x W`` (299x299 by default).
        width: ignored.

    Returns:
        The logits ``N x 1000``.
    """
    x = _basic_conv(b, x, 32, 3, stride=2, name="Conv2d_1a_3x3")
    x = _basic_conv(b, x, 32, 3, name="Conv2d_2a_3x3")
    x = _basic_conv(b, x, 64, 3, padding=1, name="Conv2d_2b_3x3")
    x = b.max_pool(x, 3, 2, name="maxpool1")
    x = _basic_conv(b, x, 80, 1, name="Conv2d_3b_1x1")
    x = _basic_conv(b, x, 192, 3, name="Conv2d_4a_3x3")
    x = b.max_pool(x, 3, 2, name="maxpool2")
    x = _inception_a(b, x, 32, "Mixed_5b")
    x = _inception_a(b, x, 64, "Mixed_5c")
    x = _inception_a(b, x, 64, "Mixed_5d")
    x = _inception_b(b, x, "Mixed_6a")
    x = _inception_c(b, x, 128, "Mixed_6b")
    x = _inception_c(b, x, 160, "Mixed_6c")
    x = _inception_c(b, x, 160, "Mixed_6d")
    x = _inception_c(b, x, 192, "Mixed_6e")
    x = _inception_d(b, x, "Mixed_7a")
    x = _inception_e(b, x, "Mixed_7b")
    x = _inception_e(b, x, "Mixed_7c")
    x = b.flatten(b.global_avg_pool(x, name="avgpool"), name="flatten")
    return [b.linear(x, NUM_CLASSES, name="fc")]
