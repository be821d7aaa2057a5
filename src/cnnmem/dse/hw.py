"""Hardware description for scheduling: on-chip buffers, element sizes, DRAM and compute.

A :class:`HardwareSpec` is loaded from YAML by :func:`load_hw` through a hand-written schema
check, or made from a single size by :meth:`HardwareSpec.single_buffer` (``--buffer 256KiB``).

YAML schema (every key is checked; unknown keys, wrong types and non-positive values raise a
one-line :class:`~cnnmem.errors.ConfigError` naming the file and the key)::

    name: edge-npu                 # str, required
    description: ...               # str, optional
    buffer:                        # required: exactly one of
      shared: 1MiB                 #   one buffer for weights, activations and partial sums
      # weights: 512KiB            #   or separate weight and activation buffers
      # activations: 512KiB        #   (activations alone when weight_storage is separate)
    element_bytes:                 # optional; defaults 1 / 1 / 4 (an int8 accelerator)
      activation: 1
      weight: 1
      partial_sum: 4
      bias: 4                      # per-output-channel constants; default: the weight size
    dram_bandwidth: 8GB/s          # bytes per second: number or "<n><unit>/s"
    macs_per_cycle: 512            # positive int
    clock: 800MHz                  # Hz: number or "<n>Hz|kHz|MHz|GHz"
    weight_storage: dram           # dram (default) | separate (flash / weight SRAM)

Sizes are integers (bytes) or strings with a unit: ``B``, ``KB``/``MB``/``GB`` (powers of 1000),
``KiB``/``MiB``/``GiB`` (powers of 1024).

# NOTE: design decisions
# - Element sizes come from the hardware, not the model file: an int8 accelerator stores a
#   float32 ONNX model's activations in 1 byte. The cost model counts elements and multiplies
#   by these sizes.
# - ``weight_storage: separate`` models weights in flash or a dedicated weight SRAM: weights then
#   neither occupy the on-chip buffer nor cross the DRAM interface; their reads are reported
#   separately (``weight_memory_read_bytes``).
# - Biases (a layer's per-output-channel constants, ``Layer.bias_elements``) have their own
#   element size: int8 networks (TFLite) keep int32 biases, so an int8 accelerator moves 4 bytes
#   per bias. It defaults to the weight size (the accounting before this key existed).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnmem.errors import ConfigError

_SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10,
               "mib": 2**20, "gib": 2**30}
_FREQ_UNITS = {"": 1, "hz": 1, "khz": 10**3, "mhz": 10**6, "ghz": 10**9}
_NUMBER = r"([0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)"
_SIZE_RE = re.compile(_NUMBER + r"\s*([a-zA-Z]*)")
_RATE_RE = re.compile(_NUMBER + r"\s*([a-zA-Z]*)\s*/\s*s")

DEFAULT_ACT_BYTES = 1
DEFAULT_WEIGHT_BYTES = 1
DEFAULT_PSUM_BYTES = 4
DEFAULT_DRAM_BANDWIDTH = 8e9
DEFAULT_MACS_PER_CYCLE = 512
DEFAULT_CLOCK_HZ = 800e6


def parse_size(text: str | int, *, what: str = "size") -> int:
    """Bytes in ``text``: ``262144``, ``"256KiB"``, ``"1.5MiB"``, ``"64 KB"``.

    Raises:
        ConfigError: not a positive whole number of bytes with a known unit.
    """
    if isinstance(text, bool):
        raise ConfigError(f"{what}: expected a size like 256KiB, got {text!r}")
    if isinstance(text, int):
        value = float(text)
    else:
        m = _SIZE_RE.fullmatch(str(text).strip())
        unit = m.group(2).lower() if m else ""
        if m is None or unit not in _SIZE_UNITS:
            raise ConfigError(f"{what}: cannot read {text!r} as a size; use bytes or a unit "
                              "B, KB, MB, GB, KiB, MiB, GiB (e.g. 256KiB)")
        value = float(m.group(1)) * _SIZE_UNITS[unit]
    if value <= 0 or value != math.floor(value):
        raise ConfigError(f"{what}: {text!r} is not a positive whole number of bytes")
    return int(value)


def parse_rate(text: str | int | float, *, what: str = "bandwidth") -> float:
    """Bytes per second in ``text``: ``8e9``, ``"8GB/s"``, ``"400MiB/s"``.

    Raises:
        ConfigError: not a positive rate.
    """
    if isinstance(text, bool):
        raise ConfigError(f"{what}: expected a rate like 8GB/s, got {text!r}")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = _RATE_RE.fullmatch(str(text).strip())
        unit = m.group(2).lower() if m else ""
        if m is None or unit not in _SIZE_UNITS:
            raise ConfigError(f"{what}: cannot read {text!r} as a rate; use bytes/s or e.g. "
                              "8GB/s, 400MiB/s")
        value = float(m.group(1)) * _SIZE_UNITS[unit]
    if not value > 0 or math.isinf(value):
        raise ConfigError(f"{what}: {text!r} is not a positive rate")
    return value


def parse_frequency(text: str | int | float, *, what: str = "clock") -> float:
    """Hertz in ``text``: ``800e6``, ``"800MHz"``, ``"1.2 GHz"``.

    Raises:
        ConfigError: not a positive frequency.
    """
    if isinstance(text, bool):
        raise ConfigError(f"{what}: expected a frequency like 800MHz, got {text!r}")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = _SIZE_RE.fullmatch(str(text).strip())
        unit = m.group(2).lower() if m else ""
        if m is None or unit not in _FREQ_UNITS:
            raise ConfigError(f"{what}: cannot read {text!r} as a frequency; use Hz or e.g. "
                              "800MHz")
        value = float(m.group(1)) * _FREQ_UNITS[unit]
    if not value > 0 or math.isinf(value):
        raise ConfigError(f"{what}: {text!r} is not a positive frequency")
    return value


def format_size(num_bytes: float) -> str:
    """Short binary-unit text of a byte count (``"256 KiB"``, ``"1.50 MiB"``)."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(num_bytes) >= scale:
            value = num_bytes / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.2f} {unit}"
    return f"{num_bytes:.0f} B"


