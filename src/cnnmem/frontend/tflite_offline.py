"""Write a memory plan into a ``.tflite`` file as a TensorFlow Lite Micro offline plan.

TFLM's ``MicroAllocator`` reads the model metadata entry ``OfflineMemoryAllocation``: a buffer of
little-endian int32 ``[version = 0, subgraph = 0, number of tensors, offset_0, ...,
offset_{n-1}]`` where ``offset_i`` is tensor ``i``'s byte offset in the non-persistent arena
and ``-1`` lets TFLM plan that tensor online (constants, and anything the plan leaves out).

Tensor names are matched the way :mod:`cnnmem.frontend.tflite_import` names them (the file's
name, or ``tensor_<index>``, made unique with ``_<k>``). Rebuilding the flatbuffer needs the
TFLite schema's object API, which the optional package ``ai-edge-litert`` ships
(``pip install 'cnnmem[tflm]'``).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cnnmem.errors import ConfigError, ModelImportError
from cnnmem.frontend.tflite_import import unique_tensor_names

METADATA_NAME = "OfflineMemoryAllocation"


def _schema() -> Any:
    try:
        from ai_edge_litert import schema_py_generated  # type: ignore[import-untyped]
    except ImportError as e:
        raise ConfigError("writing a TFLite Micro offline memory plan needs the optional "
                          "package ai-edge-litert: pip install 'cnnmem[tflm]'") from e
    return schema_py_generated


def tensor_names(tensors: list[Any]) -> list[str]:
    """Unique names of subgraph tensors, exactly as the TFLite importer assigns them."""
    return unique_tensor_names([t.name.decode("utf-8", "replace") if isinstance(t.name, bytes)
                                else t.name for t in tensors])


def write_offline_plan(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                       offsets: Mapping[str, int]) -> int:
    """Copy ``src`` to ``dst`` with ``offsets`` (tensor name -> arena offset) as the offline
    plan of subgraph 0; returns how many tensors got an offset.

    Raises:
        ConfigError: ai-edge-litert is missing, or ``offsets`` names tensors the file lacks.
        ModelImportError: ``src`` is not a readable TFLite file.
    """
    import flatbuffers

    schema = _schema()
    try:
        model = schema.ModelT.InitFromPackedBuf(Path(src).read_bytes(), 0)
    except Exception as e:
        raise ModelImportError(f"{src}: cannot read the TFLite flatbuffer to add a memory "
                               "plan") from e
    tensors = model.subgraphs[0].tensors or []
    names = tensor_names(tensors)
    unknown = sorted(set(offsets) - set(names))
    if unknown:
        raise ConfigError(f"the plan names tensors that {Path(src).name} does not have: "
                          f"{', '.join(unknown[:5])}")
    values = [int(offsets.get(n, -1)) for n in names]
    payload = struct.pack(f"<{3 + len(values)}i", 0, 0, len(values), *values)
    metadata = [m for m in (model.metadata or [])
                if (m.name.decode() if isinstance(m.name, bytes) else m.name) != METADATA_NAME]
    buffer = schema.BufferT()
    buffer.data = list(payload)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    metadata.append(entry)
    model.metadata = metadata
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    out = Path(dst)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bytes(builder.Output()))
    return sum(1 for v in values if v >= 0)


def read_offline_plan(path: str | os.PathLike[str]) -> dict[str, int]:
    """The offline plan of ``path`` (tensor name -> offset, planned tensors only); empty if
    the file has none."""
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(Path(path).read_bytes(), 0)
    for m in model.metadata or []:
        name = m.name.decode() if isinstance(m.name, bytes) else m.name
        if name != METADATA_NAME:
            continue
        raw = bytes(model.buffers[m.buffer].data)
        _version, subgraph, count = struct.unpack_from("<3i", raw)
        values = struct.unpack_from(f"<{count}i", raw, 12)
        names = tensor_names(model.subgraphs[subgraph].tensors or [])
        return {n: v for n, v in zip(names, values, strict=True) if v >= 0}
    return {}
