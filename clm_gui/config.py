"""The run configuration: the one object that carries settings from the tabs to the trainer.

A `RunConfig` is made of four typed parts (`data`, `tokenizer`, `model`, `train`). It is saved as
`config.yaml` in the run folder before training starts, and the command line reads the same file.
Fields are addressed by dotted names (`data.source`, `train.max_steps`) in `--set` overrides and in
validation messages.
"""

from __future__ import annotations

import dataclasses
import math
import re
import reprlib
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from clm_gui.errors import ConfigError
from clm_gui.files import atomic_write_text

SCHEMA_VERSION = 1
AUTO = -1  # train.eval_interval / sample_interval / save_interval: spread over the run (0: never; N: every N steps)
# train.save_interval AUTO: checkpoints this many times over the run (and one at its end), so that the
# Playground can set the model early in the run beside later ones.
CHECKPOINTS_PER_RUN = 4

# Settings that take one of a few words: each a Literal type, the field's type below and the only list of
# its words; validation (`declared_problems`), the UI's and the CLI's choices read them from here.
Family = typing.Literal["gpt2", "llama"]
TokenizerAlgorithm = typing.Literal["bpe", "wordpiece", "unigram"]
Schedule = typing.Literal["cosine", "linear", "constant"]
Precision = typing.Literal["auto", "bf16", "fp16", "fp32"]
# on: torch.compile; graph: compiled, then the whole step (forward, backward, clipping, the optimizer's update)
# captured as one CUDA graph, on one GPU; auto: graph where it can be, on with several GPUs, off on the CPU.
CompileMode = typing.Literal["auto", "on", "off", "graph"]
KeepMode = typing.Literal["best", "last"]
OptimizerName = typing.Literal["adamw", "muon"]
DistributedMode = typing.Literal["ddp", "fsdp"]
TextUnit = typing.Literal["auto", "document", "paragraph", "line"]
FAMILIES, TOKENIZER_ALGORITHMS, SCHEDULES = typing.get_args(Family), typing.get_args(TokenizerAlgorithm), \
    typing.get_args(Schedule)
PRECISIONS, COMPILE_MODES, KEEP_MODES = typing.get_args(Precision), typing.get_args(CompileMode), \
    typing.get_args(KeepMode)
DISTRIBUTED_MODES, TEXT_UNITS = typing.get_args(DistributedMode), typing.get_args(TextUnit)
OPTIMIZERS = typing.get_args(OptimizerName)
OPTIMIZER_LABELS = {"adamw": "AdamW", "muon": "Muon and AdamW"}  # for people: Muon trains only the blocks' matrices
MAX_STEPS = 1_000_000_000  # a billion steps: 11.6 days at a millisecond a step, beyond any run this app plans
# Integers past 2**53 have no exact float: YAML's `1e30` would become some other whole number, so it is refused.
EXACT_FLOAT_INTEGER = 2**53
BYTE_ALPHABET = 256  # byte-level BPE starts from every byte value, so it can never emit <unk>
HUB_SOURCE_PREFIX = "hub:"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_GPU_LIST = re.compile(r"^(|all|\d+(,\d+)*)$")


@dataclass(frozen=True)
class Bounds:
    """The numbers a setting may hold, declared beside it (`bounded`) and checked by `declared_problems`.

    `at_least`/`above` and `at_most`/`below` make the range the setting's meaning allows (a count, a fraction);
    a value outside it is refused with the range in words, then `hint`. `ceiling` is coarser, with `why` to
    say what it keeps out: values past it describe no model a machine this app drives (one host, up to 8
    GPUs) could train, and some would overflow or stall before any check runs. Whether a model fits this
    machine is decided by the memory estimate before a run starts (jobs/preparation.py).
    """

    at_least: float | None = None
    above: float | None = None
    at_most: float | None = None
    below: float | None = None
    hint: str = ""  # what to give instead, after the range: "use 0 for no limit"
    unit: str = ""  # of the lower bound, in the message: "at least 8 tokens"
    ceiling: float | None = None
    why: str = ""  # what the ceiling keeps out

    def problem(self, name: str, value) -> str | None:
        """The sentence that refuses `value` for the setting `name` (dotted), or None when it is allowed."""
        if not self._in_range(value):
            return f"{name} {self._range_words()} (it is {value}){'; ' + self.hint if self.hint else ''}."
        if self.ceiling is not None and value > self.ceiling:
            shown = f"{value:,}" if isinstance(value, int) else f"{value:g}"
            return f"{name} must be at most {self.ceiling:,} (it is {shown}): {self.why}."
        return None

    def _in_range(self, value) -> bool:
        # Each comparison holds for an allowed number, so NaN, which fails every comparison, is refused.
        return all((self.at_least is None or value >= self.at_least, self.above is None or value > self.above,
                    self.at_most is None or value <= self.at_most, self.below is None or value < self.below))

    def _range_words(self) -> str:
        low = (f"at least {self.at_least:g}{' ' + self.unit if self.unit else ''}" if self.at_least is not None
               else f"above {self.above:g}" if self.above is not None else "")
        high = (f"at most {self.at_most:g}" if self.at_most is not None
                else f"below {self.below:g}" if self.below is not None else "")
        if self.at_least == 0 and not high:
            return "cannot be negative"
        if self.at_least is not None and self.at_most is not None:
            return f"must be between {self.at_least:g} and {self.at_most:g}"
        return "must be " + " and ".join(words for words in (low, high) if words)


