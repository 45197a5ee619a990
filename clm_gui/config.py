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
# its words; validation (`_choice_problems`) and the UI's choices read them from here.
Family = typing.Literal["gpt2", "llama"]
TokenizerAlgorithm = typing.Literal["bpe", "wordpiece", "unigram"]
Schedule = typing.Literal["cosine", "linear", "constant"]
Precision = typing.Literal["auto", "bf16", "fp16", "fp32"]
# on: torch.compile; graph: compiled, then the whole step (forward, backward, clipping, the optimizer's update)
# captured as one CUDA graph, on one GPU; auto: graph where it can be, on with several GPUs, off on the CPU.
CompileMode = typing.Literal["auto", "on", "off", "graph"]
KeepMode = typing.Literal["best", "last"]
DistributedMode = typing.Literal["ddp", "fsdp"]
TextUnit = typing.Literal["auto", "document", "paragraph", "line"]
FAMILIES, TOKENIZER_ALGORITHMS, SCHEDULES = typing.get_args(Family), typing.get_args(TokenizerAlgorithm), \
    typing.get_args(Schedule)
PRECISIONS, COMPILE_MODES, KEEP_MODES = typing.get_args(Precision), typing.get_args(CompileMode), \
    typing.get_args(KeepMode)
DISTRIBUTED_MODES, TEXT_UNITS = typing.get_args(DistributedMode), typing.get_args(TextUnit)
MAX_VOCAB_SIZE = 1_000_000
MAX_STEPS = 1_000_000_000  # a billion steps: 11.6 days at a millisecond a step, beyond any run this app plans
# Integers past 2**53 have no exact float: YAML's `1e30` would become some other whole number, so it is refused.
EXACT_FLOAT_INTEGER = 2**53
BYTE_ALPHABET = 256  # byte-level BPE starts from every byte value, so it can never emit <unk>
HUB_SOURCE_PREFIX = "hub:"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_GPU_LIST = re.compile(r"^(|all|\d+(,\d+)*)$")


def at_most(default, limit, why: str):
    """A setting with an upper bound; `why` says what the bound keeps out, in the message that refuses more.

    The bounds are coarse: values past them describe no model a machine this app drives (one host, up to
    8 GPUs) could train, and some would overflow or stall before any check runs. Whether a model fits this
    machine is decided by the memory estimate before a run starts (jobs/preparation.py).
    """
    return field(default=default, metadata={"at_most": limit, "why": why})


@dataclass
class DataConfig:
    source: str = "demo"  # "demo" (Python's own standard library), a file or folder, or hub:ID[:CONFIG[:SPLIT]]
    streaming: bool = False  # read lazily (IterableDataset) instead of loading the split into memory
    text_column: str = ""  # empty: detected (the longest string column; text/content/code preferred)
    join_columns: list[str] = field(default_factory=list)  # several text columns joined by a newline
    max_documents: int = 0  # 0: all documents
    eval_fraction: float = 0.02  # one document in 1/eval_fraction is held out for evaluation
    drop_empty: bool = True
    drop_duplicates: bool = False  # exact duplicates, by content hash
    min_chars: int = 0
    max_chars: int = 0  # 0: no limit
    normalize_whitespace: bool = False  # strip trailing spaces and collapse runs of blank lines
    # Plain-text files: one document per file ("document"), per blank-line-separated paragraph or per
    # line. "auto" is "document": text has documents only where the data has them, and a single file is
    # one stream whose last few percent are held out (data/sources.split_rule).
    text_unit: TextUnit = "auto"


@dataclass
class TokenizerConfig:
    path: str = ""  # a tokenizer folder or Hub id to reuse; empty: train a new one on the training text
    algorithm: TokenizerAlgorithm = "bpe"  # bpe (byte-level, GPT-2 style) | wordpiece | unigram
    vocab_size: int = 8192
    min_frequency: int = 2
    sample_documents: int = 0  # train on at most this many documents; 0: all of them
    lowercase: bool = False
    nfkc: bool = False
    eos_token: str = "<|endoftext|>"  # separates packed documents
    pad_token: str = "<|pad|>"


