"""Reading the machine: CPU/RAM/disk for real, GPUs through NVML (for real without a driver, faked with one)."""

from __future__ import annotations

import ctypes
import json
import sys
from types import SimpleNamespace

import pynvml
import pytest
import torch

from clm_gui import cli
from clm_gui.errors import UserError
from clm_gui.machine import hardware

H100_NAME = "NVIDIA H100 80GB HBM3"
GiB = 2**30


def nvml_library_loads() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return True


def test_snapshot_reads_cpu_memory_and_disk(tmp_path):
    snap = hardware.snapshot(tmp_path / "runs-not-created-yet")
    assert snap.cpu.logical_cores >= 1 and snap.cpu.model
    assert 0 < snap.memory.available_gb <= snap.memory.total_gb
    assert 0 < snap.disk.free_gb <= snap.disk.total_gb
    assert snap.disk.path.endswith("runs-not-created-yet")


def test_the_real_gpu_report_on_this_machine_matches_the_driver_being_there_or_not(tmp_path):
    snap = hardware.snapshot(tmp_path)
    if nvml_library_loads():
        assert snap.gpus or "reports no GPU" in snap.gpu_status
    else:  # CI and most laptops: no NVIDIA driver; nothing fails and the page says why
        assert snap.gpus == []
        assert snap.gpu_status == "No NVIDIA GPU driver found on this machine: training runs on the CPU."
        assert snap.driver_version is None
        assert ("GPUs", snap.gpu_status) in hardware.summary_rows(snap)


def test_hardware_cli_prints_one_json_object(capsys, tmp_path):
    assert cli.main(["hardware", "--json", "--runs-dir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"cpu", "memory", "disk", "gpus", "gpu_status"} <= set(out)
    assert out["cpu"]["logical_cores"] >= 1
    assert cli.main(["hardware"]) == 0
    assert "RAM" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# The GPU path, with pynvml's functions replaced by fakes.


def _not_supported(*_):
    raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)


@pytest.fixture
def fake_nvml(monkeypatch):
    """install(devices) replaces pynvml's functions with fakes describing `devices` (dicts of readings)."""
    calls = {"shutdown": 0}

    def install(devices: list[dict], **overrides):
        def reading(name):
            def get(handle, *_):
                value = devices[handle][name]
                if isinstance(value, Exception):
                    raise value
                return value
            return get

        fakes = {
            "nvmlInit": lambda: None,
            "nvmlShutdown": lambda: calls.__setitem__("shutdown", calls["shutdown"] + 1),
            "nvmlSystemGetDriverVersion": lambda: "550.54.15",
            "nvmlSystemGetCudaDriverVersion": lambda: 12040,
            "nvmlDeviceGetCount": lambda: len(devices),
            "nvmlDeviceGetHandleByIndex": lambda i: i,
            "nvmlDeviceGetName": reading("name"),
            "nvmlDeviceGetMemoryInfo": reading("memory"),
            "nvmlDeviceGetUtilizationRates": reading("utilization"),
            "nvmlDeviceGetTemperature": reading("temperature"),
            "nvmlDeviceGetPowerUsage": reading("power_mw"),
            "nvmlDeviceGetEnforcedPowerLimit": reading("limit_mw"),
            "nvmlDeviceGetCudaComputeCapability": reading("capability"),
            **overrides,
        }
        for name, fn in fakes.items():
            monkeypatch.setattr(pynvml, name, fn)
        return calls

    return install


def gpu(name=H100_NAME, total=80 * GiB, used=10 * GiB, **readings) -> dict:
    return {"name": name, "memory": SimpleNamespace(total=total, used=used, free=total - used),
            "utilization": SimpleNamespace(gpu=37, memory=20), "temperature": 45, "power_mw": 250_000,
            "limit_mw": 700_000, "capability": (9, 0), **readings}


def test_every_gpu_is_read_with_all_its_readings(fake_nvml, tmp_path):
    calls = fake_nvml([gpu(), gpu(name=b"NVIDIA A100-SXM4-40GB", total=40 * GiB, used=0, capability=(8, 0))])
    snap = hardware.snapshot(tmp_path)
    h100, a100 = snap.gpus
    assert (h100.index, h100.name, h100.peak_key) == (0, H100_NAME, "H100 SXM")
    assert h100.memory_total_gb == pytest.approx(80 * GiB / 1e9)
    assert h100.memory_free_gb == pytest.approx(70 * GiB / 1e9)
    assert (h100.utilization_percent, h100.temperature_c, h100.power_w, h100.power_limit_w) == (37, 45, 250, 700)
    assert (h100.compute_capability, h100.bf16) == ("9.0", True)
    assert (a100.name, a100.peak_key, a100.compute_capability) == ("NVIDIA A100-SXM4-40GB", "A100", "8.0")
    assert (snap.driver_version, snap.cuda_driver_version) == ("550.54.15", "12.4")
    assert snap.gpu_status == "2 NVIDIA GPUs: NVIDIA A100-SXM4-40GB, NVIDIA H100 80GB HBM3."
    assert calls["shutdown"] == 1
    lines = dict(hardware.summary_rows(snap))
    assert "989.4 TFLOP/s" in lines["GPU 0"] and "45 °C" in lines["GPU 0"]
    assert snap.to_dict()["gpus"][1]["bf16"] is True


def test_readings_a_card_does_not_support_are_unknown_not_errors(fake_nvml, tmp_path):
    fake_nvml([gpu(name="Tesla V100-SXM2-16GB", capability=(7, 0), power_mw=pynvml.NVMLError(3))],
              nvmlDeviceGetTemperature=_not_supported)
    (v100,) = hardware.snapshot(tmp_path).gpus
    assert v100.power_w is None and v100.temperature_c is None
    assert v100.bf16 is False and not v100.error
    assert "? of 700 W" in hardware.gpu_line(v100) and "bf16 no" in hardware.gpu_line(v100)


@pytest.mark.parametrize("error,expected", [
    (pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED), "No NVIDIA GPU driver found"),
    (pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND), "No NVIDIA GPU driver found"),
    (pynvml.NVMLError(pynvml.NVML_ERROR_UNKNOWN), "The NVIDIA driver did not answer"),
])
def test_an_nvml_error_at_start_leaves_everything_else_working(fake_nvml, tmp_path, error, expected):
    def fail():
        raise error

    fake_nvml([gpu()], nvmlInit=fail)
    snap = hardware.snapshot(tmp_path)
    assert snap.gpus == [] and snap.gpu_status.startswith(expected)
    assert snap.memory.total_gb > 0


