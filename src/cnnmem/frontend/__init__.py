"""Frontends: the only code that reads model files (ONNX, TFLite) or builds zoo networks.

``load_model(spec)`` accepts a path to an ``.onnx`` / ``.tflite`` file or the name of a built-in
network (``cnnmem zoo``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from cnnmem.errors import ConfigError, ModelImportError
from cnnmem.ir.graph import Graph

_FILE_SUFFIXES = (".onnx", ".tflite")


def _looks_like_path(spec: str) -> bool:
    return (spec.lower().endswith(_FILE_SUFFIXES) or "/" in spec or "\\" in spec
            or Path(spec).exists())


def load_model(spec: str, *, input_shapes: Mapping[str, Sequence[int]] | None = None,
               resolution: tuple[int, int] | None = None, width: float | None = None,
               weights: bool = False, seed: int = 0) -> Graph:
    """Load a model file or build a zoo network.

    Args:
        spec: a path to an ``.onnx`` or ``.tflite`` file, or a zoo network name.
        input_shapes: ``--input-shape`` pins (ONNX only).
        resolution: input ``(H, W)`` for zoo networks.
        width: width multiplier for zoo networks that have one.
        weights: zoo networks only: give constants seeded random data.
        seed: seed for those weights.

    Raises:
        ModelImportError: the file cannot be read (missing, corrupt, unknown format...).
        ConfigError: an option does not apply to this kind of model, or ``spec`` is neither a
            file nor a zoo network.
    """
    if _looks_like_path(spec):
        path = Path(spec)
        if resolution is not None or width is not None:
            raise ConfigError("--resolution/--width apply to built-in networks; for a model "
                              "file use --input-shape NAME=1x3xHxW")
        suffix = path.suffix.lower()
        if suffix == ".tflite" or (suffix != ".onnx" and _is_tflite(path)):
            if input_shapes:
                raise ConfigError("--input-shape is not supported for TFLite models (their "
                                  "shapes are fixed in the file)")
            from cnnmem.frontend.tflite_import import load_tflite

            return load_tflite(path)
        if suffix == ".onnx" or path.exists():
            from cnnmem.frontend.onnx_import import load_onnx

            return load_onnx(path, input_shapes)
        raise ModelImportError(f"{path}: no such file; give an .onnx / .tflite path or a "
                               "built-in network name (cnnmem zoo lists them)")
    from cnnmem.zoo import build_network

    if input_shapes:
        raise ConfigError("--input-shape applies to model files; for a built-in network use "
                          "--resolution HxW")
    return build_network(spec, resolution=resolution, width=width, weights=weights, seed=seed)


def _is_tflite(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return head[4:8] == b"TFL3"
