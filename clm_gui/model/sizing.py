"""Model sizing: parameter counts, training FLOPs, memory and speed on a device, and a dataset's tokens.

Everything here is arithmetic on a `ModelConfig` (no torch, no model is built), so the planner
(`model/planner.py`, which chooses from these figures) answers instantly. The formulas are checked against
built models (parameter counts, exactly) and against measured training steps (memory and throughput, within
the errors bench/sizing_accuracy.py reports); the measured parts are the named calibration constants below.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from clm_gui.config import ModelConfig
from clm_gui.data.domain import CHARS_PER_TOKEN
from clm_gui.units import GB

if TYPE_CHECKING:  # profiling reads datasets with `datasets`: sizing needs only the type
    from clm_gui.data.profiling import DatasetProfile


def _model_helpers():
    # architecture.py imports torch and transformers; importing it lazily keeps the planner quick to import.
    from clm_gui.model import architecture as model

    return model


# ---------------------------------------------------------------------------------------------
# Parameters and FLOPs.


def ffn_width(cfg: ModelConfig) -> int:
    """The MLP's hidden width: 4x for GPT-2, the SwiGLU default (~8/3x, rounded) for Llama."""
    if cfg.intermediate_size:
        return cfg.intermediate_size
    return 4 * cfg.n_embd if cfg.family == "gpt2" else _model_helpers().llama_intermediate_size(cfg.n_embd)


@dataclass(frozen=True)
class ParamCount:
    """Parameters by part, exactly as transformers builds the model (tied embeddings counted once)."""

    embedding: int  # token embedding, vocabulary x width
    positions: int  # learned position embedding (GPT-2; Llama uses rotary positions, no parameters)
    layers: int  # all transformer blocks
    final_norm: int
    lm_head: int  # the output projection; 0 when it is tied to the token embedding

    @property
    def total(self) -> int:
        return self.embedding + self.positions + self.layers + self.final_norm + self.lm_head

    @property
    def flops_params(self) -> int:
        """Parameters that take part in matrix products: the lookup tables (positions, and the input
        embedding when it is not tied to the output layer) cost no FLOPs."""
        lookups = self.positions + (self.embedding if self.lm_head else 0)
        return self.total - lookups