@dataclass
class ModelConfig:
    family: Family = "gpt2"  # gpt2 | llama
    n_layer: int = at_most(4, 256, "twice the deepest open models (Llama 3 405B has 126 layers)")
    n_head: int = at_most(4, 256, "twice the most heads in open models (Llama 3 405B has 128)")
    n_embd: int = at_most(256, 32_768, "twice Llama 3 405B's width; one layer this wide has 12.9 billion "
                                       "parameters")
    n_kv_head: int = 0  # llama only: key/value heads for grouped-query attention; 0: same as n_head
    # 0: the family's default (4x width for gpt2, ~8/3x for llama)
    intermediate_size: int = at_most(0, 131_072, "more than twice Llama 3 405B's 53,248")
    context_length: int = at_most(256, 131_072, "Llama 3.1's 128k context; the attention's memory and "
                                                "time grow with it")
    dropout: float = 0.0
    tie_embeddings: bool = True
    gradient_checkpointing: bool = False  # recompute activations in the backward pass to save memory


@dataclass
class TrainConfig:
    # Optimizer steps; 0: no step limit.
    max_steps: int = at_most(1000, MAX_STEPS, "11.6 days at a millisecond a step, beyond any run this app plans")
    # Stop after this many training tokens; 0: no token limit.
    max_tokens: int = at_most(0, 10**15, "over 60 times what Llama 3 trained on (15 trillion tokens)")
    # Stop after this much wall time; 0: no time limit.
    max_minutes: float = at_most(0.0, 525_600, "a year; for no time limit use 0")
    # Sequences per forward pass on each device.
    micro_batch_size: int = at_most(16, 65_536, "even at the shortest context that is half a million tokens "
                                                "per forward pass; lower it and raise train.grad_accum_steps")
    # Micro-batches per optimizer step.
    grad_accum_steps: int = at_most(1, 4096, "4,096 micro-batches of 16 sequences of 1,024 tokens make a "
                                             "67-million-token step, about 20 times GPT-3's batch")
    learning_rate: float = 6e-4
    min_lr_ratio: float = 0.1  # the schedule ends at learning_rate * min_lr_ratio
    warmup_steps: int = at_most(100, MAX_STEPS, "as train.max_steps")
    schedule: Schedule = "cosine"  # cosine | linear | constant (after warm-up)
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # max global gradient norm; 0: no clipping
    precision: Precision = "auto"  # auto: bf16 where supported, else fp16 on CUDA, fp32 on CPU
    compile: CompileMode = "auto"  # auto | on | off | graph (see COMPILE_MODES)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    gpus: str = ""  # app launches only: "" one process on train.device; "all" or "0,1" one process per GPU
    # Several processes: "ddp" keeps a whole copy of the model, its gradients and optimizer state on every
    # device; "fsdp" shards all three across the devices, for models that do not fit on one.
    distributed: DistributedMode = "ddp"
    seed: int = at_most(1337, 2**32 - 1, "numpy's random generator takes a 32-bit seed")
    log_interval: int = 10
    eval_interval: int = AUTO  # -1: about 40 evaluations spread over the run's budget; 0: none; N: every N steps
    eval_batches: int = 20
    save_interval: int = 500  # -1: CHECKPOINTS_PER_RUN times spread over the run; 0: only on stop and at the end
    keep_checkpoints: int = 2  # the newest N (the planner keeps every one of a spread run's)
    sample_interval: int = AUTO  # -1: a few rounds spread over the run; 0: only at the end; N: every N steps
    # Empty: the opening words of held-out lines (clm_gui.data.prompts), text of the data's own kind.
    sample_prompts: list[str] = field(default_factory=list)
    sample_max_new_tokens: int = 64
    # What final/ holds: "best", the model at the lowest held-out loss of any evaluation, or "last", the
    # model after the last step. On a small corpus the held-out loss turns up long before the run ends.
    keep: KeepMode = "best"
    # End the run (as finished) after this many evaluations in a row without a new best held-out loss;
    # 0: never. Evaluations, not steps, so that it means the same at every cadence.
    early_stop_patience: int = 5
    # An exponential moving average of the weights, with this decay per step (0: none), is what the run
    # evaluates and keeps (clm_gui.train.weight_average); ~0.999 averages over the last thousand steps.
    ema_decay: float = 0.0


def tokens_per_step(micro_batch_size: int, grad_accum_steps: int, context_length: int, processes: int = 1) -> int:
    """Tokens one optimizer step trains on: each process's micro-batches of full context windows."""
    return micro_batch_size * grad_accum_steps * context_length * processes