def bounded(default, **bounds):
    """A number setting's field, with its `Bounds` beside it (read back with `declared_bounds`)."""
    return field(default=default, metadata={"bounds": Bounds(**bounds)})


class _Checked:
    """`check()` for what has `validate()`: each section below, and the RunConfig made of them."""

    def check(self, check_paths: bool = True):
        """Raise `ConfigError` listing every problem, or return self."""
        problems = self.validate(check_paths)
        if problems:
            raise ConfigError(problems)
        return self


# Each section validates on its own (`ModelConfig(...).validate()`): first what its fields declare (a Literal
# type's words, `bounded`'s Bounds), read by the one checker `declared_problems`; then the rules between its
# fields, written out below (`_data_rules`, ...). `check_paths`: whether paths must exist on this machine.


@dataclass
class DataConfig(_Checked):
    source: str = "demo"  # "demo" (Python's own standard library), a file or folder, or hub:ID[:CONFIG[:SPLIT]]
    streaming: bool = False  # read lazily (IterableDataset) instead of loading the split into memory
    text_column: str = ""  # empty: detected (the longest string column; text/content/code preferred)
    join_columns: list[str] = field(default_factory=list)  # several text columns joined by a newline
    max_documents: int = bounded(0, at_least=0, hint="use 0 for no limit")  # 0: all documents
    # One document in 1/eval_fraction is held out for evaluation.
    eval_fraction: float = bounded(0.02, above=0, at_most=0.5)
    drop_empty: bool = True
    drop_duplicates: bool = False  # exact duplicates, by content hash
    min_chars: int = bounded(0, at_least=0, hint="use 0 for no limit")
    max_chars: int = bounded(0, at_least=0, hint="use 0 for no limit")  # 0: no limit
    normalize_whitespace: bool = False  # strip trailing spaces and collapse runs of blank lines
    # Plain-text files: one document per file ("document"), per blank-line-separated paragraph or per
    # line. "auto" is "document": text has documents only where the data has them, and a single file is
    # one stream whose last few percent are held out (data/sources.split_rule).
    text_unit: TextUnit = "auto"

    def validate(self, check_paths: bool = True) -> list[str]:
        return declared_problems(self) + _data_rules(self, check_paths)


@dataclass
class TokenizerConfig(_Checked):
    path: str = ""  # a tokenizer folder or Hub id to reuse; empty: train a new one on the training text
    algorithm: TokenizerAlgorithm = "bpe"  # bpe (byte-level, GPT-2 style) | wordpiece | unigram
    # At least the special tokens and, for byte-level BPE, the 256 byte values: a rule (_tokenizer_rules).
    vocab_size: int = bounded(8192, ceiling=1_000_000, why="absurdly large, far above the largest vocabularies "
                                                            "in use (about 256k)")
    min_frequency: int = bounded(2, at_least=1)
    # Train on at most this many documents; 0: all of them.
    sample_documents: int = bounded(0, at_least=0, hint="use 0 to train on every document")
    lowercase: bool = False
    nfkc: bool = False
    eos_token: str = "<|endoftext|>"  # separates packed documents
    pad_token: str = "<|pad|>"

    def validate(self, check_paths: bool = True) -> list[str]:
        # A tokenizer reused from `path` is not trained: the settings that would train one are not judged.
        unused = ("vocab_size", "min_frequency", "sample_documents") if self.path else ()
        return declared_problems(self, unused) + _tokenizer_rules(self, check_paths)


