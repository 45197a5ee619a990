"""The training loop: one RunConfig in, a trained Hugging Face model in the run folder out.

The same code runs on a CPU, one GPU and several GPUs (`accelerate launch` / `torchrun` start one
process per GPU; `accelerate` wraps the model for data parallelism, or, with `train.distributed: fsdp`,
`sharding` splits it across the GPUs). Only rank 0 writes to the run folder. Everything the UI shows is
read back from that folder, so this module knows nothing of the UI.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import json
import math
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import transformers
from accelerate import Accelerator
from accelerate.utils import set_seed

from clm_gui.config import CHECKPOINTS_PER_RUN, RunConfig
from clm_gui.data import sources as data_lib
from clm_gui.data.budget import PreparationBudget
from clm_gui.data.packing import CachedWindows, StreamingWindows, build_token_cache, cache_key, read_token_cache
from clm_gui.data.prompts import prompts_for
from clm_gui.errors import Cancelled, UserError
from clm_gui.files import TMP_PREFIX, remove_tree
from clm_gui.machine.devices import resolve_device, resolve_precision, world_size
from clm_gui.machine.hardware import peak_flops
from clm_gui.model.architecture import build_model, count_parameters
from clm_gui.model.generate import SamplingSettings, generate_batch
from clm_gui.model.sizing import model_flops_utilisation
from clm_gui.runs.faults import is_disk_full, out_of_memory_message, reported_save_failure, save_failed_message
from clm_gui.runs.folder import RunDir
from clm_gui.runs.model_card import write_model_card
from clm_gui.tokenizer.loading import load_tokenizer
from clm_gui.tokenizer.training import train_tokenizer
from clm_gui.train import checkpoints, sharding
from clm_gui.train.best_model import BestModel, load_best_weights, read_best, save_best
from clm_gui.train.cadence import (EVALUATION_COST_SHARE, EVALUATION_GAP_STEPS, EVALUATIONS_PER_RUN,
                                   SAMPLES_PER_RUN, Cadence)
from clm_gui.train.evaluation import TokenStream, encode_stream, score_stream
from clm_gui.train.loss import CausalLMLoss
from clm_gui.train.schedule import budget_used, launched_at, lr_at
from clm_gui.train.muon import MuonAdamW
from clm_gui.train.step_hook import before_step_from_environment
from clm_gui.train.step import TrainingStep
from clm_gui.train.step_graph import prepare_optimizer, set_learning_rate
from clm_gui.train.tensorboard_log import TENSORBOARD_DIR, TensorBoardLog
from clm_gui.train.weight_average import WeightAverage
from clm_gui.units import GB

DATA_TRACE_ENV = "CLM_GUI_DATA_TRACE"  # tests: each rank lists the windows it trained on in PATH.rankN
SHARD_TRACE_ENV = "CLM_GUI_SHARD_TRACE"  # tests: each rank writes how much of the model it held to PATH.rankN


# ---------------------------------------------------------------------------------------------
# Precision and the step's mode.


# save_pretrained's "Writing model shards" bar says nothing a run's log needs, at every checkpoint.
transformers.utils.logging.disable_progress_bar()

_ACCELERATE_PRECISION = {"bf16": "bf16", "fp16": "fp16", "fp32": "no"}


def step_mode(setting: str, device: torch.device, processes: int, precision: str, checkpointing: bool) -> str:
    """How the training step runs (train.compile): "eager", "compiled" (torch.compile) or "graph" (compiled,
    then captured with the optimizer's update as one CUDA graph, see step_graph.py).

    auto: eager on the CPU, where compiling costs more than it saves. On one GPU, a graph: the small models
    this app mostly trains are bound by kernel launches, and a graph replays the whole step from one
    (on an H200, tokens/s against the compiled step: 2.3x at 10.7M parameters, 1.6x at 1.5M with micro-batch
    512, +1% at GPT-2 small; docs/benchmarks.md).
    A graph cannot hold DDP's all-reduce or FSDP's gathers, fp16's loss scaling (its overflow check reads
    the gradients on the host) or activation checkpointing; these runs are compiled. Under FSDP too: on two
    H200s GPT-2 small trained at 0.87x DDP's speed in 1.08x its memory compiled, against 0.58x and 2.25x eager.
    """
    if setting == "off" or (setting == "auto" and device.type != "cuda"):
        return "eager"
    capturable = device.type == "cuda" and processes == 1 and precision != "fp16" and not checkpointing
    if setting == "graph" and not capturable:
        raise UserError("train.compile: graph needs one CUDA GPU, bf16 or fp32 precision and no gradient "
                        "checkpointing; use auto or on.")
    return "graph" if setting in ("graph", "auto") and capturable else "compiled"




def make_optimizer(model: torch.nn.Module, cfg, device: torch.device) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only (not on biases, norms or gains); with `cfg.optimizer`
    "muon", Muon on the hidden matrices (all but the embeddings and the output layer, see train/muon.py).
    `model`: a Hugging Face causal LM, or the module that holds one as `.lm`."""
    params = [p for p in model.parameters() if p.requires_grad]
    matrices = [p for p in params if p.dim() >= 2]
    vectors = {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}
    if cfg.optimizer == "muon":
        lm = getattr(model, "lm", model)
        outside = {id(m.weight) for m in lm.modules() if isinstance(m, torch.nn.Embedding)}
        outside.add(id(lm.get_output_embeddings().weight))
        hidden = [p for p in matrices if p.dim() == 2 and id(p) not in outside]
        others = [p for p in matrices if p.dim() != 2 or id(p) in outside]  # every matrix Muon does not take
        return MuonAdamW([{"params": hidden, "weight_decay": cfg.weight_decay, "muon": True},
                          {"params": others, "weight_decay": cfg.weight_decay}, vectors],
                         lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2))
    groups = [{"params": matrices, "weight_decay": cfg.weight_decay}, vectors]
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


