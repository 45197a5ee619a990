"""What the machine has: CPU, memory, disk and NVIDIA GPUs, and what a device can compute at peak.

`snapshot()` reads the machine (psutil for CPU/RAM/disk, NVML through pynvml for GPUs). It never fails
because of the GPU side: with no pynvml, no NVIDIA driver or an NVML error, `gpus` is empty and
`gpu_status` says why in plain words. `measure()` times a matrix product to give the throughput a
device actually reaches; `planner_device()` turns all this into the `DeviceSpec` the planner needs.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from clm_gui.errors import UserError
from clm_gui.model.sizing import DeviceSpec
from clm_gui.units import GB


@dataclass(frozen=True)
class Peak:
    tflops: dict[str, float]  # by precision; a precision the card lacks is absent
    source: str


# Dense (no sparsity) peak throughput in TFLOP/s, from the vendors' datasheets. "fp32" is plain FP32 on
# the CUDA cores; "tf32" is FP32 matmuls on tensor cores (what PyTorch uses with allow_tf32); bf16/fp16
# are tensor-core figures with FP32 accumulation (the mode PyTorch uses).
_HOPPER = {"bf16": 989.4, "fp16": 989.4, "tf32": 494.7, "fp32": 67.0}
_HOPPER_NVL = {"bf16": 835.5, "fp16": 835.5, "tf32": 417.5, "fp32": 60.0}
PEAKS = {
    "H100 SXM": Peak(_HOPPER, "NVIDIA H100 Tensor Core GPU datasheet (SXM5), dense"),
    "H100 PCIe": Peak({"bf16": 756.5, "fp16": 756.5, "tf32": 378.0, "fp32": 51.2},
                      "NVIDIA H100 Tensor Core GPU datasheet (PCIe), dense"),
    "H100 NVL": Peak(_HOPPER_NVL, "NVIDIA H100 Tensor Core GPU datasheet (NVL, per GPU), dense"),
    "H200 SXM": Peak(_HOPPER, "NVIDIA H200 Tensor Core GPU datasheet (SXM), dense"),
    "H200 NVL": Peak(_HOPPER_NVL, "NVIDIA H200 Tensor Core GPU datasheet (NVL), dense"),
    "GH200": Peak(_HOPPER, "NVIDIA GH200 Grace Hopper Superchip datasheet (GPU part), dense"),
    "A100": Peak({"bf16": 312.0, "fp16": 312.0, "tf32": 156.0, "fp32": 19.5},
                 "NVIDIA A100 Tensor Core GPU datasheet (SXM and PCIe), dense"),
    "A10": Peak({"bf16": 125.0, "fp16": 125.0, "tf32": 62.5, "fp32": 31.2},
                "NVIDIA A10 Tensor Core GPU datasheet, dense"),
    "L40S": Peak({"bf16": 362.1, "fp16": 362.1, "tf32": 183.0, "fp32": 91.6}, "NVIDIA L40S GPU datasheet, dense"),
    "L4": Peak({"bf16": 121.0, "fp16": 121.0, "tf32": 60.0, "fp32": 30.3},
               "NVIDIA L4 Tensor Core GPU datasheet, dense"),
    "RTX 4090": Peak({"bf16": 165.2, "fp16": 165.2, "tf32": 82.6, "fp32": 82.6},
                     "NVIDIA Ada Lovelace architecture whitepaper (FP32 accumulate), dense"),
    "RTX 3090": Peak({"bf16": 71.0, "fp16": 71.0, "tf32": 35.6, "fp32": 35.6},
                     "NVIDIA Ampere GA102 architecture whitepaper (FP32 accumulate), dense"),
    "V100 SXM2": Peak({"fp16": 125.0, "fp32": 15.7}, "NVIDIA Tesla V100 datasheet (SXM2)"),
    "V100 PCIe": Peak({"fp16": 112.0, "fp32": 14.0}, "NVIDIA Tesla V100 datasheet (PCIe)"),
    "T4": Peak({"fp16": 65.0, "fp32": 8.1}, "NVIDIA T4 Tensor Core GPU datasheet"),
}
# Driver names -> table rows, most specific first ("A100" also contains "A10"; "GH200" contains "H200").
_NAME_PATTERNS = [
    (r"GH200", "GH200"),
    (r"H200.*NVL", "H200 NVL"),
    (r"H200", "H200 SXM"),
    (r"H100.*NVL", "H100 NVL"),
    (r"H100.*PCIE", "H100 PCIe"),
    (r"H100", "H100 SXM"),
    (r"A100", "A100"),
    (r"\bA10\b", "A10"),
    (r"L40S", "L40S"),
    (r"\bL4\b", "L4"),
    (r"RTX 4090", "RTX 4090"),
    (r"RTX 3090", "RTX 3090"),
    (r"V100.*PCIE", "V100 PCIe"),
    (r"V100", "V100 SXM2"),
    (r"\bT4\b", "T4"),
]


def gpu_model_key(name: str) -> str | None:
    """Map a device name as the driver reports it to a row of PEAKS."""
    upper = name.upper()
    for pattern, key in _NAME_PATTERNS:
        if re.search(pattern, upper):
            return key
    return None


def peak_flops(name: str, precision: str) -> float | None:
    """Peak FLOP/s of the named GPU at this precision, or None when the model is not in the table.

    A precision the card lacks (bf16 on a V100) falls back to its fp32 figure.
    """
    key = gpu_model_key(name)
    if key is None:
        return None
    row = PEAKS[key].tflops
    return row.get(precision, row["fp32"]) * 1e12


def peak_table() -> list[dict]:
    """The peak table as rows for display: model, TFLOP/s by precision (None: unsupported), source."""
    return [{"gpu": key, **{p: peak.tflops.get(p) for p in ("bf16", "fp16", "tf32", "fp32")},
             "source": peak.source} for key, peak in PEAKS.items()]


# ---------------------------------------------------------------------------------------------
# The snapshot.


@dataclass
class CpuInfo:
    model: str
    physical_cores: int | None
    logical_cores: int | None
    frequency_mhz: float | None  # current; None where the OS does not report it (some VMs)
    max_frequency_mhz: float | None
    load_percent: float  # all cores, since the previous reading
    load_average: tuple[float, float, float] | None  # 1, 5, 15 minutes (Unix only)


@dataclass
class MemoryInfo:
    total_gb: float
    available_gb: float
    used_percent: float


@dataclass
class DiskInfo:
    path: str  # the folder asked about (where runs are stored)
    total_gb: float
    free_gb: float


@dataclass
class GpuInfo:
    index: int
    name: str
    memory_total_gb: float | None = None
    memory_used_gb: float | None = None
    memory_free_gb: float | None = None
    utilization_percent: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    compute_capability: str | None = None  # "9.0" for Hopper
    bf16: bool | None = None  # bf16 tensor cores: compute capability 8.0 (Ampere) or newer
    peak_key: str | None = None  # the row of PEAKS this card matched
    error: str = ""  # set when the card could be listed but not read


@dataclass
class HardwareSnapshot:
    cpu: CpuInfo
    memory: MemoryInfo
    disk: DiskInfo
    gpus: list[GpuInfo] = field(default_factory=list)
    gpu_status: str = ""  # one sentence: how many GPUs, or why none can be seen
    driver_version: str | None = None
    cuda_driver_version: str | None = None  # the newest CUDA version the driver supports

    def to_dict(self) -> dict:
        return asdict(self)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_info(interval: float | None = None) -> CpuInfo:
    """interval None: load since the last call (instant; the first call of a process reads 0)."""
    freq = psutil.cpu_freq()
    return CpuInfo(
        model=_cpu_model(),
        physical_cores=psutil.cpu_count(logical=False),
        logical_cores=psutil.cpu_count(logical=True),
        frequency_mhz=round(freq.current, 1) if freq and freq.current else None,
        max_frequency_mhz=round(freq.max, 1) if freq and freq.max else None,
        load_percent=psutil.cpu_percent(interval=interval),
        load_average=tuple(round(x, 2) for x in os.getloadavg()) if hasattr(os, "getloadavg") else None,
    )


def memory_info() -> MemoryInfo:
    vm = psutil.virtual_memory()
    return MemoryInfo(total_gb=vm.total / GB, available_gb=vm.available / GB, used_percent=vm.percent)


def disk_info(path: str | Path = ".") -> DiskInfo:
    """Free space on the disk holding `path`, or its nearest existing parent (runs/ may not exist yet)."""
    target = Path(path).expanduser().absolute()
    existing = next((p for p in (target, *target.parents) if p.exists()), Path("/"))
    usage = psutil.disk_usage(str(existing))
    return DiskInfo(path=str(target), total_gb=usage.total / GB, free_gb=usage.free / GB)


def _load_nvml():
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def _read(nvml, fn, *args):
    """One NVML reading, or None where this card does not support it (NotSupported, NoPermission...)."""
    try:
        return fn(*args)
    except nvml.NVMLError:
        return None


def _as_text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _gpu_info(nvml, index: int) -> GpuInfo:
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        name = _as_text(nvml.nvmlDeviceGetName(handle))
    except nvml.NVMLError as exc:
        return GpuInfo(index=index, name="unknown", error=f"cannot be read: {exc}")
    info = GpuInfo(index=index, name=name, peak_key=gpu_model_key(name))
    memory = _read(nvml, nvml.nvmlDeviceGetMemoryInfo, handle)
    if memory is not None:
        info.memory_total_gb, info.memory_used_gb = memory.total / GB, memory.used / GB
        info.memory_free_gb = memory.free / GB
    rates = _read(nvml, nvml.nvmlDeviceGetUtilizationRates, handle)
    info.utilization_percent = float(rates.gpu) if rates is not None else None
    temperature = _read(nvml, nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
    info.temperature_c = float(temperature) if temperature is not None else None
    power = _read(nvml, nvml.nvmlDeviceGetPowerUsage, handle)  # milliwatts
    info.power_w = power / 1000 if power is not None else None
    limit = _read(nvml, nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
    info.power_limit_w = limit / 1000 if limit is not None else None
    capability = _read(nvml, nvml.nvmlDeviceGetCudaComputeCapability, handle)
    if capability is not None:
        major, minor = capability
        info.compute_capability, info.bf16 = f"{major}.{minor}", major >= 8
    return info


def _cuda_version_text(version: int | None) -> str | None:
    return None if version is None else f"{version // 1000}.{version % 1000 // 10}"  # 12040 -> "12.4"


def gpu_report(snap: HardwareSnapshot) -> None:
    """Fill the GPU part of `snap` through NVML; any failure becomes a sentence in gpu_status."""
    nvml = _load_nvml()
    if nvml is None:
        snap.gpu_status = ("GPUs cannot be listed because pynvml is not installed (pip install nvidia-ml-py); "
                           "training can still use a GPU that PyTorch sees.")
        return
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        snap.gpu_status = _init_failure(nvml, exc)
        return
    try:
        snap.driver_version = _as_text(_read(nvml, nvml.nvmlSystemGetDriverVersion) or "") or None
        snap.cuda_driver_version = _cuda_version_text(_read(nvml, nvml.nvmlSystemGetCudaDriverVersion))
        count = nvml.nvmlDeviceGetCount()
        snap.gpus = [_gpu_info(nvml, i) for i in range(count)]
        snap.gpu_status = _gpu_summary(snap.gpus)
    except nvml.NVMLError as exc:
        snap.gpu_status = f"The NVIDIA driver could not list the GPUs ({exc}); training will use the CPU."
    finally:
        _read(nvml, nvml.nvmlShutdown)


def _init_failure(nvml, exc) -> str:
    no_driver = (nvml.NVMLError_LibraryNotFound, nvml.NVMLError_DriverNotLoaded)
    if isinstance(exc, no_driver):
        return "No NVIDIA GPU driver found on this machine: training runs on the CPU."
    return f"The NVIDIA driver did not answer ({exc}): GPUs cannot be listed; training will use the CPU."


def _gpu_summary(gpus: list[GpuInfo]) -> str:
    if not gpus:
        return "The NVIDIA driver is loaded but reports no GPU: training runs on the CPU."
    names = sorted({g.name for g in gpus})
    unreadable = sum(1 for g in gpus if g.error)
    text = f"{len(gpus)} NVIDIA GPU{'s' if len(gpus) > 1 else ''}: {', '.join(names)}."
    if unreadable:
        text += f" {unreadable} of them could not be read."
    return text


def snapshot(disk_path: str | Path = ".", cpu_interval: float | None = None) -> HardwareSnapshot:
    """CPU, RAM, the disk holding `disk_path` and every NVIDIA GPU, read now."""
    snap = HardwareSnapshot(cpu=cpu_info(cpu_interval), memory=memory_info(), disk=disk_info(disk_path))
    gpu_report(snap)
    return snap


# ---------------------------------------------------------------------------------------------
# Measuring: what a device really reaches on a matrix product.


@dataclass
class Measurement:
    device: str
    precision: str
    size: int  # the matrices are size x size
    repeats: int
    seconds: float
    tflops: float  # achieved: one product's FLOPs over the median time of one product
    peak_tflops: float | None  # from the table, where the card is in it
    source: str  # where peak_tflops comes from

    @property
    def fraction_of_peak(self) -> float | None:
        return self.tflops / self.peak_tflops if self.peak_tflops else None


_TORCH_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def measurable_devices() -> list[str]:
    """The devices `measure` takes: the CPU, then each CUDA GPU PyTorch sees."""
    import torch

    return ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]


def measure(device: str = "cpu", precision: str = "auto", size: int = 0, min_seconds: float = 0.3) -> Measurement:
    """Time repeated size x size matrix products on `device` and report the achieved TFLOP/s."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"Cannot measure {device}: PyTorch sees no CUDA GPU here. Measure the CPU instead.")
    if dev.type not in ("cpu", "cuda"):
        raise UserError(f"Can only measure cpu or cuda:N, not {device!r}.")
    if precision == "auto":
        precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if dev.type == "cuda" else "fp32"
    if precision not in _TORCH_DTYPES:
        raise UserError(f"precision must be auto, bf16, fp16 or fp32, not {precision!r}.")
    n = size or (8192 if dev.type == "cuda" else 1024)
    dtype = getattr(torch, _TORCH_DTYPES[precision])
    a, b = torch.randn(n, n, device=dev, dtype=dtype), torch.randn(n, n, device=dev, dtype=dtype)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    a @ b  # warm-up: kernel selection, first-touch allocation
    sync()
    times: list[float] = []  # per product: the median is robust to other work sharing the device
    while len(times) < 3 or sum(times) < min_seconds:
        start = time.perf_counter()
        a @ b
        sync()
        times.append(time.perf_counter() - start)
    peak, source = None, "no table entry for a CPU" if dev.type == "cpu" else "card not in the peak table"
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
        key = gpu_model_key(name)
        if key is not None:
            peak, source = peak_flops(name, precision) / 1e12, PEAKS[key].source
    return Measurement(device=str(dev), precision=precision, size=n, repeats=len(times), seconds=sum(times),
                       tflops=2 * n**3 / statistics.median(times) / 1e12, peak_tflops=peak, source=source)