@dataclass
class ModelConfig(_Checked):
    family: Family = "gpt2"  # gpt2 | llama
    n_layer: int = bounded(4, at_least=1, ceiling=256,
                           why="twice the deepest open models (Llama 3 405B has 126 layers)")
    n_head: int = bounded(4, at_least=1, ceiling=256, why="twice the most heads in open models (Llama 3 405B has 128)")
    n_embd: int = bounded(256, at_least=1, ceiling=32_768,
                          why="twice Llama 3 405B's width; one layer this wide has 12.9 billion parameters")
    # llama only: key/value heads for grouped-query attention; 0: same as n_head
    n_kv_head: int = bounded(0, at_least=0, hint="use 0 for as many as n_head")
    # 0: the family's default (4x width for gpt2, ~8/3x for llama)
    intermediate_size: int = bounded(0, at_least=0, hint="use 0 for the family default", ceiling=131_072,
                                     why="more than twice Llama 3 405B's 53,248")
    context_length: int = bounded(256, at_least=8, unit="tokens", ceiling=131_072,
                                  why="Llama 3.1's 128k context; the attention's memory and time grow with it")
    dropout: float = bounded(0.0, at_least=0, below=1)
    tie_embeddings: bool = True
    gradient_checkpointing: bool = False  # recompute activations in the backward pass to save memory

    def validate(self, check_paths: bool = True) -> list[str]:
        return declared_problems(self) + _model_rules(self)


# train.eval_interval, sample_interval and save_interval: AUTO, 0 or a number of steps.
_CADENCE = {"at_least": AUTO, "hint": "use -1 (spread over the run), 0 or a number of steps"}


@dataclass
class TrainConfig(_Checked):
    # Optimizer steps; 0: no step limit.
    max_steps: int = bounded(1000, at_least=0, ceiling=MAX_STEPS,
                             why="11.6 days at a millisecond a step, beyond any run this app plans")
    # Stop after this many training tokens; 0: no token limit.
    max_tokens: int = bounded(0, at_least=0, ceiling=10**15,
                              why="over 60 times what Llama 3 trained on (15 trillion tokens)")
    # Stop after this much wall time; 0: no time limit.
    max_minutes: float = bounded(0.0, at_least=0, ceiling=525_600, why="a year; for no time limit use 0")
    # Sequences per forward pass on each device.
    micro_batch_size: int = bounded(16, at_least=1, ceiling=65_536,
                                    why="even at the shortest context that is half a million tokens per forward "
                                        "pass; lower it and raise train.grad_accum_steps")
    # Micro-batches per optimizer step.
    grad_accum_steps: int = bounded(1, at_least=1, ceiling=4096,
                                    why="4,096 micro-batches of 16 sequences of 1,024 tokens make a "
                                        "67-million-token step, about 20 times GPT-3's batch")
    learning_rate: float = bounded(6e-4, above=0, at_most=1, hint="3e-4 to 1e-3 is typical")
    min_lr_ratio: float = bounded(0.1, at_least=0, at_most=1)  # the schedule ends at learning_rate * min_lr_ratio
    warmup_steps: int = bounded(100, at_least=0, ceiling=MAX_STEPS, why="as train.max_steps")
    schedule: Schedule = "cosine"  # cosine | linear | constant (after warm-up)
    weight_decay: float = bounded(0.1, at_least=0)
    beta1: float = bounded(0.9, at_least=0, below=1)
    beta2: float = bounded(0.95, at_least=0, below=1)
    grad_clip: float = bounded(1.0, at_least=0, hint="use 0 for no clipping")  # max global gradient norm
    # adamw: AdamW for every parameter; muon: Muon for the hidden matrices, AdamW for the rest, with the same
    # learning rate and weight decay (clm_gui.train.muon).
    optimizer: OptimizerName = "adamw"
    precision: Precision = "auto"  # auto: bf16 where supported, else fp16 on CUDA, fp32 on CPU
    compile: CompileMode = "auto"  # auto | on | off | graph (see COMPILE_MODES)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    gpus: str = ""  # app launches only: "" one process on train.device; "all" or "0,1" one process per GPU
    # Several processes: "ddp" keeps a whole copy of the model, its gradients and optimizer state on every
    # device; "fsdp" shards all three across the devices, for models that do not fit on one.
    distributed: DistributedMode = "ddp"
    seed: int = bounded(1337, at_least=0, ceiling=2**32 - 1, why="numpy's random generator takes a 32-bit seed")
    log_interval: int = bounded(10, at_least=1)
    # -1: about 40 evaluations spread over the run's budget; 0: none; N: every N steps
    eval_interval: int = bounded(AUTO, **_CADENCE)
    eval_batches: int = bounded(20, at_least=0)  # at least 1 when evaluation is on: a rule (_train_rules)
    # -1: CHECKPOINTS_PER_RUN times spread over the run; 0: only on stop and at the end
    save_interval: int = bounded(500, **_CADENCE)
    keep_checkpoints: int = bounded(2, at_least=1)  # the newest N (the planner keeps every one of a spread run's)
    # -1: a few rounds spread over the run; 0: only at the end; N: every N steps
    sample_interval: int = bounded(AUTO, **_CADENCE)
    # Empty: the opening words of held-out lines (clm_gui.data.prompts), text of the data's own kind.
    sample_prompts: list[str] = field(default_factory=list)
    sample_max_new_tokens: int = bounded(64, at_least=0)
    # What final/ holds: "best", the model at the lowest held-out loss of any evaluation, or "last", the
    # model after the last step. On a small corpus the held-out loss turns up long before the run ends.
    keep: KeepMode = "best"
    # End the run (as finished) after this many evaluations in a row without a new best held-out loss;
    # 0: never. Evaluations, not steps, so that it means the same at every cadence.
    early_stop_patience: int = bounded(5, at_least=0, hint="use 0 to never stop early")
    # An exponential moving average of the weights, with this decay per step (0: none), is what the run
    # evaluates and keeps (clm_gui.train.weight_average); ~0.999 averages over the last thousand steps.
    ema_decay: float = bounded(0.0, at_least=0, below=1, hint="0 turns the average off")

    def validate(self, check_paths: bool = True) -> list[str]:
        return declared_problems(self) + _train_rules(self)


