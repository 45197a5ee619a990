"""A hand-written PyTorch GPT (nanoGPT-style): the yardstick the app's trainer is measured against.

No biases, tied embeddings, pre-norm blocks, PyTorch's fused attention, `torch.compile`, fused AdamW and
bf16 autocast: the plain single-file recipe people compare GUI trainers with. Two uses:
- speed (`measure`, on synthetic token ids), run by `train_throughput.py` in the same call as the trainer;
- quality (`train_recipe`): the published small-data recipe, a character-level GPT trained on a text file
  with the best validation kept, run by `small_data.py --reference` beside the app's default journey.

    python bench/reference_gpt.py --layers 12 --heads 12 --width 768 --context 1024 --batch 32
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Shape:
    n_layer: int
    n_head: int
    n_embd: int
    context: int
    vocab: int
    dropout: float = 0.0


class Block(nn.Module):
    def __init__(self, s: Shape):
        super().__init__()
        self.n_head, self.dropout = s.n_head, s.dropout
        self.ln_1, self.ln_2 = nn.LayerNorm(s.n_embd, bias=False), nn.LayerNorm(s.n_embd, bias=False)
        self.qkv = nn.Linear(s.n_embd, 3 * s.n_embd, bias=False)
        self.proj = nn.Linear(s.n_embd, s.n_embd, bias=False)
        self.fc = nn.Linear(s.n_embd, 4 * s.n_embd, bias=False)
        self.fc_out = nn.Linear(4 * s.n_embd, s.n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        x = x + F.dropout(self.proj(y.transpose(1, 2).contiguous().view(B, T, C)), self.dropout, self.training)
        return x + F.dropout(self.fc_out(F.gelu(self.fc(self.ln_2(x)))), self.dropout, self.training)


class GPT(nn.Module):
    def __init__(self, s: Shape):
        super().__init__()
        self.dropout = s.dropout
        self.wte, self.wpe = nn.Embedding(s.vocab, s.n_embd), nn.Embedding(s.context, s.n_embd)
        self.blocks = nn.ModuleList(Block(s) for _ in range(s.n_layer))
        self.ln_f = nn.LayerNorm(s.n_embd, bias=False)
        self.head = nn.Linear(s.n_embd, s.vocab, bias=False)
        self.head.weight = self.wte.weight
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
        for block in self.blocks:  # GPT-2's scaled init of the projections into the residual stream
            for projection in (block.proj, block.fc_out):
                nn.init.normal_(projection.weight, std=0.02 / math.sqrt(2 * s.n_layer))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1], device=ids.device))
        x = F.dropout(x, self.dropout, self.training)
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x[:, :-1]))
        return F.cross_entropy(logits.float().flatten(0, 1), ids[:, 1:].flatten())


def measure(shape: Shape, batch: int, steps: int = 60, warmup: int = 15) -> dict:
    """Steady-state training tokens/s on one GPU (synthetic ids), timed after `warmup` steps."""
    torch.backends.cuda.matmul.allow_tf32 = True
    device = torch.device("cuda")
    model = GPT(shape).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1, fused=True)
    step = torch.compile(model)
    pool = torch.randint(0, shape.vocab, (8, batch, shape.context), device=device)
    for i in range(warmup + steps):
        if i == warmup:
            torch.cuda.synchronize()
            start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = step(pool[i % len(pool)])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"name": "reference", **asdict(shape), "batch": batch, "tokens_per_s": steps * batch * shape.context / seconds,
            "ms_per_step": 1000 * seconds / steps, "device": torch.cuda.get_device_name()}


# ---------------------------------------------------------------------------------------------
# The published small-data recipe (nanoGPT's character-level configurations), rebuilt here.


@dataclass
class Recipe:
    """A character-level GPT trained with the best validation kept: the GPU recipe by default; `cpu()` is
    its published variant for a laptop CPU."""

    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    context: int = 256
    dropout: float = 0.2
    batch: int = 64
    steps: int = 5000
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-4
    warmup: int = 100
    betas: tuple = (0.9, 0.99)
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_interval: int = 250
    ema_decay: float = 0.0  # 0: none; else the exponential moving average of the weights is evaluated and kept
    seed: int = 1337
    label: str = "reference"

    @classmethod
    def cpu(cls, **changes) -> Recipe:
        return cls(**{"n_layer": 4, "n_head": 4, "n_embd": 192, "context": 128, "batch": 12, "dropout": 0.1,
                      "steps": 3200, "label": "reference (CPU)", **changes})


@dataclass
class CharCodec:
    """The corpus's characters as the vocabulary; bytes on text that is not ASCII (as the recipe says)."""

    chars: list[str] = field(default_factory=list)  # empty: bytes

    @classmethod
    def for_text(cls, text: str) -> CharCodec:
        return cls(sorted(set(text))) if text.isascii() else cls()

    @property
    def size(self) -> int:
        return len(self.chars) or 256

    def encode(self, text: str) -> torch.Tensor:
        if not self.chars:
            return torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8).long()
        index = {c: i for i, c in enumerate(self.chars)}
        return torch.tensor([index[c] for c in text if c in index], dtype=torch.long)