@dataclass(frozen=True, slots=True)
class HardwareSpec:
    """The hardware a schedule is evaluated for.

    Exactly one of ``shared_buffer_bytes`` and ``activation_buffer_bytes`` is set; the second
    form may come with ``weight_buffer_bytes`` (separate weight and activation buffers).

    Attributes:
        name: label for reports.
        shared_buffer_bytes: one on-chip buffer holding weights, activations and partial sums.
        weight_buffer_bytes: on-chip weight buffer (separate-buffer form, weights in DRAM).
        activation_buffer_bytes: on-chip buffer for activations and partial sums
            (separate-buffer form).
        act_bytes_per_element: bytes of one activation element.
        weight_bytes_per_element: bytes of one weight element (and of other constants).
        psum_bytes_per_element: bytes of one partial sum (accumulator) element.
        bias_bytes_per_element: bytes of one bias (per-output-channel constant) element;
            ``None``: the weight size (:attr:`bias_bytes`).
        dram_bandwidth_bytes_per_s: DRAM bandwidth.
        macs_per_cycle: peak multiply-accumulates per cycle.
        clock_hz: clock frequency.
        weights_in_separate_memory: weights live in flash / a weight SRAM: they take no
            on-chip buffer space and no DRAM traffic.
        description: free text.
    """

    name: str
    shared_buffer_bytes: int | None = None
    weight_buffer_bytes: int | None = None
    activation_buffer_bytes: int | None = None
    act_bytes_per_element: int = DEFAULT_ACT_BYTES
    weight_bytes_per_element: int = DEFAULT_WEIGHT_BYTES
    psum_bytes_per_element: int = DEFAULT_PSUM_BYTES
    bias_bytes_per_element: int | None = None
    dram_bandwidth_bytes_per_s: float = DEFAULT_DRAM_BANDWIDTH
    macs_per_cycle: int = DEFAULT_MACS_PER_CYCLE
    clock_hz: float = DEFAULT_CLOCK_HZ
    weights_in_separate_memory: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        shared = self.shared_buffer_bytes is not None
        split = self.activation_buffer_bytes is not None
        if shared == split:
            raise ConfigError(f"hardware {self.name!r}: give either a shared buffer or an "
                              "activation buffer (with an optional weight buffer), not both "
                              "or neither")
        if shared and self.weight_buffer_bytes is not None:
            raise ConfigError(f"hardware {self.name!r}: a weight buffer needs an activation "
                              "buffer too (separate buffers), not a shared one")
        if split and self.weight_buffer_bytes is None and not self.weights_in_separate_memory:
            raise ConfigError(f"hardware {self.name!r}: weights in DRAM need a weight buffer "
                              "next to the activation buffer")
        if split and self.weight_buffer_bytes is not None and self.weights_in_separate_memory:
            raise ConfigError(f"hardware {self.name!r}: weights in a separate memory do not "
                              "use an on-chip weight buffer; drop buffer.weights")
        for field_name in ("shared_buffer_bytes", "weight_buffer_bytes",
                           "activation_buffer_bytes", "act_bytes_per_element",
                           "weight_bytes_per_element", "psum_bytes_per_element",
                           "bias_bytes_per_element", "macs_per_cycle"):
            value = getattr(self, field_name)
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise ConfigError(f"hardware {self.name!r}: {field_name} must be a positive "
                                  f"integer, got {value!r}")
        for field_name in ("dram_bandwidth_bytes_per_s", "clock_hz"):
            if not getattr(self, field_name) > 0:
                raise ConfigError(f"hardware {self.name!r}: {field_name} must be positive")

    @classmethod
    def single_buffer(cls, size_bytes: int | str, *, name: str | None = None) -> HardwareSpec:
        """One shared buffer of ``size_bytes`` (``--buffer 256KiB``) with default figures:
        int8 accelerator (1-byte activations and weights, 4-byte partial sums), weights in DRAM,
        8 GB/s, 512 MACs/cycle at 800 MHz.

        Raises:
            ConfigError: the size cannot be read.
        """
        size = parse_size(size_bytes, what="--buffer")
        return cls(name=name or f"buffer-{format_size(size).replace(' ', '')}",
                   shared_buffer_bytes=size)

    @property
    def bias_bytes(self) -> int:
        """Bytes of one bias element: ``bias_bytes_per_element``, else the weight size."""
        if self.bias_bytes_per_element is None:
            return self.weight_bytes_per_element
        return self.bias_bytes_per_element

    def weight_item_bytes(self, elements: int, bias_elements: int) -> int:
        """Bytes of ``elements`` constants of which ``bias_elements`` are biases:
        ``weight_B * (elements - bias_elements) + bias_B * bias_elements``."""
        return (self.weight_bytes_per_element * (elements - bias_elements) +
                self.bias_bytes * bias_elements)

    @property
    def separate_buffers(self) -> bool:
        """True for separate weight / activation buffers."""
        return self.shared_buffer_bytes is None

    @property
    def total_buffer_bytes(self) -> int:
        """All on-chip buffer bytes (shared, or weight + activation)."""
        if self.shared_buffer_bytes is not None:
            return self.shared_buffer_bytes
        return (self.activation_buffer_bytes or 0) + (self.weight_buffer_bytes or 0)

    @property
    def peak_macs_per_s(self) -> float:
        """``macs_per_cycle * clock_hz``."""
        return self.macs_per_cycle * self.clock_hz

    def fits(self, weight_bytes: int, act_bytes: int) -> bool:
        """True if ``weight_bytes`` of weights and ``act_bytes`` of activations and partial
        sums held at once fit the buffer(s)."""
        if self.shared_buffer_bytes is not None:
            return weight_bytes + act_bytes <= self.shared_buffer_bytes
        assert self.activation_buffer_bytes is not None
        if act_bytes > self.activation_buffer_bytes:
            return False
        return weight_bytes <= (self.weight_buffer_bytes or 0)

    def with_shared_buffer(self, size_bytes: int) -> HardwareSpec:
        """This hardware with one shared buffer of ``size_bytes`` instead of its own."""
        from dataclasses import replace

        return replace(self, name=f"{self.name}@{format_size(size_bytes).replace(' ', '')}",
                       shared_buffer_bytes=size_bytes, weight_buffer_bytes=None,
                       activation_buffer_bytes=None)

    def describe(self) -> str:
        """One-line summary for report headers."""
        if self.shared_buffer_bytes is not None:
            buf = f"shared buffer {format_size(self.shared_buffer_bytes)}"
        else:
            buf = f"activation buffer {format_size(self.activation_buffer_bytes or 0)}"
            if self.weight_buffer_bytes is not None:
                buf += f", weight buffer {format_size(self.weight_buffer_bytes)}"
        weights = "weights in separate memory" if self.weights_in_separate_memory else \
            "weights in DRAM"
        return (f"{self.name}: {buf}; {weights}; elements act {self.act_bytes_per_element} B, "
                f"weight {self.weight_bytes_per_element} B, psum {self.psum_bytes_per_element} "
                f"B, bias {self.bias_bytes} B; "
                f"DRAM {self.dram_bandwidth_bytes_per_s / 1e9:g} GB/s; "
                f"{self.macs_per_cycle} MACs/cycle at {self.clock_hz / 1e6:g} MHz")