def tokens_per_step(micro_batch_size: int, grad_accum_steps: int, context_length: int, processes: int = 1) -> int:
    """Tokens one optimizer step trains on: each process's micro-batches of full context windows."""
    return micro_batch_size * grad_accum_steps * context_length * processes


@dataclass
class RunConfig(_Checked):
    name: str = ""  # a label for the run; the run id is made from it
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self, check_paths: bool = True) -> list[str]:
        """Every problem with this configuration, each as a sentence the user can act on: each section's
        own, in order (no rule today spans two sections; one that did would be added here)."""
        return [problem for section in _SECTIONS for problem in getattr(self, section).validate(check_paths)]

    def tokens_per_step(self, processes: int = 1) -> int:
        t = self.train
        return tokens_per_step(t.micro_batch_size, t.grad_accum_steps, self.model.context_length, processes)

    def to_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, **dataclasses.asdict(self)}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def save(self, path: str | Path) -> None:
        atomic_write_text(Path(path), self.to_yaml())


# ---------------------------------------------------------------------------------------------
# Loading from dicts and YAML, with every type and key problem collected.


def _field_types(cls) -> dict[str, typing.Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


class _Loader(yaml.SafeLoader):
    """YAML with only true/false as booleans (as YAML 1.2): PyYAML's YAML 1.1 default reads on/off/yes/no
    as booleans too, which turned `--set train.compile=on` into True. Boolean settings still take those
    words (see _coerce)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))
_BOOLEAN_WORDS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def _load_yaml(text: str):
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def _number_from_text(value):
    """PyYAML reads `1e-3` as text (YAML 1.1 wants `1.0e-3`): accept numbers written that way."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 80
_SHOWN.maxlist = _SHOWN.maxdict = 5
_SHOWN.maxlevel = 2
_INVALID_TEXT = re.compile("[\0\ud800-\udfff]")  # NUL, or a lone surrogate (not encodable as UTF-8)


def _shown(value) -> str:
    """A value quoted in a message, cut short: a hostile YAML file can expand to a billion-item list."""
    return _SHOWN.repr(value)


def _coerce(value, expected, name: str, problems: list[str]):
    """Return value as the expected scalar/list type, or record a problem and return None."""
    if typing.get_origin(expected) is typing.Literal:
        expected = str  # one of a few words: text here, the word checked with the settings (declared_problems)
    if value is None:  # `key:` with nothing after it in YAML; an emptied or unreadable number box in the app
        if expected is str:
            return ""
        problems.append(f"{name} is empty{' or not a number' if expected in (int, float) else ''}: type a value.")
        return None
    value = _valid_text(value, name, problems)
    if value is None:
        return None
    if expected in (int, float):
        value = _number_from_text(value)
    if expected is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _BOOLEAN_WORDS:
            return _BOOLEAN_WORDS[value.lower()]
        problems.append(f"{name} must be true or false, not {_shown(value)}.")
        return None
    if expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) <= EXACT_FLOAT_INTEGER:
            return int(value)
        inexact = " (a number this large is not exact as a float)" if isinstance(value, float) and value.is_integer() \
            else ""
        problems.append(f"{name} must be a whole number, not {_shown(value)}{inexact}.")
        return None
    if expected is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        problems.append(f"{name} must be a finite number, not {_shown(value)}.")
        return None
    if expected is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        problems.append(f"{name} must be text, not {_shown(value)}.")
        return None
    if typing.get_origin(expected) is list:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        problems.append(f"{name} must be a list of texts, not {_shown(value)}.")
        return None
    raise TypeError(f"unsupported config field type {expected!r}")  # a bug in this module


