"""The sizing formulas: exact parameter counts, FLOPs, memory and speed estimates, a dataset's tokens."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from clm_gui.config import ModelConfig
from clm_gui.model import planner, sizing
from clm_gui.model.architecture import build_model, count_parameters, padded_vocab_size
from clm_gui.model.sizing import count_params, tokens_per_second, training_memory
from tests.devices import H100

TINY = ModelConfig(family="gpt2", n_layer=2, n_embd=128, n_head=4, context_length=128)


def built_parameters(cfg: ModelConfig, vocab: int) -> int:
    with torch.device("meta"):  # the real modules and shapes, without allocating or initialising weights
        return count_parameters(build_model(cfg, vocab, seed=0))


@pytest.mark.parametrize("layers,width,heads,vocab,tied,ffn", [
    (2, 64, 2, 1000, True, 0),
    (4, 256, 4, 8192, False, 0),
    (3, 96, 3, 777, True, 200),
    (12, 768, 12, 50257, True, 0),  # GPT-2 small
    (24, 1024, 16, 50257, True, 0),  # GPT-2 medium
])
def test_gpt2_parameter_count_equals_the_built_model(layers, width, heads, vocab, tied, ffn):
    cfg = ModelConfig(family="gpt2", n_layer=layers, n_embd=width, n_head=heads, tie_embeddings=tied,
                      intermediate_size=ffn, context_length=512)
    assert count_params(cfg, vocab).total == built_parameters(cfg, vocab)


@pytest.mark.parametrize("layers,width,heads,kv_heads,vocab,tied,ffn", [
    (2, 64, 2, 0, 1000, True, 0),
    (4, 256, 8, 2, 8192, False, 0),
    (3, 192, 6, 3, 32000, True, 500),
    (12, 768, 12, 4, 32000, False, 0),
])
def test_llama_parameter_count_equals_the_built_model(layers, width, heads, kv_heads, vocab, tied, ffn):
    cfg = ModelConfig(family="llama", n_layer=layers, n_embd=width, n_head=heads, n_kv_head=kv_heads,
                      tie_embeddings=tied, intermediate_size=ffn, context_length=256)
    assert count_params(cfg, vocab).total == built_parameters(cfg, vocab)


def test_gpt2_small_has_124_million_parameters_with_the_padded_gpt2_vocabulary():
    cfg = planner.PRESETS["GPT-2 small (124M)"].model_config()
    assert round(count_params(cfg, 50257).total / 1e6) == 124


def test_padded_vocabulary_is_what_the_estimates_use():
    assert count_params(TINY, 1000).embedding == padded_vocab_size(1000) * 128


def test_flops_count_only_parameters_that_multiply_activations():
    tied = ModelConfig(family="gpt2", n_layer=2, n_embd=64, n_head=2, context_length=128)
    counts = count_params(tied, 1000)
    assert counts.flops_params == counts.total - 128 * 64  # the position table is a lookup
    untied = count_params(dataclasses.replace(tied, tie_embeddings=False), 1000)
    assert untied.flops_params == counts.flops_params  # the separate input embedding is a lookup too
    assert sizing.training_flops_per_token(tied, 1000) == 6 * counts.flops_params + 12 * 2 * 64 * 128


def test_checkpointing_costs_one_more_forward_pass():
    cfg = ModelConfig(n_layer=4, n_embd=128, n_head=4, context_length=256)
    plain = sizing.training_flops_per_token(cfg, 4096)
    assert sizing.training_flops_per_token(dataclasses.replace(cfg, gradient_checkpointing=True), 4096) == \
        pytest.approx(plain * 8 / 6)


def test_mfu_counts_the_model_flops_and_not_the_recomputation():
    cfg = ModelConfig(n_layer=4, n_embd=128, n_head=4, context_length=256)
    flops = sizing.flops_per_token(count_params(cfg, 4096).flops_params, cfg)
    assert sizing.model_flops_utilisation(cfg, 4096, 1000.0, flops * 4000) == pytest.approx(0.25)
    assert sizing.model_flops_utilisation(cfg, 4096, 1000.0, flops * 1000, devices=2) == pytest.approx(0.5)
    recomputing = dataclasses.replace(cfg, gradient_checkpointing=True)
    assert sizing.model_flops_utilisation(recomputing, 4096, 1000.0, flops * 4000) == pytest.approx(0.25)


# ---------------------------------------------------------------------------------------------
# Memory.


def test_memory_of_a_tiny_fp32_model_computed_by_hand():
    n = count_params(TINY, 1024).total
    c = sizing.ACTIVATION_BYTES[("gpt2", "fp32")]
    tokens = 4 * 128
    activations = tokens * (2 * (c.per_width_per_layer * 128 + c.per_ffn_per_layer * 512) + c.per_width_outside * 128)
    logits = tokens * c.per_logit * 1024
    m = training_memory(TINY, 1024, micro_batch_size=4, precision="fp32", device_kind="cpu")
    assert (m.weights, m.optimizer, m.gradients, m.weight_copies) == (4 * n, 8 * n, 0, 0)
    assert m.activations == pytest.approx(activations)
    assert m.logits == pytest.approx(logits)
    allocated = 12 * n + activations + logits
    assert m.peak_allocated == pytest.approx(allocated)
    assert m.total == pytest.approx(allocated * (1 + sizing.ALLOCATOR_SLACK) + sizing.FRAMEWORK_BYTES["cpu"])


def test_gradients_live_through_the_forward_pass_only_with_accumulation():
    one = training_memory(TINY, 1024, 4, "fp32", grad_accum_steps=1, device_kind="cpu")
    two = training_memory(TINY, 1024, 4, "fp32", grad_accum_steps=2, device_kind="cpu")
    assert one.gradients == 0 and two.gradients == one.weights
    assert two.activations == one.activations


def test_a_large_model_with_a_tiny_batch_peaks_at_the_optimizer_step():
    cfg = planner.PRESETS["GPT-2 medium (350M)"].model_config(context_length=256)
    m = training_memory(cfg, 50257, 1, "bf16", compiled=True)
    n = count_params(cfg, 50257).total
    assert (m.weights, m.gradients, m.optimizer) == (4 * n, 4 * n, 8 * n)
    assert m.activations == m.logits == 0  # freed before the gradients are complete


def test_activations_grow_linearly_with_the_micro_batch_and_checkpointing_shrinks_them():
    cfg = planner.PRESETS["GPT-2 small (124M)"].model_config()
    m8, m16 = (training_memory(cfg, 50257, b, "bf16", compiled=True) for b in (8, 16))
    assert m16.activations == pytest.approx(2 * m8.activations)
    assert m16.logits == pytest.approx(2 * m8.logits)
    assert m16.weights == m8.weights
    ckpt = training_memory(dataclasses.replace(cfg, gradient_checkpointing=True), 50257, 16, "bf16", compiled=True)
    assert ckpt.activations < 0.2 * m16.activations
    assert ckpt.logits == m16.logits  # the loss is computed once, outside the checkpointed layers


def test_mixed_precision_keeps_16_bit_weight_copies_in_eager_mode():
    mixed = training_memory(TINY, 1024, 4, "bf16", compiled=False)
    n = count_params(TINY, 1024).total
    assert mixed.weight_copies == pytest.approx(sizing.ACTIVATION_BYTES[("gpt2", "mixed")].weight_copy_bytes_per_param * n)
    assert training_memory(TINY, 1024, 4, "fp32", device_kind="cpu").weight_copies == 0


@pytest.mark.parametrize("family,checkpointing", [("gpt2", False), ("llama", False), ("gpt2", True)])
def test_cpu_memory_estimate_is_within_15_percent_of_a_measured_training_step(family, checkpointing):
    from torch.distributed._tools.mem_tracker import MemTracker

    from clm_gui.config import TrainConfig
    from clm_gui.train.loss import CausalLMLoss
    from clm_gui.train.trainer import make_optimizer

    cfg = ModelConfig(family=family, n_layer=3, n_embd=96, n_head=3, context_length=64,
                      gradient_checkpointing=checkpointing)
    module = CausalLMLoss(build_model(cfg, 700, seed=0))
    optimizer = make_optimizer(module, TrainConfig(), torch.device("cpu"))
    batch = torch.randint(0, 700, (3, 64))

    def step():
        module(batch).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # creates AdamW's state, as every step after the first has it
    tracker = MemTracker()  # counts every tensor alive, at its peak
    tracker.track_external(module, optimizer)
    with tracker:
        step()
    measured = tracker.get_tracker_snapshot("peak")[torch.device("cpu")]["Total"]
    predicted = training_memory(cfg, 700, 3, "fp32", device_kind="cpu").peak_allocated
    assert predicted == pytest.approx(measured, rel=0.15)


# ---------------------------------------------------------------------------------------------
# Speed.


def test_tokens_per_second_computed_by_hand():
    cfg = planner.PRESETS["GPT-2 small (124M)"].model_config()
    flops = 6 * count_params(cfg, 50257).flops_params + 12 * 12 * 768 * 1024
    t = sizing.THROUGHPUT["cuda"]
    share = t.max_share * 768 / (768 + t.half_width)
    seconds = 16 * 1024 * flops / (989e12 * share) + 12 * t.seconds_per_layer + t.seconds_per_micro_batch
    assert tokens_per_second(cfg, 50257, 16, H100) == pytest.approx(16 * 1024 / seconds)
    eight = dataclasses.replace(H100, count=8)
    assert tokens_per_second(cfg, 50257, 16, eight) == pytest.approx(
        8 * sizing.DATA_PARALLEL_EFFICIENCY * 16 * 1024 / seconds)


# ---------------------------------------------------------------------------------------------
# A dataset's tokens, from the Dataset tab's profile.


def test_dataset_tokens_come_from_the_measured_text_per_token_the_profile_count_or_its_size(profile_with):
    # One rule for the Model tab, Quick start and the planner: the held-out share comes off, and text per
    # token is the tokenizer's measured figure, else the profile's count, else the usual figure for its kind.
    natural = {"kind": "natural language", "language": "English", "label": "English prose"}
    measured, how = sizing.dataset_tokens_from_profile(profile_with(tokens=12345, bytes=4_000_000), 0.02, 2.5)
    assert measured == int(4_000_000 * 0.98 / 2.5) and "2.50 bytes per token" in how and "2% held out" in how
    assert sizing.dataset_tokens_from_profile(profile_with(tokens=12345, estimated=False), 0.02) == \
        (int(12345 * 0.98), "counted by the tokenizer, less the 2% held out")
    tokens, how = sizing.dataset_tokens_from_profile(
        profile_with(tokens=None, bytes=4_000_000, characters=4_000_000, domain=natural, estimated=True), 0.5)
    assert tokens == 500_000 and "estimated from bytes at 4.00 bytes per token" in how and "sample" in how
    code = dict(natural, kind="code")
    tokens, _ = sizing.dataset_tokens_from_profile(
        profile_with(tokens=None, bytes=3_000_000, characters=1_500_000, domain=code), 0.0)
    assert tokens == 500_000  # 3 characters a token on code, 2 bytes a character here
    assert sizing.dataset_tokens_from_profile(profile_with(tokens=None, bytes=None), 0.02) == \
        (None, "the profile has no size")  # a stream of unknown size
    assert sizing.dataset_tokens_from_profile(None, 0.02) == (None, "no dataset profiled yet")


def test_the_planner_reads_the_size_that_profiling_writes(tmp_path):
    # A regression: the planner looked for total_tokens and total_bytes, which profiling never writes.
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from clm_gui.config import DataConfig
    from clm_gui.data.profiling import DatasetProfile, profile_source

    docs = ["The first document of a few.", "A second one, a little longer than the first.", "A third."]
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs), encoding="utf-8")
    profile = profile_source(DataConfig(source=str(source)))
    assert sizing.dataset_tokens_from_profile(profile, 0.0)[0] == sum(len(d.encode()) for d in docs) // 4

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(docs, trainers.BpeTrainer(vocab_size=100, special_tokens=["[UNK]"],
                                                            show_progress=False))
    counted = profile_source(DataConfig(source=str(source)), tokenizer=tokenizer)
    tokens = sum(len(tokenizer.encode(d).ids) for d in docs)
    assert sizing.dataset_tokens_from_profile(counted, 0.0)[0] == tokens
    kept = DatasetProfile.from_dict(json.loads(json.dumps(counted.to_dict())))  # as a browser keeps it
    assert sizing.dataset_tokens_from_profile(kept, 0.0)[0] == tokens
    assert planner.context_from_profile(kept) == counted.context["length"] > 0
