"""The training loop: one RunConfig in, a trained Hugging Face model in the run folder out.

The same code runs on a CPU, one GPU and several GPUs (`accelerate launch` / `torchrun` start one
process per GPU; `accelerate` wraps the model for data parallelism, or, with `train.distributed: fsdp`,
`sharding` splits it across the GPUs). Only rank 0 writes to the run folder. Everything the UI shows is
read back from that folder, so this module knows nothing of the UI.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import set_seed

from clm_gui import data as data_lib
from clm_gui import sharding
from clm_gui.best_model import BestModel, load_best_weights, read_best, save_best
from clm_gui.cadence import EVALUATIONS_PER_RUN, SAMPLES_PER_RUN, Cadence
from clm_gui.config import RunConfig
from clm_gui.errors import UserError
from clm_gui.evaluation import TokenStream, encode_stream, score_stream
from clm_gui.faults import out_of_memory_message, save_failed_message
from clm_gui.fast_forward import hidden_states_fn
from clm_gui.generate import SamplingSettings, generate
from clm_gui.hardware import peak_flops
from clm_gui.launch import launched_at, world_size
from clm_gui.model import build_model, count_parameters
from clm_gui.model_card import write_model_card
from clm_gui.packing import CachedWindows, StreamingWindows, build_token_cache, cache_key, read_token_cache
from clm_gui.prompts import prompts_for
from clm_gui.runs import TMP_PREFIX, RunDir, atomic_write_text, remove_tree
from clm_gui.sizing import flops_per_token
from clm_gui.tensorboard_log import TENSORBOARD_DIR, TensorBoardLog
from clm_gui.tokenizer import load_tokenizer, train_tokenizer

STOP_FILE = "STOP"  # created in the run folder to ask every rank to stop at the next step
DATA_TRACE_ENV = "CLM_GUI_DATA_TRACE"  # tests: each rank lists the windows it trained on in PATH.rankN
SHARD_TRACE_ENV = "CLM_GUI_SHARD_TRACE"  # tests: each rank writes how much of the model it held to PATH.rankN
STEP_GATE_ENV = "CLM_GUI_STEP_GATE"  # tests: PATH holds the last step the run may train (see wait_at_step_gate)
STEP_GATE_GIVE_UP_S = 900  # a gate nobody opens (its test died) fails the run instead of holding it forever


# ---------------------------------------------------------------------------------------------
# Device and precision.


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("train.device asks for a CUDA GPU but none is available; use 'auto' or 'cpu'.")
    return device


def resolve_precision(precision: str, device: torch.device, sharded: bool = False) -> str:
    """bf16 where the GPU supports it, fp16 on older GPUs (fp32 when sharded: FSDP here has no fp16 loss
    scaling), fp32 on CPU; an explicit choice wins."""
    if precision != "auto":
        if device.type == "cpu" and precision == "fp16":
            raise UserError("fp16 training needs a GPU; use bf16 or fp32 on the CPU.")
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32" if sharded else "fp16"
    return "fp32"


_ACCELERATE_PRECISION = {"bf16": "bf16", "fp16": "fp16", "fp32": "no"}


def budget_used(cfg, step: int, tokens: int, seconds: float) -> float:
    """How much of the run's budget is spent, 0 to 1: of whichever limit (steps, tokens, minutes) comes
    first, so that the learning rate has decayed when a time-limited run ends, however fast it went."""
    shares = [step / cfg.max_steps if cfg.max_steps else 0.0, tokens / cfg.max_tokens if cfg.max_tokens else 0.0,
              seconds / (cfg.max_minutes * 60) if cfg.max_minutes else 0.0]
    return min(1.0, max(shares))


def lr_at(step: int, cfg, used: float | None = None) -> float:
    """Linear warm-up, then cosine / linear decay to min_lr_ratio over the rest of the budget, or constant.
    `used`: the share of the budget spent (budget_used); by default, of the steps."""
    peak, floor = cfg.learning_rate, cfg.learning_rate * cfg.min_lr_ratio
    if step < cfg.warmup_steps:
        return peak * (step + 1) / cfg.warmup_steps
    if used is None:
        if cfg.max_steps <= cfg.warmup_steps:
            return peak
        used = step / cfg.max_steps
    if cfg.schedule == "constant" or used <= 0:
        return peak
    # The decay spans the budget after warm-up: progress 0 at the end of warm-up, 1 at the budget's end.
    warmup = cfg.warmup_steps / cfg.max_steps if cfg.max_steps else 0.0
    progress = min(1.0, max(0.0, (used - warmup) / (1 - warmup))) if warmup < 1 else 1.0
    if cfg.schedule == "linear":
        return floor + (peak - floor) * (1 - progress)
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))


# ---------------------------------------------------------------------------------------------
# The model with its loss.


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
            logits = self.lm(input_ids=input_ids, use_cache=False).logits[:, :-1]
        else:
            hidden = self.hidden_states(self.lm, input_ids)
            logits = self.lm.get_output_embeddings()(hidden[:, :-1])
        targets = input_ids[:, 1:]
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())


def make_optimizer(model: torch.nn.Module, cfg, device: torch.device) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only (not on biases, norms or gains)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = device.type == "cuda"  # one kernel for the whole update instead of one per tensor
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2), fused=fused)


# ---------------------------------------------------------------------------------------------


class TracedBatches:
    """A batch source that also appends a fingerprint of every window it hands out to a file."""

    def __init__(self, batches, path: Path):
        self.batches, self.path = batches, path

    def next_batch(self) -> torch.Tensor:
        batch = self.batches.next_batch()
        with open(self.path, "a") as f:
            f.writelines(hashlib.sha1(row.numpy().tobytes()).hexdigest() + "\n" for row in batch)
        return batch

    def __getattr__(self, name):
        return getattr(self.batches, name)


@dataclass
class TrainState:
    step: int = 0
    tokens: int = 0
    elapsed: float = 0.0  # training seconds before this process started (for the time limit)


class Trainer:
    """Trains `cfg` into the run folder. `run()` returns the final status dict."""

    def __init__(self, cfg: RunConfig, run: RunDir, resume: bool = False,
                 should_stop: Callable[[], bool] | None = None, on_log: Callable[[dict], None] | None = None):
        self.cfg, self.run_dir, self.resume = cfg, run, resume
        self._external_stop = should_stop or (lambda: False)
        self.on_log = on_log or (lambda record: None)
        self.state = TrainState()
        self.best = BestModel()
        self.tensorboard = TensorBoardLog(run.path / TENSORBOARD_DIR)  # a no-op without tensorboard

    # --- the public entry point ---------------------------------------------------------------
    def run(self) -> dict:
        self.accelerator = None
        self._process_start, self._first_step_logged, self._closing_s = launched_at(time.time()), False, 0.0
        self._data_prompts = None
        try:
            return self._run()
        except UserError as exc:
            return self._finish("failed", str(exc))
        except InterruptedError:
            self._save_checkpoint_if_possible()
            return self._finish("stopped", f"Stopped at step {self.state.step}.")
        except torch.OutOfMemoryError:
            pass  # handled below, once the traceback and the activations its frames hold are gone
        return self._out_of_memory()

    def _out_of_memory(self) -> dict:
        """End the run with the fix spelled out, and free what it held so the next run can start."""
        device = str(getattr(self, "device", "the device"))
        if self.accelerator is not None:
            self.accelerator.free_memory()
        self.step_module = self.module = self.optimizer = self.lm = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return self._finish("failed", out_of_memory_message(self.cfg, device, self.state.step))

    def _run(self) -> dict:
        cfg = self.cfg
        device = resolve_device(cfg.train.device)
        if device.type == "cuda" and device.index is not None and "LOCAL_RANK" not in os.environ:
            torch.cuda.set_device(device.index)
        self.fsdp = cfg.train.distributed == "fsdp" and world_size() > 1
        self.precision = resolve_precision(cfg.train.precision, device, self.fsdp)
        self.accelerator = Accelerator(mixed_precision=_ACCELERATE_PRECISION[self.precision],
                                       cpu=device.type == "cpu")
        acc = self.accelerator
        self.device = acc.device
        self.is_main = acc.is_main_process
        if self.is_main:
            self.run_dir.write_status("running", "Preparing data and tokenizer.", pid=os.getpid(),
                                      world_size=acc.num_processes, started=time.time())
        set_seed(cfg.train.seed)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

        self.tokenizer = self._prepare_tokenizer()
        self.eos_id = self.tokenizer.eos_token_id
        self.eval_stream = self._eval_stream()
        self.batches = self._train_batches()
        if os.environ.get(DATA_TRACE_ENV):
            self.batches = TracedBatches(self.batches, Path(f"{os.environ[DATA_TRACE_ENV]}.rank{acc.process_index}"))

        lm = build_model(cfg.model, len(self.tokenizer), cfg.train.seed, self.eos_id, self.tokenizer.pad_token_id)
        self.n_params = count_parameters(lm)
        self.lm = lm
        module = CausalLMLoss(lm, whole_model=self.fsdp).to(self.device)
        if self.fsdp:  # the optimizer must see the sharded parameters; accelerate does not wrap the model
            sharding.shard(lm, self.precision)
            self.optimizer = acc.prepare(make_optimizer(module, cfg.train, self.device))
        else:
            self.optimizer = make_optimizer(module, cfg.train, self.device)
            module, self.optimizer = acc.prepare(module, self.optimizer)
        self.module = module
        # Under FSDP too: on two H200s, GPT-2 small trained at 0.87x DDP's speed in 1.08x its memory
        # compiled, against 0.58x and 2.25x eager (docs/benchmarks.md).
        compile_on = cfg.train.compile == "on" or (cfg.train.compile == "auto" and self.device.type == "cuda")
        if compile_on and acc.num_processes > 1 and not self.fsdp:
            # One compiled graph for the whole step, its gradients all-reduced after the backward pass,
            # instead of a graph split at every DDP bucket: on two H200s, 1.925x one GPU against 1.880x
            # in the same call (docs/benchmarks.md).
            torch._dynamo.config.optimize_ddp = False
        self.step_module = torch.compile(module) if compile_on else module

        if self.resume:
            self._load_latest_checkpoint()
        self._flops_per_token = flops_per_token(self._params_without_positions(), cfg.model)
        self._peak = peak_flops(torch.cuda.get_device_name(self.device), self.precision) \
            if self.device.type == "cuda" else None
        return self._loop()

    # --- setup --------------------------------------------------------------------------------
    def _documents(self, split: str, sharded: bool = True):
        acc = self.accelerator
        rank, world = (acc.process_index, acc.num_processes) if sharded else (0, 1)
        return data_lib.iter_documents(self.cfg.data, split, rank, world)

    def _prepare_tokenizer(self):
        cfg, run, acc = self.cfg, self.run_dir, self.accelerator
        folder = run.tokenizer_dir
        if self.is_main and not (folder / "tokenizer_config.json").is_file():
            if cfg.tokenizer.path:
                tok = load_tokenizer(cfg.tokenizer.path, cfg.tokenizer.eos_token)
            else:
                self._status("Training the tokenizer.")
                tok = train_tokenizer(self._documents("train", sharded=False), cfg.tokenizer)
            tmp = folder.with_name(TMP_PREFIX + folder.name)
            remove_tree(tmp)
            tok.save_pretrained(str(tmp))
            os.replace(tmp, folder)
        acc.wait_for_everyone()
        return load_tokenizer(str(folder))

    def _eval_stream(self) -> TokenStream | None:
        """The held-out text as tokens, read once: at most eval_batches micro-batches of windows."""
        t = self.cfg.train
        if not t.eval_interval:
            return None
        limit = t.eval_batches * t.micro_batch_size * (self.cfg.model.context_length - 1) + 1
        stream = encode_stream(self._documents("eval", sharded=False), self.tokenizer, self.eos_id, limit)
        if len(stream.tokens) < 2 or not stream.n_bytes:
            raise UserError(
                "The held-out split has no text to evaluate on: use more data, a larger data.eval_fraction, "
                "or set train.eval_interval to 0."
            )
        return stream

    def _train_batches(self):
        cfg, acc = self.cfg, self.accelerator
        pin = self.device.type == "cuda"
        T, B = cfg.model.context_length, cfg.train.micro_batch_size
        if cfg.data.streaming:
            return StreamingWindows(lambda: self._documents("train"), self.tokenizer, self.eos_id, T, B, pin=pin)
        tokenizer_json = (self.run_dir.tokenizer_dir / "tokenizer.json").read_bytes()
        data_desc = json.dumps({**vars(cfg.data), "streaming": None, "split": data_lib.SPLIT_VERSION}, sort_keys=True)
        key = cache_key(data_desc, hashlib.sha256(tokenizer_json).hexdigest())
        path = self.run_dir.path.parent / ".token-cache" / f"{key}.bin"
        if self.is_main:
            self._status("Tokenizing the training data (cached for later runs).")
            build_token_cache(self._documents("train", sharded=False), self.tokenizer, self.eos_id, path,
                              should_stop=self._stop_requested)
        acc.wait_for_everyone()
        tokens = read_token_cache(path)
        windows = CachedWindows(tokens, T, B, cfg.train.seed, acc.process_index, acc.num_processes, pin=pin)
        if windows.windows_per_rank == 0:
            raise UserError(
                f"The training split has {len(tokens):,} tokens, fewer than one context window per device "
                f"({T} tokens x {acc.num_processes}); use more data or a shorter model.context_length."
            )
        return windows

    def _params_without_positions(self) -> int:
        positions = getattr(self.lm.base_model, "wpe", None)
        return self.n_params - (positions.weight.numel() if positions is not None else 0)

    # --- the loop -----------------------------------------------------------------------------
    def _stop_requested(self) -> bool:
        return self._external_stop() or (self.run_dir.path / STOP_FILE).exists()

    def _limits_reached(self) -> bool:
        t, s = self.cfg.train, self.state
        if t.max_steps and s.step >= t.max_steps:
            return True
        if t.max_tokens and s.tokens >= t.max_tokens:
            return True
        if not t.max_minutes:
            return False
        # A time budget is a promise: the closing evaluation and samples must fit in it too, so the run
        # stops training when what is left is no more than they took last time (twice, for a noisy machine).
        time_up = self._elapsed() + 2 * self._closing_s >= t.max_minutes * 60
        if self.accelerator.num_processes > 1:  # every rank stops at the same step: rank 0's clock decides
            return s.step % t.log_interval == 0 and self._agree(time_up)
        return time_up

    def _due(self, cadence: Cadence) -> bool:
        """Whether the cadence's event is due now; by rank 0's clock (at log steps) under several processes."""
        t, s = self.cfg.train, self.state
        due = cadence.due(s.step, budget_used(t, s.step, s.tokens, self._elapsed()))
        if not cadence.auto or self.accelerator.num_processes == 1:
            return due
        return s.step % t.log_interval == 0 and self._agree(due)

    def _timed(self, cadence: Cadence, event: Callable[[], None]) -> float:
        """Run an evaluation or a round of samples, mark it in its cadence, and return the seconds it took."""
        started, t, s = time.time(), self.cfg.train, self.state
        event()
        cadence.mark(s.step, budget_used(t, s.step, s.tokens, self._elapsed()))
        return time.time() - started

    def _elapsed(self) -> float:
        return self.state.elapsed + time.time() - self._process_start  # a time budget counts the setup too

    def _loop(self) -> dict:
        cfg, acc, t = self.cfg, self.accelerator, self.cfg.train
        tokens_per_step = t.micro_batch_size * t.grad_accum_steps * cfg.model.context_length * acc.num_processes
        self._status(f"Training ({self.n_params / 1e6:.1f}M parameters, {self.precision}, {self.device}).")
        window_start, window_tokens, window_steps = time.time(), 0, 0
        loss_sum = torch.zeros((), device=self.device)
        stopped_early = False
        self.evals = Cadence(t.eval_interval, EVALUATIONS_PER_RUN)
        self.samples = Cadence(t.sample_interval, SAMPLES_PER_RUN)
        eval_s = sample_s = 0.0  # what the latest evaluation and samples took: the time the run's end needs
        while not self._limits_reached():
            wait_at_step_gate(self.state.step, self.is_main)
            if self._should_stop_now():
                self._save_checkpoint()
                return self._finish("stopped", f"Stopped at step {self.state.step}; resume to continue.")
            lr = lr_at(self.state.step, t, budget_used(t, self.state.step, self.state.tokens, self._elapsed()))
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            loss_sum += self._train_step()
            self.state.step += 1
            self.state.tokens += tokens_per_step
            window_tokens, window_steps = window_tokens + tokens_per_step, window_steps + 1
            step = self.state.step
            if step % t.log_interval == 0 or step == 1:
                loss = acc.reduce(loss_sum, "mean").item() / window_steps  # the step's only host sync
                if not math.isfinite(loss):
                    self._finish("failed", f"The loss became {loss} at step {step}: lower train.learning_rate "
                                           "or raise train.warmup_steps, then start again.")
                    return self.run_dir.read_status()
                now = time.time()
                self._log_train(loss, lr, window_tokens / max(now - window_start, 1e-9))
                window_start, window_tokens, window_steps = now, 0, 0
                loss_sum.zero_()
            if self._due(self.evals):
                eval_s = self._timed(self.evals, self._evaluate)
                if self._agree(self.best.patience_spent(t.early_stop_patience)):
                    stopped_early = True
                    break
            if self._due(self.samples):
                sample_s = self._timed(self.samples, self._sample)
            self._closing_s = eval_s + sample_s
            if t.save_interval and step % t.save_interval == 0:
                self._save_checkpoint()
        step = self.state.step
        if self.evals.owed_at_end(step):
            self._timed(self.evals, self._evaluate)
        if self.samples.last_step != step:
            self._sample()
        if not t.save_interval or step % t.save_interval:
            self._save_checkpoint()
        self._trace_shards()
        kept = self._save_final()
        ending = (f"Stopped early at step {step}: the held-out loss has not improved for "
                  f"{t.early_stop_patience} evaluations." if stopped_early else f"Finished after {step} steps.")
        return self._finish("finished", f"{ending} {kept}")

    def _should_stop_now(self) -> bool:
        if self.accelerator.num_processes > 1 and self.state.step % self.cfg.train.log_interval:
            return False  # ranks agree on stopping only at log steps, to keep the step free of syncs
        return self._agree(self._stop_requested())

    def _train_step(self) -> torch.Tensor:
        acc, t = self.accelerator, self.cfg.train
        total = torch.zeros((), device=self.device)
        for micro in range(t.grad_accum_steps):
            batch = self.batches.next_batch().to(self.device, non_blocking=True)
            sync = micro == t.grad_accum_steps - 1
            with contextlib.nullcontext() if sync else acc.no_sync(self.module):
                loss = self.step_module(batch)
                acc.backward(loss / t.grad_accum_steps)
            total += loss.detach()
        if t.grad_clip:
            acc.clip_grad_norm_(self.module.parameters(), t.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total / t.grad_accum_steps

    # --- records ------------------------------------------------------------------------------
    def _memory(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**30
        import psutil

        return psutil.Process().memory_info().rss / 2**30

    def _log_train(self, loss: float, lr: float, tokens_per_s: float) -> None:
        record = {
            "kind": "train", "step": self.state.step, "tokens": self.state.tokens, "train_loss": loss,
            "lr": lr, "tokens_per_s": tokens_per_s, "elapsed_s": self._elapsed(),
            "memory_gb": self._memory(), "max_steps": self.cfg.train.max_steps, **self._passes(),
        }
        if not self._first_step_logged:  # setup, tokenizer, data, model build and compile included
            record["startup_s"], self._first_step_logged = time.time() - self._process_start, True
        if self._peak:
            record["mfu"] = tokens_per_s * self._flops_per_token / (self._peak * self.accelerator.num_processes)
        self._record(record)

    def _record(self, record: dict) -> None:
        if self.is_main:
            record["time"] = time.time()
            self.run_dir.append_metrics(record)
            self.tensorboard.write(record)
            self.on_log(record)

    def _evaluates_here(self) -> bool:
        """Whether this rank evaluates and samples: rank 0 alone, except under FSDP, where every forward
        pass gathers weights from every rank, so all ranks run it on the same inputs."""
        return self.is_main or self.fsdp

    @torch.no_grad()
    def _evaluate(self) -> None:
        """Score the held-out text; keep the weights when they are the best so far (rank 0 decides)."""
        score = None
        if self._evaluates_here() and self.eval_stream is not None:
            model = self.accelerator.unwrap_model(self.module)
            model.eval()
            score = score_stream(model, self.eval_stream, self.cfg.model.context_length,
                                 self.cfg.train.micro_batch_size, self.device, self.accelerator.autocast)
            model.train()
            self._record({"kind": "eval", "step": self.state.step, "tokens": self.state.tokens,
                          "eval_loss": score.nats_per_token, "eval_bpb": score.bits_per_byte,
                          "perplexity": math.exp(min(score.nats_per_token, 50)), "elapsed_s": self._elapsed(),
                          **self._passes()})
        improved = score is not None and self.best.update(self.state.step, score.nats_per_token, score.bits_per_byte)
        if self._agree(improved) and self.cfg.train.keep == "best":
            self._save_best()
        if self.is_main and improved:  # status.json's best changes only with a new best
            status = self.run_dir.read_status()
            self.run_dir.write_status(status["state"], status["message"], best=self.best.summary(),
                                      kept=self.cfg.train.keep)
        self.accelerator.wait_for_everyone()

    def _save_best(self) -> None:
        weights = sharding.full_weights(self.lm) if self.fsdp else self.lm.state_dict() if self.is_main else {}
        if self.is_main:
            save_best(self.run_dir.best_dir, without_tied_head(self.lm, dict(weights)), self.best)

    def _passes(self) -> dict:
        """Passes over the training data so far, where the batch source knows (not when streaming)."""
        passes = getattr(self.batches, "passes", None)
        return {} if passes is None else {"epoch": round(passes, 4)}

    def _agree(self, flag: bool) -> bool:
        """Rank 0's answer, on every rank (one collective when there are several)."""
        if self.accelerator.num_processes == 1:
            return flag
        vote = torch.tensor(float(self.is_main and flag), device=self.device)
        return bool(self.accelerator.reduce(vote, "sum").item())

    @torch.no_grad()
    def _sample(self) -> None:
        t = self.cfg.train
        if not self._evaluates_here() or not t.sample_max_new_tokens:
            return
        if not t.sample_prompts and self._data_prompts is None:  # none given: the data's own, read once
            self._data_prompts = prompts_for(self.cfg.data) or ["\n"]
        self.lm.eval()
        samples = []
        # A private RNG: sampling must not change the training run's random stream.
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            settings = SamplingSettings(max_new_tokens=t.sample_max_new_tokens, seed=t.seed)
            for prompt in t.sample_prompts or self._data_prompts:
                samples.append({"prompt": prompt, "text": generate(self.lm, self.tokenizer, prompt, settings)})
        self.lm.train()
        if self.is_main:
            self.run_dir.append_sample({"step": self.state.step, "time": time.time(), "elapsed_s": self._elapsed(),
                                        "samples": samples})

    def _trace_shards(self) -> None:
        """Tests: how many parameter and optimizer-state elements this rank holds."""
        path = os.environ.get(SHARD_TRACE_ENV)
        if path:
            moments = [v for s in self.optimizer.state.values() for v in s.values() if torch.is_tensor(v) and v.dim()]
            Path(f"{path}.rank{self.accelerator.process_index}").write_text(json.dumps({
                "parameters": sharding.local_numel(self.lm.parameters()),
                "optimizer_state": sharding.local_numel(moments)}))

    def _status(self, message: str) -> None:
        if self.is_main:
            self.run_dir.write_status("running", message, step=self.state.step)

    def _finish(self, state: str, message: str) -> dict:
        if getattr(self, "batches", None) is not None:
            self.batches.close()
        if self.accelerator is not None and not self.accelerator.is_main_process:
            return {"state": state, "message": message}
        (self.run_dir.path / STOP_FILE).unlink(missing_ok=True)
        return self.run_dir.write_status(state, message, step=self.state.step, pid=None, finished=time.time())

    # --- checkpoints --------------------------------------------------------------------------
    def _save_checkpoint_if_possible(self) -> None:
        if hasattr(self, "module") and self.state.step:
            self._save_checkpoint()

    def _save_checkpoint(self) -> None:
        """Write checkpoints/step-N under a temporary name; rename it once every file is on disk."""
        acc = self.accelerator
        acc.wait_for_everyone()
        weights, optimizer_state = self._full_state()
        if self.is_main:
            final = self.run_dir.checkpoint_dir(self.state.step)
            tmp = final.with_name(TMP_PREFIX + final.name)
            remove_tree(tmp)
            try:
                write_checkpoint(tmp, self, weights, optimizer_state)
                remove_tree(final)
                os.replace(tmp, final)
            except BaseException as exc:
                remove_tree(tmp)
                if isinstance(exc, OSError):  # a full disk ends the run with a message, not a traceback
                    raise UserError(save_failed_message(exc, f"the checkpoint at step {self.state.step}",
                                                        self.run_dir.latest_checkpoint())) from None
                raise
            for _, old in self.run_dir.checkpoints()[: -self.cfg.train.keep_checkpoints]:
                remove_tree(old)
        acc.wait_for_everyone()

    def _full_state(self) -> tuple[dict, dict]:
        """The model's weights and optimizer state, whole, on rank 0 (empty dicts on the others)."""
        if self.fsdp:  # gathered from every rank's slice: every rank takes part
            return sharding.full_weights(self.lm), sharding.full_optimizer_state(self.lm, self.optimizer)
        if not self.is_main:
            return {}, {}
        return self.lm.state_dict(), self.optimizer.state_dict()

    def _load_latest_checkpoint(self) -> None:
        path = self.run_dir.latest_checkpoint()
        if path is None:
            return
        state = json.loads((path / "trainer_state.json").read_text())
        if state.get("fsdp", False) != self.fsdp:  # FSDP keys the optimizer state by parameter name
            raise UserError(f"The checkpoint {path} was saved {'with' if state.get('fsdp') else 'without'} FSDP; "
                            "resume with the train.distributed setting and number of GPUs it was saved with.")
        from safetensors.torch import load_file

        weights = load_file(str(path / "model.safetensors"), device="cpu")
        names = set(self.lm.state_dict())
        missing, unexpected = sorted(names - set(weights)), sorted(set(weights) - names)
        if unexpected or set(missing) - {"lm_head.weight"}:  # a tied output head is stored once, as the input
            raise UserError(f"The checkpoint {path} does not match this model (missing {missing[:3]}, "
                            f"unexpected {unexpected[:3]}); start a new run.")
        # Under FSDP every rank reads the whole state into host memory and keeps its slice on the device.
        optimizer_state = torch.load(path / "optimizer.pt", map_location="cpu" if self.fsdp else self.device,
                                     weights_only=True)
        if self.fsdp:
            sharding.load_full_state(self.lm, self.optimizer, weights, optimizer_state)
        else:
            self.lm.load_state_dict(weights, strict=False)
            self.optimizer.load_state_dict(optimizer_state)
        self.state = TrainState(step=state["step"], tokens=state["tokens"], elapsed=state["elapsed"])
        self.best = BestModel.from_dict(state.get("best"))
        saved = read_best(self.run_dir.best_dir)  # a best found after this checkpoint was written
        if saved and saved["eval_loss"] < self.best.eval_loss:
            self.best = BestModel(**saved, evals_since=self.best.evals_since)
        self.batches.load_state_dict(state["data"])
        rng = torch.load(path / "rng.pt", weights_only=False)
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        if self.device.type == "cuda" and rng.get("cuda") is not None:
            torch.cuda.set_rng_state(rng["cuda"], self.device)

    def _keeps_best(self) -> bool:
        """Whether final/ is made from best/ rather than the current weights."""
        return self.cfg.train.keep == "best" and self.best.found and self.best.step != self.state.step

    def _final_note(self) -> str:
        if not self.best.found:
            return "final/ holds the last step (no evaluation was made)."
        best = f"step {self.best.step} (held-out {_scores(self.best.eval_loss, self.best.eval_bpb)})"
        if self._keeps_best():
            return f"final/ holds the best model, from {best}; the last evaluation scored {self._last_eval_scores()}."
        if self.best.step == self.state.step:
            return f"final/ holds the last step, which is also the best: {best}."
        return f"final/ holds the last step (train.keep: last); the best was {best}."

    def _last_eval_scores(self) -> str:
        # From the run's records: a resumed run may have made no evaluation in this process.
        evals = [r for r in self.run_dir.read_metrics() if r.get("kind") == "eval"]
        return _scores(evals[-1]["eval_loss"], evals[-1].get("eval_bpb")) if evals else "nothing"

    def _save_final(self) -> str:
        """Write final/ (the best or the last model, see train.keep) and return a sentence saying which."""
        self.accelerator.wait_for_everyone()
        keeps_best = self._keeps_best()
        weights = None  # None: the model's own
        if self.fsdp and not keeps_best:
            weights = without_tied_head(self.lm, sharding.full_weights(self.lm))
        if not self.is_main:
            return ""
        if keeps_best:  # into the model itself, so that save_pretrained ties the output head as usual
            weights = without_tied_head(self.lm, load_best_weights(self.run_dir.best_dir))
            if not self.fsdp:
                self.lm.load_state_dict(weights, strict=False)
                weights = None
        final = self.run_dir.final_dir
        tmp = final.with_name(TMP_PREFIX + final.name)
        remove_tree(tmp)
        try:
            self.lm.save_pretrained(str(tmp), safe_serialization=True, state_dict=weights)
            self.tokenizer.save_pretrained(str(tmp))
            write_model_card(tmp, self.run_dir, self.cfg, self.n_params, len(self.tokenizer))
            remove_tree(final)
            os.replace(tmp, final)
        except OSError as exc:
            remove_tree(tmp)
            raise UserError(save_failed_message(exc, "the final model", self.run_dir.latest_checkpoint())) from None
        return self._final_note()