def _valid_text(value, name: str, problems: list[str]):
    """value, or None with a problem when a text in it holds NUL or a lone surrogate."""
    texts = value if isinstance(value, list) else [value]
    if any(isinstance(t, str) and _INVALID_TEXT.search(t) for t in texts):
        problems.append(f"{name} contains a NUL byte or an invalid character (a lone surrogate); remove it.")
        return None
    return value


def _section_from_dict(cls, data, prefix: str, problems: list[str], unread: set[str]):
    """The section from plain data; each setting that could not be read is recorded in `problems` and its
    dotted name in `unread` (it keeps its default)."""
    if not isinstance(data, dict):
        problems.append(f"{prefix} must be a mapping of settings, not {_shown(data)}.")
        unread.add(f"{prefix}.")  # every setting of the section
        return cls()
    types = _field_types(cls)
    unknown = sorted(set(data) - set(types))
    if unknown:
        names = ", ".join(f"{prefix}.{k}" for k in unknown)
        problems.append(
            f"Unknown setting(s) {names}. Known settings in {prefix}: {', '.join(types)}."
        )
    values = {}
    for name, value in data.items():
        if name not in types:
            continue
        coerced = _coerce(value, types[name], f"{prefix}.{name}", problems)
        if coerced is None:
            unread.add(f"{prefix}.{name}")
        else:
            values[name] = coerced
    return cls(**values)


_SECTIONS = {"data": DataConfig, "tokenizer": TokenizerConfig, "model": ModelConfig, "train": TrainConfig}


def config_from_dict(data: dict, check_paths: bool = True) -> RunConfig:
    """Build a RunConfig from plain data; raise ConfigError naming every unknown key and bad type.

    The error also lists what `validate` finds wrong with the settings that were read, so that one
    message names every problem and the user does not fix them one attempt at a time. Valid data is
    returned unvalidated: callers check it (`RunConfig.check`) when they need it to be runnable.
    """
    problems: list[str] = []
    unread: set[str] = set()
    if not isinstance(data, dict):
        raise ConfigError([f"A configuration must be a mapping of sections, not {type(data).__name__}."])
    data = dict(data)
    version = data.pop("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        problems.append(
            f"schema_version is {_shown(version)} but this version of clm-gui reads {SCHEMA_VERSION}; "
            "re-create the configuration from the app or edit it to match."
        )
    unknown = sorted(set(data) - set(_SECTIONS) - {"name"})
    if unknown:
        problems.append(
            f"Unknown section(s) {', '.join(map(str, unknown))}. "
            f"Known sections: name, {', '.join(_SECTIONS)}."
        )
    parts = {k: _section_from_dict(cls, data.get(k, {}), k, problems, unread) for k, cls in _SECTIONS.items()}
    name = _coerce(data.get("name", ""), str, "name", problems) or ""
    cfg = RunConfig(name=name, **parts)
    if problems:
        raise ConfigError(problems + _problems_of_what_was_read(cfg, unread, check_paths))
    return cfg


