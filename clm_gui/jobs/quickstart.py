"""The default journey, headless: what a user who accepts every recommendation gets.

Profile the data, take the tokenizer recommendation (training it here when it says so, or when the Hub
is out of reach), plan the model for the device and the time budget, train within that budget, and
score `final/` on the held-out split in bits per byte. `python -m clm_gui quickstart` prints each choice
and why; the app's quick start calls the same functions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from clm_gui.config import HUB_SOURCE_PREFIX, OPTIMIZER_LABELS, DataConfig, RunConfig, TokenizerConfig, parse_hub_source
from clm_gui.data.budget import CACHE_SHARE, PreparationBudget
from clm_gui.data.prompts import prompts_from
from clm_gui.errors import UserError
from clm_gui.hosting.access import visitor_folders
from clm_gui.hosting.ownership import machine_user
from clm_gui.model import planner, sizing
from clm_gui.train.cadence import EVALUATION_GAP_STEPS, EVALUATIONS_PER_RUN, describe
from clm_gui.units import format_bytes, format_duration, format_minutes, format_passes

if TYPE_CHECKING:  # profiling loads `datasets`, imported only once a plan is made
    from clm_gui.data.profiling import DatasetProfile

MIN_MINUTES = 0.1  # a budget shorter than this leaves no time to train after the preparation
MIN_HELD_OUT_BYTES = 50_000  # a held-out split smaller than this makes the best evaluation a coin toss
MAX_EVAL_FRACTION = 0.1


@dataclass
class Choice:
    step: str  # Data, Tokenizer, Model, Training
    value: str
    why: str  # the reasons, in the terms an engineer checks them by
    plain: str = ""  # what it means, in words for someone who has never trained a model


@dataclass
class QuickstartPlan:
    config: RunConfig
    choices: list[Choice] = field(default_factory=list)
    plan: planner.Plan | None = None
    seconds_spent: float = 0.0  # preparing (profiling, tokenizer training) before training starts
    profile: DatasetProfile | None = None  # the data's profile the choices were made from

    def to_dict(self) -> dict:
        return {"choices": [dataclasses.asdict(c) for c in self.choices], "config": self.config.to_dict(),
                "plan": self.plan.to_dict() if self.plan else None}


def eval_fraction_for(n_bytes: float) -> float:
    """The held-out share: the usual 2%, more on a small corpus so that at least MIN_HELD_OUT_BYTES are."""
    default = DataConfig().eval_fraction
    return round(min(MAX_EVAL_FRACTION, max(default, MIN_HELD_OUT_BYTES / max(n_bytes, 1))), 3)


def _tokenizer_folder(tokenizers_dir: Path, data: DataConfig, tok: TokenizerConfig, sample_bytes: int) -> Path:
    key = hashlib.sha256(repr((dataclasses.astuple(data), dataclasses.astuple(tok), sample_bytes)).encode()).hexdigest()
    return tokenizers_dir / f"{tok.algorithm}-{tok.vocab_size}-{key[:8]}"  # named for people


def check_minutes(minutes: float | None) -> float:
    """The time budget, or a UserError that says what it must be (an empty box, a negative or tiny number)."""
    if minutes is None:
        raise UserError(f"Type a time budget in minutes (at least {MIN_MINUTES:g}).")
    if not minutes >= MIN_MINUTES:  # NaN too
        raise UserError(f"The time budget must be at least {MIN_MINUTES:g} minutes (it is {minutes:g}).")
    return float(minutes)


def run_name(data: DataConfig, minutes: float) -> str:
    """A quick-start run named after its data and its budget ("romeo-5min"), so that a list of them reads:
    a single file (also an upload, which is a folder of one) by its name, several by the first's, the Hub's
    by the dataset's."""
    from clm_gui.data.sources import source_files

    if data.source.startswith(HUB_SOURCE_PREFIX):
        label = parse_hub_source(data.source)[0].rsplit("/", 1)[-1]
    elif data.source == "demo":
        label = "demo"
    else:
        files = source_files(data).files
        label = files[0].stem + (f"-and-{len(files) - 1}-more" if len(files) > 1 else "")
    return f"{label}-{minutes:g}min"


