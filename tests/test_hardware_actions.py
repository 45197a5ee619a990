"""The Hardware tab's actions, without Gradio or a page: each returns the widgets it changes by name."""

from __future__ import annotations

from clm_gui.hosting.settings import AppSettings
from clm_gui.machine import hardware
from clm_gui.ui.hardware_actions import HardwareActions


def snapshot_with(monkeypatch, tmp_path, gpus: list[hardware.GpuInfo], status: str) -> None:
    snap = hardware.snapshot(tmp_path)
    snap.gpus, snap.gpu_status = gpus, status
    monkeypatch.setattr(hardware, "snapshot", lambda disk_path: snap)


def test_refresh_shows_the_machine_and_says_once_why_there_is_no_gpu(monkeypatch, tmp_path):
    why = "No NVIDIA GPU driver found on this machine: training runs on the CPU."
    snapshot_with(monkeypatch, tmp_path, [], why)
    shown = HardwareActions(AppSettings(runs_dir=tmp_path)).refresh()
    assert set(shown) == {"machine", "gpus"}
    assert "RAM" in shown["machine"] and shown["machine"].count(why) == 1
    assert shown["gpus"] == "**No GPU to show**: the GPUs row above says why."


def test_refresh_lists_each_gpu_with_its_readings_and_peak(monkeypatch, tmp_path):
    h100 = hardware.GpuInfo(0, "NVIDIA H100 80GB HBM3", memory_total_gb=80, memory_used_gb=10, utilization_percent=37,
                            temperature_c=45, power_w=250, power_limit_w=700, compute_capability="9.0", bf16=True)
    broken = hardware.GpuInfo(1, "NVIDIA A100-SXM4-40GB", error="could not be read")
    snapshot_with(monkeypatch, tmp_path, [h100, broken], "2 GPUs")
    rows = HardwareActions(AppSettings(runs_dir=tmp_path)).refresh()["gpus"].splitlines()
    assert rows[0].startswith("| GPU | Name | Memory used |") and len(rows) == 4
    assert rows[2] == ("| 0 | NVIDIA H100 80GB HBM3 | 10.0 GB of 80.0 GB | 37% | 45 °C | 250 W of 700 W | 9.0 | yes | "
                       f"{hardware.format_flops(hardware.peak_flops(h100.name, 'bf16'))} |")
    assert rows[3] == "| 1 | NVIDIA A100-SXM4-40GB | could not be read |  |  |  |  |  |  |"


def test_the_cpu_can_always_be_measured_and_a_missing_gpu_is_said_plainly():
    actions = HardwareActions(AppSettings())
    assert actions.devices[0] == "cpu"
    measured = HardwareActions.measure("meta", "auto")
    assert measured == {"measured": "**Cannot measure:** Can only measure cpu or cuda:N, not 'meta'."}
    if "cuda:0" not in actions.devices:
        said = HardwareActions.measure("cuda:0", "auto")["measured"]
        assert said.startswith("**Cannot measure:** Cannot measure cuda:0: PyTorch sees no CUDA GPU here.")
