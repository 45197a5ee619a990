"""Made-up devices the sizing and planner tests estimate for: the formulas never probe the machine."""

from clm_gui.model.sizing import DeviceSpec
from clm_gui.units import GB

H100 = DeviceSpec(kind="cuda", name="H100", count=1, memory_bytes=80 * GB, peak_flops=989e12, precision="bf16",
                  compiled=True)
SMALL_CPU = DeviceSpec(kind="cpu", name="test CPU", count=1, memory_bytes=8 * GB, peak_flops=50e9,
                       precision="fp32", compiled=False)