def plan_quickstart(source: str, minutes: float, device: str = "auto", runs_dir: Path = Path("runs"),
                    log: Callable[[str], None] = lambda message: None,
                    tokenizers_dir: Path | None = None, cpu_threads: int | None = None,
                    clock: Callable[[], float] = time.monotonic) -> QuickstartPlan:
    """Every recommendation for this source and budget, as a RunConfig and the choices that made it. A
    tokenizer it trains is kept in `tokenizers_dir` (the visitor's own, when hosted), by default the
    machine's (runs/.quickstart-tokenizers), and reused for the same data and settings. `cpu_threads`: the
    threads a CPU run will train with (default: the app's share, beside its web server). The preparation
    reads what its share of the budget allows (`budget.PreparationBudget`); `clock` times it, and the
    training gets the rest."""
    from clm_gui.data.held_out import held_out_texts
    from clm_gui.data.profiling import profile_source, recommend_for_source
    from clm_gui.data.sources import describe_split
    from clm_gui.hub import hub_reachable
    from clm_gui.machine.hardware import planner_device
    from clm_gui.tokenizer.loading import load_tokenizer, save_tokenizer
    from clm_gui.tokenizer.quality import evaluate_tokenizer
    from clm_gui.tokenizer.recommendation import byte_level_vocab, recommend_tokenizer
    from clm_gui.tokenizer.training import byte_level_tokenizer, train_tokenizer

    check_minutes(minutes)
    started = clock()
    budget = PreparationBudget(minutes)
    choices: list[Choice] = []
    cfg = RunConfig()
    cfg.data.source = source
    mode = recommend_for_source(cfg.data)
    if mode["mode"] == "in-memory" and not budget.cache_fits(mode["text_bytes"]):
        mode = {**mode, "mode": "streaming",
                "reason": f"{mode['reason']} {_cache_too_slow(budget, mode['text_bytes'])}"}
    cfg.data.streaming = mode["mode"] == "streaming"
    cfg.check()
    cfg.name = run_name(cfg.data, minutes)
    log("Profiling the data.")
    whole = mode["text_bytes"] is not None and mode["text_bytes"] <= budget.profile_bytes
    profile = profile_source(cfg.data if whole else dataclasses.replace(cfg.data, streaming=True),
                             sample_bytes=budget.profile_bytes)
    cfg.data.eval_fraction = eval_fraction_for(profile.bytes)
    choices.append(Choice("Data", f"{format_bytes(profile.bytes)}, {profile.domain['label']}, {mode['mode']}",
                          f"{mode['reason']}{_profile_sample(profile, budget)} {describe_split(cfg.data)}",
                          f"Your text: {format_bytes(profile.bytes)}. A small part of it is set aside to test the "
                          "model on text it never learns from."))

    spec = planner_device("cpu" if device == "cpu" else "cuda" if device.startswith("cuda") else "auto",
                          cpu_threads=cpu_threads)
    training_bytes = profile.bytes * (1 - cfg.data.eval_fraction)
    byte_plan = _byte_level_plan(spec, _hours_left(minutes, clock() - started), training_bytes)
    rec = recommend_tokenizer(profile, online=hub_reachable(), byte_passes=byte_plan.epochs if byte_plan else None,
                              small_model=byte_plan is not None and not planner.memorises(byte_plan))
    if rec.action == "pretrained":
        cfg.tokenizer.path = rec.hub_id
        tokenizer = load_tokenizer(rec.hub_id, cfg.tokenizer.eos_token)
        choices.append(Choice("Tokenizer", rec.hub_id, rec.reason,
                              "The model reads text in small pieces (tokens); it cuts text the way an existing "
                              f"model ({rec.hub_id}) does."))
    else:
        cfg.tokenizer.algorithm, cfg.tokenizer.vocab_size = rec.algorithm, rec.vocab_size
        bytes_alone = rec.vocab_size == byte_level_vocab(cfg.tokenizer)  # nothing to learn from the text
        sample = budget.tokenizer_bytes
        sample = sample if sample < training_bytes and not bytes_alone else 0  # 0: all of the text (or none)
        folder = _tokenizer_folder(tokenizers_dir or visitor_folders(runs_dir, machine_user()).quickstart_tokenizers,
                                   cfg.data, cfg.tokenizer, sample)
        if not (folder / "tokenizer.json").is_file():
            if bytes_alone:
                save_tokenizer(byte_level_tokenizer(cfg.tokenizer), folder)
            else:
                from clm_gui.data.sources import iter_documents

                log(f"Training a {rec.algorithm} tokenizer of {rec.vocab_size:,} tokens.")
                texts = iter_documents(cfg.data, "train")
                save_tokenizer(train_tokenizer(texts, cfg.tokenizer, max_bytes=sample), folder)
        cfg.tokenizer.path = str(folder)
        tokenizer = load_tokenizer(str(folder), cfg.tokenizer.eos_token)
        sampled = (f" It learns its tokens from the first {format_bytes(sample)} of the text, a sample sized to the "
                   "time budget." if sample else "")
        choices.append(Choice("Tokenizer", f"new {rec.algorithm}, {rec.vocab_size:,} tokens", rec.reason + sampled,
                              _tokenizer_in_plain_words(rec.vocab_size)))
    held_out = held_out_texts(cfg.data)
    bytes_per_token = evaluate_tokenizer(tokenizer, held_out).bytes_per_token
    dataset_tokens, _ = sizing.dataset_tokens_from_profile(profile, cfg.data.eval_fraction, bytes_per_token)

    hours = _hours_left(minutes, clock() - started)
    plan = planner.recommend(planner.PlanRequest(device=spec, hours=hours, dataset_tokens=dataset_tokens,
                                                 vocab_size=len(tokenizer)))
    cfg.model = dataclasses.replace(plan.model)
    dropout = f"dropout {plan.model.dropout:g}" if plan.model.dropout else "no dropout"
    choices.append(Choice("Model", f"{plan.shape}: {plan.n_params / 1e6:,.1f}M parameters, {dropout}",
                          f"{dataset_tokens:,} training tokens and {hours * 60:,.1f} minutes on {spec.name}: "
                          + " ".join(plan.warnings or ["trained compute-optimally within the budget."]),
                          f"A model of {plan.n_params / 1e6:,.1f} million adjustable numbers, sized to how much text "
                          "you have and how long it may train."))
    t = cfg.train
    t.device = device
    for name, value in planner.train_settings(plan, round(hours * 60, 2)).items():
        setattr(t, name, value)
    t.sample_prompts = prompts_from(held_out)
    choices.append(Choice("Training", f"about {plan.steps:,} steps of {plan.tokens // plan.steps:,} tokens in at "
                          f"most {format_minutes(t.max_minutes)}, {OPTIMIZER_LABELS[t.optimizer]}, learning rate "
                          f"{t.learning_rate:g}, evaluations "
                          f"{describe(t.eval_interval, EVALUATIONS_PER_RUN)} and at least every "
                          f"{EVALUATION_GAP_STEPS} steps; sample prompts from the held-out text: "
                          f"{', '.join(repr(p) for p in t.sample_prompts)}", _how_the_budget_is_spent(plan, t),
                          f"It trains for at most {format_minutes(t.max_minutes)}, tests itself on the set-aside "
                          "text now and then, and writes sample text so you can watch it improve; the best "
                          "version is the one kept."))
    return QuickstartPlan(cfg.check(), choices, plan, clock() - started, profile)


