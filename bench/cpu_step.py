"""CPU time of one training step: the app's model and loss against the hand-written GPT, same shape.

The published small-data recipe's CPU variant (4 x 192, context 128, 12 sequences a step, dropout 0.1, bytes)
is what a 2-core user's run is compared with (bench/small_data.py); the planner affords a model by its speed,
so a slower step means a smaller model. Both step the same way (forward, backward, clipping, AdamW), in
rounds that alternate between them, and the figure is CPU seconds of this process (steadier than wall time
on a shared machine). `--activation` builds the app's GPT-2 with another of transformers' activations, to
compare with the default.

    python bench/cpu_step.py                                   # the default model against the recipe's
    python bench/cpu_step.py --activation gelu_new --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.reference_gpt import GPT, Shape  # noqa: E402
from clm_gui.config import ModelConfig  # noqa: E402
from clm_gui.model.architecture import build_model, padded_vocab_size  # noqa: E402
from clm_gui.train.loss import CausalLMLoss  # noqa: E402


def app_model(layers: int, width: int, context: int, vocab: int, dropout: float, activation: str) -> torch.nn.Module:
    cfg = ModelConfig(family="gpt2", n_layer=layers, n_head=layers, n_embd=width, context_length=context,
                      dropout=dropout)
    lm = build_model(cfg, vocab, seed=0)
    if activation:
        from transformers.activations import ACT2FN

        lm.config.activation_function = activation
        for block in lm.transformer.h:
            block.mlp.act = ACT2FN[activation]
    return CausalLMLoss(lm)


def stepper(model: torch.nn.Module, batch: int, context: int, vocab: int):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        model(torch.randint(0, vocab, (batch, context))).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=192)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--vocab", type=int, default=258)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--activation", default="", help="a transformers activation name (default: the app's)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=20, help="steps a round")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    a = args
    models = {
        "hand-written GPT": GPT(Shape(a.layers, a.layers, a.width, a.context, padded_vocab_size(a.vocab), a.dropout)),
        f"app ({a.activation or 'default activation'})": app_model(a.layers, a.width, a.context, a.vocab,
                                                                    a.dropout, a.activation),
    }
    steps = {name: stepper(model, a.batch, a.context, a.vocab) for name, model in models.items()}
    for step in steps.values():  # the optimizer's state and the allocator settle first
        for _ in range(3):
            step()
    seconds = {name: [] for name in steps}
    for _ in range(a.rounds):
        for name, step in steps.items():
            started = time.process_time()
            for _ in range(a.steps):
                step()
            seconds[name].append((time.process_time() - started) / a.steps)
    reference = statistics.median(seconds["hand-written GPT"])
    for name, values in seconds.items():
        params = sum(p.numel() for p in models[name].parameters())
        print(f"{name:<34} {params / 1e6:5.2f}M parameters  {statistics.median(values) * 1e3:7.1f} ms CPU a step  "
              f"{statistics.median(values) / reference:5.3f}x the hand-written GPT")


if __name__ == "__main__":
    main()
