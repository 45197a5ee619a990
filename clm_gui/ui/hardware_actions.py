"""What the Hardware tab shows and does, without Gradio: the machine and its GPUs as tables, the vendors' peak
throughput, and a measured matrix product. Each action returns the widgets it changes by name, `{name: value}`;
the tab (`ui/hardware_tab.py`) lays them out and turns that into Gradio's `{component: value}` (`ui/widgets.py`).
"""

from __future__ import annotations

from clm_gui.errors import UserError
from clm_gui.hosting.settings import AppSettings
from clm_gui.machine import hardware
from clm_gui.security import DATA_FOLDER

GPU_COLUMNS = ["GPU", "Name", "Memory used", "Busy", "Temperature", "Power", "Compute capability", "bf16",
               "Peak (dense)"]
PRECISIONS = ["auto", "bf16", "fp16", "fp32"]


def _cell(value, unit: str = "", digits: int = 0) -> str:
    return "?" if value is None else f"{value:,.{digits}f}{unit}"


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_markdown(snap: hardware.HardwareSnapshot, hosted: bool = False) -> str:
    disk = DATA_FOLDER if hosted else None
    rows = [[label, value] for label, value in hardware.summary_rows(snap, disk) if not label.startswith("GPU ")]
    return _markdown_table(["", "Now"], rows)


def gpu_markdown(snap: hardware.HardwareSnapshot) -> str:
    if not snap.gpus:
        return "**No GPU to show**: the GPUs row above says why."  # its status, said once
    rows = []
    for g in snap.gpus:
        if g.error:
            rows.append([str(g.index), g.name, g.error] + [""] * (len(GPU_COLUMNS) - 3))
            continue
        peak = hardware.peak_flops(g.name, "bf16" if g.bf16 else "fp16")
        rows.append([
            str(g.index), g.name,
            f"{_cell(g.memory_used_gb, ' GB', 1)} of {_cell(g.memory_total_gb, ' GB', 1)}",
            _cell(g.utilization_percent, "%"), _cell(g.temperature_c, " °C"),
            f"{_cell(g.power_w, ' W')} of {_cell(g.power_limit_w, ' W')}", g.compute_capability or "?",
            {True: "yes", False: "no", None: "?"}[g.bf16],
            hardware.format_flops(peak) if peak else "not in the table",
        ])
    return _markdown_table(GPU_COLUMNS, rows)


def peak_markdown() -> str:
    rows = [[r["gpu"]] + [_cell(r[p], "", 1) if r[p] else "—" for p in ("bf16", "fp16", "tf32", "fp32")]
            + [r["source"]] for r in hardware.peak_table()]
    return _markdown_table(["GPU", "bf16", "fp16", "tf32", "fp32", "Source"], rows)


def measure_markdown(device: str, precision: str) -> str:
    try:
        m = hardware.measure(device, precision)
    except UserError as exc:
        return f"**Cannot measure:** {exc}"
    text = (f"**{hardware.format_flops(m.tflops * 1e12)}** measured on {m.device} ({m.precision}, "
            f"{m.size}×{m.size} matrix products, {m.repeats} in {m.seconds:.2f} s).")
    if m.fraction_of_peak:
        text += f" That is {m.fraction_of_peak:.0%} of the {m.peak_tflops:,.1f} TFLOP/s peak ({m.source})."
    elif m.device == "cpu":
        text += (f" The planner measures the CPU the same way, at the {hardware.cpu_training_threads()} thread(s) "
                 "training gets beside the app, and takes that as its peak.")
    return text


class HardwareActions:
    """The tab's actions: `refresh` reads the machine now (the disk is the runs folder's, or the data folder's
    when hosted), `measure` times a matrix product on a device."""

    def __init__(self, settings: AppSettings):
        self.settings = settings
        self.devices = hardware.measurable_devices()

    def refresh(self) -> dict:
        snap = hardware.snapshot(self.settings.runs_dir)
        return {"machine": machine_markdown(snap, self.settings.hosted), "gpus": gpu_markdown(snap)}

    @staticmethod
    def measure(device: str, precision: str) -> dict:
        return {"measured": measure_markdown(device, precision)}