def _cache_too_slow(budget: PreparationBudget, text_bytes: int) -> str:
    return (f"But tokenizing all of it into a token cache would take about "
            f"{format_duration(budget.cache_seconds(text_bytes))}, more than {CACHE_SHARE:.0%} of the budget: the run "
            "streams it instead, and its first step comes in seconds.")


def _profile_sample(profile: DatasetProfile, budget: PreparationBudget) -> str:
    if not profile.estimated:
        return ""
    margin = profile.margins.get("bytes")
    return (f" The profile read the first {format_bytes(budget.profile_bytes)} of it, a sample sized to the time "
            f"budget: its size is an estimate" + (f" (± {format_bytes(margin)}, 95% margin)." if margin else "."))


def _tokenizer_in_plain_words(vocab_size: int) -> str:
    from clm_gui.tokenizer.recommendation import byte_level_vocab

    if vocab_size == byte_level_vocab():
        return ("The model reads your text one letter (byte) at a time: with this much text and time, that "
                "teaches it the most.")
    return (f"The model reads text in small pieces (tokens): a list of {vocab_size:,} pieces, from letters to "
            "whole words, learnt from your own text.")


def _hours_left(minutes: float, spent: float) -> float:
    """The budget left for training, in hours: `spent` seconds of preparation are gone (at least a second is
    left)."""
    return max(minutes * 60 - spent, 1.0) / 3600


