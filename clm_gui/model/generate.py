"""Text generation from a trained run, its final model or any of its checkpoints."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TextIteratorStreamer

from clm_gui.errors import UserError
from clm_gui.runs.folder import MODEL_CONFIG_FILE, RunDir
from clm_gui.security import check_encodable


@dataclass
class SamplingSettings:
    max_new_tokens: int = 100
    temperature: float = 0.8
    top_k: int = 50
    top_p: float = 0.95
    seed: int | None = None

    def problems(self) -> list[str]:
        p = []
        if not 1 <= self.max_new_tokens <= 4096:
            p.append("max new tokens must be between 1 and 4096.")
        if not 0 < self.temperature <= 5:
            p.append("temperature must be above 0 and at most 5 (0.7-1.0 is typical).")
        if self.top_k < 0:
            p.append("top-k cannot be negative (0 turns it off).")
        if not 0 < self.top_p <= 1:
            p.append("top-p must be above 0 and at most 1.")
        return p


def resolve_model_dir(path: str | Path) -> tuple[Path, Path]:
    """(model folder, tokenizer folder) for a run folder, its final/ folder or a checkpoint folder."""
    path = Path(path).expanduser()
    if (path / "config.yaml").is_file():  # a run folder: prefer the final model, else the latest checkpoint
        run = RunDir(path)
        model_dir = run.final_dir if run.has_final_model() else run.latest_checkpoint()
        if model_dir is None:
            raise UserError(f"The run {run.id} has no final model or checkpoint yet; train it first.")
        return model_dir, (model_dir if (model_dir / "tokenizer.json").is_file() else run.tokenizer_dir)
    if not (path / MODEL_CONFIG_FILE).is_file():
        raise UserError(f"{path} is neither a run folder nor a model folder (no config.json).")
    if (path / "tokenizer.json").is_file() or (path / "tokenizer_config.json").is_file():
        return path, path
    run_tokenizer = path.parent.parent / "tokenizer"  # runs/<id>/checkpoints/step-N -> runs/<id>/tokenizer
    if run_tokenizer.is_dir():
        return path, run_tokenizer
    raise UserError(f"No tokenizer found for {path}.")


def load_for_generation(path: str | Path, device: str = "cpu"):
    model_dir, tokenizer_dir = resolve_model_dir(path)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).to(device).eval()
    return model, tokenizer


def _prepare(model, tokenizer, prompt: str, settings: SamplingSettings):
    problems = settings.problems()
    if problems:
        raise UserError(" ".join(problems))
    check_encodable(prompt, "The prompt")
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    if ids.shape[1] == 0:
        ids = torch.tensor([[tokenizer.eos_token_id]])
    context = getattr(model.config, "n_positions", None) or model.config.max_position_embeddings
    new_tokens = min(settings.max_new_tokens, context - 1)
    ids = ids[:, -(context - new_tokens):].to(model.device)
    if settings.seed is not None:
        torch.manual_seed(settings.seed)
    kwargs = dict(
        input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens, do_sample=True,
        temperature=settings.temperature, top_k=settings.top_k or None, top_p=settings.top_p,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=None,
    )
    return ids, kwargs


def generate(model, tokenizer, prompt: str, settings: SamplingSettings) -> str:
    return generate_batch(model, tokenizer, [prompt], settings)[0]


@torch.no_grad()
def generate_batch(model, tokenizer, prompts: list[str], settings: SamplingSettings) -> list[str]:
    """Each prompt and its continuation, generated together: the prompts left-padded into one batch, so a
    new token is one forward pass for all of them (the training samples took one a prompt, and a small
    model's pass is mostly fixed cost)."""
    prepared = [_prepare(model, tokenizer, prompt, settings) for prompt in prompts]
    width = max(ids.shape[1] for ids, _ in prepared)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long, device=model.device)
    attention_mask = torch.zeros_like(input_ids)
    for row, (ids, _) in enumerate(prepared):
        input_ids[row, width - ids.shape[1]:], attention_mask[row, width - ids.shape[1]:] = ids[0], 1
    kwargs = {**prepared[-1][1], "input_ids": input_ids, "attention_mask": attention_mask}
    out = model.generate(**kwargs)
    return [prompt + tokenizer.decode(row[width:], skip_special_tokens=True) for prompt, row in zip(prompts, out)]


def generate_stream(model, tokenizer, prompt: str, settings: SamplingSettings) -> Iterator[str]:
    """Yield the growing text as tokens arrive (generation runs in a helper thread)."""
    _, kwargs = _prepare(model, tokenizer, prompt, settings)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    thread = threading.Thread(target=lambda: torch.no_grad()(model.generate)(**kwargs, streamer=streamer))
    thread.start()
    text = prompt
    for piece in streamer:
        text += piece
        yield text
    thread.join()
