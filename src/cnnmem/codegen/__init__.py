"""Code generation: a DSE schedule as a plain C99 program that counts its own DRAM traffic.

``generate(graph, workload, schedule, hw)`` returns :class:`GeneratedCode`; see
:mod:`cnnmem.codegen.generate` for what the program does and what must match the cost model.
"""

from __future__ import annotations

from cnnmem.codegen.emit import COUNTERS, ProgramIO
from cnnmem.codegen.generate import (
    BUILD,
    ELEMENT_BYTES,
    GeneratedCode,
    check_hw,
    check_supported,
    generate,
    write_output_dir,
)
from cnnmem.codegen.schedule_io import load_schedule, schedule_from_json, schedule_to_json

__all__ = [
    "BUILD",
    "COUNTERS",
    "ELEMENT_BYTES",
    "GeneratedCode",
    "ProgramIO",
    "check_hw",
    "check_supported",
    "generate",
    "load_schedule",
    "schedule_from_json",
    "schedule_to_json",
    "write_output_dir",
]