def _byte_level_plan(spec: sizing.DeviceSpec, hours: float, training_bytes: float) -> planner.Plan | None:
    """The plan the budget would make if the model read the training text one byte a token."""
    from clm_gui.tokenizer.recommendation import byte_level_vocab

    if not training_bytes:
        return None
    return planner.recommend(planner.PlanRequest(device=spec, hours=hours, dataset_tokens=int(training_bytes),
                                                 vocab_size=byte_level_vocab()))


def _how_the_budget_is_spent(plan: planner.Plan, t) -> str:
    """Why the training settings are what they are, in words that stay true however the run goes."""
    ending = (f"The clock ends the run, and the learning rate decays over the whole budget; at the planned speed "
              f"that is {format_passes(plan.epochs)} over the data." if plan.epochs is not None else
              "The clock ends the run, and the learning rate decays over the whole budget.")
    if plan.repeats_data:
        ending += (f" Repeating the data, the run trains with {_weight_decay_in_words(t.weight_decay)} and evaluates "
                   f"an average of its weights (decay {t.ema_decay:g}), keeps the best evaluation in final/ and stops "
                   f"early after {t.early_stop_patience} evaluations without a new best, so time past the held-out "
                   "loss's lowest point is not spent.")
    else:
        ending += " final/ keeps the best evaluation."
    if t.optimizer == "muon":
        ending += (" The model is too small to memorise its data in this budget, so Muon trains its blocks' "
                   "matrices: it learns more per step than AdamW (which still trains the embeddings).")
    return ending


def _weight_decay_in_words(decay: float) -> str:
    if decay > planner.USUAL_WEIGHT_DECAY:
        return f"weight decay {decay:g} (a strong pull towards simple weights that delays memorising)"
    return (f"the usual weight decay {decay:g} (a stronger one pays only where the model would memorise its data "
            "within the budget: more passes, or more parameters per token)")


def run_quickstart(source: str, minutes: float, device: str = "auto", runs_dir: Path = Path("runs"),
                   log: Callable[[str], None] = lambda message: None, on_log=None) -> dict:
    """Plan, train and score: the choices, the run's status and final/'s held-out bits per byte. The run
    trains in this process, so a CPU plan counts on this process's threads."""
    from clm_gui.data.sources import iter_documents
    from clm_gui.machine.hardware import cpu_threads_in_this_process
    from clm_gui.runs.folder import new_run_dir
    from clm_gui.train.evaluation import evaluate_model
    from clm_gui.jobs.run_lock import TrainingLock
    from clm_gui.train.trainer import train

    planned = plan_quickstart(source, minutes, device, runs_dir, log, cpu_threads=cpu_threads_in_this_process())
    with TrainingLock(runs_dir).acquire() as lock:  # one training at a time, however started
        run = new_run_dir(runs_dir, planned.config)
        lock.name_run(run.id)
        log(f"Training in {run.path}.")
        status = train(planned.config, run, on_log=on_log)
    result = {**planned.to_dict(), "run_dir": str(run.path), "status": status}
    if run.has_final_model():
        score = evaluate_model(run.final_dir, iter_documents(planned.config.data, "eval"),
                               device="cuda" if _on_gpu(planned.config) else "cpu")
        result["held_out"] = score.to_dict()
    return result


def _on_gpu(cfg: RunConfig) -> bool:
    import torch

    return cfg.train.device != "cpu" and torch.cuda.is_available()
