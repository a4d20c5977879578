"""CUDA_VISIBLE_DEVICES and --carbon-gpus mapped to GPUs (pure logic)."""

from __future__ import annotations

import pytest

from pytest_carbon.meters.gpu_devices import GpuDevice, choose_gpus, parse_gpus
from pytest_carbon.values.errors import CarbonConfigError

# NVML numbers GPUs in PCI order; bus ids given out of index order on purpose for index 2/3.
DEVICES = [
    GpuDevice(0, "GPU-aaaa1111-0000", "NVIDIA A100", "00000000:07:00.0"),
    GpuDevice(1, "GPU-bbbb2222-0000", "NVIDIA A100", "00000000:0F:00.0", ("MIG-11112222-3333", "MIG-44445555-6666")),
    GpuDevice(2, "GPU-aaaa3333-0000", "NVIDIA A100", "00000000:47:00.0"),
    GpuDevice(3, "GPU-cccc4444-0000", "NVIDIA A100", "00000000:4E:00.0"),
]


def visible(value: str | None, order: str | None = None, devices=DEVICES):
    environ = {} if value is None else {"CUDA_VISIBLE_DEVICES": value}
    if order:
        environ["CUDA_DEVICE_ORDER"] = order
    choice = choose_gpus(devices, "visible", environ)
    return [d.index for d in choice.devices], choice


def test_unset_means_every_gpu():
    assert visible(None)[0] == [0, 1, 2, 3]


@pytest.mark.parametrize("value", ["", " "])
def test_empty_hides_every_gpu(value):
    indices, choice = visible(value)
    assert indices == []
    assert "hides every GPU" in choice.notes[0]


def test_integers_in_cuda_order():
    assert visible("2,0", "PCI_BUS_ID")[0] == [2, 0]
    assert visible(" 3 , 1 ")[0] == [3, 1]


def test_pci_bus_order_is_used_when_indexes_differ_from_it():
    devices = [
        GpuDevice(0, "GPU-x0", "A", "00000000:81:00.0"),
        GpuDevice(1, "GPU-x1", "A", "00000000:01:00.0"),
    ]
    assert visible("0", "PCI_BUS_ID", devices)[0] == [1]


def test_minus_one_hides_everything_and_says_why():
    indices, choice = visible("-1")
    assert indices == []
    assert "'-1' matches no GPU" in choice.notes[0]


def test_parsing_stops_at_the_first_invalid_entry():
    indices, choice = visible("1,7,0")
    assert indices == [1]
    assert "'7'" in choice.notes[0] and "'0'" in choice.notes[0]


def test_uuid_full_and_prefix():
    assert visible("GPU-cccc4444-0000")[0] == [3]
    assert visible("GPU-bbbb,gpu-cccc")[0] == [1, 3]


def test_ambiguous_uuid_prefix_is_invalid():
    # GPU-aaaa matches GPU 0 and GPU 2: CUDA refuses it, so nothing after it counts either.
    indices, choice = visible("GPU-cccc,GPU-aaaa,0")
    assert indices == [3]
    assert "'GPU-aaaa'" in choice.notes[0]


def test_mig_instance_is_metered_through_its_parent():
    indices, choice = visible("MIG-4444")
    assert indices == [1]
    assert choice.mig == {1: ["MIG-44445555-6666"]}
    assert any("metered through the whole parent GPU 1" in note for note in choice.notes)


def test_old_style_mig_entry_names_its_parent():
    indices, choice = visible("MIG-GPU-aaaa3333-0000/1/0")
    assert indices == [2]
    assert choice.mig == {2: ["MIG-GPU-aaaa3333-0000/1/0"]}


def test_two_instances_of_one_gpu_meter_it_once():
    indices, choice = visible("MIG-1111,MIG-4444")
    assert indices == [1]
    assert len(choice.mig[1]) == 2


def test_fastest_first_with_mixed_models_is_noted():
    devices = [
        GpuDevice(0, "GPU-a", "NVIDIA T4", "00000000:01:00.0"),
        GpuDevice(1, "GPU-b", "NVIDIA H100", "00000000:02:00.0"),
    ]
    indices, choice = visible("1", None, devices)
    assert indices == [1]
    assert any("PCI bus order" in note for note in choice.notes)
    assert visible("1", "PCI_BUS_ID", devices)[1].notes == []
    # Same model everywhere: fastest first falls back to PCI order, so nothing to say.
    assert visible("1")[1].notes == []


def test_all_ignores_cuda_visible_devices():
    choice = choose_gpus(DEVICES, "all", {"CUDA_VISIBLE_DEVICES": ""})
    assert [d.index for d in choice.devices] == [0, 1, 2, 3]


def test_explicit_indices():
    assert [d.index for d in choose_gpus(DEVICES, "2,0", {}).devices] == [2, 0]


def test_explicit_index_that_does_not_exist():
    with pytest.raises(CarbonConfigError) as error:
        choose_gpus(DEVICES, "0,9", {}, "--carbon-gpus")
    message = str(error.value)
    assert "--carbon-gpus" in message and "9" in message and "0, 1, 2, 3" in message


@pytest.mark.parametrize(
    "raw, expected", [("all", "all"), (" Visible ", "visible"), ("0, 2,2", "0,2"), (1, "1"), ([0, 3], "0,3")]
)
def test_parse_gpus(raw, expected):
    assert parse_gpus(raw, "x") == expected


@pytest.mark.parametrize("raw", ["", "some", "0,a", "-1", "1.5", True])
def test_parse_gpus_rejects(raw):
    with pytest.raises(CarbonConfigError, match="Accepted: all, visible"):
        parse_gpus(raw, "--carbon-gpus")