def timed(phase: str):
    """Add a Trainer method's seconds to `phase_seconds[phase]` (the breakdown of where a run's time went,
    in the final status; bench/train_throughput.py prints it) and keep them as `latest_seconds[phase]`."""
    def decorate(method):
        @functools.wraps(method)
        def timed_method(self, *args, **kwargs):
            start = self.clock()
            try:
                return method(self, *args, **kwargs)
            finally:
                self.latest_seconds[phase] = self.clock() - start
                self.phase_seconds[phase] += self.latest_seconds[phase]
        return timed_method
    return decorate


class _LossWindow:
    """The training loss and tokens since the last log line, summed on the device: reading it is the
    loop's only wait for the GPU."""

    def __init__(self, device: torch.device, clock: Callable[[], float]):
        self.clock = clock
        self.loss_sum, self.tokens, self.steps, self.start = torch.zeros((), device=device), 0, 0, clock()

    def add(self, loss: torch.Tensor, tokens: int) -> None:
        self.loss_sum += loss
        self.tokens, self.steps = self.tokens + tokens, self.steps + 1

    def read(self, accelerator) -> tuple[float, float]:
        """(mean loss over every rank, tokens/s) since the last read; starts a new window."""
        loss = accelerator.reduce(self.loss_sum, "mean").item() / self.steps
        now = self.clock()
        tokens_per_s = self.tokens / max(now - self.start, 1e-9)
        self.loss_sum.zero_()
        self.tokens, self.steps, self.start = 0, 0, now
        return loss, tokens_per_s


@dataclass
class TrainState:
    """Where a run stands: what a checkpoint saves (`trainer_state.json`, with the data's position) and a
    resume restores."""

    step: int = 0
    tokens: int = 0
    elapsed: float = 0.0  # training seconds before this process started (for the time limit)
    best: BestModel = field(default_factory=BestModel)  # the best evaluation so far, and patience spent

    def to_dict(self, elapsed: float) -> dict:
        return {"step": self.step, "tokens": self.tokens, "elapsed": elapsed, "best": self.best.to_dict()}

    @classmethod
    def from_dict(cls, saved: dict) -> TrainState:
        return cls(saved["step"], saved["tokens"], saved["elapsed"], BestModel.from_dict(saved.get("best")))


