"""The planner: which model, batch and training settings to run within a time budget on a device.

These are the recipe's choices, made from `model/sizing.py`'s figures (what a model costs in memory and time
on a device; this module imports sizing, never the reverse): the ladder of model shapes, a plan for one of
them (`estimate`, `plan_shape`), the largest that trains well within the budget (`recommend`), and the
train.* settings that carry a plan out (`train_settings`: learning rate, weight decay, dropout, the
small-data settings). The constants below come from the cited papers and bench/small_data.py
(docs/benchmarks.md, "Small data").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

from clm_gui.config import AUTO, CHECKPOINTS_PER_RUN, ModelConfig, TrainConfig, tokens_per_step
from clm_gui.errors import UserError
from clm_gui.model.sizing import (DATA_PARALLEL_EFFICIENCY, DeviceSpec, MemoryBreakdown, count_params,
                                  tokens_per_second, training_memory)
from clm_gui.units import GB, format_duration, format_passes

if TYPE_CHECKING:  # profiling reads datasets with `datasets`: the planner needs only the type
    from clm_gui.data.profiling import DatasetProfile

COMPUTE_OPTIMAL_TOKENS_PER_PARAM = 20  # Hoffmann et al. 2022 ("Chinchilla"): ~20 training tokens per parameter
MAX_USEFUL_EPOCHS = 4  # Muennighoff et al. 2023: up to ~4 passes over the data are almost as good as new data
MIN_OPTIMIZER_STEPS = 200  # the batch is made smaller rather than train in fewer steps than this
# Data-constrained training: a corpus too small for compute-optimal training is repeated, with dropout (on a
# GPU: see CPU_DROPOUT), weight decay and an average of the weights, and the best held-out evaluation is kept
# (early stopping ends the run once it has passed). No cap on the passes: the time budget (or early stopping)
# ends the run. Repeated data with dropout keeps paying for many passes (Xue et al. 2023), but a model much
# larger than the corpus memorises it before it generalises. The settings follow the published small-data
# recipe (a 10.7M character-level GPT, 64 x 256 tokens a step, thousands of steps, dropout 0.2, beta2 0.99,
# the best validation kept), which bench/small_data.py runs beside the default journey (docs/benchmarks.md,
# "Small data").
REPEATED_TOKENS_PER_PARAM = 2  # a model qualifies when the budget trains at least this many tokens per parameter
# The largest model worth training on D tokens: PARAMS_AT_A_MILLION_TOKENS x sqrt(D / 1M). Many parameters
# per token on a tiny corpus (a 10M model on 1M characters is the best-known small recipe), falling
# towards the compute-optimal 1/20 per token as the data grows to billions of tokens.
PARAMS_AT_A_MILLION_TOKENS = 12e6
DROPOUT_BY_PASSES = ((MAX_USEFUL_EPOCHS, 0.0), (16, 0.1))  # up to N passes: this dropout; beyond the last: 0.2
HEAVY_DROPOUT = 0.2
# A CPU plan takes no dropout, however often it repeats its data: its budget buys a few thousand small steps,
# and dropout slowed the learning more than it delayed the memorising, which the weight decay, the average of
# the weights and early stopping already guard against. On 2 CPU cores in 10 minutes, without dropout: prose
# 1.738-1.741 held-out bits/byte in four runs against 1.784-1.787 with the plan's 0.2 (1.767 with 0.1),
# pydocs-1 2.046 against 2.117 with 0.2, fortunes 2.149 against 2.219 with 0.1 (docs/benchmarks.md, "Small
# data"). On a GPU, less dropout than the recipe's 0.2 has not been measured.
CPU_DROPOUT = 0.0
# Weight decay for data repeated past the point where the model would memorise it: much larger than the
# usual 0.1 (Kim et al. 2025 found ~30x optimal in data-limited training). On 1 MB of English the recipe's
# model with an average of its weights scored 2.153 held-out bits/byte at 0.1, 2.107 at 1.0 and 1.992 at
# 3.0; its best evaluation came after 24, 33 and 88 passes (docs/benchmarks.md, "Small data"). So a plan
# gets the decay whose best point its passes reach: a run of fewer passes is still learning at its end (a
# 0.5M model on 2 CPU cores, 20 passes planned, 30 made: its last evaluation was its best), where a strong
# decay would only slow it.
USUAL_WEIGHT_DECAY = 0.1
# Up to N passes: this decay; beyond the last: HEAVY_WEIGHT_DECAY.
WEIGHT_DECAY_BY_PASSES = ((24, USUAL_WEIGHT_DECAY), (33, 1.0))
HEAVY_WEIGHT_DECAY = 3.0
# Those passes are where a 10.7M model memorises 1 MB. A model with fewer than MEMORISING_PARAMS_PER_TOKEN
# parameters per token of its data memorises far later than a time budget ends: compute, not the data, limits
# it. On 2 CPU cores 0.5M models with 1.2 and 1.4 per token (0.42 MB of bytes 25 times; 0.9 MB of BPE-1024 30
# times, decay 3.0) were still improving at their ends, the second behind 0.1's score in half the steps; a 0.7M
# one with 2.6 (BPE-2048) and every GPU plan (2.4-12.8) reached their best points. So such a model keeps the
# usual decay (and reads merged tokens, not bytes: see jobs.quickstart).
MEMORISING_PARAMS_PER_TOKEN = 2.0
# On repeated data, optimizer steps matter more than tokens per step: the recipe trains 5,000 steps of 16k
# tokens on a GPU and 3,200 of 1.5k on a CPU. So a plan that repeats its data takes short windows, at most
# SMALL_DATA_BATCH_TOKENS a step, and a smaller batch where the budget would give fewer than
# REPEATED_DATA_STEPS steps.
SMALL_DATA_CONTEXT = 256
SMALL_DATA_BATCH_TOKENS = 16_384
REPEATED_DATA_STEPS = 3_000
REPEATED_DATA_BETA2 = 0.99  # the recipe's: the second moment follows the recent, small batches
REPEATED_DATA_EMA = 0.999  # the average of the weights over ~1,000 steps: -2.7% held-out bits/byte on the recipe
# The smallest models learn fastest at a higher rate: on 2 CPU cores (0.9 MB of English, 2,500 steps) a 0.5M
# model scored 2.248 held-out bits/byte at 1e-3, 2.211 at 2e-3 and 2.201 at 3e-3; a 2M one 2.335 at 1e-3 and
# 2.290 at 2e-3 (docs/benchmarks.md, "Small data").
SMALLEST_MODEL_LR = 3e-3
# On repeated data a 10M model learns best at twice that rule's 1e-3: on one H100 (3 minutes, wd 3.0, EMA) the
# recipe's shape at 2e-3 scored 1.900 and 1.902 held-out bits/byte on fortunes against 1.912 and 1.913 at 1e-3,
# and 1.814 on pydocs-1 against 1.855 (docs/benchmarks.md, "Small data"). The smaller models' rates are higher.
REPEATED_DATA_MIN_LR = 2e-3
# Muon (clm_gui.train.muon) learns more per step than AdamW, but memorises sooner and, on a GPU, costs a small
# model more time per step. On 2 CPU cores in 10 minutes, where the model is too small to memorise its data
# (`memorises`), it scored 2.192 held-out bits/byte on fortunes against AdamW's 2.217 and 1.535 on demo-20
# against 1.607; on prose (4.6 parameters per token, 66 passes) 1.808 against 1.784, stopping early; on one
# H100 (fortunes, 10.9M, 246 passes) it made 40% fewer steps and scored 3.6% behind (docs/benchmarks.md). So a
# CPU plan whose model cannot memorise its data trains with Muon, every other plan with AdamW.


# ---------------------------------------------------------------------------------------------
# Shapes and presets.


@dataclass(frozen=True)
class Shape:
    name: str
    n_layer: int
    n_embd: int
    n_head: int
    context_length: int
    batch_tokens: int  # tokens per optimizer step this size trains well with
    preset: bool = True  # offered in the Model tab's preset list (larger ones only in recommendations)

    def model_config(self, family: str = "gpt2", context_length: int = 0,
                     gradient_checkpointing: bool = False) -> ModelConfig:
        return ModelConfig(family=family, n_layer=self.n_layer, n_head=self.n_head, n_embd=self.n_embd,
                           context_length=context_length or self.context_length,
                           gradient_checkpointing=gradient_checkpointing)


# From smallest to largest; head size 64 from "small" up, as in GPT-2. Batch sizes follow GPT-2/3
# practice (about half a million tokens per step at 124M) scaled down for the small models.
SHAPES = [
    Shape("tiny (CPU demo)", 2, 128, 4, 128, 8_192),
    Shape("4 x 192 (CPU, small data)", 4, 192, 3, 128, 8_192, preset=False),
    Shape("mini", 4, 256, 4, 256, 16_384),
    Shape("small", 6, 384, 6, 512, 65_536),
    Shape("base", 8, 512, 8, 1024, 131_072),
    Shape("GPT-2 small (124M)", 12, 768, 12, 1024, 524_288),
    Shape("between GPT-2 small and medium (~250M)", 16, 1024, 16, 1024, 524_288, preset=False),
    Shape("GPT-2 medium (350M)", 24, 1024, 16, 1024, 524_288),
    Shape("GPT-2 large (774M)", 36, 1280, 20, 1024, 524_288, preset=False),
    Shape("GPT-2 XL (1.5B)", 48, 1600, 25, 1024, 1_048_576, preset=False),
]
PRESETS = {s.name: s for s in SHAPES if s.preset}


# ---------------------------------------------------------------------------------------------
# Plans: a configuration with its memory, speed and time.


@dataclass
class Plan:
    model: ModelConfig
    micro_batch_size: int
    grad_accum_steps: int
    tokens: int  # training tokens
    steps: int  # optimizer steps
    n_params: int
    memory: MemoryBreakdown  # per device
    memory_available: float  # bytes per device
    tokens_per_s: float
    seconds: float
    epochs: float | None  # passes over the dataset, when its size is known
    shape: str = ""  # the ladder entry a recommendation came from
    warnings: list[str] = field(default_factory=list)
    device_kind: str = ""  # cpu | cuda

    @property
    def fits(self) -> bool:
        return self.memory.total <= self.memory_available

    @property
    def repeats_data(self) -> bool:
        """More passes over the dataset than are nearly as good as fresh data."""
        return self.epochs is not None and self.epochs > MAX_USEFUL_EPOCHS

    def to_dict(self) -> dict:
        return {
            "shape": self.shape, "n_params": self.n_params, "model": asdict(self.model),
            "micro_batch_size": self.micro_batch_size, "grad_accum_steps": self.grad_accum_steps,
            "tokens": self.tokens, "steps": self.steps, "tokens_per_s": self.tokens_per_s,
            "seconds": self.seconds, "hours": self.seconds / 3600, "epochs": self.epochs,
            "peak_memory_gb": self.memory.total / GB, "memory_available_gb": self.memory_available / GB,
            "fits": self.fits, "memory_gb": self.memory.as_gb(), "warnings": list(self.warnings),
        }


def estimate(cfg: ModelConfig, vocab_size: int, device: DeviceSpec, micro_batch_size: int,
             grad_accum_steps: int, tokens: int, dataset_tokens: int | None = None) -> Plan:
    """Memory, speed and wall time of training `cfg` for `tokens` tokens (0: compute-optimal)."""
    n_params = count_params(cfg, vocab_size).total
    tokens = tokens or COMPUTE_OPTIMAL_TOKENS_PER_PARAM * n_params
    per_step = tokens_per_step(micro_batch_size, grad_accum_steps, cfg.context_length, device.count)
    steps = max(1, math.ceil(tokens / per_step))
    speed = tokens_per_second(cfg, vocab_size, micro_batch_size, device)
    memory = training_memory(cfg, vocab_size, micro_batch_size, device.precision, grad_accum_steps,
                             device.compiled, device.kind)
    plan = Plan(model=cfg, micro_batch_size=micro_batch_size, grad_accum_steps=grad_accum_steps,
                tokens=steps * per_step, steps=steps, n_params=n_params, memory=memory,
                memory_available=device.memory_bytes, tokens_per_s=speed, seconds=steps * per_step / speed,
                epochs=steps * per_step / dataset_tokens if dataset_tokens else None, device_kind=device.kind)
    plan.warnings = _warnings(plan, device)
    return plan


def _warnings(plan: Plan, device: DeviceSpec) -> list[str]:
    notes = []
    if not plan.fits:
        notes.append(f"Needs about {plan.memory.total / GB:.1f} GB per device but {plan.memory_available / GB:.1f} GB "
                     "are free: lower the micro-batch, the context or the model size, or turn on activation "
                     "checkpointing.")
    if plan.repeats_data:
        dropout = f"dropout {plan.model.dropout:g} and " if plan.model.dropout else ""
        notes.append(f"That is {format_passes(plan.epochs)} over the dataset; beyond about {MAX_USEFUL_EPOCHS} a "
                     f"model starts memorising it, so this plan trains with {dropout}an average of its weights, "
                     "keeps the best evaluation and stops early once held-out loss stops improving. More data "
                     "would learn more.")
    per_param = plan.tokens / plan.n_params
    if per_param < (REPEATED_TOKENS_PER_PARAM if plan.repeats_data else COMPUTE_OPTIMAL_TOKENS_PER_PARAM / 2):
        advice = "a smaller model would reach a lower loss in the same time" if not _is_smallest(plan.model) \
            else "it is already the smallest size offered, so a longer time budget is what would help"
        notes.append(f"Only {per_param:.1f} tokens per parameter (compute-optimal is about "
                     f"{COMPUTE_OPTIMAL_TOKENS_PER_PARAM}): this model will be under-trained; {advice}.")
    if plan.model.gradient_checkpointing:
        notes.append("Activation checkpointing is on: less memory, about a third more compute per step.")
    if device.count > 1:
        notes.append(f"Memory is per GPU; speed assumes {DATA_PARALLEL_EFFICIENCY:.0%} scaling over "
                     f"{device.count} GPUs.")
    return notes


def over_budget_note(plan: Plan, minutes: float) -> str | None:
    """What a time budget does to a plan whose tokens take longer than it allows: the clock ends the run
    (and its learning-rate schedule), so it trains only the tokens the budget has time for. None when the
    plan fits the budget or there is none."""
    if minutes <= 0 or plan.seconds <= minutes * 60:
        return None
    share = minutes * 60 / plan.seconds
    return (f"These {plan.tokens:,} tokens would take about {format_duration(plan.seconds)}, more than the "
            f"{minutes:g}-minute time budget: the clock ends the run after about "
            f"{int(plan.tokens * share):,} tokens ({share:.0%} of them). Lower the tokens or the model size, or "
            "raise the budget.")


def _is_smallest(cfg: ModelConfig) -> bool:
    """Whether no shape the planner offers is smaller than this model (advice to shrink it is then void)."""
    smallest = SHAPES[0]
    return cfg.n_layer * cfg.n_embd ** 2 <= smallest.n_layer * smallest.n_embd ** 2


# ---------------------------------------------------------------------------------------------
# Recommendation.


@dataclass
class PlanRequest:
    device: DeviceSpec
    hours: float = 1.0  # the time budget for training
    dataset_tokens: int | None = None  # None: unknown (no check on epochs)
    vocab_size: int = 8192
    family: str = "gpt2"
    context_length: int = 0  # 0: each size's usual context, capped by max_context
    max_context: int = 0  # e.g. what the dataset's document lengths call for; 0: no cap
    allow_checkpointing: bool = True

    def context_for(self, shape: Shape) -> int:
        if self.context_length:
            return self.context_length
        return min(shape.context_length, self.max_context) if self.max_context else shape.context_length


def _batch_tokens(shape: Shape, cfg: ModelConfig, device: DeviceSpec, tokens: int, min_steps: int) -> int:
    """The shape's batch, made smaller (a power of two) so that `tokens` take at least `min_steps` steps."""
    smallest = cfg.context_length * device.count
    wanted = min(shape.batch_tokens, tokens // min_steps)
    return max(smallest, 2 ** int(math.log2(max(wanted, 1))))


def _fitting_batch(cfg: ModelConfig, vocab: int, device: DeviceSpec, batch_tokens: int) -> tuple[int, int] | None:
    """(micro_batch, grad_accum): the largest power-of-two micro-batch that fits, None if 1 does not."""
    per_sequence = cfg.context_length * device.count
    micro = 2 ** int(math.log2(max(1, batch_tokens // per_sequence)))
    while micro >= 1:
        accum = max(1, math.ceil(batch_tokens / (micro * per_sequence)))
        memory = training_memory(cfg, vocab, micro, device.precision, accum, device.compiled, device.kind)
        if memory.total <= device.memory_bytes:
            return micro, accum
        micro //= 2
    return None


def learning_rate_for(n_params: int, repeats_data: bool = False) -> float:
    """Peak learning rate: SMALLEST_MODEL_LR up to half a million parameters, 1e-3 at 10M (the best-known
    small-data recipes), GPT-2's 6e-4 from about 100M parameters, log-linear between; at least
    REPEATED_DATA_MIN_LR where the plan repeats its data."""
    if repeats_data:
        return max(REPEATED_DATA_MIN_LR, learning_rate_for(n_params))
    if n_params >= 100e6:
        return 6e-4
    if n_params >= 10e6:
        return round(1e-3 * 0.6 ** (math.log(n_params / 10e6) / math.log(10)), 6)
    share = math.log(max(n_params, 0.5e6) / 0.5e6) / math.log(10e6 / 0.5e6)
    return round(SMALLEST_MODEL_LR * (1e-3 / SMALLEST_MODEL_LR) ** share, 6)


def dropout_for(passes: float | None, device_kind: str = "cuda") -> float:
    """Dropout for a run that makes this many passes over its data: none while the data is nearly fresh,
    more the more often it is repeated (the regulariser that best protects repeated data, Xue et al. 2023);
    CPU_DROPOUT on a CPU."""
    if device_kind == "cpu":
        return CPU_DROPOUT
    for most, dropout in DROPOUT_BY_PASSES:
        if passes is None or passes <= most:
            return dropout
    return HEAVY_DROPOUT


def memorises(plan: Plan) -> bool:
    """Whether the plan's model is large enough for its data to memorise it within a time budget (see
    MEMORISING_PARAMS_PER_TOKEN); True when the data's size is unknown."""
    if not plan.epochs:
        return True
    return plan.n_params / (plan.tokens / plan.epochs) >= MEMORISING_PARAMS_PER_TOKEN


def weight_decay_for(passes: float | None, memorising: bool = True) -> float:
    """AdamW's weight decay for a run that makes this many passes over its data (see WEIGHT_DECAY_BY_PASSES),
    the usual one for a model too small to memorise its data (`memorises`)."""
    if not memorising:
        return USUAL_WEIGHT_DECAY
    for most, decay in WEIGHT_DECAY_BY_PASSES:
        if passes is None or passes <= most:
            return decay
    return HEAVY_WEIGHT_DECAY


def optimizer_for(plan: Plan) -> str:
    """Muon for a CPU plan whose model is too small to memorise its data, AdamW otherwise (see above)."""
    return "muon" if plan.device_kind == "cpu" and not memorises(plan) else "adamw"


def largest_for_data(dataset_tokens: int) -> float:
    """The most parameters worth training on a dataset this small (see PARAMS_AT_A_MILLION_TOKENS)."""
    return PARAMS_AT_A_MILLION_TOKENS * math.sqrt(dataset_tokens / 1e6)


def _data_constrained(n_params: int, request: PlanRequest) -> bool:
    """Whether compute-optimal training of this size would repeat the dataset more than it usefully can."""
    data = request.dataset_tokens
    return data is not None and COMPUTE_OPTIMAL_TOKENS_PER_PARAM * n_params > MAX_USEFUL_EPOCHS * data


def plan_shape(shape: Shape, request: PlanRequest) -> Plan | None:
    """The fastest way to train this shape on the device, or None when it cannot fit at all.

    Tokens: all the time budget allows; a model trained past compute-optimal keeps improving, only more
    slowly, and on repeated data early stopping ends the run at its best. The batch is the shape's own
    unless that would mean fewer than MIN_OPTIMIZER_STEPS steps for those tokens. Dropout follows the
    passes over the data; a plan that repeats the data takes SMALL_DATA_CONTEXT, SMALL_DATA_BATCH_TOKENS
    at most and at least REPEATED_DATA_STEPS steps.
    """
    plan = _plan_shape(shape, request, MIN_OPTIMIZER_STEPS)
    if plan is not None and plan.repeats_data:
        repeated = replace(shape, context_length=min(shape.context_length, SMALL_DATA_CONTEXT),
                           batch_tokens=min(shape.batch_tokens, SMALL_DATA_BATCH_TOKENS))
        plan = _plan_shape(repeated, request, REPEATED_DATA_STEPS) or plan
    return plan


def _plan_shape(shape: Shape, request: PlanRequest, min_steps: int) -> Plan | None:
    device, vocab, seconds = request.device, request.vocab_size, request.hours * 3600
    for checkpointing in (False, True) if request.allow_checkpointing else (False,):
        cfg = shape.model_config(request.family, request.context_for(shape), checkpointing)
        optimal = COMPUTE_OPTIMAL_TOKENS_PER_PARAM * count_params(cfg, vocab).total
        batch = _fitting_batch(cfg, vocab, device, _batch_tokens(shape, cfg, device, optimal, min_steps))
        if batch is None:
            continue
        tokens = int(seconds * tokens_per_second(cfg, vocab, batch[0], device))
        if tokens < optimal * min_steps / MIN_OPTIMIZER_STEPS:  # too few steps at this batch: a smaller one
            batch = _fitting_batch(cfg, vocab, device, _batch_tokens(shape, cfg, device, tokens, min_steps))
            tokens = int(seconds * tokens_per_second(cfg, vocab, batch[0], device))
        micro, accum = batch
        per_step = tokens_per_step(micro, accum, cfg.context_length, device.count)
        tokens = max(per_step, tokens // per_step * per_step)
        passes = tokens / request.dataset_tokens if request.dataset_tokens else None
        cfg = replace(cfg, dropout=dropout_for(passes, device.kind))
        plan = estimate(cfg, vocab, device, micro, accum, tokens, request.dataset_tokens)
        return replace(plan, shape=shape.name)
    return None


def _qualifies(plan: Plan, request: PlanRequest) -> bool:
    """Abundant data: trains to compute-optimal within the time budget. A small dataset: no larger than
    `largest_for_data`, with time for REPEATED_TOKENS_PER_PARAM tokens per parameter."""
    if _data_constrained(plan.n_params, request):
        small_enough = plan.n_params <= largest_for_data(request.dataset_tokens)
        in_time = plan.tokens_per_s * request.hours * 3600
        return small_enough and in_time >= REPEATED_TOKENS_PER_PARAM * plan.n_params
    return COMPUTE_OPTIMAL_TOKENS_PER_PARAM * plan.n_params / plan.tokens_per_s <= request.hours * 3600


def recommend(request: PlanRequest) -> Plan:
    """The largest model that can be trained well within the time budget, with a batch that fits memory:
    compute-optimally (about 20 tokens per parameter) where the data allows it in no more than
    MAX_USEFUL_EPOCHS passes; on a smaller dataset, a model sized to the data, repeated with dropout
    (see _qualifies). When even the smallest cannot, the smallest that fits, trained for the time available.

    More memory or more time never gives a smaller model: every shape's batch (hence speed) can only
    grow with memory, and the set of shapes that qualify can only grow with time.
    """
    if request.hours <= 0:
        raise UserError(f"The time budget must be above 0 hours (it is {request.hours}).")
    plans = [p for p in (plan_shape(s, request) for s in SHAPES) if p is not None]
    if not plans:
        raise UserError(
            f"Even the smallest model does not fit in {request.device.memory_bytes / GB:.1f} GB: free some "
            "memory (close other programs or training runs) or use a device with more memory.")
    qualifying = [p for p in plans if _qualifies(p, request)]
    plan = qualifying[-1] if qualifying else plans[0]
    plan.warnings = _warnings(plan, request.device)
    return plan


def time_budget_limits(minutes: float) -> dict:
    """The train.* limits that carry a plan out within a time budget. The clock ends the run, and the
    learning-rate schedule follows it, rather than the plan's step count, which rests on a speed estimate
    (rough on a CPU: a step count from it left the budget half used, or overran it). No pass cap: a cap at
    60 passes ended a 3-minute GPU run after 48 s; on repeated data early stopping ends the run instead."""
    return {"max_steps": 0, "max_tokens": 0, "max_minutes": minutes}


def train_settings(plan: Plan, minutes: float = 0.0) -> dict:
    """The train.* settings that carry out a plan: its batch; its limits (the clock, when a time budget is
    given, else the plan's tokens); the learning rate for its size; a warm-up of at most 5% of its steps;
    on repeated data the recipe's beta2, a weight decay that grows with the passes and an average of the
    weights; the optimizer (`optimizer_for`); evaluations, samples and checkpoints spread over the run,
    whatever its length turns out to be, every checkpoint kept (the Playground compares them)."""
    limits = time_budget_limits(minutes) if minutes > 0 else \
        {"max_steps": plan.steps, "max_tokens": plan.tokens, "max_minutes": 0.0}
    defaults = TrainConfig()
    return {"micro_batch_size": plan.micro_batch_size, "grad_accum_steps": plan.grad_accum_steps, **limits,
            "learning_rate": learning_rate_for(plan.n_params, plan.repeats_data),
            "warmup_steps": max(1, min(defaults.warmup_steps, plan.steps // 20)),
            "beta2": REPEATED_DATA_BETA2 if plan.repeats_data else defaults.beta2,
            "weight_decay": weight_decay_for(plan.epochs, memorises(plan)), "optimizer": optimizer_for(plan),
            "ema_decay": REPEATED_DATA_EMA if plan.repeats_data else defaults.ema_decay,
            "eval_interval": AUTO, "sample_interval": AUTO,
            "save_interval": AUTO, "keep_checkpoints": CHECKPOINTS_PER_RUN + 1}


def context_from_profile(profile: DatasetProfile | None) -> int:
    """The context length the Dataset tab's profile suggests from document lengths; 0 for none (no profile, or a
    text stream, which has no documents): the planner then takes each size's own."""
    return profile.context["length"] if profile else 0


def plan_summary(plan: Plan) -> list[tuple[str, str]]:
    """A plan as (label, value) lines for people: the CLI and the Model tab print these."""
    m = plan.model
    shape = f"{m.family}, {m.n_layer} layers, width {m.n_embd}, {m.n_head} heads, context {m.context_length}"
    batch = (f"{plan.micro_batch_size} sequences x {plan.grad_accum_steps} accumulation steps "
             f"= {plan.tokens // plan.steps:,} tokens per step")
    rows = [
        ("Model", f"{plan.shape + ': ' if plan.shape else ''}{shape}"),
        ("Parameters", f"{plan.n_params / 1e6:,.1f}M"),
        ("Batch", batch),
        ("Tokens to train",
         f"{plan.tokens:,} in {plan.steps:,} steps ({plan.tokens / plan.n_params:.1f} per parameter)"),
        ("Peak memory", f"{plan.memory.total / GB:.2f} GB of {plan.memory_available / GB:.1f} GB free per device"
                        f" ({'fits' if plan.fits else 'does NOT fit'}; estimate)"),
        ("Speed", f"{plan.tokens_per_s:,.0f} tokens/s (estimate)"),
        ("Wall time", f"{format_duration(plan.seconds)} (estimate, without evaluation and checkpoints)"),
    ]
    if plan.epochs is not None:
        rows.append(("Passes over the data", format_passes(plan.epochs, unit=False)))
    return rows
