"""A hand-written PyTorch GPT (nanoGPT-style): the yardstick `train_throughput.py` measures the trainer against.

No biases, tied embeddings, pre-norm blocks, PyTorch's fused attention, `torch.compile`, fused AdamW and
bf16 autocast, on synthetic token ids: the plain single-file recipe people compare GUI trainers with.
It runs in the same call as the trainer's configurations so that every ratio is taken on one card.

    python bench/reference_gpt.py --layers 12 --heads 12 --width 768 --context 1024 --batch 32
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass

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


class Block(nn.Module):
    def __init__(self, s: Shape):
        super().__init__()
        self.n_head = s.n_head
        self.ln_1, self.ln_2 = nn.LayerNorm(s.n_embd, bias=False), nn.LayerNorm(s.n_embd, bias=False)
        self.qkv = nn.Linear(s.n_embd, 3 * s.n_embd, bias=False)
        self.proj = nn.Linear(s.n_embd, s.n_embd, bias=False)
        self.fc = nn.Linear(s.n_embd, 4 * s.n_embd, bias=False)
        self.fc_out = nn.Linear(4 * s.n_embd, s.n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + self.fc_out(F.gelu(self.fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, s: Shape):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(s.vocab, s.n_embd), nn.Embedding(s.context, s.n_embd)
        self.blocks = nn.ModuleList(Block(s) for _ in range(s.n_layer))
        self.ln_f = nn.LayerNorm(s.n_embd, bias=False)
        self.head = nn.Linear(s.n_embd, s.vocab, bias=False)
        self.head.weight = self.wte.weight
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1], device=ids.device))
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
