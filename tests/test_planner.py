"""The planner: plans for one configuration, recommendations that make sense, the settings that carry them out."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clm_gui import cli
from clm_gui.config import AUTO, CHECKPOINTS_PER_RUN, ModelConfig, TrainConfig
from clm_gui.errors import UserError
from clm_gui.model import planner
from clm_gui.model.planner import PlanRequest, estimate, recommend
from clm_gui.model.sizing import DeviceSpec, count_params, training_memory
from clm_gui.units import GB
from tests.devices import H100, SMALL_CPU


# ---------------------------------------------------------------------------------------------
# Plans: memory, speed and wall time of one configuration.


def test_wall_time_is_tokens_over_speed_in_whole_steps():
    cfg = planner.PRESETS["base"].model_config()
    plan = estimate(cfg, 8192, H100, micro_batch_size=16, grad_accum_steps=4, tokens=10_000_000)
    per_step = 16 * 4 * 1024
    assert plan.steps == math.ceil(10_000_000 / per_step)
    assert plan.tokens == plan.steps * per_step
    assert plan.seconds == pytest.approx(plan.tokens / plan.tokens_per_s)


def test_zero_tokens_means_compute_optimal():
    cfg = planner.PRESETS["mini"].model_config()
    plan = estimate(cfg, 8192, H100, 8, 1, tokens=0)
    assert plan.tokens >= 20 * plan.n_params > plan.tokens - 8 * 256


def test_an_estimate_longer_than_the_time_budget_says_the_clock_ends_the_run():
    # The Model tab showed the "mini" preset's 9-minute wall time under a 3-minute budget without a word (#26, 8).
    cfg = planner.PRESETS["mini"].model_config()
    plan = planner.estimate(cfg, 8192, SMALL_CPU, 8, 1, 0)
    budget = plan.seconds / 3 / 60
    note = planner.over_budget_note(plan, budget)
    assert "the clock ends the run" in note and "(33% of them)" in note
    assert planner.over_budget_note(plan, plan.seconds / 60 * 1.01) is None
    assert planner.over_budget_note(plan, 0) is None  # no time budget


def test_advice_to_shrink_the_model_is_given_only_when_a_smaller_one_exists():
    smallest = recommend(PlanRequest(device=SMALL_CPU, hours=0.0005, vocab_size=8192))
    assert smallest.shape == planner.SHAPES[0].name
    notes = " ".join(smallest.warnings)
    assert "under-trained" in notes and "smaller model" not in notes and "longer time budget" in notes
    larger = planner.estimate(planner.PRESETS["small"].model_config(), 8192, SMALL_CPU, 8, 1, 10_000)
    assert any("a smaller model would reach a lower loss" in w for w in larger.warnings)


def test_passes_are_written_with_the_precision_they_need():
    from clm_gui.units import format_passes

    assert format_passes(0.04) == "0.04 passes" and format_passes(1.64) == "1.6 passes"
    assert format_passes(212.4) == "212 passes" and format_passes(1.0) == "1.0 pass"


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
    assert long.epochs > planner.MAX_USEFUL_EPOCHS >= short.epochs
    assert long.model.context_length == planner.SMALL_DATA_CONTEXT < short.model.context_length


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
    assert capped.n_params <= planner.largest_for_data(20_000_000)
    tiny_data = recommend(PlanRequest(device=_gpu(80), hours=10, vocab_size=8192, dataset_tokens=100_000))
    assert planner.MAX_USEFUL_EPOCHS < tiny_data.epochs
    assert tiny_data.model.dropout == planner.HEAVY_DROPOUT
    assert any("passes over the dataset" in w and "dropout" in w for w in tiny_data.warnings)


@settings(max_examples=60, deadline=None)
@given(hours=st.floats(0.01, 24), data=st.one_of(st.none(), st.integers(10**5, 10**10)), cpu=st.booleans())
def test_repeated_data_is_always_regularised_and_averaged(hours, data, cpu):
    plan = recommend(PlanRequest(device=SMALL_CPU if cpu else H100, hours=hours, dataset_tokens=data))
    train = planner.train_settings(plan, hours * 60)
    assert (train["save_interval"], train["keep_checkpoints"]) == (AUTO, CHECKPOINTS_PER_RUN + 1)  # spread, kept
    if plan.repeats_data:
        dropout = planner.CPU_DROPOUT if cpu else planner.dropout_for(plan.epochs)
        assert plan.model.dropout == dropout and (cpu or dropout > 0)
        assert plan.model.context_length <= planner.SMALL_DATA_CONTEXT
        assert train["ema_decay"] == planner.REPEATED_DATA_EMA and train["beta2"] == planner.REPEATED_DATA_BETA2
        assert train["weight_decay"] == planner.weight_decay_for(plan.epochs, planner.memorises(plan))
    else:
        assert train["ema_decay"] == 0 and train["beta2"] == TrainConfig().beta2
        assert train["weight_decay"] == TrainConfig().weight_decay


def test_a_cpu_plan_takes_no_dropout_where_a_gpu_plan_on_the_same_data_takes_some():
    request = PlanRequest(device=H100, hours=0.05, vocab_size=2048, dataset_tokens=300_000)
    gpu, cpu = recommend(request), recommend(dataclasses.replace(request, device=SMALL_CPU, hours=1 / 6))
    assert gpu.repeats_data and cpu.repeats_data
    assert gpu.model.dropout == planner.HEAVY_DROPOUT and cpu.model.dropout == planner.CPU_DROPOUT == 0
    # the note on repeated data names the dropout only where there is some
    assert any(f"dropout {planner.HEAVY_DROPOUT:g} and an average" in w for w in gpu.warnings)
    assert any("trains with an average of its weights" in w for w in cpu.warnings)
    assert not any("dropout" in w for w in cpu.warnings)


def test_weight_decay_grows_with_the_passes_over_the_data():
    decays = [planner.weight_decay_for(p) for p in (None, 1, 20, 24, 30, 33, 88, 500)]
    assert decays == [0.1, 0.1, 0.1, 0.1, 1.0, 1.0, 3.0, 3.0] and planner.HEAVY_WEIGHT_DECAY == 3.0
    # a model too small to memorise the data keeps the usual decay however often it reads it
    assert planner.weight_decay_for(88, memorising=False) == 0.1


def test_a_model_memorises_its_data_from_two_parameters_per_token():
    model = planner.SHAPES[0].model_config()
    n_params = count_params(model, 1024).total

    def plan_for(dataset_tokens):
        return planner.estimate(model, 1024, SMALL_CPU, 16, 1, 10_000_000, dataset_tokens)

    assert (planner.memorises(plan_for(int(n_params / 2.5))), planner.memorises(plan_for(int(n_params / 1.5)))) \
        == (True, False)
    assert planner.memorises(plan_for(None))  # the data's size unknown


def test_the_smallest_models_learn_at_a_higher_rate():
    rates = [planner.learning_rate_for(n) for n in (0.2e6, 0.5e6, 2e6, 10e6, 50e6, 124e6)]
    assert rates[:2] == [planner.SMALLEST_MODEL_LR] * 2 and rates[3] == 1e-3 and rates[-1] == 6e-4
    assert rates == sorted(rates, reverse=True)


def test_only_a_cpu_plan_whose_model_cannot_memorise_its_data_trains_with_muon():
    def optimizer(device, dataset_tokens):
        return planner.train_settings(recommend(PlanRequest(device=device, hours=1 / 6, vocab_size=2048,
                                                            dataset_tokens=dataset_tokens)))["optimizer"]

    assert optimizer(SMALL_CPU, 20_000_000) == "muon"  # far more tokens than parameters: compute limits it
    assert optimizer(SMALL_CPU, 100_000) == "adamw"  # a tiny corpus: the model would memorise it
    assert optimizer(SMALL_CPU, None) == "adamw"  # the data's size unknown
    assert optimizer(H100, 20_000_000) == "adamw"  # on a GPU Muon's extra time per step did not pay


def test_a_plan_that_repeats_its_data_learns_at_least_at_the_repeated_data_rate():
    """A 10M model on a megabyte read hundreds of times: 2e-3, not the 1e-3 of fresh data; the smallest
    models keep their higher rates."""
    assert planner.learning_rate_for(10e6, repeats_data=True) == planner.REPEATED_DATA_MIN_LR == 2e-3
    assert planner.learning_rate_for(0.5e6, repeats_data=True) == planner.SMALLEST_MODEL_LR
    plan = recommend(PlanRequest(device=H100, hours=0.05, vocab_size=258, dataset_tokens=1_000_000))
    fresh = recommend(PlanRequest(device=H100, hours=0.05, vocab_size=258, dataset_tokens=None))
    assert plan.repeats_data and not fresh.repeats_data
    assert planner.train_settings(plan, 3)["learning_rate"] == max(2e-3, planner.learning_rate_for(plan.n_params))
    assert planner.train_settings(fresh, 3)["learning_rate"] == planner.learning_rate_for(fresh.n_params)


@settings(max_examples=60, deadline=None)
@given(hours=st.floats(0.02, 24), data=st.one_of(st.none(), st.integers(10**5, 10**10)), cpu=st.booleans())
def test_the_time_budget_is_used_however_small_the_data(hours, data, cpu):
    plan = recommend(PlanRequest(device=SMALL_CPU if cpu else H100, hours=hours, dataset_tokens=data))
    assert plan.seconds >= 0.9 * hours * 3600
    assert planner.train_settings(plan, hours * 60)["max_tokens"] == 0  # no pass cap ends the run before the clock


def test_a_megabyte_of_text_on_a_gpu_gets_a_model_sized_to_the_data_with_dropout():
    plan = recommend(PlanRequest(device=_gpu(80), hours=0.05, vocab_size=512, dataset_tokens=400_000))
    assert 3e6 < plan.n_params <= planner.largest_for_data(400_000)
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
    medium = planner.PRESETS["GPT-2 medium (350M)"]
    plain, checkpointed = (training_memory(medium.model_config(gradient_checkpointing=c), 50257, 1, "bf16", 2,
                                           compiled=True).total for c in (False, True))
    between = (plain + checkpointed) / 2 / GB  # one sequence fits only with checkpointing
    tight = planner.plan_shape(medium, PlanRequest(device=_gpu(between), hours=24, vocab_size=50257))
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


def test_a_budgeted_plan_on_a_small_corpus_has_no_pass_cap_and_many_steps():
    # A megabyte on a GPU for three minutes: hundreds of passes are possible; the clock and early stopping
    # end the run, not a cap at some number of passes (a 60-pass cap ended such a run after 48 s of 180).
    plan = recommend(PlanRequest(device=H100, hours=0.05, vocab_size=258, dataset_tokens=900_000))
    assert plan.repeats_data and plan.epochs > 60
    assert plan.seconds >= 0.9 * 0.05 * 3600
    assert plan.tokens // plan.steps <= planner.SMALL_DATA_BATCH_TOKENS and plan.steps >= planner.REPEATED_DATA_STEPS
    limits = {k: planner.train_settings(plan, 3.0)[k] for k in ("max_steps", "max_tokens", "max_minutes")}
    assert limits == {"max_steps": 0, "max_tokens": 0, "max_minutes": 3.0}


# ---------------------------------------------------------------------------------------------
# The context from the Dataset tab's profile.


def test_context_from_profile_is_the_profiles_suggestion(profile_with):
    assert planner.context_from_profile(profile_with(context={"length": 512, "reason": "..."})) == 512
    assert planner.context_from_profile(None) == 0


def test_a_text_stream_leaves_the_context_to_the_model_size(profile_with):
    # One text file is one stream: its profile suggests no context, so the Model tab's recommendation
    # takes each size's own, as Quick start (which passes none) does (#26, item 10).
    stream = profile_with()
    assert stream.stream_files == 1 and planner.context_from_profile(stream) == 0
    request = planner.PlanRequest(device=SMALL_CPU, max_context=planner.context_from_profile(stream))
    assert [request.context_for(s) for s in planner.SHAPES] == [s.context_length for s in planner.SHAPES]


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
