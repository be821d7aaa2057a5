"""Read and write network schedules as JSON.

Two forms are read:

- the output of ``cnnmem explore --json`` (schema ``cnnmem.explore/1``): its ``best`` point's
  groups, located by ``first_layer`` name and ``layers`` count, and its ``hw`` section;
- a plain schedule (schema ``cnnmem.schedule/1``, what :func:`schedule_to_json` writes): a
  ``groups`` list, each with ``first``/``stop`` layer indices (or ``first_layer``/``layers``),
  ``tile_rows``, ``tile_cols``, ``tile_channels`` and optionally ``tile_in_channels``,
  ``loop_order``, ``halo`` (``cache``/``recompute``), ``weights_resident``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cnnmem.dse.hw import HardwareSpec
from cnnmem.dse.space import GroupSchedule, HaloPolicy, NetworkSchedule
from cnnmem.dse.workload import Workload
from cnnmem.errors import ConfigError

SCHEMA = "cnnmem.schedule/1"


def schedule_to_json(workload: Workload, schedule: NetworkSchedule) -> dict[str, Any]:
    """A plain schedule document (module docstring) that :func:`schedule_from_json` reads."""
    groups = []
    for g in schedule.groups:
        groups.append({"first": g.first, "stop": g.stop,
                       "first_layer": workload.layers[g.first].name,
                       "last_layer": workload.layers[g.stop - 1].name,
                       "tile_rows": g.tile_rows, "tile_cols": g.tile_cols,
                       "tile_channels": g.tile_channels,
                       "tile_in_channels": g.tile_in_channels, "loop_order": g.loop_order,
                       "halo": g.halo.value, "weights_resident": g.weights_resident})
    return {"schema": SCHEMA, "model": workload.name, "groups": groups}


def _int(entry: Mapping[str, Any], key: str, where: str) -> int:
    value = entry.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{where}: {key!r} must be an integer, got {value!r}")
    return value


def _group(entry: Any, workload: Workload, where: str) -> GroupSchedule:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected an object")
    if "first" in entry:
        first, stop = _int(entry, "first", where), _int(entry, "stop", where)
    else:
        name = entry.get("first_layer")
        index = {layer.name: layer.index for layer in workload.layers}
        if name not in index:
            raise ConfigError(f"{where}: first_layer {name!r} is not a layer of "
                              f"{workload.name}")
        first = index[name]
        stop = first + _int(entry, "layers", where)
    tci = entry.get("tile_in_channels")
    if tci is not None and (not isinstance(tci, int) or isinstance(tci, bool)):
        raise ConfigError(f"{where}: 'tile_in_channels' must be an integer or null")
    halo = entry.get("halo", "cache")
    try:
        policy = HaloPolicy(halo)
    except ValueError:
        raise ConfigError(f"{where}: halo must be 'cache' or 'recompute', got {halo!r}") \
            from None
    resident = entry.get("weights_resident", True)
    if not isinstance(resident, bool):
        raise ConfigError(f"{where}: 'weights_resident' must be true or false")
    return GroupSchedule(first, stop, _int(entry, "tile_rows", where),
                         _int(entry, "tile_cols", where), _int(entry, "tile_channels", where),
                         tci, str(entry.get("loop_order", "yxkc")), policy, resident)


def schedule_from_json(data: Any, workload: Workload, *, source: str = "schedule",
                       ) -> tuple[NetworkSchedule, Mapping[str, Any] | None]:
    """The schedule in ``data`` and the hardware section it was made for (``None`` for a
    plain schedule).

    Raises:
        ConfigError: not a schedule document, a malformed group, or a schedule that does not
            cover ``workload``.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a JSON object")
    hw = data.get("hw") if isinstance(data.get("hw"), Mapping) else None
    doc = data["best"] if isinstance(data.get("best"), Mapping) else data
    groups = doc.get("groups")
    if not isinstance(groups, list) or not groups:
        raise ConfigError(f"{source}: no 'groups' list (expected `cnnmem explore --json` "
                          f"output or a {SCHEMA} document)")
    schedule = NetworkSchedule(tuple(_group(g, workload, f"{source}: group {i}")
                                     for i, g in enumerate(groups)))
    schedule.check(workload)
    return schedule, hw


def load_schedule(path: str | Path, workload: Workload,
                  ) -> tuple[NetworkSchedule, Mapping[str, Any] | None]:
    """:func:`schedule_from_json` of a file.

    Raises:
        ConfigError: unreadable file, bad JSON or a bad schedule.
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read schedule {path}: {e}") from e
    return schedule_from_json(data, workload, source=str(path))


def hw_from_json(section: Mapping[str, Any]) -> HardwareSpec:
    """The hardware of an explore JSON ``hw`` section (one shared buffer of its size).

    Raises:
        ConfigError: missing or bad fields.
    """
    try:
        return HardwareSpec(
            name=str(section.get("name", "from-schedule")),
            shared_buffer_bytes=int(section["buffer_bytes"]),
            act_bytes_per_element=int(section["act_bytes_per_element"]),
            weight_bytes_per_element=int(section["weight_bytes_per_element"]),
            psum_bytes_per_element=int(section["psum_bytes_per_element"]),
            bias_bytes_per_element=int(section["bias_bytes_per_element"])
            if "bias_bytes_per_element" in section else None,
            weights_in_separate_memory=bool(section.get("weights_in_separate_memory", False)))
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"schedule's hw section lacks or mangles {e}") from e
