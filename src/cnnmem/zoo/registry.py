"""The zoo's registry: what networks exist, their valid inputs, and building them.

Each network is a function ``(builder, input, width) -> outputs`` in one of the domain modules;
this module checks the user's options (name, resolution, width, batch) and turns them into
:class:`~cnnmem.errors.ConfigError` with one-line messages before anything is built.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from cnnmem.errors import ConfigError, ShapeError
from cnnmem.ir import Graph, GraphBuilder, Tensor
from cnnmem.zoo import classification, detection, pixel, segmentation

NetFn = Callable[[GraphBuilder, Tensor, float], list[Tensor]]

CLASSIFICATION = "classification"
DETECTION = "detection"
DENOISING = "denoising"
SUPER_RESOLUTION = "super-resolution"
SEGMENTATION = "segmentation"

MAX_WIDTH = 4.0
"""Largest accepted width multiplier (torchvision publishes 0.35 .. 1.4)."""


@dataclass(frozen=True, slots=True)
class ZooEntry:
    """Facts about one built-in network.

    Attributes:
        name: lower-case name used on the command line (``"resnet18"``).
        domain: ``classification``, ``detection``, ``denoising``, ``super-resolution`` or
            ``segmentation``.
        description: one line, including the reference implementation.
        default_resolution: ``(H, W)`` used when none is given.
        input_channels: channels of the image input.
        supports_width: a width multiplier (``width=``) is available.
        min_resolution: smallest H and W that give valid shapes (and are multiples of
            ``resolution_multiple``).
        resolution_multiple: H and W must be multiples of this (1: any size); it keeps skip
            connections and fixed pooling windows aligned.
    """

    name: str
    domain: str
    description: str
    default_resolution: tuple[int, int]
    input_channels: int
    supports_width: bool
    min_resolution: int
    resolution_multiple: int = 1

    def resolution_rule(self) -> str:
        """The valid-resolution rule as text, e.g. ``"H, W >= 32 and multiples of 32"``."""
        rule = f"H, W >= {self.min_resolution}"
        if self.resolution_multiple > 1:
            rule += f" and multiples of {self.resolution_multiple}"
        return rule


def _entries() -> dict[str, tuple[ZooEntry, NetFn]]:
    c, d, p, s = classification, detection, pixel, segmentation
    table: list[tuple[ZooEntry, NetFn]] = [
        (ZooEntry("vgg16", CLASSIFICATION, "VGG-16 ImageNet classifier (torchvision vgg16)",
                  (224, 224), 3, False, 224, 224), c.vgg16),
        (ZooEntry("resnet18", CLASSIFICATION,
                  "ResNet-18 ImageNet classifier (torchvision resnet18)",
                  (224, 224), 3, False, 1), c.resnet18),
        (ZooEntry("resnet50", CLASSIFICATION,
                  "ResNet-50 v1.5 ImageNet classifier (torchvision resnet50)",
                  (224, 224), 3, False, 1), c.resnet50),
        (ZooEntry("mobilenet_v2", CLASSIFICATION,
                  "MobileNetV2 ImageNet classifier with width multiplier "
                  "(torchvision mobilenet_v2)", (224, 224), 3, True, 1), c.mobilenet_v2),
        (ZooEntry("squeezenet1_1", CLASSIFICATION,
                  "SqueezeNet 1.1 ImageNet classifier (torchvision squeezenet1_1)",
                  (224, 224), 3, False, 17), c.squeezenet1_1),
        (ZooEntry("googlenet", CLASSIFICATION,
                  "GoogLeNet (Inception v1) without aux heads (torchvision googlenet, eval)",
                  (224, 224), 3, False, 15), c.googlenet),
        (ZooEntry("inception_v3", CLASSIFICATION,
                  "Inception v3 without AuxLogits (torchvision inception_v3, eval)",
                  (299, 299), 3, False, 75), c.inception_v3),
        (ZooEntry("tiny_yolov2", DETECTION,
                  "Tiny YOLOv2 PASCAL VOC detector, 125-channel grid "
                  "(Darknet tiny-yolo-voc.cfg)", (416, 416), 3, False, 32, 32), d.tiny_yolov2),
        (ZooEntry("blazeface", DETECTION,
                  "BlazeFace face detector, 896 anchors (BlazeFace paper, MediaPipe layout)",
                  (128, 128), 3, False, 16, 16), d.blazeface),
        (ZooEntry("dncnn", DENOISING,
                  "DnCNN-S 17-layer grayscale denoiser (cszn/DnCNN PyTorch code)",
                  (256, 256), 1, False, 1), p.dncnn),
        (ZooEntry("ffdnet", DENOISING,
                  "FFDNet grayscale denoiser with noise-map input (KAIR FFDNet, BN variant)",
                  (256, 256), 1, False, 2, 2), p.ffdnet),
        (ZooEntry("vdsr", SUPER_RESOLUTION,
                  "VDSR 20-layer super-resolution of upscaled luminance "
                  "(twtygqyy/pytorch-vdsr)", (256, 256), 1, False, 1), p.vdsr),
        (ZooEntry("fcn", SEGMENTATION,
                  "FCN-8s segmentation on a ResNet-18 encoder, 21 VOC classes "
                  "(Long et al. 2015)", (512, 512), 3, False, 32, 32), s.fcn),
    ]
    return {entry.name: (entry, fn) for entry, fn in table}


_REGISTRY = _entries()


def list_networks() -> tuple[ZooEntry, ...]:
    """All built-in networks, sorted by name."""
    return tuple(entry for _, (entry, _fn) in sorted(_REGISTRY.items()))


def _lookup(name: str) -> tuple[ZooEntry, NetFn]:
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else ""
    if key not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"unknown network {name!r}: choose one of {known} (see `cnnmem zoo`)")
    return _REGISTRY[key]


def get_entry(name: str) -> ZooEntry:
    """The entry of network ``name`` (case-insensitive; ``-`` may stand for ``_``).

    Raises:
        ConfigError: unknown name (the message lists the known ones).
    """
    return _lookup(name)[0]


def _check_resolution(entry: ZooEntry, resolution: object) -> tuple[int, int]:
    if resolution is None:
        return entry.default_resolution
    dims: list[int] = []
    if isinstance(resolution, (tuple, list)) and len(resolution) == 2:
        dims = [d for d in resolution if isinstance(d, int) and not isinstance(d, bool)]
    shown = ("x".join(str(d) for d in resolution)
             if isinstance(resolution, (tuple, list)) else repr(resolution))
    m = entry.resolution_multiple
    if len(dims) != 2 or any(d < entry.min_resolution or d % m for d in dims):
        dh, dw = entry.default_resolution
        raise ConfigError(f"network {entry.name!r}: resolution {shown} is not valid; it needs "
                          f"{entry.resolution_rule()} (default {dh}x{dw})")
    return dims[0], dims[1]


def _check_width(entry: ZooEntry, width: object) -> float:
    if width is None:
        return 1.0
    if not entry.supports_width:
        raise ConfigError(f"network {entry.name!r} has no width multiplier; networks with one: "
                          + ", ".join(e.name for e in list_networks() if e.supports_width))
    value = (float(width) if isinstance(width, (int, float)) and not isinstance(width, bool)
             else math.nan)
    if not (math.isfinite(value) and 0 < value <= MAX_WIDTH):
        raise ConfigError(f"network {entry.name!r}: width {width!r} is not valid; it needs "
                          f"0 < width <= {MAX_WIDTH:g} (e.g. 0.35, 0.5, 0.75, 1.0, 1.4)")
    return value


def build_network(name: str, *, resolution: tuple[int, int] | None = None,
                  width: float | None = None, weights: bool = False, seed: int = 0,
                  batch: int = 1) -> Graph:
    """Build built-in network ``name`` as an unfused inference graph.

    The graph input is ``input`` of shape ``(batch, C, H, W)``, float32 (FFDNet also has
    ``sigma``, its noise-level map). ``graph.metadata`` records ``source_format = "zoo"``,
    ``network``, ``domain`` and ``source_layout = "NCHW"``.

    Args:
        name: network name (see :func:`list_networks`).
        resolution: input ``(H, W)``; ``None`` for the network's default.
        width: width multiplier, only for networks with ``supports_width``; ``None`` for 1.0.
        weights: give every weight seeded random data (for running or exporting the graph);
            otherwise constants carry shapes only.
        seed: random seed of the weights.
        batch: batch size.

    Returns:
        The verified graph.

    Raises:
        ConfigError: unknown name, or an invalid resolution, width or batch; the message names
            the network and the valid range.
    """
    entry, fn = _lookup(name)
    h, w = _check_resolution(entry, resolution)
    width_value = _check_width(entry, width)
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ConfigError(f"network {entry.name!r}: batch {batch!r} is not valid; it needs an "
                          "integer >= 1")
    b = GraphBuilder(entry.name, weights=weights, seed=seed)
    x = b.input("input", (batch, entry.input_channels, h, w))
    try:
        outputs = fn(b, x, width_value)
    except (ShapeError, ValueError) as e:  # a resolution rule above is missing a case
        raise ConfigError(f"network {entry.name!r}: resolution {h}x{w} gives invalid shapes "
                          f"({e}); it needs {entry.resolution_rule()}") from e
    b.output(*outputs)
    graph = b.build()
    graph.metadata.update({"source_format": "zoo", "network": entry.name,
                           "domain": entry.domain, "source_layout": "NCHW"})
    if entry.supports_width:
        graph.metadata["width"] = f"{width_value:g}"
    return graph
