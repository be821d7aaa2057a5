"""Object/face detectors of the zoo: Tiny YOLOv2 (VOC) and BlazeFace.

Only the network runs in the graph; anchor decoding and non-maximum suppression are
post-processing outside it, as in the reference implementations.
"""

from __future__ import annotations

from cnnmem.ir import GraphBuilder, Tensor
from cnnmem.zoo._common import explicit_max_pool

# ----------------------------------------------------------------------------- Tiny YOLOv2
_TINY_YOLO_VOC_ANCHORS = 5
_VOC_CLASSES = 20


def tiny_yolov2(b: GraphBuilder, x: Tensor, width: float = 1.0) -> list[Tensor]:
    """Tiny YOLOv2 for PASCAL VOC: Darknet ``tiny-yolo-voc.cfg`` (Redmon & Farhadi, "YOLO9000:
    Better, Faster, Stronger", CVPR 2017).

    Nine convs: 3x3 with 16, 32, 64, 128, 256, 512 filters, each conv (no bias) + BN +
    LeakyReLU(0.1) + 2x2 max pool; pools 1-5 have stride 2, pool 6 has stride 1 and Darknet's
    padding of one row/column at the bottom/right (ONNX pads ``(0, 0, 1, 1)``) so the grid stays
    13x13 at 416x416. Then conv3x3 1024 and conv3x3 1024 (the VOC variant; COCO tiny-yolo has
    512), each with BN + LeakyReLU, and the detection conv1x1 with bias to
    5 anchors x (20 classes + 5) = 125 channels. The ``[region]`` layer is post-processing.

    Layers are named ``convK`` / ``bnK`` / ``leakyK`` / ``poolK`` (K = 1..9), the order of the
    cfg file.

    Args:
        b: the graph builder.
        x: input ``N x 3 x H x W`` (416x416 by default; H and W multiples of 32).
        width: ignored.

    Returns:
        The raw detection map ``N x 125 x H/32 x W/32``.
    """
    for k, filters in enumerate((16, 32, 64, 128, 256, 512), start=1):
        x = b.conv(x, filters, 3, padding=1, bias=False, name=f"conv{k}")
        x = b.leaky_relu(b.batch_norm(x, name=f"bn{k}"), 0.1, name=f"leaky{k}")
        if k < 6:
            x = b.max_pool(x, 2, 2, name=f"pool{k}")
        else:
            x = explicit_max_pool(b, x, 2, 1, (0, 0, 1, 1), name=f"pool{k}")
    for k in (7, 8):
        x = b.conv(x, 1024, 3, padding=1, bias=False, name=f"conv{k}")
        x = b.leaky_relu(b.batch_norm(x, name=f"bn{k}"), 0.1, name=f"leaky{k}")
    return [b.conv(x, _TINY_YOLO_VOC_ANCHORS * (_VOC_CLASSES + 5), 1, name="conv9")]


# ----------------------------------------------------------------------------- BlazeFace
# (stride, output channels) of the single BlazeBlocks and (stride, projection channels, output
# channels) of the double BlazeBlocks, from Table 4 of the BlazeFace paper.
_BLAZE_SINGLE = ((1, 24), (1, 24), (2, 48), (1, 48), (1, 48))
_BLAZE_DOUBLE = ((2, 24, 96), (1, 24, 96), (1, 24, 96), (2, 24, 96), (1, 24, 96), (1, 24, 96))
_BLAZE_KERNEL = 5
_BLAZE_COORDS = 16  # box (4) + 6 keypoints (12) per anchor
_BLAZE_ANCHORS_16 = 2  # anchors per cell of the 16x16 grid
_BLAZE_ANCHORS_8 = 6  # anchors per cell of the 8x8 grid


def _same_pads(stride: int, kernel: int = _BLAZE_KERNEL) -> tuple[int, int, int, int]:
    """TensorFlow 'SAME' pads (top, left, bottom, right) for an even input size."""
    total = kernel - stride
    begin = total // 2
    return (begin, begin, total - begin, total - begin)


