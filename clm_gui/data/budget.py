"""Where a time budget goes before training: at most PREPARATION_SHARE of it (#29).

On a 1.26 GB file a 10-minute quick start spent 58% of its budget profiling all of the text and training its
tokenizer on all of it, and would then have spent minutes more tokenizing it into the token cache. Each step of
the preparation now reads what its share of the budget allows at the rate measured on the 2-core box
(bench/big_data.py, docs/benchmarks.md): the profile a sample (its totals estimated with a 95% margin), the
tokenizer a sample, and the token cache is built only when all of the training text can be tokenized within its
share; otherwise the run streams, and its first window comes in seconds. A run that trains its own tokenizer
within train.max_minutes takes the same sample.
"""

from __future__ import annotations

from dataclasses import dataclass

PREPARATION_SHARE = 0.15  # of the budget, at most, before the first step on big data
PROFILE_SHARE, TOKENIZER_SHARE, CACHE_SHARE = 0.02, 0.05, 0.08  # PREPARATION_SHARE between the steps
# Measured on the 2-core box: a streamed profile reads about 90 MB/s (1.26 GB in 13.5 s, #29), tokenizer
# training learns from about 0.9 MB/s (bench/tokenizer_speed.py), and the trainer loads text in memory and
# tokenizes it into the token cache at 3.4 to 4.7 MB/s (bench/big_data.py: 0.03 GB in 8.6 s, 0.3 GB in 64 s;
# 1.9 MB/s with the cores shared), counted at the lower figure.
PROFILE_BYTES_PER_SECOND = 90e6
TOKENIZER_BYTES_PER_SECOND = 0.9e6
CACHE_BYTES_PER_SECOND = 3.4e6
# Samples never smaller than this, whatever the budget: a profile needs a few megabytes to see the data's
# kind, and a vocabulary of thousands of tokens needs text enough to be learnt.
MIN_PROFILE_SAMPLE_BYTES = 4_000_000
MIN_TOKENIZER_SAMPLE_BYTES = 8_000_000


@dataclass(frozen=True)
class PreparationBudget:
    minutes: float  # the whole time budget: of a quick start, or a run's train.max_minutes

    @property
    def seconds(self) -> float:
        return self.minutes * 60

    @property
    def profile_bytes(self) -> int:
        """The most text the profile reads: its share of the budget at its reading rate."""
        return int(max(MIN_PROFILE_SAMPLE_BYTES, self.seconds * PROFILE_SHARE * PROFILE_BYTES_PER_SECOND))

    @property
    def tokenizer_bytes(self) -> int:
        """The most text a new tokenizer learns from."""
        return int(max(MIN_TOKENIZER_SAMPLE_BYTES, self.seconds * TOKENIZER_SHARE * TOKENIZER_BYTES_PER_SECOND))

    def cache_seconds(self, training_bytes: float) -> float:
        """How long loading the training text in memory and tokenizing it into the token cache takes."""
        return training_bytes / CACHE_BYTES_PER_SECOND

    def cache_fits(self, training_bytes: float) -> bool:
        """Whether the token cache can be built within its share of the budget."""
        return self.cache_seconds(training_bytes) <= self.seconds * CACHE_SHARE
