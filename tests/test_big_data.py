"""Big data (#29): a streaming run's memory does not grow with its documents' size, and a quick start's
preparation on a large file takes at most its share of the time budget."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from clm_gui.data import budget, profiling, sources
from clm_gui.jobs.quickstart import plan_quickstart
from clm_gui.runs.folder import new_run_dir
from clm_gui.train import trainer as trainer_lib
from tests.fast_runs import fast_config, write_corpus

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


class ReadingClock:
    """A clock that moves only as the preparation takes rows of text from the source, at `bytes_per_second`:
    how long it takes on a machine of that speed, whatever this one's."""

    def __init__(self, bytes_per_second: float):
        self.bytes_per_second, self.now = bytes_per_second, 0.0

    def __call__(self) -> float:
        return self.now

    def charging(self, read_rows):
        def rows(*args, **kwargs):
            for row in read_rows(*args, **kwargs):
                self.now += len(row["text"].encode("utf-8")) / self.bytes_per_second
                yield row
        return rows


def test_a_quick_start_on_a_large_file_prepares_within_its_share_of_the_budget(tmp_path, monkeypatch):
    # A 10-minute quick start on a 1.26 GB file spent 58% of its budget profiling and training its tokenizer
    # on all of the text (#29). Here the machine profiles, learns and tokenizes 1 MB/s, so a 30 MB file
    # is as large against a 1-minute budget as 1.26 GB is against 10 minutes on the 2-core box.
    rate = 1e6
    for name in ("PROFILE_BYTES_PER_SECOND", "TOKENIZER_BYTES_PER_SECOND", "CACHE_BYTES_PER_SECOND"):
        monkeypatch.setattr(budget, name, rate)
    monkeypatch.setattr(budget, "MIN_PROFILE_SAMPLE_BYTES", 100_000)
    monkeypatch.setattr(budget, "MIN_TOKENIZER_SAMPLE_BYTES", 100_000)
    clock = ReadingClock(rate)
    for module in (sources, profiling):  # each reads rows with it: documents, profile, peeks at the columns
        monkeypatch.setattr(module, "iter_rows", clock.charging(sources.iter_rows))
    paragraphs = write_corpus(tmp_path / "small.txt").read_bytes()
    big = tmp_path / "big.txt"
    big.write_bytes(paragraphs * (30_000_000 // len(paragraphs)))

    planned = plan_quickstart(str(big), 1, device="cpu", runs_dir=tmp_path / "runs", clock=clock)
    assert 0 < planned.seconds_spent <= budget.PREPARATION_SHARE * 60
    assert planned.config.train.max_minutes == pytest.approx(1 - planned.seconds_spent / 60, abs=0.01)
    data, tokenizer = planned.choices[0].why, planned.choices[1].why
    assert planned.config.data.streaming and "into a token cache would take about 30 s" in data  # not built
    assert "The profile read the first 1.2 MB of it, a sample sized to the time budget: its size is an estimate" in data
    assert planned.profile.estimated and planned.profile.margins["bytes"] is not None
    assert planned.profile.bytes == pytest.approx(big.stat().st_size, rel=0.05)
    assert "learns its tokens from the first 3.0 MB of the text" in tokenizer


@pytest.mark.parametrize("max_minutes, sample", [(5, 20_000), (0, 0)])
def test_a_run_within_a_time_budget_trains_its_tokenizer_on_a_sample_sized_to_it(tmp_path, monkeypatch,
                                                                                   max_minutes, sample):
    # A streaming run of 10 GB would spend hours learning its tokenizer from all of it (#29).
    monkeypatch.setattr(budget, "MIN_TOKENIZER_SAMPLE_BYTES", 20_000)
    monkeypatch.setattr(budget, "TOKENIZER_BYTES_PER_SECOND", 1_000)  # 5 minutes at 5%: 15 KB, under the minimum
    limits, real = [], trainer_lib.train_tokenizer
    monkeypatch.setattr(trainer_lib, "train_tokenizer",
                        lambda texts, cfg, **options: limits.append(options["max_bytes"]) or real(texts, cfg, **options))
    cfg = fast_config(write_corpus(tmp_path / "corpus.txt"), max_steps=1, max_minutes=max_minutes)
    assert trainer_lib.train(cfg, new_run_dir(tmp_path / "runs", cfg))["state"] == "finished"
    assert limits == [sample]