def _blaze_block(b: GraphBuilder, x: Tensor, stride: int, channels: tuple[int, ...],
                 name: str) -> Tensor:
    """A single (one ``channels`` entry) or double (two entries) BlazeBlock.

    Main path: [depthwise 5x5 -> pointwise 1x1] (single) or [dw 5x5 -> pw 1x1 project -> ReLU ->
    dw 5x5 -> pw 1x1 expand] (double). Skip path: 2x2 max pool when the block has stride 2, then
    zero channel padding (an ONNX ``Pad`` on the channel axis, as MediaPipe's model does) when the
    block widens. Output: ReLU(main + skip).
    """
    h = x
    for i, out_channels in enumerate(channels, start=1):
        if i > 1:
            h = b.relu(h, name=f"{name}.relu{i - 1}")
        s = stride if i == 1 else 1
        h = b.conv(h, h.shape[1], _BLAZE_KERNEL, stride=s, padding=_same_pads(s),
                   groups=h.shape[1], name=f"{name}.dw{i}")
        h = b.conv(h, out_channels, 1, name=f"{name}.pw{i}")
    skip = x
    if stride == 2:
        skip = b.max_pool(skip, 2, 2, name=f"{name}.pool")
    extra = channels[-1] - x.shape[1]
    if extra > 0:
        pads = b.int_constant(f"{name}.pad.pads", [0, 0, 0, 0, 0, extra, 0, 0])
        skip = b.op("Pad", skip, pads, name=f"{name}.pad", mode="constant")
    return b.relu(b.add(h, skip, name=f"{name}.add"), name=f"{name}.relu")


def _blaze_head(b: GraphBuilder, x: Tensor, channels: int, per_anchor: int, name: str) -> Tensor:
    """1x1 conv head, then NCHW -> N x (H*W*anchors) x per_anchor as in MediaPipe."""
    y = b.conv(x, channels, 1, name=name)
    y = b.op("Transpose", y, name=f"{name}.transpose", perm=(0, 2, 3, 1))
    return b.reshape(y, (y.shape[0], -1, per_anchor), name=f"{name}.reshape")


def blazeface(b: GraphBuilder, x: Tensor, width: float = 1.0) -> list[Tensor]:
    """BlazeFace front-camera face detector (Bazarevsky et al., "BlazeFace: Sub-millisecond
    Neural Face Detection on Mobile GPUs", CVPR-W 2019), feature extractor of the paper's
    Table 4 with the released MediaPipe model's conventions.

    Conv 5x5/2 (3 -> 24) + ReLU, 5 single BlazeBlocks (24, 24, 48/2, 48, 48) and 6 double
    BlazeBlocks (project to 24, expand to 96; stride 2 at the first and the fourth). Depthwise
    convs are 5x5 with TensorFlow 'SAME' padding; convs carry a bias and there is no BatchNorm
    (as in the released model). The skip path of a stride-2 block is a 2x2 max pool and extra
    channels are zero-padded with an ONNX ``Pad`` (no 1x1 conv, no parameters).

    Heads (SSD-style, 1x1 convs): on the 16x16 grid (after the third double block) 2 anchors per
    cell, on the 8x8 grid (after the last block) 6 anchors per cell; each anchor has 1 score and
    16 regression values (box + 6 keypoints). The head outputs are transposed to NHWC, flattened
    per anchor and concatenated: ``classificators`` ``N x 896 x 1`` and ``regressors``
    ``N x 896 x 16`` at 128x128, MediaPipe's output layout.

    Args:
        b: the graph builder.
        x: input ``N x 3 x H x W`` (128x128 by default; H and W multiples of 16).
        width: ignored.

    Returns:
        ``[classificators, regressors]``.
    """
    x = b.conv(x, 24, 5, stride=2, padding=_same_pads(2), name="conv0")
    x = b.relu(x, name="relu0")
    index = 0
    for stride, out_channels in _BLAZE_SINGLE:
        x = _blaze_block(b, x, stride, (out_channels,), f"blocks.{index}")
        index += 1
    taps = []
    for stride, project, expand in _BLAZE_DOUBLE:
        if stride == 2 and index > len(_BLAZE_SINGLE):
            taps.append(x)  # the 16x16 feature map, before the block that halves it
        x = _blaze_block(b, x, stride, (project, expand), f"blocks.{index}")
        index += 1
    taps.append(x)
    f16, f8 = taps
    scores = [_blaze_head(b, f16, _BLAZE_ANCHORS_16, 1, "classifier_16"),
              _blaze_head(b, f8, _BLAZE_ANCHORS_8, 1, "classifier_8")]
    boxes = [_blaze_head(b, f16, _BLAZE_ANCHORS_16 * _BLAZE_COORDS, _BLAZE_COORDS,
                         "regressor_16"),
             _blaze_head(b, f8, _BLAZE_ANCHORS_8 * _BLAZE_COORDS, _BLAZE_COORDS, "regressor_8")]
    return [b.concat(scores, axis=1, name="classificators"),
            b.concat(boxes, axis=1, name="regressors")]