# ----------------------------------------------------------------------------- YAML loading
_TOP_KEYS = ("name", "description", "buffer", "element_bytes", "dram_bandwidth",
             "macs_per_cycle", "clock", "weight_storage")
_REQUIRED = ("name", "buffer", "dram_bandwidth", "macs_per_cycle", "clock")
_BUFFER_KEYS = ("shared", "weights", "activations")
_ELEMENT_KEYS = ("activation", "weight", "partial_sum", "bias")
_WEIGHT_STORAGE = ("dram", "separate")


class _Checker:
    """Schema checks that raise ConfigError naming the file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: key {key!r}: {message}")

    def mapping(self, value: object, key: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"must be a mapping with keys {', '.join(allowed)}, got "
                            f"{type(value).__name__}")
        for k in value:
            if k not in allowed:
                full = f"{key}.{k}" if key else str(k)
                raise ConfigError(f"{self.path}: unknown key {full!r} (expected one of: "
                                  f"{', '.join(allowed)})")
        return value

    def positive_int(self, value: object, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be a positive integer, got {value!r}")
        if value <= 0:
            raise self.fail(key, f"must be positive, got {value}")
        return value

    def text(self, value: object, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def size(self, value: object, key: str) -> int:
        if not isinstance(value, (int, str)) or isinstance(value, bool):
            raise self.fail(key, f"must be a size like 256KiB, got {value!r}")
        try:
            return parse_size(value, what=key)
        except ConfigError as e:
            raise self.fail(key, str(e).split(": ", 1)[-1]) from e

    def rate(self, value: object, key: str) -> float:
        if not isinstance(value, (int, float, str)) or isinstance(value, bool):
            raise self.fail(key, f"must be a rate like 8GB/s, got {value!r}")
        try:
            return parse_rate(value, what=key)
        except ConfigError as e:
            raise self.fail(key, str(e).split(": ", 1)[-1]) from e

    def frequency(self, value: object, key: str) -> float:
        if not isinstance(value, (int, float, str)) or isinstance(value, bool):
            raise self.fail(key, f"must be a frequency like 800MHz, got {value!r}")
        try:
            return parse_frequency(value, what=key)
        except ConfigError as e:
            raise self.fail(key, str(e).split(": ", 1)[-1]) from e


def load_hw(path: str | Path) -> HardwareSpec:
    """Load and schema-check a hardware YAML file (schema in the module docstring).

    Raises:
        ConfigError: the file is missing or not YAML, or a key is unknown, missing, of the
            wrong type or not positive (the message names the file and the key).
    """
    import yaml

    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{p}: cannot read hardware file: {e.strerror or e}") from e
    except yaml.YAMLError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"{p}: not valid YAML: {first}") from e
    check = _Checker(p)
    top = check.mapping(raw, "", _TOP_KEYS)
    for key in _REQUIRED:
        if key not in top:
            raise ConfigError(f"{p}: missing required key {key!r}")
    name = check.text(top["name"], "name")
    description = check.text(top["description"], "description") if "description" in top \
        else ""
    storage = top.get("weight_storage", "dram")
    if storage not in _WEIGHT_STORAGE:
        raise check.fail("weight_storage", f"must be one of {', '.join(_WEIGHT_STORAGE)}, got "
                         f"{storage!r}")
    separate = storage == "separate"
    buf = check.mapping(top["buffer"], "buffer", _BUFFER_KEYS)
    sizes = {k: check.size(v, f"buffer.{k}") for k, v in buf.items()}
    if "shared" in sizes and len(sizes) > 1:
        raise check.fail("buffer", "give either 'shared' or 'weights' + 'activations', not both")
    if "shared" not in sizes:
        if "activations" not in sizes:
            raise check.fail("buffer", "needs 'shared' or 'activations'")
        if separate and "weights" in sizes:
            raise check.fail("buffer.weights", "weights in separate memory take no on-chip "
                             "weight buffer; remove this key or set weight_storage: dram")
        if not separate and "weights" not in sizes:
            raise check.fail("buffer", "with weight_storage: dram, separate buffers need both "
                             "'weights' and 'activations'")
    elems = check.mapping(top.get("element_bytes", {}), "element_bytes", _ELEMENT_KEYS)
    elem = {k: check.positive_int(v, f"element_bytes.{k}") for k, v in elems.items()}
    return HardwareSpec(
        name=name,
        shared_buffer_bytes=sizes.get("shared"),
        weight_buffer_bytes=sizes.get("weights"),
        activation_buffer_bytes=sizes.get("activations"),
        act_bytes_per_element=elem.get("activation", DEFAULT_ACT_BYTES),
        weight_bytes_per_element=elem.get("weight", DEFAULT_WEIGHT_BYTES),
        psum_bytes_per_element=elem.get("partial_sum", DEFAULT_PSUM_BYTES),
        bias_bytes_per_element=elem.get("bias"),
        dram_bandwidth_bytes_per_s=check.rate(top["dram_bandwidth"], "dram_bandwidth"),
        macs_per_cycle=check.positive_int(top["macs_per_cycle"], "macs_per_cycle"),
        clock_hz=check.frequency(top["clock"], "clock"),
        weights_in_separate_memory=separate,
        description=description,
    )
