"""Runs that start in a few seconds: a small generated corpus and a model of a few thousand parameters.

The fault, hostile-input and load tests train many short runs; the demo corpus would spend most of
each run reading and tokenizing the standard library, so they train on this corpus instead.
"""

from __future__ import annotations

import random
from pathlib import Path

from clm_gui.config import RunConfig

_WORDS = ["def", "return", "self", "import", "class", "for", "in", "if", "else", "while", "value", "data",
          "print", "(", ")", ":", "=", "+", "x", "y", "items", "name", "None", "True"]


def write_corpus(path: Path, paragraphs: int = 400, seed: int = 0) -> Path:
    """A text file of code-like paragraphs (about 100 KB): one stream, its last 2% held out."""
    rng = random.Random(seed)
    lines = (" ".join(rng.choice(_WORDS) for _ in range(rng.randint(20, 80))) for _ in range(paragraphs))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    return path


def fast_config(corpus: Path, **train) -> RunConfig:
    """About 20k parameters, context 32, batch 4: well under a second per step on a busy CPU."""
    cfg = RunConfig(name="fast")
    cfg.data.source = str(corpus)
    cfg.tokenizer.vocab_size, cfg.tokenizer.min_frequency = 300, 1
    m = cfg.model
    m.n_layer, m.n_head, m.n_embd, m.context_length = 1, 2, 32, 32
    t = cfg.train
    t.max_steps, t.micro_batch_size, t.warmup_steps, t.learning_rate = 8, 4, 2, 3e-3
    t.log_interval, t.eval_interval, t.sample_interval, t.save_interval = 1, 0, 0, 2
    t.device, t.compile = "cpu", "off"
    for key, value in train.items():
        setattr(t, key, value)
    return cfg.check()


def write_english(path: Path, max_chars: int = 200_000) -> Path:
    """Real English text: Python's own reference documentation (pydoc_data, present wherever Python is),
    whole topics up to about `max_chars` characters: prose with line breaks and a few code examples. The
    demo tests train on it, and the README's screenshots show it."""
    from pydoc_data.topics import topics

    parts, size = [], 0
    for name in sorted(topics):
        if size >= max_chars:
            break
        parts.append(topics[name].strip())
        size += len(parts[-1]) + 2
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return path


_CHARACTERS = ["ROMEO", "JULIET", "NURSE", "MERCUTIO", "BENVOLIO", "FRIAR LAURENCE"]
_PROSE = ("my lord the king is come to court and would speak with you of love and honour yet what light "
          "through yonder window breaks it is the east and she the sun arise fair sun good night sweet prince "
          "a plague on both your houses parting is such sweet sorrow that I shall say good night till morrow").split()


def write_play(path: Path, speeches: int = 2000, seed: int = 0) -> Path:
    """A made-up play (about 200 KB): speeches headed by a character's name, short repeated lines, blank lines
    between speeches: English prose whose line breaks are part of the text."""
    rng = random.Random(seed)
    parts = []
    for _ in range(speeches):
        lines = [" ".join(rng.choice(_PROSE) for _ in range(rng.randint(4, 10))).capitalize() + rng.choice(".,;!?")
                 for _ in range(rng.randint(1, 4))]
        parts.append(f"{rng.choice(_CHARACTERS)}:\n" + "\n".join(lines))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return path