def _scores(eval_loss: float, eval_bpb: float | None) -> str:
    bpb = f", {eval_bpb:.3f} bits/byte" if eval_bpb is not None else ""
    return f"loss {eval_loss:.4f}{bpb}"


def without_tied_head(lm, weights: dict) -> dict:
    """The weights without a tied output head: it is the input embedding, stored once (as transformers does)."""
    if getattr(lm.config, "tie_word_embeddings", False):
        weights.pop("lm_head.weight", None)
    return weights


def write_checkpoint(folder: Path, trainer: Trainer, weights: dict, optimizer_state: dict) -> None:
    """Write a checkpoint from the whole weights and optimizer state (`Trainer._full_state`)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    weights = without_tied_head(trainer.lm, {k: v.detach().contiguous().cpu() for k, v in weights.items()})
    save_file(weights, str(folder / "model.safetensors"))
    torch.save(optimizer_state, folder / "optimizer.pt")
    torch.save({
        "python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(trainer.device) if trainer.device.type == "cuda" else None,
    }, folder / "rng.pt")
    s = trainer.state
    (folder / "trainer_state.json").write_text(json.dumps({
        "step": s.step, "tokens": s.tokens, "elapsed": trainer._elapsed(), "data": trainer.batches.state_dict(),
        "config": trainer.cfg.to_dict(), "fsdp": trainer.fsdp, "best": trainer.best.to_dict(),
    }, indent=1))
    trainer.lm.config.save_pretrained(str(folder))
    for f in folder.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    (folder / "COMPLETE").write_text("ok")


def wait_at_step_gate(step: int, is_main: bool = True) -> None:
    """Tests: hold the run before step `step + 1` while the file named by CLM_GUI_STEP_GATE holds a number
    at most `step` (a missing file holds it before the first step).

    A test can then stop, kill or inspect a run at a known step, in this process or in a child, however
    fast the machine trains: the test opens the gate further by writing a larger number. While held, rank
    0 writes the step it waits at to PATH.held. The gate is read before the stop request, so a stop made
    while the run is held is taken at exactly that step.
    """
    path = os.environ.get(STEP_GATE_ENV)
    if not path:
        return
    gate, held = Path(path), Path(f"{path}.held")
    give_up = time.monotonic() + STEP_GATE_GIVE_UP_S
    while _gate_limit(gate) <= step:
        if is_main and not held.exists():
            atomic_write_text(held, str(step))
        if time.monotonic() > give_up:
            raise UserError(f"{STEP_GATE_ENV} held the run at step {step} and nobody opened the gate.")
        time.sleep(0.02)
    if is_main:
        held.unlink(missing_ok=True)


def _gate_limit(gate: Path) -> int:
    try:
        return int(gate.read_text())
    except (OSError, ValueError):  # not written yet: hold
        return 0


def train(cfg: RunConfig, run: RunDir, resume: bool = False, **kwargs) -> dict:
    return Trainer(cfg, run, resume=resume, **kwargs).run()