@dataclass
class RunConfig:
    name: str = ""  # a label for the run; the run id is made from it
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self, check_paths: bool = True) -> list[str]:
        """Every problem with this configuration, each as a sentence the user can act on."""
        return validate(self, check_paths)

    def check(self, check_paths: bool = True) -> RunConfig:
        """Raise `ConfigError` listing every problem, or return self."""
        problems = self.validate(check_paths)
        if problems:
            raise ConfigError(problems)
        return self

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
        expected = str  # one of a few words: text here, the word checked with the settings (_choice_problems)
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
# Validation: every problem, in words.


def _validate_data(d: DataConfig, check_paths: bool) -> list[str]:
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
    if not 0 < d.eval_fraction <= 0.5:
        p.append(f"data.eval_fraction must be above 0 and at most 0.5 (it is {d.eval_fraction}).")
    for name in ("max_documents", "min_chars", "max_chars"):
        if getattr(d, name) < 0:
            p.append(f"data.{name} cannot be negative (it is {getattr(d, name)}); use 0 for no limit.")
    if d.max_chars and d.max_chars < d.min_chars:
        p.append(f"data.max_chars ({d.max_chars}) is below data.min_chars ({d.min_chars}): no document would pass.")
    return p


def _validate_tokenizer(t: TokenizerConfig, check_paths: bool) -> list[str]:
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
    if t.vocab_size > MAX_VOCAB_SIZE:
        p.append(f"tokenizer.vocab_size ({t.vocab_size:,}) is absurdly large; use at most {MAX_VOCAB_SIZE:,}.")
    if t.min_frequency < 1:
        p.append(f"tokenizer.min_frequency must be at least 1 (it is {t.min_frequency}).")
    if t.sample_documents < 0:
        p.append("tokenizer.sample_documents cannot be negative; use 0 to train on every document.")
    return p


def _choice_problems(section, prefix: str) -> list[str]:
    """Each setting of the section that must be one of a few words (a Literal type) and is not."""
    problems = []
    for name, kind in _field_types(type(section)).items():
        choices, value = typing.get_args(kind), getattr(section, name)
        if typing.get_origin(kind) is typing.Literal and value not in choices:
            problems.append(f"{prefix}.{name} must be one of {', '.join(choices)} (it is {value!r}).")
    return problems


