"""The best evaluated model of a run, and early stopping.

On a small corpus the held-out loss reaches its lowest point long before the run ends and then rises
while the train loss keeps falling: the model is memorising. So the trainer keeps the weights of the
evaluation with the lowest held-out loss in the run folder's `best/`, `final/` is made from them
(`train.keep: best`), and a run whose held-out loss has not improved for `train.early_stop_patience`
evaluations ends there. Resume still continues from the last checkpoint.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from clm_gui.runs.folder import WEIGHTS_FILE

RECORD = "best.json"


@dataclass
class BestModel:
    step: int = 0
    eval_loss: float = math.inf
    eval_bpb: float | None = None
    evals_since: int = 0  # evaluations after the best one, none of them better

    @property
    def found(self) -> bool:
        return math.isfinite(self.eval_loss)

    def update(self, step: int, eval_loss: float, eval_bpb: float | None) -> bool:
        """Take an evaluation's result; True when it is a new best."""
        if eval_loss < self.eval_loss:
            self.step, self.eval_loss, self.eval_bpb, self.evals_since = step, eval_loss, eval_bpb, 0
            return True
        self.evals_since += 1
        return False

    def patience_spent(self, patience: int) -> bool:
        return bool(patience) and self.evals_since >= patience

    def summary(self) -> dict:
        """What status.json and the model card show."""
        return {"step": self.step, "eval_loss": self.eval_loss, "eval_bpb": self.eval_bpb}

    def to_dict(self) -> dict:
        return asdict(self) if self.found else {}

    @classmethod
    def from_dict(cls, data: dict | None) -> BestModel:
        return cls(**data) if data else cls()


def save_best(folder: Path, weights: dict, best: BestModel) -> None:
    """Write the best model's weights and scores to `folder`, replacing the previous best whole: the
    files are written beside it and renamed into place, so a kill leaves one or the other."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tmp_weights, tmp_record = folder / f".tmp-{WEIGHTS_FILE}", folder / f".tmp-{RECORD}"
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in weights.items()}, str(tmp_weights))
        tmp_record.write_text(json.dumps(best.summary()))
    except BaseException:  # a full disk: the previous best stays whole, and the partial files' space is freed
        tmp_weights.unlink(missing_ok=True)
        tmp_record.unlink(missing_ok=True)
        raise
    (folder / RECORD).unlink(missing_ok=True)  # a record never describes weights other than its own
    os.replace(tmp_weights, folder / WEIGHTS_FILE)
    os.replace(tmp_record, folder / RECORD)


def read_best(folder: Path) -> dict | None:
    """The saved best's {step, eval_loss, eval_bpb}, or None when there is none (or it is incomplete)."""
    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return record if (folder / WEIGHTS_FILE).is_file() else None


def load_best_weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / WEIGHTS_FILE), device="cpu")
