"""Metric records mirrored into TensorBoard event files in the run folder, when `tensorboard` is installed.

TensorBoard is optional: without it this writes nothing and costs nothing, and metrics.jsonl stays the
record the app reads. With it, `tensorboard --logdir runs/` shows every run in the usual viewer.
"""

from __future__ import annotations

from pathlib import Path

TENSORBOARD_DIR = "tensorboard"

# metric record key -> TensorBoard tag
SCALARS = {
    "train_loss": "loss/train",
    "eval_loss": "loss/eval",
    "perplexity": "loss/eval_perplexity",
    "eval_bpb": "bpb/eval",
    "lr": "optim/learning_rate",
    "tokens_per_s": "speed/tokens_per_s",
    "mfu": "speed/mfu",
    "memory_gb": "system/memory_gb",
}


class TensorBoardLog:
    """Writes each metric record as scalars at its step; a no-op when tensorboard is not installed."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._writer = None
        self._available: bool | None = None  # decided on the first record, so a run that logs nothing writes nothing

    @property
    def available(self) -> bool:
        if self._available is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # torch's writer needs the tensorboard package
                self._available = False
            else:
                self._writer = SummaryWriter(log_dir=str(self.folder))
                self._available = True
        return self._available

    def write(self, record: dict) -> None:
        if not self.available:
            return
        for key, tag in SCALARS.items():
            if isinstance(record.get(key), (int, float)):
                self._writer.add_scalar(tag, record[key], global_step=record.get("step", 0))
        self._writer.flush()  # a few bytes every log interval; a viewer sees the run live, a crash loses nothing