def _validate_model(m: ModelConfig) -> list[str]:
    p = []
    for name in ("n_layer", "n_head", "n_embd"):
        if getattr(m, name) < 1:
            p.append(f"model.{name} must be at least 1 (it is {getattr(m, name)}).")
    if m.n_head >= 1 and m.n_embd >= 1:
        if m.n_embd % m.n_head:
            p.append(
                f"model.n_head ({m.n_head}) must divide model.n_embd ({m.n_embd}) evenly; "
                f"for example use {_nearest_divisor(m.n_embd, m.n_head)} heads."
            )
        elif m.family == "llama" and (m.n_embd // m.n_head) % 2:
            p.append(f"model: llama needs an even head size (n_embd / n_head = {m.n_embd // m.n_head}).")
    if m.n_kv_head < 0:
        p.append("model.n_kv_head cannot be negative; use 0 for as many as n_head.")
    elif m.n_kv_head and m.n_head >= 1 and m.n_head % m.n_kv_head:
        p.append(f"model.n_kv_head ({m.n_kv_head}) must divide model.n_head ({m.n_head}).")
    if m.context_length < 8:
        p.append(f"model.context_length must be at least 8 tokens (it is {m.context_length}).")
    if m.intermediate_size < 0:
        p.append("model.intermediate_size cannot be negative; use 0 for the family default.")
    if not 0 <= m.dropout < 1:
        p.append(f"model.dropout must be at least 0 and below 1 (it is {m.dropout}).")
    return p


def _nearest_divisor(n: int, near: int) -> int:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]  # and their partners: every divisor
    return min(small + [n // d for d in small], key=lambda d: (abs(d - near), d))


def _over_limits(cfg: RunConfig) -> list[str]:
    """Each setting above its upper bound (see `at_most`), with what the bound keeps out."""
    p = []
    for section in _SECTIONS:
        part = getattr(cfg, section)
        for f in dataclasses.fields(part):
            limit, value = f.metadata.get("at_most"), getattr(part, f.name)
            if limit is not None and value > limit:
                shown = f"{value:,}" if isinstance(value, int) else f"{value:g}"
                p.append(f"{section}.{f.name} must be at most {limit:,} (it is {shown}): {f.metadata['why']}.")
    return p


def _validate_train(t: TrainConfig) -> list[str]:
    p = []
    if t.micro_batch_size < 1:
        p.append(f"train.micro_batch_size must be at least 1 (it is {t.micro_batch_size}).")
    if t.grad_accum_steps < 1:
        p.append(f"train.grad_accum_steps must be at least 1 (it is {t.grad_accum_steps}).")
    if t.learning_rate <= 0:
        p.append(f"train.learning_rate must be above 0 (it is {t.learning_rate}); 3e-4 to 1e-3 is typical.")
    elif t.learning_rate > 1:
        p.append(f"train.learning_rate {t.learning_rate} is far too high; 3e-4 to 1e-3 is typical.")
    if not 0 <= t.min_lr_ratio <= 1:
        p.append(f"train.min_lr_ratio must be between 0 and 1 (it is {t.min_lr_ratio}).")
    for name in ("max_steps", "max_tokens", "warmup_steps", "log_interval", "eval_batches",
                 "sample_max_new_tokens"):
        if getattr(t, name) < 0:
            p.append(f"train.{name} cannot be negative (it is {getattr(t, name)}).")
    for name in ("eval_interval", "sample_interval", "save_interval"):
        if getattr(t, name) < AUTO:
            p.append(f"train.{name} must be -1 (spread over the run), 0 or a number of steps "
                     f"(it is {getattr(t, name)}).")
    if t.max_minutes < 0:
        p.append(f"train.max_minutes cannot be negative (it is {t.max_minutes}).")
    if t.max_steps <= 0 and t.max_tokens <= 0 and t.max_minutes <= 0:
        p.append("Set at least one limit: train.max_steps, train.max_tokens or train.max_minutes.")
    if t.log_interval == 0:
        p.append("train.log_interval must be at least 1.")
    if t.eval_interval and t.eval_batches < 1:
        p.append("train.eval_batches must be at least 1 when evaluation is on.")
    if t.seed < 0:
        p.append(f"train.seed cannot be negative (it is {t.seed}).")
    if t.keep_checkpoints < 1:
        p.append(f"train.keep_checkpoints must be at least 1 (it is {t.keep_checkpoints}).")
    if t.early_stop_patience < 0:
        p.append(f"train.early_stop_patience cannot be negative (it is {t.early_stop_patience}); use 0 to never stop early.")
    if not 0 <= t.ema_decay < 1:
        p.append(f"train.ema_decay must be at least 0 and below 1 (it is {t.ema_decay}); 0 turns the average off.")
    if t.distributed == "fsdp" and t.ema_decay:
        p.append("train.ema_decay needs whole weights on every device: use train.distributed ddp, or 0.")
    if t.distributed == "fsdp" and t.precision == "fp16":
        p.append("train.distributed fsdp trains in bf16 or fp32, not fp16 (its loss scaling is not supported "
                 "here); set train.precision to bf16, fp32 or auto.")
    if not _DEVICE.match(t.device):
        p.append(f"train.device must be auto, cpu, cuda or cuda:N (it is {t.device!r}).")
    if not _GPU_LIST.match(t.gpus.replace(" ", "")):
        p.append(f"train.gpus must be empty (one device), 'all', or GPU numbers like '0,1' (it is {t.gpus!r}).")
    if t.grad_clip < 0:
        p.append(f"train.grad_clip cannot be negative (it is {t.grad_clip}); use 0 for no clipping.")
    if t.weight_decay < 0:
        p.append(f"train.weight_decay cannot be negative (it is {t.weight_decay}).")
    for name in ("beta1", "beta2"):
        if not 0 <= getattr(t, name) < 1:
            p.append(f"train.{name} must be at least 0 and below 1 (it is {getattr(t, name)}).")
    return p


def validate(cfg: RunConfig, check_paths: bool = True) -> list[str]:
    return (
        [problem for prefix, cls in _SECTIONS.items() for problem in _choice_problems(getattr(cfg, prefix), prefix)]
        + _validate_data(cfg.data, check_paths)
        + _validate_tokenizer(cfg.tokenizer, check_paths)
        + _validate_model(cfg.model)
        + _validate_train(cfg.train)
        + _over_limits(cfg)
    )