def count_params(cfg: ModelConfig, vocab_size: int) -> ParamCount:
    """Exact parameter count of the model `clm_gui.model.architecture.build_model(cfg, vocab_size)` builds."""
    vocab = _model_helpers().padded_vocab_size(vocab_size)
    d, f, n = cfg.n_embd, ffn_width(cfg), cfg.n_layer
    if cfg.family == "gpt2":
        # ln_1, ln_2 (gain + bias); c_attn (d -> 3d, bias); c_proj (d -> d, bias); c_fc, mlp c_proj (bias)
        per_layer = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d)
        positions, final_norm = cfg.context_length * d, 2 * d
    else:
        kv_width = (cfg.n_kv_head or cfg.n_head) * (d // cfg.n_head)
        # two RMSNorm gains; q, o (d x d); k, v (d x kv_width); gate, up, down (d x f); no biases
        per_layer = 2 * d + 2 * d * d + 2 * d * kv_width + 3 * d * f
        positions, final_norm = 0, d
    return ParamCount(embedding=vocab * d, positions=positions, layers=n * per_layer, final_norm=final_norm,
                      lm_head=0 if cfg.tie_embeddings else vocab * d)


def flops_per_token(n_params: int, cfg: ModelConfig) -> float:
    """Training FLOPs per token: 6N for the matrix products (forward + backward) plus attention.

    N excludes position embeddings (they are a lookup, not a product). The attention term is
    12 * layers * width * context: the QK^T and AV products, forward and backward.
    """
    return 6 * n_params + 12 * cfg.n_layer * cfg.n_embd * cfg.context_length


def training_flops_per_token(cfg: ModelConfig, vocab_size: int) -> float:
    """FLOPs the device really executes per token; checkpointing re-runs the forward pass (8N, not 6N)."""
    flops = flops_per_token(count_params(cfg, vocab_size).flops_params, cfg)
    return flops * 8 / 6 if cfg.gradient_checkpointing else flops


# ---------------------------------------------------------------------------------------------
# Memory.
#
# Training keeps fp32 weights (4 bytes/param), fp32 gradients (4) and AdamW's two fp32 moments (8).
# Mixed precision (autocast) adds 16-bit copies of the weights for the matrix products. Activations
# are what the forward pass saves for the backward pass; they grow with tokens per micro-batch
# (micro_batch x context). Per token they are, in bytes:
#     layers x (a_w x width + a_f x ffn_width) + a_o x width + a_l x vocabulary
# where a_l covers the logits, their fp32 copy, the log-softmax and their gradients (the largest
# single item for small models with big vocabularies). With activation checkpointing each layer keeps
# only about c_w x width bytes per token, and one layer at a time is recomputed in full.


@dataclass(frozen=True)
class ActivationBytes:
    """Bytes saved for the backward pass, per token, by unit of width (see the comment above)."""

    per_width_per_layer: float  # a_w
    per_ffn_per_layer: float  # a_f
    per_width_outside: float  # a_o: embeddings, final norm
    per_logit: float  # a_l, x padded vocabulary size
    checkpointed_per_width_per_layer: float  # c_w: what a checkpointed layer keeps
    weight_copy_bytes_per_param: float  # 16-bit weight copies kept for the backward pass


# Calibration. Regimes: "fp32" (no autocast, eager; the trainer's CPU default), "mixed" (bf16/fp16
# autocast, eager), "mixed-compiled" (autocast under torch.compile; the trainer's GPU default).
# "fp32" and "mixed" were fitted (least squares, max error <0.5% over 10 shapes each) to peak memory
# measured with torch.distributed._tools.MemTracker around real steps of the trainer's CausalLMLoss +
# AdamW on the CPU (torch 2.13, transformers 5.24), bf16 CPU autocast standing in for CUDA autocast.
# "mixed-compiled" was fitted to the peaks torch.cuda.max_memory_allocated gave on an H100 for the
# trainer's compiled bf16 step (bench/train_throughput.py in docs/benchmarks.md, 2026-11-25: GPT-2
# small at micro-batch 32 and 64, 15.1 and 28.5 GB; 24 x 1024 at 16, 19.9 GB; Llama 12 x 768 at 32,
# 15.1 GB), then the GPT-2 row refitted to bench/sizing_accuracy.py's six H100 rows (2026-11-26):
# inductor keeps the logits in bf16 only (~2.3 bytes each), fuses the GELU/SiLU chains, and keeps
# ~2.5 bytes/param of 16-bit weights and their gradients. Per-width and per-ffn shares within a layer, and the
# checkpointed terms, carry over from "mixed". bench/sizing_accuracy.py prints refits of these values.
# GPT-2's per-ffn terms in "fp32" and "mixed" were refitted (2026-12-06, the same MemTracker step at FFN widths
# 384 and 1,536) when its GELU became PyTorch's fused kernel, which keeps only its input for the backward
# pass: 20.0 -> 8.6 and 9.9 -> 4.0 bytes (the input and the output, in 32 or 16 bits).
ACTIVATION_BYTES = {
    ("gpt2", "fp32"): ActivationBytes(40.5, 8.6, 7.2, 11.9, 12.0, 0.0),
    ("gpt2", "mixed"): ActivationBytes(24.3, 4.0, 4.4, 12.5, 5.0, 2.0),
    ("gpt2", "mixed-compiled"): ActivationBytes(18.4, 4.28, 4.4, 2.26, 5.0, 2.54),
    ("llama", "fp32"): ActivationBytes(40.7, 16.0, 10.6, 11.9, 16.0, 0.0),
    ("llama", "mixed"): ActivationBytes(34.5, 7.9, 8.1, 12.5, 8.0, 2.0),
    ("llama", "mixed-compiled"): ActivationBytes(19.9, 5.0, 8.1, 2.05, 8.0, 1.65),
}
# With checkpointing, the layer being recomputed peaks at about this multiple of its saved activations
# (its backward temporaries come on top); fitted with the same MemTracker measurements as above.
RECOMPUTE_PEAK_FACTOR = 1.15
# Memory outside PyTorch's allocator count: the CUDA context and library workspaces (about 0.5 GB on a
# Hopper card), or the data loader's buffers on a CPU; plus the caching allocator's unused reserve.
FRAMEWORK_BYTES = {"cuda": 0.6 * GB, "cpu": 0.3 * GB}
ALLOCATOR_SLACK = 0.10  # reserved-but-unused memory as a share of the allocated peak (fragmentation)
_OPTIMIZER_BYTES_PER_PARAM = 8  # AdamW: exp_avg and exp_avg_sq in fp32
_MASTER_BYTES_PER_PARAM = 4  # weights and gradients stay fp32 under autocast


def regime(precision: str, compiled: bool) -> str:
    if precision == "fp32":
        return "fp32"
    return "mixed-compiled" if compiled else "mixed"


@dataclass
class MemoryBreakdown:
    """Bytes alive on one device at the peak of a training step, by what holds them."""

    weights: float
    weight_copies: float  # 16-bit copies autocast makes for the matrix products
    gradients: float  # 0 when they are freed before the next forward pass (no gradient accumulation)
    optimizer: float
    activations: float
    logits: float  # the output layer's logits and loss, with their gradients
    framework: float  # CUDA context and allocator reserve: outside torch.cuda.max_memory_allocated

    @property
    def peak_allocated(self) -> float:
        """What torch.cuda.max_memory_allocated() reports for this step."""
        return self.total - self.framework

    @property
    def total(self) -> float:
        return sum(asdict(self).values())

    def as_gb(self) -> dict[str, float]:
        return {k: v / GB for k, v in asdict(self).items()}


def training_memory(cfg: ModelConfig, vocab_size: int, micro_batch_size: int, precision: str = "bf16",
                    grad_accum_steps: int = 1, compiled: bool = False, device_kind: str = "cuda") -> MemoryBreakdown:
    """Peak memory of one device training `cfg` with AdamW (see the comment above ACTIVATION_BYTES).

    The peak comes at the end of the forward pass (activations + logits) unless the gradients alone are
    larger; with gradient accumulation the gradients live through the forward passes and add up.
    """
    params = count_params(cfg, vocab_size).total
    coef = ACTIVATION_BYTES[(cfg.family, regime(precision, compiled))]
    tokens = micro_batch_size * cfg.context_length
    d, f = cfg.n_embd, ffn_width(cfg)
    layer = coef.per_width_per_layer * d + coef.per_ffn_per_layer * f
    logits = tokens * coef.per_logit * _model_helpers().padded_vocab_size(vocab_size)
    if cfg.gradient_checkpointing:
        # Layers keep their inputs; the one being recomputed holds its full activations, but not while
        # the logits are alive (the loss is taken before the first recomputation), so the larger counts.
        recomputed = max(0.0, RECOMPUTE_PEAK_FACTOR * tokens * layer - logits)
        activations = tokens * (cfg.n_layer * coef.checkpointed_per_width_per_layer + coef.per_width_outside) * d \
            + recomputed
    else:
        activations = tokens * (cfg.n_layer * layer + coef.per_width_outside * d)
    copies = coef.weight_copy_bytes_per_param * params
    grads = _MASTER_BYTES_PER_PARAM * params
    if grad_accum_steps == 1 and grads > activations + logits + copies:
        activations = logits = copies = 0.0  # the peak is the optimizer step, after the backward pass freed them
    elif grad_accum_steps == 1:
        grads = 0.0
    allocated = _MASTER_BYTES_PER_PARAM * params + _OPTIMIZER_BYTES_PER_PARAM * params + grads + copies \
        + activations + logits
    return MemoryBreakdown(
        weights=_MASTER_BYTES_PER_PARAM * params, weight_copies=copies, gradients=grads,
        optimizer=_OPTIMIZER_BYTES_PER_PARAM * params, activations=activations, logits=logits,
        framework=FRAMEWORK_BYTES[device_kind] + ALLOCATOR_SLACK * allocated)


# ---------------------------------------------------------------------------------------------
# Throughput and time.


@dataclass(frozen=True)
class DeviceSpec:
    """What the planner needs to know about the device(s) a run trains on."""

    kind: str  # cpu | cuda
    name: str
    count: int  # data-parallel devices, each holding a full copy of the model
    memory_bytes: float  # usable memory per device: free GPU memory, or available RAM
    peak_flops: float  # per device, at `precision` (a datasheet figure, or a measured one on a CPU)
    precision: str  # bf16 | fp16 | fp32
    compiled: bool  # the trainer compiles the step (it does on CUDA)
    peak_source: str = ""


@dataclass(frozen=True)
class Throughput:
    """How fast a device trains: the matrix products of a layer of width w run at
    peak x max_share x w / (w + half_width) (narrow matrices leave a GPU's units idle); on top, every
    micro-batch costs a fixed `seconds_per_layer` per layer and `seconds_per_micro_batch` once (kernel
    launches, Python, the optimizer), which is what limits tiny models."""

    max_share: float
    half_width: float
    seconds_per_layer: float
    seconds_per_micro_batch: float = 0.0


# Calibration. "cuda": bf16 training with the step captured as one CUDA graph (train.compile auto on one GPU):
# seconds_per_layer is a least-squares fit (on relative error) to five H200 rows of bench/train_throughput.py
# (2026-12-03: 6 x 384 at micro-batch 64 twice, 2 x 128 at 64 and 512, GPT-2 small at 32), within -33%..+26%;
# the graph left no fixed cost per micro-batch to fit. max_share and half_width are from the earlier fit to
# twenty compiled H100 rows (10M/124M/350M GPT-2 at micro-batch 4-64, 2026-11-26, docs/benchmarks.md), whose
# fixed costs (0.53 ms a layer, 3.09 ms a micro-batch) the graph removed.
# "cpu": relative to this CPU's own measured fp32 matmul throughput at the threads training gets
# (hardware.cpu_matmul_flops), fitted (smallest worst-case error) to `bench/sizing_accuracy.py --cpu --threads 1
# --micro-batches 8 32` with the app serving a browser page beside it, on the shared 2-core AMD EPYC
# (2026-12-03, docs/benchmarks.md): within -9%..+11% on its six rows. Earlier fits on the same box under
# heavy load scattered by +-40%: the clock, not this estimate, ends a time-budgeted run.
THROUGHPUT = {
    "cuda": Throughput(max_share=0.616, half_width=130, seconds_per_layer=0.45e-3),
    "cpu": Throughput(max_share=0.75, half_width=96, seconds_per_layer=2e-3),
}
DATA_PARALLEL_EFFICIENCY = 0.90  # throughput per GPU with several GPUs, relative to one (gradient all-reduce)


def matmul_share(width: int, device_kind: str) -> float:
    """The share of peak FLOP/s the matrix products of a layer this wide reach."""
    t = THROUGHPUT[device_kind]
    return t.max_share * width / (width + t.half_width)


def micro_batch_seconds(cfg: ModelConfig, vocab_size: int, micro_batch_size: int, peak_flops: float,
                        device_kind: str) -> float:
    """Seconds one device spends on one micro-batch: its FLOPs at the reachable rate, plus fixed costs."""
    flops = training_flops_per_token(cfg, vocab_size) * micro_batch_size * cfg.context_length
    compute = flops / (peak_flops * matmul_share(cfg.n_embd, device_kind))
    t = THROUGHPUT[device_kind]
    return compute + cfg.n_layer * t.seconds_per_layer + t.seconds_per_micro_batch


def tokens_per_second(cfg: ModelConfig, vocab_size: int, micro_batch_size: int, device: DeviceSpec) -> float:
    """Expected training tokens per second over all devices."""
    scaling = device.count * (DATA_PARALLEL_EFFICIENCY if device.count > 1 else 1.0)
    seconds = micro_batch_seconds(cfg, vocab_size, micro_batch_size, device.peak_flops, device.kind)
    return micro_batch_size * cfg.context_length * scaling / seconds


def model_flops_utilisation(cfg: ModelConfig, vocab_size: int, tokens_per_s: float, peak_flops: float,
                            devices: int = 1) -> float:
    """MFU: the share of the devices' peak FLOP/s that `tokens_per_s` is worth in the model's own FLOPs.

    Recomputation under gradient checkpointing is not counted (the FLOPs are executed, but they do not
    advance training), so MFU compares runs with and without it; `training_flops_per_token` counts it.
    """
    return tokens_per_s * flops_per_token(count_params(cfg, vocab_size).flops_params, cfg) / (peak_flops * devices)


# ---------------------------------------------------------------------------------------------
# A dataset's tokens.


def dataset_tokens_from_profile(profile: DatasetProfile | None, eval_fraction: float,
                                bytes_per_token: float | None = None) -> tuple[int | None, str]:
    """Training tokens in a profiled dataset: its text less the held-out share (`eval_fraction`), in tokens.
    Returns (tokens or None, a phrase saying where the figure comes from).

    Text per token, one rule for the Model tab, Quick start and the planner: as the run's tokenizer measured
    it on the held-out text (`bytes_per_token`, `tokenizer.quality.held_out_bytes_per_token`); else the
    profile's own count (a profile made with a tokenizer); else the usual characters per token of a BPE
    tokenizer on the profile's kind of text (`data/domain.CHARS_PER_TOKEN`).
    """
    if profile is None:
        return None, "no dataset profiled yet"
    training = 1 - eval_fraction
    held_out = f"less the {eval_fraction * 100:g}% held out"
    sampled = " (the size itself estimated from a sample)" if profile.estimated else ""
    if bytes_per_token and profile.bytes:
        return (int(profile.bytes * training / bytes_per_token),
                f"the text {held_out}, at {bytes_per_token:.2f} bytes per token as the tokenizer cuts it{sampled}")
    if profile.tokens:
        return int(profile.tokens * training), f"counted by the tokenizer, {held_out}{sampled}"
    if profile.bytes and profile.characters:
        kind = profile.domain.get("kind", "other")
        guessed = CHARS_PER_TOKEN.get(kind, CHARS_PER_TOKEN["other"]) * profile.bytes / profile.characters
        return (int(profile.bytes * training / guessed),
                f"estimated from bytes at {guessed:.2f} bytes per token (usual for {kind}), {held_out}{sampled}")
    return None, "the profile has no size"
