"""Big data (#29): a streaming run's memory does not grow with its documents' size."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from tests.fast_runs import write_corpus

REPO = Path(__file__).resolve().parents[1]
ONE_LINE_MB = 32  # one document of 32 MB: 32 tokenizer calls' worth (packing.ENCODE_BATCH_CHARS)
# What a streaming run may add to its process's peak memory, whatever its documents' size. Before #29 this
# file took 6.5 GB: its one line was one piece, one tokenizer call and one list of ids; now about 120 MB.
STREAMING_GROWTH_MB = 300

# A streaming run of a few steps in a child process (its own peak memory), on a tokenizer learnt from a small
# sample; it prints the peak before training, the peak after, and the steps it logged.
CHILD = """
import json, resource, sys
from pathlib import Path
from clm_gui.runs.folder import new_run_dir
from clm_gui.tokenizer.loading import save_tokenizer
from clm_gui.tokenizer.training import train_tokenizer
from clm_gui.train.trainer import train
from tests.fast_runs import fast_config

big, small, folder = map(Path, sys.argv[1:])
cfg = fast_config(big, max_steps=2)
cfg.data.streaming = True
save_tokenizer(train_tokenizer(iter([small.read_text()]), cfg.tokenizer), folder / "tokenizer")
cfg.tokenizer.path = str(folder / "tokenizer")
peak_mb = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
before, steps = peak_mb(), []
status = train(cfg, new_run_dir(folder / "runs", cfg), on_log=lambda record: steps.append(record.get("step")))
print(json.dumps({"before_mb": before, "peak_mb": peak_mb(), "state": status["state"], "steps": steps}))
"""


def write_one_line(path: Path, megabytes: int, words: list[str]) -> Path:
    """A text file of one line: words and spaces, no line break (a minified dump, a single long record)."""
    rng = random.Random(0)
    block = " ".join(rng.choice(words) for _ in range(100_000)) + " "
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(megabytes * 1_000_000 // len(block) + 1):
            f.write(block)
    return path


def test_a_streaming_run_over_one_huge_document_holds_its_memory_and_reaches_its_first_step(tmp_path):
    small = write_corpus(tmp_path / "small.txt")
    big = write_one_line(tmp_path / "one-line.txt", ONE_LINE_MB, small.read_text().split())
    out = subprocess.run([sys.executable, "-c", CHILD, str(big), str(small), str(tmp_path)], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["state"] == "finished" and result["steps"][:2] == [1, 2]
    assert result["peak_mb"] - result["before_mb"] < STREAMING_GROWTH_MB, result