def cpu_training_threads() -> int:
    """Threads the app trains with on the CPU: every core but one, which the web server keeps (see
    jobs.cpu_threads_beside_the_app)."""
    return max(1, (os.cpu_count() or 1) - 1)


def cpu_threads_in_this_process() -> int:
    """Threads a run trained in this process gets on the CPU (the command line's `train` and `quickstart`):
    torch's own setting, every core unless OMP_NUM_THREADS says otherwise."""
    import torch

    return torch.get_num_threads()


@functools.lru_cache(maxsize=4)
def cpu_matmul_flops(threads: int) -> float:
    """This CPU's measured fp32 matrix-product throughput (FLOP/s) at the threads training gets, measured
    once per process and thread count. Measured at other threads than the run's, the plan misleads: with all
    the cores it was twice what a run on one thread of a 2-core box reached (the plan promised 13,800
    tokens/s, the run made 2,000-6,000); at one thread for a command-line run on two, the plan expected 1.5x
    fewer steps than the run made, and chose a model too small for its budget."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return measure("cpu").tflops * 1e12
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------
# What the planner needs to know about the device.

DEFAULT_PLANNED_GPU = "H100 SXM"  # assumed when planning for a GPU this machine does not have


def planner_device(kind: str = "auto", gpu_memory_gb: float | None = None, gpu_model: str | None = None,
                   gpu_count: int | None = None, snap: HardwareSnapshot | None = None,
                   cpu_threads: int | None = None) -> DeviceSpec:
    """The device to plan for: this machine's CPU or GPUs, or a GPU described by memory and model.

    kind: auto (a GPU when there is one), cpu or cuda. For a GPU this machine lacks, gpu_memory_gb is
    required and gpu_model (a PEAKS row or a driver name) defaults to DEFAULT_PLANNED_GPU. cpu_threads: the
    threads a CPU run will train with (default: the app's, `cpu_training_threads`).
    """
    if kind not in ("auto", "cpu", "cuda"):
        raise UserError(f"The device must be auto, cpu or cuda, not {kind!r}.")
    snap = snap or snapshot()
    readable = [g for g in snap.gpus if not g.error]
    if kind == "cpu" or (kind == "auto" and not readable and gpu_memory_gb is None):
        return DeviceSpec(kind="cpu", name=snap.cpu.model, count=1, memory_bytes=snap.memory.available_gb * GB,
                          peak_flops=cpu_matmul_flops(cpu_threads or cpu_training_threads()), precision="fp32",
                          compiled=False, peak_source="measured fp32 matrix product on this CPU")
    if readable and gpu_model is None:
        gpu = readable[0]
        memory_gb = gpu_memory_gb if gpu_memory_gb is not None else gpu.memory_free_gb
        return _gpu_spec(gpu.name, memory_gb, gpu_count or len(readable), gpu.bf16 is not False)
    if gpu_memory_gb is None:
        raise UserError("No NVIDIA GPU is visible here: to plan for a GPU elsewhere give its memory "
                        "(--gpu-memory-gb, e.g. 80 for an H100) and optionally its model.")
    return _gpu_spec(gpu_model or DEFAULT_PLANNED_GPU, gpu_memory_gb, gpu_count or 1, bf16=True)


def _gpu_spec(name: str, memory_gb: float | None, count: int, bf16: bool) -> DeviceSpec:
    key = gpu_model_key(name) or (name if name in PEAKS else None)
    if key is None:
        known = ", ".join(PEAKS)
        raise UserError(f"The GPU {name!r} is not in the peak-throughput table ({known}); "
                        "use the Hardware tab's Measure button or plan for a listed model.")
    if memory_gb is None or memory_gb <= 0:
        raise UserError(f"The memory of {name} could not be read; give it explicitly (GPU memory in GB).")
    peak = PEAKS[key]
    precision = "bf16" if bf16 and "bf16" in peak.tflops else "fp16"
    return DeviceSpec(kind="cuda", name=name, count=count, memory_bytes=memory_gb * GB,
                      peak_flops=peak.tflops[precision] * 1e12, precision=precision, compiled=True,
                      peak_source=peak.source)


def format_flops(flops_per_s: float) -> str:
    """1.2e14 -> '120 TFLOP/s'; a CPU's 4.1e10 -> '41 GFLOP/s'."""
    if flops_per_s >= 1e12:
        return f"{flops_per_s / 1e12:,.1f} TFLOP/s"
    return f"{flops_per_s / 1e9:,.1f} GFLOP/s"


def _gb(value: float | None) -> str:
    return "?" if value is None else f"{value:,.1f} GB"


def _value(value, unit: str = "", digits: int = 0) -> str:
    return "?" if value is None else f"{value:,.{digits}f}{unit}"


def summary_rows(snap: HardwareSnapshot, disk_label: str | None = None) -> list[tuple[str, str]]:
    """The machine as (label, value) lines for people: the CLI and the Hardware tab show these. `disk_label`
    names the disk's folder instead of its path (a hosted page shows no server path)."""
    c = snap.cpu
    freq = f", {c.frequency_mhz:,.0f} MHz" if c.frequency_mhz else ""
    rows = [
        ("CPU", f"{c.model}: {_value(c.physical_cores)} cores ({_value(c.logical_cores)} threads){freq}, "
                f"load {c.load_percent:.0f}%"),
        ("RAM", f"{_gb(snap.memory.available_gb)} free of {_gb(snap.memory.total_gb)}"),
        ("Disk", f"{_gb(snap.disk.free_gb)} free of {_gb(snap.disk.total_gb)} at {disk_label or snap.disk.path}"),
        ("GPUs", snap.gpu_status),
    ]
    if snap.driver_version:
        rows.append(("NVIDIA driver", f"{snap.driver_version} (CUDA {snap.cuda_driver_version or '?'})"))
    for g in snap.gpus:
        rows.append((f"GPU {g.index}", gpu_line(g)))
    return rows


def gpu_line(g: GpuInfo) -> str:
    if g.error:
        return f"{g.name}: {g.error}"
    peak = peak_flops(g.name, "bf16" if g.bf16 else "fp16")
    return (f"{g.name}: {_gb(g.memory_used_gb)} used of {_gb(g.memory_total_gb)}, "
            f"{_value(g.utilization_percent, '%')} busy, {_value(g.temperature_c, ' °C')}, "
            f"{_value(g.power_w, ' W')} of {_value(g.power_limit_w, ' W')}, compute capability "
            f"{g.compute_capability or '?'}, bf16 {'yes' if g.bf16 else 'no' if g.bf16 is False else '?'}, "
            f"peak {format_flops(peak) if peak else 'not in the table'}")