def test_an_nvml_error_while_listing_is_reported_and_nvml_is_shut_down(fake_nvml, tmp_path):
    calls = fake_nvml([gpu()], nvmlDeviceGetCount=_not_supported)
    snap = hardware.snapshot(tmp_path)
    assert snap.gpus == [] and "could not list the GPUs" in snap.gpu_status
    assert calls["shutdown"] == 1


def test_a_card_that_cannot_be_opened_is_listed_with_its_error(fake_nvml, tmp_path):
    devices = [gpu(), gpu(name=pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST))]
    fake_nvml(devices)
    snap = hardware.snapshot(tmp_path)
    assert [g.error == "" for g in snap.gpus] == [True, False]
    assert "1 of them could not be read" in snap.gpu_status


def test_a_driver_with_no_gpu_says_so(fake_nvml, tmp_path):
    fake_nvml([])
    assert "reports no GPU" in hardware.snapshot(tmp_path).gpu_status


def test_without_pynvml_the_page_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail
    snap = hardware.snapshot(tmp_path)
    assert snap.gpus == [] and "nvidia-ml-py" in snap.gpu_status


# ---------------------------------------------------------------------------------------------
# Peak throughput.


@pytest.mark.parametrize("name,key", [
    (H100_NAME, "H100 SXM"), ("NVIDIA H100 PCIe", "H100 PCIe"), ("NVIDIA H100 NVL", "H100 NVL"),
    ("NVIDIA H200", "H200 SXM"), ("NVIDIA GH200 480GB", "GH200"), ("NVIDIA A100-SXM4-80GB", "A100"),
    ("NVIDIA A100 80GB PCIe", "A100"), ("NVIDIA A10", "A10"), ("NVIDIA A10G", None), ("NVIDIA L4", "L4"),
    ("NVIDIA L40S", "L40S"), ("NVIDIA GeForce RTX 4090", "RTX 4090"), ("Tesla T4", "T4"),
    ("Tesla V100-SXM2-16GB", "V100 SXM2"), ("Tesla V100-PCIE-32GB", "V100 PCIe"), ("Radeon", None),
])
def test_driver_names_map_to_the_right_row_of_the_peak_table(name, key):
    assert hardware.gpu_model_key(name) == key


