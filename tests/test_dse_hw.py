"""Hardware YAML: the examples load, every schema error names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnmem.dse.hw import HardwareSpec, load_hw, parse_frequency, parse_rate, parse_size
from cnnmem.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "hw"

GOOD = """\
name: test-npu
buffer:
  shared: 1MiB
element_bytes:
  activation: 1
  weight: 1
  partial_sum: 4
dram_bandwidth: 8GB/s
macs_per_cycle: 512
clock: 800MHz
"""


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_examples_load(path: Path) -> None:
    hw = load_hw(path)
    assert hw.total_buffer_bytes > 0
    assert hw.describe().startswith(hw.name)


def test_example_figures() -> None:
    edge = load_hw(EXAMPLES / "edge_npu_1mib.yaml")
    assert edge.shared_buffer_bytes == 1 << 20
    assert edge.dram_bandwidth_bytes_per_s == 8e9
    assert edge.peak_macs_per_s == 512 * 800e6
    mcu = load_hw(EXAMPLES / "mcu_256k_flash.yaml")
    assert mcu.weights_in_separate_memory and mcu.activation_buffer_bytes == 256 << 10
    split = load_hw(EXAMPLES / "npu_split_buffers.yaml")
    assert split.separate_buffers and split.weight_buffer_bytes == 512 << 10
    assert split.act_bytes_per_element == 2
    assert split.fits(512 << 10, 512 << 10) and not split.fits((512 << 10) + 1, 0)


@pytest.mark.parametrize(("text", "expected"), [
    ("256KiB", 256 * 1024), ("1MiB", 1 << 20), ("1.5MiB", 3 << 19), ("64 KB", 64000),
    ("4096", 4096), (4096, 4096), ("2GiB", 2 << 30), ("512b", 512)])
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["0", "-1KiB", "1.5B", "12 parsecs", "", "KiB", True])
def test_parse_size_rejects(text: object) -> None:
    with pytest.raises(ConfigError):
        parse_size(text)  # type: ignore[arg-type]


def test_parse_rate_and_frequency() -> None:
    assert parse_rate("8GB/s") == 8e9
    assert parse_rate("400 MiB/s") == 400 * 2**20
    assert parse_rate(1e9) == 1e9
    assert parse_frequency("800MHz") == 800e6
    assert parse_frequency("1.2 GHz") == 1.2e9
    with pytest.raises(ConfigError):
        parse_rate("8GB")
    with pytest.raises(ConfigError):
        parse_frequency("-5MHz")


def test_single_buffer() -> None:
    hw = HardwareSpec.single_buffer("256KiB")
    assert hw.shared_buffer_bytes == 256 << 10 and hw.name == "buffer-256KiB"
    assert (hw.act_bytes_per_element, hw.weight_bytes_per_element,
            hw.psum_bytes_per_element) == (1, 1, 4)
    with pytest.raises(ConfigError, match="--buffer"):
        HardwareSpec.single_buffer("lots")


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "hw.yaml"
    p.write_text(text)
    return p


def test_good_file_loads(tmp_path: Path) -> None:
    hw = load_hw(_write(tmp_path, GOOD))
    assert hw.shared_buffer_bytes == 1 << 20 and hw.macs_per_cycle == 512


@pytest.mark.parametrize(("edit", "key"), [
    (("macs_per_cycle: 512", "macs_per_cyle: 512"), "'macs_per_cyle'"),
    (("  shared: 1MiB", "  shard: 1MiB"), "'buffer.shard'"),
    (("  partial_sum: 4", "  partial_sum: four"), "'element_bytes.partial_sum'"),
    (("  partial_sum: 4", "  partial_sum: 0"), "'element_bytes.partial_sum'"),
    (("  weight: 1", "  weight: true"), "'element_bytes.weight'"),
    (("macs_per_cycle: 512", "macs_per_cycle: -8"), "'macs_per_cycle'"),
    (("macs_per_cycle: 512", "macs_per_cycle: 5.5"), "'macs_per_cycle'"),
    (("  shared: 1MiB", "  shared: -1MiB"), "'buffer.shared'"),
    (("  shared: 1MiB", "  shared: [1]"), "'buffer.shared'"),
    (("dram_bandwidth: 8GB/s", "dram_bandwidth: 0"), "'dram_bandwidth'"),
    (("clock: 800MHz", "clock: fast"), "'clock'"),
    (("name: test-npu", "name: 7"), "'name'"),
    (("name: test-npu\n", ""), "'name'"),
    (("buffer:\n  shared: 1MiB", "buffer: 1MiB"), "'buffer'"),
    (("clock: 800MHz", "clock: 800MHz\nweight_storage: cloud"), "'weight_storage'"),
])
def test_schema_errors_name_file_and_key(tmp_path: Path, edit: tuple[str, str],
                                         key: str) -> None:
    path = _write(tmp_path, GOOD.replace(*edit))
    with pytest.raises(ConfigError) as info:
        load_hw(path)
    message = str(info.value)
    assert str(path) in message and key in message and "\n" not in message


def test_buffer_combinations(tmp_path: Path) -> None:
    both = GOOD.replace("  shared: 1MiB", "  shared: 1MiB\n  weights: 1KiB")
    with pytest.raises(ConfigError, match="not both"):
        load_hw(_write(tmp_path, both))
    no_weights = GOOD.replace("  shared: 1MiB", "  activations: 1MiB")
    with pytest.raises(ConfigError, match="'weights' and 'activations'"):
        load_hw(_write(tmp_path, no_weights))
    flash = no_weights + "weight_storage: separate\n"
    assert load_hw(_write(tmp_path, flash)).weights_in_separate_memory
    flash_buf = GOOD.replace("  shared: 1MiB", "  activations: 1MiB\n  weights: 1KiB") + \
        "weight_storage: separate\n"
    with pytest.raises(ConfigError, match=r"buffer\.weights"):
        load_hw(_write(tmp_path, flash_buf))


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_hw(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_hw(_write(tmp_path, "name: [unclosed\n"))
    with pytest.raises(ConfigError, match="mapping"):
        load_hw(_write(tmp_path, "- a list\n"))