def _problems_of_what_was_read(cfg: RunConfig, unread: set[str], check_paths: bool) -> list[str]:
    """Validation problems, less those that name a setting that could not be read: it holds its default,
    not the user's value, and its problem is reported already."""
    return [p for p in cfg.validate(check_paths) if not any(name in p for name in unread)]


def config_from_yaml(text: str) -> RunConfig:
    try:
        data = _load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"The configuration is not valid YAML: {exc}"]) from None
    return config_from_dict(data or {})


def load_config(path: str | Path, overrides: typing.Sequence[str] = ()) -> RunConfig:
    """Read a YAML run configuration and apply `section.key=value` overrides."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"Configuration file {path} does not exist."])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"Cannot read configuration file {path}: {exc}"]) from None
    try:
        data = _load_yaml(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path} is not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{path} must hold a mapping of sections (data, tokenizer, model, train)."])
    return config_from_dict(apply_overrides(data, overrides))


def apply_overrides(data: dict, overrides: typing.Sequence[str]) -> dict:
    """Return a copy of config data with each `section.key=value` applied (value parsed as YAML)."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    problems = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            problems.append(f"Override {item!r} must look like section.key=value, e.g. train.max_steps=200.")
            continue
        try:
            value = _load_yaml(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if value is None:
            value = ""
        data.setdefault(section, {})
        if not isinstance(data[section], dict):
            problems.append(f"Override {item!r}: {section} is not a section.")
            continue
        data[section][name] = value
    if problems:
        raise ConfigError(problems)
    return data


def hub_source(dataset_id: str, config: str | None = None, split: str = "train") -> str:
    """`hub:ID:CONFIG:SPLIT` for a Hub dataset (an empty config: the dataset's default; an empty split: train)."""
    return HUB_SOURCE_PREFIX + ":".join([dataset_id, config or "", split or "train"])


def parse_hub_source(source: str) -> tuple[str, str | None, str]:
    """Split `hub:ID[:CONFIG[:SPLIT]]` into (id, config or None, split)."""
    parts = source[len(HUB_SOURCE_PREFIX):].split(":")
    dataset_id = parts[0]
    config = parts[1] if len(parts) > 1 and parts[1] else None
    split = parts[2] if len(parts) > 2 and parts[2] else "train"
    return dataset_id, config, split


def is_hub_id(text: str) -> bool:
    return bool(_HUB_ID.match(text)) and ".." not in text


def names_local_path(text: str) -> bool:
    """Whether a tokenizer or model reference names something on this machine rather than a Hub id: it is
    written as a path, or it exists here (the one rule the checks, the loader and hosted mode share)."""
    return text.startswith((".", "/", "~")) or Path(text).expanduser().exists()


# ---------------------------------------------------------------------------------------------
# Validation: every problem, in words. First the one checker of what the fields declare, then each section's
# rules between its fields (what no single field's declaration can say).


def declared_bounds(section_class) -> dict[str, Bounds]:
    """Each number setting of a section class (`ModelConfig`, ...) with the Bounds declared beside it, by name;
    the checker, and anything that shows or converts a setting, read them here."""
    return {f.name: f.metadata["bounds"] for f in dataclasses.fields(section_class) if "bounds" in f.metadata}


def declared_problems(section, unused: typing.Collection[str] = ()) -> list[str]:
    """Each setting of the section, in field order, that is not one of its Literal type's words or lies
    outside its declared Bounds; settings named in `unused` are not judged."""
    prefix = next(name for name, cls in _SECTIONS.items() if isinstance(section, cls))
    bounds = declared_bounds(type(section))
    problems = []
    for name, kind in _field_types(type(section)).items():
        if name in unused:
            continue
        value, dotted = getattr(section, name), f"{prefix}.{name}"
        if typing.get_origin(kind) is typing.Literal and value not in typing.get_args(kind):
            problems.append(f"{dotted} must be one of {', '.join(typing.get_args(kind))} (it is {value!r}).")
        elif name in bounds and (problem := bounds[name].problem(dotted, value)):
            problems.append(problem)
    return problems


def _data_rules(d: DataConfig, check_paths: bool) -> list[str]:
    p = []
    if not d.source.strip():
        p.append("data.source is empty: use 'demo', a file or folder path, or hub:DATASET_ID.")
    elif d.source.startswith(HUB_SOURCE_PREFIX):
        dataset_id = parse_hub_source(d.source)[0]
        if not is_hub_id(dataset_id):
            p.append(
                f"data.source: {dataset_id!r} is not a valid Hub dataset id; "
                "it looks like 'name' or 'owner/name' (letters, digits, '-', '_', '.')."
            )
    elif d.source != "demo" and check_paths and not Path(d.source).expanduser().exists():
        p.append(f"data.source: the path {d.source} does not exist; check the spelling or upload the files.")
    if d.max_chars and d.max_chars < d.min_chars:
        p.append(f"data.max_chars ({d.max_chars}) is below data.min_chars ({d.min_chars}): no document would pass.")
    return p


def _tokenizer_rules(t: TokenizerConfig, check_paths: bool) -> list[str]:
    p = []
    specials = [s for s in (t.eos_token, t.pad_token) if s]
    if not t.eos_token:
        p.append("tokenizer.eos_token is empty: an end-of-text token is needed to separate documents.")
    if t.path:
        looks_local = names_local_path(t.path)
        if looks_local and check_paths and not Path(t.path).expanduser().is_dir():
            p.append(f"tokenizer.path: the folder {t.path} does not exist.")
        elif not looks_local and not is_hub_id(t.path):
            p.append(f"tokenizer.path: {t.path!r} is neither an existing folder nor a Hub id like 'owner/name'.")
        return p
    minimum = BYTE_ALPHABET + len(specials) if t.algorithm == "bpe" else len(specials) + 1
    if t.vocab_size <= len(specials):
        p.append(
            f"tokenizer.vocab_size ({t.vocab_size}) is not larger than the {len(specials)} special tokens; "
            "use at least a few thousand."
        )
    elif t.vocab_size < minimum:
        p.append(
            f"tokenizer.vocab_size ({t.vocab_size}) is smaller than the {BYTE_ALPHABET} byte symbols plus "
            f"{len(specials)} special tokens that byte-level BPE needs; use at least {minimum}."
        )
    return p


def _model_rules(m: ModelConfig) -> list[str]:
    p = []
    if m.n_head >= 1 and m.n_embd >= 1:  # below 1, the declared bound has said so
        if m.n_embd % m.n_head:
            p.append(
                f"model.n_head ({m.n_head}) must divide model.n_embd ({m.n_embd}) evenly; "
                f"for example use {_nearest_divisor(m.n_embd, m.n_head)} heads."
            )
        elif m.family == "llama" and (m.n_embd // m.n_head) % 2:
            p.append(f"model: llama needs an even head size (n_embd / n_head = {m.n_embd // m.n_head}).")
    if m.n_kv_head > 0 and m.n_head >= 1 and m.n_head % m.n_kv_head:
        p.append(f"model.n_kv_head ({m.n_kv_head}) must divide model.n_head ({m.n_head}).")
    return p


def _nearest_divisor(n: int, near: int) -> int:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]  # and their partners: every divisor
    return min(small + [n // d for d in small], key=lambda d: (abs(d - near), d))


def _train_rules(t: TrainConfig) -> list[str]:
    p = []
    if t.max_steps <= 0 and t.max_tokens <= 0 and t.max_minutes <= 0:
        p.append("Set at least one limit: train.max_steps, train.max_tokens or train.max_minutes.")
    if t.eval_interval and t.eval_batches < 1:
        p.append("train.eval_batches must be at least 1 when evaluation is on.")
    if t.distributed == "fsdp" and t.ema_decay:
        p.append("train.ema_decay needs whole weights on every device: use train.distributed ddp, or 0.")
    if t.distributed == "fsdp" and t.optimizer == "muon":
        p.append("train.optimizer muon needs each matrix whole on every device: use train.distributed ddp, "
                 "or adamw.")
    if t.distributed == "fsdp" and t.precision == "fp16":
        p.append("train.distributed fsdp trains in bf16 or fp32, not fp16 (its loss scaling is not supported "
                 "here); set train.precision to bf16, fp32 or auto.")
    if not _DEVICE.match(t.device):
        p.append(f"train.device must be auto, cpu, cuda or cuda:N (it is {t.device!r}).")
    if not _GPU_LIST.match(t.gpus.replace(" ", "")):
        p.append(f"train.gpus must be empty (one device), 'all', or GPU numbers like '0,1' (it is {t.gpus!r}).")
    return p