def test_peak_flops_by_precision_with_fp32_for_what_a_card_lacks():
    assert hardware.peak_flops(H100_NAME, "bf16") == pytest.approx(989.4e12)
    assert hardware.peak_flops(H100_NAME, "fp32") == pytest.approx(67e12)
    assert hardware.peak_flops("Tesla V100-SXM2-16GB", "bf16") == pytest.approx(15.7e12)
    assert hardware.peak_flops("Mystery GPU", "bf16") is None


def test_every_row_of_the_peak_table_names_its_source():
    rows = hardware.peak_table()
    assert len(rows) == len(hardware.PEAKS)
    assert all(row["source"] and row["fp32"] for row in rows)


def test_measure_times_a_matrix_product_on_the_cpu():
    m = hardware.measure("cpu", size=256, min_seconds=0.05)
    assert (m.device, m.precision, m.size) == ("cpu", "fp32", 256)
    assert m.repeats >= 3 and m.seconds > 0
    assert m.seconds >= 0.05
    assert 1e-4 < m.tflops < 100  # between a slow phone and far beyond any CPU
    assert m.peak_tflops is None and m.fraction_of_peak is None


def test_measuring_a_gpu_that_is_not_there_is_a_user_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="no CUDA GPU"):
        hardware.measure("cuda")
    with pytest.raises(UserError, match="precision"):
        hardware.measure("cpu", precision="int4")


def test_flops_are_shown_in_units_people_read():
    assert hardware.format_flops(989.4e12) == "989.4 TFLOP/s"
    assert hardware.format_flops(4.1e10) == "41.0 GFLOP/s"


# ---------------------------------------------------------------------------------------------
# What the planner is told about the device.


def test_planning_for_the_cpu_uses_free_ram_and_measured_throughput(tmp_path):
    snap = hardware.snapshot(tmp_path)
    spec = hardware.planner_device("cpu", snap=snap)
    assert (spec.kind, spec.precision, spec.compiled, spec.count) == ("cpu", "fp32", False, 1)
    assert spec.memory_bytes == pytest.approx(snap.memory.available_gb * 1e9)
    assert spec.peak_flops == hardware.cpu_matmul_flops(hardware.cpu_training_threads()) > 0


def test_a_cpu_plan_counts_on_the_threads_the_run_will_train_with(tmp_path, monkeypatch):
    # A command-line run trains on every core; planned at the app's share (one fewer), the 2-core box's plan
    # expected 1.5x fewer steps than the run made and chose too small a model.
    monkeypatch.setattr(hardware, "cpu_matmul_flops", lambda threads: threads * 10e9)
    snap = hardware.snapshot(tmp_path)
    assert hardware.planner_device("cpu", snap=snap, cpu_threads=3).peak_flops == 30e9
    assert hardware.planner_device("cpu", snap=snap).peak_flops == hardware.cpu_training_threads() * 10e9


def test_planning_for_this_machine_s_gpus_uses_their_free_memory_and_peak(fake_nvml, tmp_path):
    fake_nvml([gpu(), gpu()])
    spec = hardware.planner_device("auto", snap=hardware.snapshot(tmp_path))
    assert (spec.kind, spec.count, spec.precision) == ("cuda", 2, "bf16")
    assert spec.memory_bytes == pytest.approx(70 * GiB)
    assert spec.peak_flops == pytest.approx(989.4e12)


def test_planning_for_a_gpu_elsewhere_needs_its_memory(fake_nvml, tmp_path):
    fake_nvml([])
    snap = hardware.snapshot(tmp_path)
    with pytest.raises(UserError, match="--gpu-memory-gb"):
        hardware.planner_device("cuda", snap=snap)
    spec = hardware.planner_device("cuda", gpu_memory_gb=40, gpu_model="A100", gpu_count=4, snap=snap)
    assert (spec.count, spec.peak_flops, spec.memory_bytes) == (4, 312e12, 40e9)
    assert hardware.planner_device("cuda", gpu_memory_gb=80, snap=snap).name == hardware.DEFAULT_PLANNED_GPU
    with pytest.raises(UserError, match="peak-throughput table"):
        hardware.planner_device("cuda", gpu_memory_gb=16, gpu_model="Voodoo 3", snap=snap)
    v100 = hardware.planner_device("cuda", gpu_memory_gb=16, gpu_model="Tesla V100-SXM2-16GB", snap=snap)
    assert v100.precision == "fp16"