class Trainer:
    """Trains `cfg` into the run folder. `run()` returns the final status dict.

    `clock`: the run's one clock, in seconds (its time limit, the phases' timings, the records' times); a
    test passes a fake one, so that a run's timing is the same on any machine. `before_step(step)`: called
    before each optimizer step, once the work after the previous one is done; by default the function the
    environment names, if any (step_hook.py: how a test holds a training process it did not start)."""

    def __init__(self, cfg: RunConfig, run: RunDir, resume: bool = False,
                 should_stop: Callable[[], bool] | None = None, on_log: Callable[[dict], None] | None = None,
                 clock: Callable[[], float] = time.time, before_step: Callable[[int], None] | None = None):
        self.cfg, self.run_dir, self.resume = cfg, run, resume
        self._external_stop = should_stop or (lambda: False)
        self.on_log = on_log or (lambda record: None)
        self.clock = clock
        self._before_step = before_step or before_step_from_environment() or (lambda step: None)
        self.state = TrainState()
        self.phase_seconds = defaultdict(float)  # setup, first_step, eval, samples, saves, final (see `timed`)
        self.latest_seconds = defaultdict(float)  # what each phase took the last time it ran
        self.tensorboard = TensorBoardLog(run.path / TENSORBOARD_DIR)  # a no-op without tensorboard
        # Made by the setup (`_setup_device`, `_setup_data`, `_setup_model`); None until then, so that a run
        # that fails early ends cleanly.
        self.accelerator = self.device = self.tokenizer = self.batches = None
        self.lm = self.module = self.optimizer = self.step = None
        self.average: WeightAverage | None = None  # train.ema_decay: the weights the run evaluates and keeps
        self._data_prompts = None  # sample prompts read from the data when none are set (see _sample)
        self.resume_note = ""  # which checkpoint a resume fell back to, past damaged newer ones

    # --- the public entry point ---------------------------------------------------------------
    def run(self) -> dict:
        status = self._run()
        self._leave_process_group()
        return status

    def _leave_process_group(self) -> None:
        """Under torchrun, wait until every rank has finished, then close the group this run joined.

        A rank that exits while rank 0 still writes final/ takes gloo's threads down under it: the process
        dies with SIGABRT ("terminate called without an active exception") and torchrun reports a failure.
        """
        if self.accelerator is not None and self.accelerator.num_processes > 1:
            self.accelerator.wait_for_everyone()
            self.accelerator.end_training()

    def _run(self) -> dict:
        self._process_start, self._first_step_logged = launched_at(self.clock()), False
        try:
            self._setup_device()
            self._setup_data()
            self._setup_model()
            return self._loop()
        except Cancelled:  # a stop while the training data was tokenized: nothing trained yet to keep
            return self._finish("stopped", f"Stopped at step {self.state.step}.")
        except UserError as exc:
            return self._finish("failed", str(exc))
        except torch.OutOfMemoryError:
            pass  # handled below, once the traceback and the activations its frames hold are gone
        except Exception as exc:  # a full disk while writing metrics, samples, the tokenizer, the token cache
            if not is_disk_full(exc):
                raise
            return self._finish("failed", save_failed_message(exc, f"the run's files at step {self.state.step}",
                                                              self.run_dir.latest_checkpoint()))
        return self._out_of_memory()

    def _out_of_memory(self) -> dict:
        """End the run with the fix spelled out, and free what it held so the next run can start."""
        device = str(self.device or "the device")
        if self.accelerator is not None:
            self.accelerator.free_memory()
        self.step = self.module = self.optimizer = self.lm = None  # the step's graph holds a pool
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return self._finish("failed", out_of_memory_message(self.cfg, device, self.state.step))

    # --- setup --------------------------------------------------------------------------------
    def _setup_device(self) -> None:
        """The accelerator, this process's device, precision and rank."""
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
                                      world_size=acc.num_processes, started=self.clock())
        set_seed(cfg.train.seed)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    def _setup_data(self) -> None:
        """The tokenizer (trained or loaded once, into the run folder), the held-out text and the batches."""
        acc = self.accelerator
        self.tokenizer = self._prepare_tokenizer()
        self.eos_id = self.tokenizer.eos_token_id
        self.eval_stream = self._eval_stream()
        self.batches = self._train_batches()
        if os.environ.get(DATA_TRACE_ENV):
            self.batches = TracedBatches(self.batches, Path(f"{os.environ[DATA_TRACE_ENV]}.rank{acc.process_index}"))

    def _setup_model(self) -> None:
        """The model with its loss, the optimizer, how the step runs; then the checkpoint, when resuming."""
        cfg, acc = self.cfg, self.accelerator
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
        mode = step_mode(cfg.train.compile, self.device, acc.num_processes, self.precision,
                         cfg.model.gradient_checkpointing)
        if mode != "eager" and acc.num_processes > 1 and not self.fsdp:
            # One compiled graph for the whole step, its gradients all-reduced after the backward pass,
            # instead of a graph split at every DDP bucket: on two H200s, 1.925x one GPU against 1.880x
            # in the same call (docs/benchmarks.md).
            torch._dynamo.config.optimize_ddp = False
        self.step = TrainingStep(acc, module, self.optimizer, cfg.train, self.device, mode)
        saved_average = self._load_latest_checkpoint() if self.resume else None
        if cfg.train.ema_decay:  # from the weights as they are now: new, or resumed (then the saved average)
            self.average = WeightAverage(lm, cfg.train.ema_decay)
            if saved_average is not None:
                self.average.load_state_dict(saved_average)
        prepare_optimizer(self.optimizer, self.step.captures, self.device)
        self._peak = peak_flops(torch.cuda.get_device_name(self.device), self.precision) \
            if self.device.type == "cuda" else None

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
                # Within a time budget, on a sample sized to it: all of a 10 GB stream would take hours (#29).
                budget = PreparationBudget(cfg.train.max_minutes).tokenizer_bytes if cfg.train.max_minutes else 0
                tok = train_tokenizer(self._documents("train", sharded=False), cfg.tokenizer, max_bytes=budget)
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
        path = self.run_dir.token_cache_dir / f"{key}.bin"
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

    # --- the loop -----------------------------------------------------------------------------
    def _stop_requested(self) -> bool:
        return self._external_stop() or self.run_dir.stop_path.exists()

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
        closing_s = self.latest_seconds["eval"] + self.latest_seconds["samples"]
        time_up = self._elapsed() + 2 * closing_s >= t.max_minutes * 60
        if self.accelerator.num_processes > 1:  # every rank stops at the same step: rank 0's clock decides
            return s.step % t.log_interval == 0 and self._agree(time_up)
        return time_up

    def _due(self, cadence: Cadence) -> bool:
        """Whether the cadence's event is due now; by rank 0's clock (at log steps) under several processes."""
        t, s = self.cfg.train, self.state
        if not cadence.auto:  # every N steps: no reading of the clock
            return cadence.due(s.step, 0.0)
        elapsed = self._elapsed()
        due = cadence.due(s.step, budget_used(t, s.step, s.tokens, elapsed), elapsed)
        if self.accelerator.num_processes == 1:
            return due
        return s.step % t.log_interval == 0 and self._agree(due)

    def _run_and_mark(self, cadence: Cadence, event: Callable[[], None], phase: str) -> None:
        """Run an evaluation or a round of samples (timed as `phase`) and mark it in its cadence."""
        t, s = self.cfg.train, self.state
        event()
        ended = self._elapsed()
        cadence.mark(s.step, budget_used(t, s.step, s.tokens, ended), ended, self.latest_seconds[phase])

    def _elapsed(self) -> float:
        return self.state.elapsed + self.clock() - self._process_start  # a time budget counts the setup too

    def _loop(self) -> dict:
        """Train until a limit, a stop request or early stopping; evaluate, sample and checkpoint on their
        cadence and once more at the last step; then write final/."""
        cfg, acc, t = self.cfg, self.accelerator, self.cfg.train
        tokens_per_step = cfg.tokens_per_step(acc.num_processes)
        self._status(f"Training ({self.n_params / 1e6:.1f}M parameters, {self.precision}, {self.device})."
                     + self.resume_note, parameters=self.n_params)  # kept for comparing runs' settings
        self.phase_seconds["setup"] = self.clock() - self._process_start
        first_step, stopped_early = self.state.step, False
        window = _LossWindow(self.device, self.clock)
        self.evals = Cadence(t.eval_interval, EVALUATIONS_PER_RUN, EVALUATION_GAP_STEPS, EVALUATION_COST_SHARE)
        self.samples = Cadence(t.sample_interval, SAMPLES_PER_RUN)
        self.saves = Cadence(t.save_interval, CHECKPOINTS_PER_RUN)
        while True:
            step = self.state.step
            last_step = self._limits_reached()
            if step > first_step:  # the work that follows a step; a resumed run has done it for its first
                if self.evals.owed_at_end(step) if last_step else self._due(self.evals):
                    self._run_and_mark(self.evals, self._evaluate, "eval")
                    # Not at a limit's step: a run that ends there anyway has finished, not stopped early.
                    stopped_early = self._agree(self.state.best.patience_spent(t.early_stop_patience)) and not last_step
                    last_step = last_step or stopped_early
                if self.samples.last_step != step if last_step else self._due(self.samples):
                    self._run_and_mark(self.samples, self._sample, "samples")
                if last_step or self._due(self.saves):
                    self._save_checkpoint()
                    if self.saves.auto:  # only a spread needs to know where the run stands
                        self.saves.mark(step, budget_used(t, step, self.state.tokens, self._elapsed()))
            if last_step:
                break
            self._before_step(step)
            if self._should_stop_now():
                self._save_checkpoint()
                return self._finish("stopped", f"Stopped at step {step}; resume to continue.")
            lr = lr_at(step, t, budget_used(t, step, self.state.tokens, self._elapsed()))
            set_learning_rate(self.optimizer, lr)
            started = self.clock()
            window.add(self._train_step(), tokens_per_step)
            if self.average is not None:
                self.average.update()
            if step == first_step:  # the first step of a process compiles the model
                self.phase_seconds["first_step"] = self.clock() - started
            self.state.step, self.state.tokens = step + 1, self.state.tokens + tokens_per_step
            if self.state.step % t.log_interval == 0 or self.state.step == 1:
                loss, tokens_per_s = window.read(acc)
                if not math.isfinite(loss):
                    self._finish("failed", f"The loss became {loss} at step {self.state.step}: lower "
                                           "train.learning_rate or raise train.warmup_steps, then start again.")
                    return self.run_dir.read_status()
                self._log_train(loss, lr, tokens_per_s)
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
        """One optimizer step over grad_accum_steps micro-batches; the mean loss as a device tensor."""
        return self.step([self.batches.next_batch() for _ in range(self.cfg.train.grad_accum_steps)])

    # --- records ------------------------------------------------------------------------------
    def _memory(self) -> float:
        """GB (10^9 bytes, the unit of the planner's estimates and of every chart): the GPU's peak, else RSS."""
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / GB
        import psutil

        return psutil.Process().memory_info().rss / GB

    def _log_train(self, loss: float, lr: float, tokens_per_s: float) -> None:
        record = {
            "kind": "train", "step": self.state.step, "tokens": self.state.tokens, "train_loss": loss,
            "lr": lr, "tokens_per_s": tokens_per_s, "elapsed_s": self._elapsed(),
            "memory_gb": self._memory(), "max_steps": self.cfg.train.max_steps, **self._passes(),
        }
        if not self._first_step_logged:  # setup, tokenizer, data, model build and compile included
            record["startup_s"], self._first_step_logged = self.clock() - self._process_start, True
        if self._peak:
            record["mfu"] = model_flops_utilisation(self.cfg.model, len(self.tokenizer), tokens_per_s, self._peak,
                                                    self.accelerator.num_processes)
        self._record(record)

    def _record(self, record: dict) -> None:
        if self.is_main:
            record["time"] = self.clock()
            self.run_dir.append_metrics(record)
            self.tensorboard.write(record)
            self.on_log(record)

    def _evaluates_here(self) -> bool:
        """Whether this rank evaluates and samples: rank 0 alone, except under FSDP, where every forward
        pass gathers weights from every rank, so all ranks run it on the same inputs."""
        return self.is_main or self.fsdp

    @timed("eval")
    @torch.no_grad()
    def _evaluate(self) -> None:
        """Score the held-out text; keep the weights when they are the best so far (rank 0 decides)."""
        with self._averaged():
            self._evaluate_weights()

    def _averaged(self):
        """The weights the run evaluates, samples and keeps: the average when there is one."""
        return self.average.applied() if self.average is not None else contextlib.nullcontext()

    def _evaluate_weights(self) -> None:
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
        improved = score is not None and self.state.best.update(self.state.step, score.nats_per_token,
                                                                 score.bits_per_byte)
        if self._agree(improved) and self.cfg.train.keep == "best":
            self._save_best()
        if self.is_main and improved:  # status.json's best changes only with a new best
            status = self.run_dir.read_status()
            self.run_dir.write_status(status["state"], status["message"], best=self.state.best.summary(),
                                      kept=self.cfg.train.keep)
        self.accelerator.wait_for_everyone()

    def _save_best(self) -> None:
        weights = sharding.full_weights(self.lm) if self.fsdp else self.lm.state_dict() if self.is_main else {}
        if self.is_main:
            with reported_save_failure(f"the best model (step {self.state.best.step})", self.run_dir.latest_checkpoint):
                save_best(self.run_dir.best_dir, without_tied_head(self.lm, dict(weights)), self.state.best)

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

    @timed("samples")
    @torch.no_grad()
    def _sample(self) -> None:
        t = self.cfg.train
        if not self._evaluates_here() or not t.sample_max_new_tokens:
            return
        if not t.sample_prompts and self._data_prompts is None:  # none given: the data's own, read once
            self._data_prompts = prompts_for(self.cfg.data) or ["\n"]
        prompts = t.sample_prompts or self._data_prompts
        self.lm.eval()
        with self._averaged():
            texts = self._generate(prompts)
        self.lm.train()
        if self.is_main:
            samples = [{"prompt": prompt, "text": text} for prompt, text in zip(prompts, texts)]
            self.run_dir.append_sample({"step": self.state.step, "time": self.clock(), "elapsed_s": self._elapsed(),
                                        "samples": samples})

    def _generate(self, prompts: list[str]) -> list[str]:
        t = self.cfg.train
        # A private RNG: sampling must not change the training run's random stream.
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            settings = SamplingSettings(max_new_tokens=t.sample_max_new_tokens, seed=t.seed)
            return generate_batch(self.lm, self.tokenizer, prompts, settings)

    def _trace_shards(self) -> None:
        """Tests: how many parameter and optimizer-state elements this rank holds."""
        path = os.environ.get(SHARD_TRACE_ENV)
        if path:
            moments = [v for s in self.optimizer.state.values() for v in s.values() if torch.is_tensor(v) and v.dim()]
            Path(f"{path}.rank{self.accelerator.process_index}").write_text(json.dumps({
                "parameters": sharding.local_numel(self.lm.parameters()),
                "optimizer_state": sharding.local_numel(moments)}))

    def _status(self, message: str, **extra) -> None:
        if self.is_main:
            self.run_dir.write_status("running", message, step=self.state.step, **extra)

    def _finish(self, state: str, message: str) -> dict:
        if self.batches is not None:
            self.batches.close()
        if self.accelerator is not None and not self.accelerator.is_main_process:
            return {"state": state, "message": message}
        self.run_dir.stop_path.unlink(missing_ok=True)
        return self.run_dir.write_status(state, message, step=self.state.step, pid=None, finished=self.clock(),
                                         timings=self._timings())

    def _timings(self) -> dict:
        """Seconds per phase of this process's run; "steps" is the rest of its wall time."""
        total = self.clock() - self._process_start
        phases = {name: round(seconds, 3) for name, seconds in self.phase_seconds.items()}
        return {**phases, "steps": round(total - sum(self.phase_seconds.values()), 3), "total": round(total, 3)}

    # --- checkpoints --------------------------------------------------------------------------
    @timed("saves")
    def _save_checkpoint(self) -> None:
        """checkpoints/step-N (see checkpoints.py); under FSDP every rank helps gather the whole state."""
        self.accelerator.wait_for_everyone()
        weights, optimizer_state = self._full_state()
        if self.is_main:
            progress = {**self.state.to_dict(self._elapsed()), "data": self.batches.state_dict(),
                        "config": self.cfg.to_dict(), "fsdp": self.fsdp}
            checkpoint = checkpoints.Checkpoint(without_tied_head(self.lm, dict(weights)), optimizer_state,
                                                progress, checkpoints.rng_state(self.device),
                                                self.average.state_dict() if self.average is not None else None)
            checkpoints.save(self.run_dir, checkpoint, self.lm.config, self.cfg.train.keep_checkpoints)
        self.accelerator.wait_for_everyone()

    def _full_state(self) -> tuple[dict, dict]:
        """The model's weights and optimizer state, whole, on rank 0 (empty dicts on the others)."""
        if self.fsdp:  # gathered from every rank's slice: every rank takes part
            return sharding.full_weights(self.lm), sharding.full_optimizer_state(self.lm, self.optimizer)
        if not self.is_main:
            return {}, {}
        return self.lm.state_dict(), self.optimizer.state_dict()

    def _load_latest_checkpoint(self) -> dict | None:
        """Restore the newest intact checkpoint; return its weight average's state (None without one)."""
        # Under FSDP every rank reads the whole state into host memory and keeps its slice on the device.
        found = checkpoints.read_newest_intact(self.run_dir, "cpu" if self.fsdp else self.device)
        if found is None:
            return None
        checkpoint, path, damaged = found
        if damaged:  # said in the log and in the status while the run trains
            self.resume_note = f" Resumed from {path.name}: {'; '.join(damaged)} could not be read."
            if self.is_main:
                print(self.resume_note.strip(), file=sys.stderr, flush=True)
        state = checkpoint.trainer_state
        if state.get("fsdp", False) != self.fsdp:  # FSDP keys the optimizer state by parameter name
            raise UserError(f"The checkpoint {path} was saved {'with' if state.get('fsdp') else 'without'} FSDP; "
                            "resume with the train.distributed setting and number of GPUs it was saved with.")
        names = set(self.lm.state_dict())
        missing, unexpected = sorted(names - set(checkpoint.weights)), sorted(set(checkpoint.weights) - names)
        if unexpected or set(missing) - {"lm_head.weight"}:  # a tied output head is stored once, as the input
            raise UserError(f"The checkpoint {path} does not match this model (missing {missing[:3]}, "
                            f"unexpected {unexpected[:3]}); start a new run.")
        if self.fsdp:
            sharding.load_full_state(self.lm, self.optimizer, checkpoint.weights, checkpoint.optimizer_state)
        else:
            self.lm.load_state_dict(checkpoint.weights, strict=False)
            self.optimizer.load_state_dict(checkpoint.optimizer_state)
        self.state = TrainState.from_dict(state)
        saved = read_best(self.run_dir.best_dir)  # a best found after this checkpoint was written
        if saved and saved["eval_loss"] < self.state.best.eval_loss:
            self.state.best = BestModel(**saved, evals_since=self.state.best.evals_since)
        self.batches.load_state_dict(state["data"])
        checkpoints.restore_rng(checkpoint.rng, self.device)
        return checkpoint.average

    def _keeps_best(self) -> bool:
        """Whether final/ is made from best/ rather than the current weights."""
        return self.cfg.train.keep == "best" and self.state.best.found and self.state.best.step != self.state.step

    def _final_note(self) -> str:
        if not self.state.best.found:
            return "final/ holds the last step (no evaluation was made)."
        best = f"step {self.state.best.step} (held-out {_scores(self.state.best.eval_loss, self.state.best.eval_bpb)})"
        if self._keeps_best():
            return f"final/ holds the best model, from {best}; the last evaluation scored {self._last_eval_scores()}."
        if self.state.best.step == self.state.step:
            return f"final/ holds the last step, which is also the best: {best}."
        return f"final/ holds the last step (train.keep: last); the best was {best}."

    def _last_eval_scores(self) -> str:
        # From the run's records: a resumed run may have made no evaluation in this process.
        evals = [r for r in self.run_dir.read_metrics() if r.get("kind") == "eval"]
        return _scores(evals[-1]["eval_loss"], evals[-1].get("eval_bpb")) if evals else "nothing"

    @timed("final")
    def _save_final(self) -> str:
        """Write final/ (the best or the last model, see train.keep) and return a sentence saying which."""
        self.accelerator.wait_for_everyone()
        keeps_best = self._keeps_best()
        weights = None  # None: the model's own
        if self.fsdp and not keeps_best:
            weights = without_tied_head(self.lm, sharding.full_weights(self.lm))
        if not self.is_main:
            return ""
        with self._averaged():  # the average is the run's model; best/ already holds averaged weights
            self._write_final(keeps_best, weights)
        return self._final_note()

    def _write_final(self, keeps_best: bool, weights: dict | None) -> None:
        if keeps_best:  # into the model itself, so that save_pretrained ties the output head as usual
            weights = without_tied_head(self.lm, load_best_weights(self.run_dir.best_dir))
            if not self.fsdp:
                self.lm.load_state_dict(weights, strict=False)
                weights = None
        final = self.run_dir.final_dir
        tmp = final.with_name(TMP_PREFIX + final.name)
        remove_tree(tmp)
        with reported_save_failure("the final model", self.run_dir.latest_checkpoint):
            try:
                self.lm.save_pretrained(str(tmp), safe_serialization=True, state_dict=weights)
                self.tokenizer.save_pretrained(str(tmp))
                write_model_card(tmp, self.run_dir, self.cfg, self.n_params, len(self.tokenizer))
                remove_tree(final)
                os.replace(tmp, final)
            except BaseException:
                remove_tree(tmp)
                raise


def _scores(eval_loss: float, eval_bpb: float | None) -> str:
    bpb = f", {eval_bpb:.3f} bits/byte" if eval_bpb is not None else ""
    return f"loss {eval_loss:.4f}{bpb}"


def without_tied_head(lm, weights: dict) -> dict:
    """The weights without a tied output head: it is the input embedding, stored once (as transformers does)."""
    if getattr(lm.config, "tie_word_embeddings", False):
        weights.pop("lm_head.weight", None)
    return weights


def train(cfg: RunConfig, run: RunDir, resume: bool = False, **kwargs) -> dict:
    return Trainer(cfg, run, resume=resume, **kwargs).run()
