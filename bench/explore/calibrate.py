"""Milliseconds per training step of the published recipe's CPU model (bench/reference_gpt.py, 4 x 192,
12 x 128 tokens a step) at N threads: compares one machine's CPU with another's before exploring on it.

    python bench/explore/calibrate.py 2
"""

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.reference_gpt import GPT, Shape  # noqa: E402

torch.manual_seed(0)
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
model = GPT(Shape(n_layer=4, n_head=4, n_embd=192, context=128, vocab=100, dropout=0.1))
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
ids = torch.randint(0, 100, (12, 128))


def step():
    model(ids).backward()
    optimizer.step()
    optimizer.zero_grad()


for _ in range(10):
    step()
start = time.perf_counter()
for _ in range(80):
    step()
print("CALIB ms/step", 1000 * (time.perf_counter() - start) / 80, "threads", torch.get_num_threads())
