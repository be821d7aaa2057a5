"""The built-in domain suite: the networks and input sizes of the memory-requirements study.

Classification at 224x224 (VGG16, ResNet50, MobileNetV2), detection (Tiny-YOLOv2 at 416x416,
the BlazeFace face detector at its 128x128), denoising at 1920x1080 (DnCNN, FFDNet),
super-resolution at 1920x1080 (VDSR) and segmentation at 512x512 (FCN). Resolutions are
``(H, W)``; the domain comes from the zoo entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnmem.zoo import get_entry


@dataclass(frozen=True, slots=True)
class SuiteNetwork:
    """One network of the suite.

    Attributes:
        name: zoo name.
        resolution: input ``(H, W)``.
    """

    name: str
    resolution: tuple[int, int]

    @property
    def domain(self) -> str:
        """The zoo entry's domain (``classification``, ``denoising``...)."""
        return get_entry(self.name).domain


HD = (1080, 1920)

SUITE = (
    SuiteNetwork("vgg16", (224, 224)),
    SuiteNetwork("resnet50", (224, 224)),
    SuiteNetwork("mobilenet_v2", (224, 224)),
    SuiteNetwork("tiny_yolov2", (416, 416)),
    SuiteNetwork("blazeface", (128, 128)),
    SuiteNetwork("dncnn", HD),
    SuiteNetwork("ffdnet", HD),
    SuiteNetwork("vdsr", HD),
    SuiteNetwork("fcn", (512, 512)),
)
"""The domain suite, in table order."""