def lr_at(recipe: Recipe, step: int) -> float:
    if step < recipe.warmup:
        return recipe.learning_rate * (step + 1) / recipe.warmup
    progress = min(1.0, (step - recipe.warmup) / max(1, recipe.steps - recipe.warmup))
    return recipe.min_learning_rate + 0.5 * (1 + math.cos(math.pi * progress)) * (
        recipe.learning_rate - recipe.min_learning_rate)


@torch.no_grad()
def bits_per_byte(model: GPT, ids: torch.Tensor, n_bytes: int, context: int, batch: int, autocast) -> float:
    """Every token after the first predicted once, in windows of `context + 1` that overlap by one token
    (as the app's evaluation scores), in bits per byte of the text."""
    model.eval()
    stride = context
    windows = [ids[i:i + context + 1] for i in range(0, len(ids) - 1, stride)]
    full = [w for w in windows if len(w) == context + 1]
    total = 0.0
    batches = [torch.stack(full[i:i + batch]) for i in range(0, len(full), batch)] + \
        [w[None] for w in windows if len(w) != context + 1]
    for b in batches:
        with autocast():
            total += model(b.to(next(model.parameters()).device)).float().item() * b.shape[0] * (b.shape[1] - 1)
    model.train()
    return total / math.log(2) / n_bytes


def train_recipe(recipe: Recipe, train_text: str, val_text: str, test_text: str, device: str) -> dict:
    """Train the recipe on `train_text`, evaluating on `val_text` every eval_interval steps and keeping the
    best; return the curve (seconds from the start, step, validation bits/byte) and the kept model's bits
    per byte on `test_text`. The clock starts before the model is built and counts compilation; `started_at`
    is that moment on the wall clock (a caller may count from its process's launch instead)."""
    started, started_at = time.perf_counter(), time.time()
    torch.manual_seed(recipe.seed)
    on_gpu = device == "cuda"
    torch.backends.cuda.matmul.allow_tf32 = True
    codec = CharCodec.for_text(train_text + val_text)
    data, val = codec.encode(train_text), codec.encode(val_text)
    shape = Shape(recipe.n_layer, recipe.n_head, recipe.n_embd, recipe.context + 1, codec.size, recipe.dropout)
    model = GPT(shape).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=recipe.learning_rate, betas=recipe.betas, fused=on_gpu)
    average = torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(recipe.ema_decay)) if recipe.ema_decay else None
    step_fn = torch.compile(model) if on_gpu else model

    def autocast():
        return torch.autocast("cuda", dtype=torch.bfloat16) if on_gpu else torch.autocast("cpu", enabled=False)

    val_bytes = len(val_text.encode("utf-8"))
    curve, best, best_state = [], math.inf, None
    generator = torch.Generator().manual_seed(recipe.seed)
    for step in range(recipe.steps + 1):
        if step % recipe.eval_interval == 0 or step == recipe.steps:
            scored = average.module if average is not None else model
            bpb = bits_per_byte(scored, val, val_bytes, recipe.context, recipe.batch, autocast)
            curve.append({"seconds": time.perf_counter() - started, "step": step, "val_bpb": bpb})
            if bpb < best:
                best, best_state = bpb, {k: v.detach().clone() for k, v in scored.state_dict().items()}
        if step == recipe.steps:
            break
        for group in optimizer.param_groups:
            group["lr"] = lr_at(recipe, step)
        starts = torch.randint(len(data) - recipe.context - 1, (recipe.batch,), generator=generator)
        batch = torch.stack([data[i:i + recipe.context + 1] for i in starts.tolist()]).to(device, non_blocking=True)
        with autocast():
            loss = step_fn(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if average is not None:
            average.update_parameters(model)
    wall = time.perf_counter() - started
    kept = average.module if average is not None else model
    kept.load_state_dict(best_state)
    test = codec.encode(test_text)
    test_bpb = bits_per_byte(kept, test, len(test_text.encode("utf-8")), recipe.context, recipe.batch, autocast)
    return {"label": recipe.label, "recipe": asdict(recipe), "vocab": codec.size, "started_at": started_at,
            "parameters": sum(p.numel() for p in model.parameters()), "wall_s": wall, "curve": curve,
            "best_val_bpb": best, "held_out_bpb": test_bpb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--context", type=int, default=1024)
    parser.add_argument("--vocab", type=int, default=50304)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    shape = Shape(args.layers, args.heads, args.width, args.context, args.vocab)
    print("RESULT " + json.dumps(measure(shape, args.batch, args.steps)))


if __name__ == "__main__":
    main()
