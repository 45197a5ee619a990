"""The training objective: a causal LM and its next-token loss as one module (what the trainer steps,
DDP wraps and evaluation scores)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from clm_gui.train.fast_forward import hidden_states_fn


class CausalLMLoss(torch.nn.Module):
    """A Hugging Face causal LM plus its next-token loss, as one module.

    The loss is taken on the hidden states through the output embedding, so the trainer (and
    `torch.compile`) sees the whole step, and DDP wraps a module whose forward returns the loss. The
    hidden states come from the lean forward in `fast_forward` where the family has one.

    `whole_model=True` calls the model itself instead, for FSDP: a sharded model gathers its weights in
    the hooks of the modules it calls, and the lean forward reads the blocks' weights without calling them.
    """

    def __init__(self, lm: torch.nn.Module, whole_model: bool = False):
        super().__init__()
        self.lm, self.whole_model = lm, whole_model
        self.hidden_states = hidden_states_fn(lm) or (
            lambda model, ids: model.base_model(input_ids=ids).last_hidden_state)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        if self.whole_model:
            return next_token_loss(self.lm(input_ids=input_ids, use_cache=False).logits[:, :-1], input_ids)
        return output_loss(self.lm.get_output_embeddings(), self.hidden_states(self.lm, input_ids), input_ids)


def next_token_loss(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy of each position's logits against the next token (in float32)."""
    return F.cross_entropy(logits.float().flatten(0, 1), input_ids[:, 1:].flatten())


def output_loss(head: torch.nn.Module, hidden: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """The output layer on every position but the last, and the loss of its logits."""
    return next_token_loss(head(hidden[:, :-1]), input_ids)
