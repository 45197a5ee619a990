"""The planner: exact parameter counts, memory and time estimates, and recommendations that make sense."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from clm_gui import cli
from clm_gui.config import AUTO, CHECKPOINTS_PER_RUN, ModelConfig, TrainConfig
from clm_gui.errors import UserError
from clm_gui.model import sizing
from clm_gui.model.architecture import build_model, count_parameters, padded_vocab_size
from clm_gui.model.sizing import (DeviceSpec, PlanRequest, count_params, estimate, recommend, tokens_per_second,
                                  training_memory)
from clm_gui.units import GB

H100 = DeviceSpec(kind="cuda", name="H100", count=1, memory_bytes=80 * GB, peak_flops=989e12, precision="bf16",
                  compiled=True)
SMALL_CPU = DeviceSpec(kind="cpu", name="test CPU", count=1, memory_bytes=8 * GB, peak_flops=50e9,
                       precision="fp32", compiled=False)


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
    cfg = sizing.PRESETS["GPT-2 small (124M)"].model_config()
    assert round(count_params(cfg, 50257).total / 1e6) == 124


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

TINY = ModelConfig(family="gpt2", n_layer=2, n_embd=128, n_head=4, context_length=128)


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
    cfg = sizing.PRESETS["GPT-2 medium (350M)"].model_config(context_length=256)
    m = training_memory(cfg, 50257, 1, "bf16", compiled=True)
    n = count_params(cfg, 50257).total
    assert (m.weights, m.gradients, m.optimizer) == (4 * n, 4 * n, 8 * n)
    assert m.activations == m.logits == 0  # freed before the gradients are complete


def test_activations_grow_linearly_with_the_micro_batch_and_checkpointing_shrinks_them():
    cfg = sizing.PRESETS["GPT-2 small (124M)"].model_config()
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
# Time.


def test_tokens_per_second_computed_by_hand():
    cfg = sizing.PRESETS["GPT-2 small (124M)"].model_config()
    flops = 6 * count_params(cfg, 50257).flops_params + 12 * 12 * 768 * 1024
    t = sizing.THROUGHPUT["cuda"]
    share = t.max_share * 768 / (768 + t.half_width)
    seconds = 16 * 1024 * flops / (989e12 * share) + 12 * t.seconds_per_layer + t.seconds_per_micro_batch
    assert tokens_per_second(cfg, 50257, 16, H100) == pytest.approx(16 * 1024 / seconds)
    eight = dataclasses.replace(H100, count=8)
    assert tokens_per_second(cfg, 50257, 16, eight) == pytest.approx(
        8 * sizing.DATA_PARALLEL_EFFICIENCY * 16 * 1024 / seconds)


def test_wall_time_is_tokens_over_speed_in_whole_steps():
    cfg = sizing.PRESETS["base"].model_config()
    plan = estimate(cfg, 8192, H100, micro_batch_size=16, grad_accum_steps=4, tokens=10_000_000)
    per_step = 16 * 4 * 1024
    assert plan.steps == math.ceil(10_000_000 / per_step)
    assert plan.tokens == plan.steps * per_step
    assert plan.seconds == pytest.approx(plan.tokens / plan.tokens_per_s)


def test_zero_tokens_means_compute_optimal():
    cfg = sizing.PRESETS["mini"].model_config()
    plan = estimate(cfg, 8192, H100, 8, 1, tokens=0)
    assert plan.tokens >= 20 * plan.n_params > plan.tokens - 8 * 256


# ---------------------------------------------------------------------------------------------
# Recommendations.


def _gpu(memory_gb: float, count: int = 1) -> DeviceSpec:
    return dataclasses.replace(H100, memory_bytes=memory_gb * GB, count=count)


@settings(max_examples=40, deadline=None)
@given(low=st.floats(0.3, 120), extra=st.floats(0, 120), hours=st.floats(0.01, 48))
def test_more_memory_never_recommends_a_smaller_model(low, extra, hours):
    try:
        small = recommend(PlanRequest(device=_gpu(low), hours=hours, vocab_size=32000))
    except UserError:
        return  # nothing fits in `low`; any answer with more memory is at least as large
    large = recommend(PlanRequest(device=_gpu(low + extra), hours=hours, vocab_size=32000))
    assert large.n_params >= small.n_params


@settings(max_examples=40, deadline=None)
@given(hours=st.floats(0.001, 24), factor=st.floats(1, 100), memory=st.floats(2, 80),
       data=st.one_of(st.none(), st.integers(10**5, 10**10)), cpu=st.booleans())
def test_more_time_never_recommends_a_smaller_model(hours, factor, memory, data, cpu):
    device = dataclasses.replace(SMALL_CPU if cpu else H100, memory_bytes=memory * GB)
    short = recommend(PlanRequest(device=device, hours=hours, dataset_tokens=data))
    long = recommend(PlanRequest(device=device, hours=hours * factor, dataset_tokens=data))
    # The transformer blocks: a longer budget may repeat the data and so take a shorter context, which
    # has fewer position embeddings, but never fewer or narrower layers.
    short_size, long_size = (count_params(p.model, 8192).layers for p in (short, long))
    assert long_size >= short_size
    assert long.tokens >= short.tokens or long_size > short_size


def test_a_longer_budget_that_repeats_the_data_keeps_the_shape_and_shortens_its_context():
    device = dataclasses.replace(H100, memory_bytes=3 * GB)  # found by the property above
    # Hours either side of the budget where the plan starts to repeat the data (more than 4 passes).
    short = recommend(PlanRequest(device=device, hours=0.6, dataset_tokens=85_721_088))
    long = recommend(PlanRequest(device=device, hours=0.75, dataset_tokens=85_721_088))
    assert short.shape == long.shape and long.n_params < short.n_params
    assert long.epochs > sizing.MAX_USEFUL_EPOCHS >= short.epochs
    assert long.model.context_length == sizing.SMALL_DATA_CONTEXT < short.model.context_length


def test_a_recommendation_fits_memory_and_the_time_budget():
    plan = recommend(PlanRequest(device=_gpu(80), hours=2, vocab_size=50257))
    assert plan.fits
    assert 0.8 * 2 * 3600 <= plan.seconds <= 2 * 3600 * 1.001  # the budget is used, not exceeded
    assert plan.tokens >= 20 * plan.n_params  # at least compute-optimal
    assert plan.model.n_embd % plan.model.n_head == 0


def test_an_hour_on_an_h100_trains_more_than_a_cpu_demo_and_less_than_gpt2_xl():
    plan = recommend(PlanRequest(device=_gpu(80), hours=1, vocab_size=50257))
    assert 30e6 < plan.n_params < 1e9
    cpu = recommend(PlanRequest(device=SMALL_CPU, hours=0.1, vocab_size=8192))
    assert cpu.shape == "tiny (CPU demo)"


def test_a_small_dataset_caps_the_model_and_many_epochs_are_warned_about():
    free = recommend(PlanRequest(device=_gpu(80), hours=10, vocab_size=8192))
    capped = recommend(PlanRequest(device=_gpu(80), hours=10, vocab_size=8192, dataset_tokens=20_000_000))
    assert capped.n_params < free.n_params
    assert capped.n_params <= sizing.largest_for_data(20_000_000)
    tiny_data = recommend(PlanRequest(device=_gpu(80), hours=10, vocab_size=8192, dataset_tokens=100_000))
    assert sizing.MAX_USEFUL_EPOCHS < tiny_data.epochs
    assert tiny_data.model.dropout == sizing.HEAVY_DROPOUT
    assert any("passes over the dataset" in w and "dropout" in w for w in tiny_data.warnings)


@settings(max_examples=60, deadline=None)
@given(hours=st.floats(0.01, 24), data=st.one_of(st.none(), st.integers(10**5, 10**10)), cpu=st.booleans())
def test_repeated_data_is_always_regularised_and_averaged(hours, data, cpu):
    plan = recommend(PlanRequest(device=SMALL_CPU if cpu else H100, hours=hours, dataset_tokens=data))
    train = sizing.train_settings(plan, hours * 60)
    assert (train["save_interval"], train["keep_checkpoints"]) == (AUTO, CHECKPOINTS_PER_RUN + 1)  # spread, kept
    if plan.repeats_data:
        assert plan.model.dropout > 0 and plan.model.context_length <= sizing.SMALL_DATA_CONTEXT
        assert train["ema_decay"] == sizing.REPEATED_DATA_EMA and train["beta2"] == sizing.REPEATED_DATA_BETA2
        assert train["weight_decay"] == sizing.weight_decay_for(plan.epochs, sizing.memorises(plan))
    else:
        assert train["ema_decay"] == 0 and train["beta2"] == TrainConfig().beta2
        assert train["weight_decay"] == TrainConfig().weight_decay


def test_weight_decay_grows_with_the_passes_over_the_data():
    decays = [sizing.weight_decay_for(p) for p in (None, 1, 20, 24, 30, 33, 88, 500)]
    assert decays == [0.1, 0.1, 0.1, 0.1, 1.0, 1.0, 3.0, 3.0] and sizing.HEAVY_WEIGHT_DECAY == 3.0
    # a model too small to memorise the data keeps the usual decay however often it reads it
    assert sizing.weight_decay_for(88, memorising=False) == 0.1


def test_a_model_memorises_its_data_from_two_parameters_per_token():
    model = sizing.SHAPES[0].model_config()
    n_params = sizing.count_params(model, 1024).total

    def plan_for(dataset_tokens):
        return sizing.estimate(model, 1024, SMALL_CPU, 16, 1, 10_000_000, dataset_tokens)

    assert (sizing.memorises(plan_for(int(n_params / 2.5))), sizing.memorises(plan_for(int(n_params / 1.5)))) \
        == (True, False)
    assert sizing.memorises(plan_for(None))  # the data's size unknown


def test_the_smallest_models_learn_at_a_higher_rate():
    rates = [sizing.learning_rate_for(n) for n in (0.2e6, 0.5e6, 2e6, 10e6, 50e6, 124e6)]
    assert rates[:2] == [sizing.SMALLEST_MODEL_LR] * 2 and rates[3] == 1e-3 and rates[-1] == 6e-4
    assert rates == sorted(rates, reverse=True)


@settings(max_examples=60, deadline=None)
@given(hours=st.floats(0.02, 24), data=st.one_of(st.none(), st.integers(10**5, 10**10)), cpu=st.booleans())
def test_the_time_budget_is_used_however_small_the_data(hours, data, cpu):
    plan = recommend(PlanRequest(device=SMALL_CPU if cpu else H100, hours=hours, dataset_tokens=data))
    assert plan.seconds >= 0.9 * hours * 3600
    assert sizing.train_settings(plan, hours * 60)["max_tokens"] == 0  # no pass cap ends the run before the clock


def test_a_megabyte_of_text_on_a_gpu_gets_a_model_sized_to_the_data_with_dropout():
    plan = recommend(PlanRequest(device=_gpu(80), hours=0.05, vocab_size=512, dataset_tokens=400_000))
    assert 3e6 < plan.n_params <= sizing.largest_for_data(400_000)
    assert plan.model.dropout > 0 and plan.epochs > 16


def test_a_short_budget_gives_an_undertrained_warning():
    plan = recommend(PlanRequest(device=SMALL_CPU, hours=0.001, vocab_size=8192))
    assert plan.tokens < 20 * plan.n_params
    assert any("under-trained" in w for w in plan.warnings)


def test_context_follows_the_dataset_but_never_exceeds_the_size_s_own():
    long_docs = recommend(PlanRequest(device=_gpu(80), hours=1, max_context=2048))
    short_docs = recommend(PlanRequest(device=_gpu(80), hours=1, max_context=128))
    assert long_docs.model.context_length == 1024
    assert short_docs.model.context_length == 128
    fixed = recommend(PlanRequest(device=_gpu(80), hours=1, context_length=512))
    assert fixed.model.context_length == 512


def test_checkpointing_is_used_only_when_nothing_else_fits():
    roomy = recommend(PlanRequest(device=_gpu(80), hours=24, vocab_size=50257))
    assert not roomy.model.gradient_checkpointing
    medium = sizing.PRESETS["GPT-2 medium (350M)"]
    plain, checkpointed = (training_memory(medium.model_config(gradient_checkpointing=c), 50257, 1, "bf16", 2,
                                           compiled=True).total for c in (False, True))
    between = (plain + checkpointed) / 2 / GB  # one sequence fits only with checkpointing
    tight = sizing.plan_shape(medium, PlanRequest(device=_gpu(between), hours=24, vocab_size=50257))
    assert tight is not None and tight.model.gradient_checkpointing and tight.fits
    assert any("checkpointing" in w for w in tight.warnings)


def test_nothing_fitting_is_a_user_error():
    with pytest.raises(UserError, match="does not fit"):
        recommend(PlanRequest(device=_gpu(0.1), hours=1))
    with pytest.raises(UserError, match="above 0 hours"):
        recommend(PlanRequest(device=_gpu(80), hours=0))


def test_llama_recommendations_use_the_llama_family():
    plan = recommend(PlanRequest(device=_gpu(40), hours=1, family="llama", vocab_size=32000))
    assert plan.model.family == "llama"
    assert plan.n_params == count_params(plan.model, 32000).total


# ---------------------------------------------------------------------------------------------
# Inputs from the Dataset tab's profile.


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
    assert sizing.context_from_profile(kept) == counted.context["length"] > 0


def test_context_from_profile_is_the_profiles_suggestion(profile_with):
    assert sizing.context_from_profile(profile_with(context={"length": 512, "reason": "..."})) == 512
    assert sizing.context_from_profile(None) == 0


# ---------------------------------------------------------------------------------------------
# The command line.


def test_recommend_cli_plans_for_a_gpu_this_machine_does_not_have(capsys):
    code = cli.main(["recommend", "--device", "cuda", "--gpu-memory-gb", "80", "--gpu-model", "H100 SXM",
                     "--hours", "2", "--dataset-tokens", "1000000000", "--vocab-size", "50257", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fits"] and out["peak_memory_gb"] <= 80
    assert out["hours"] <= 2.01
    assert out["n_params"] == count_params(ModelConfig(**out["model"]), 50257).total
    assert out["device"]["precision"] == "bf16"
    assert out["model"]["context_length"] == 1024


def test_recommend_cli_explains_bad_input(capsys):
    assert cli.main(["recommend", "--device", "cuda", "--gpu-model", "H100 SXM", "--hours", "1"]) == 2
    assert "--gpu-memory-gb" in capsys.readouterr().err
    assert cli.main(["recommend", "--device", "cuda", "--gpu-memory-gb", "40", "--gpu-model", "Voodoo 3"]) == 2
    assert "not in the peak-throughput table" in capsys.readouterr().err


def test_padded_vocabulary_is_what_the_estimates_use():
    assert count_params(TINY, 1000).embedding == padded_vocab_size(1000) * 128


def test_a_budgeted_plan_on_a_small_corpus_has_no_pass_cap_and_many_steps():
    # A megabyte on a GPU for three minutes: hundreds of passes are possible; the clock and early stopping
    # end the run, not a cap at some number of passes (a 60-pass cap ended such a run after 48 s of 180).
    plan = recommend(PlanRequest(device=H100, hours=0.05, vocab_size=258, dataset_tokens=900_000))
    assert plan.repeats_data and plan.epochs > 60
    assert plan.seconds >= 0.9 * 0.05 * 3600
    assert plan.tokens // plan.steps <= sizing.SMALL_DATA_BATCH_TOKENS and plan.steps >= sizing.REPEATED_DATA_STEPS
    limits = {k: sizing.train_settings(plan, 3.0)[k] for k in ("max_steps", "max_tokens", "max_minutes")}
    assert limits == {"max_steps": 0, "max_tokens": 0, "max_minutes": 3.0}


def test_advice_to_shrink_the_model_is_given_only_when_a_smaller_one_exists():
    smallest = recommend(PlanRequest(device=SMALL_CPU, hours=0.0005, vocab_size=8192))
    assert smallest.shape == sizing.SHAPES[0].name
    notes = " ".join(smallest.warnings)
    assert "under-trained" in notes and "smaller model" not in notes and "longer time budget" in notes
    larger = sizing.estimate(sizing.PRESETS["small"].model_config(), 8192, SMALL_CPU, 8, 1, 10_000)
    assert any("a smaller model would reach a lower loss" in w for w in larger.warnings)


def test_passes_are_written_with_the_precision_they_need():
    from clm_gui.units import format_passes

    assert format_passes(0.04) == "0.04 passes" and format_passes(1.64) == "1.6 passes"
    assert format_passes(212.4) == "212 passes" and format_passes(1.0) == "1.0 pass"


def test_a_text_stream_leaves_the_context_to_the_model_size(profile_with):
    # One text file is one stream: its profile suggests no context, so the Model tab's recommendation
    # takes each size's own, as Quick start (which passes none) does (#26, item 10).
    stream = profile_with()
    assert stream.stream_files == 1 and sizing.context_from_profile(stream) == 0
    request = sizing.PlanRequest(device=SMALL_CPU, max_context=sizing.context_from_profile(stream))
    assert [request.context_for(s) for s in sizing.SHAPES] == [s.context_length for s in sizing.SHAPES]


def test_an_estimate_longer_than_the_time_budget_says_the_clock_ends_the_run():
    # The Model tab showed the "mini" preset's 9-minute wall time under a 3-minute budget without a word (#26, 8).
    cfg = sizing.PRESETS["mini"].model_config()
    plan = sizing.estimate(cfg, 8192, SMALL_CPU, 8, 1, 0)
    budget = plan.seconds / 3 / 60
    note = sizing.over_budget_note(plan, budget)
    assert "the clock ends the run" in note and "(33% of them)" in note
    assert sizing.over_budget_note(plan, plan.seconds / 60 * 1.01) is None
    assert sizing.over_budget_note(plan, 0) is None  # no time budget
