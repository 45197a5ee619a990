"""Sample prompts in the data's own words: what the samples during training and the Playground start from.

Fixed code prompts ("def ", "import ") on a corpus of plays gave "def  of his king"; the opening words of
held-out lines are text of the data's own kind that the model has not trained on.
"""

from __future__ import annotations

from clm_gui.config import DataConfig
from clm_gui.errors import UserError

PROMPT_WORDS = 2
PROMPTS = 3
PROMPT_SOURCE_BYTES = 20_000  # of held-out text read for them: a few seconds at most, even streaming


def prompts_from(texts: list[str], n: int = PROMPTS) -> list[str]:
    """The opening words of the texts' lines, each once. No trailing space: byte-level BPE tokens carry their
    leading space ("ROMEO" + " night"), so a prompt ending in one gave "ROMEO  night"."""
    prompts: list[str] = []
    for text in texts:
        for line in text.splitlines():
            prompt = " ".join(line.split()[:PROMPT_WORDS])
            if prompt and prompt not in prompts:
                prompts.append(prompt)
            if len(prompts) == n:
                return prompts
    return prompts or ["\n"]


def prompts_for(data: DataConfig) -> list[str] | None:
    """Prompts from the dataset's held-out text; None when it has none to read."""
    from clm_gui.data.held_out import held_out_texts

    try:
        return prompts_from(held_out_texts(data, max_bytes=PROMPT_SOURCE_BYTES))
    except UserError:
        return None
