"""What the Tokenizer tab does, without Gradio: each action takes the tab's values by name and returns the
widgets it changes, `{name: value}`; a widget it leaves out keeps its value. The tab (`ui/tokenizer_tab.py`)
lays the widgets out, registers them under these names and turns each result into Gradio's
`{component: value}` (`ui/widgets.py`).

A recommendation from the dataset's domain, reuse a pretrained tokenizer or train one, then evaluate and
compare them on held-out text. The tokenizer in use (and its vocabulary size, which the Model tab reads) is
written into the shared draft (`config`). `session` is what this browser session trained or loaded, a list
of {"name", "path", "vocab_size"}. The actions are thin wrappers around clm_gui.tokenizer.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from clm_gui.config import DataConfig, TokenizerConfig, config_from_dict
from clm_gui.data.held_out import held_out_texts, stream_documents
from clm_gui.data.profiling import DatasetProfile
from clm_gui.errors import UserError
from clm_gui.hosting.access import VisitorFolders, visitor_folders
from clm_gui.hosting.ownership import Visitor, require_visitor
from clm_gui.hosting.quotas import check_storage
from clm_gui.hosting.settings import AppSettings
from clm_gui.hub import hub_reachable
from clm_gui.model.architecture import padded_vocab_size
from clm_gui.runs.folder import slugify
from clm_gui.security import in_force
from clm_gui.tokenizer.loading import MissingEosToken, list_local_tokenizers, load_tokenizer, save_tokenizer
from clm_gui.tokenizer.quality import compare_tokenizers, token_boundaries
from clm_gui.tokenizer.recommendation import HUB_TOKENIZERS, recommend_tokenizer
from clm_gui.tokenizer.training import train_tokenizer
from clm_gui.ui import plots
from clm_gui.ui.draft_view import draft_changes
from clm_gui.ui.progress import SessionCancels
from clm_gui.ui.widgets import Choices, Shown
from clm_gui.units import format_bytes

SAMPLE_CHARS = 600  # of the first held-out document, shown with its token boundaries
EVAL_BYTES = 300_000  # held-out text compared here: ratios stable to about 1%, a second or two per tokenizer
BOUNDARY_COLORS = {"a": "#dbeafe", "b": "#fde68a", "unknown": "#fca5a5"}
ALGORITHM_NOTES = {
    "bpe": "Byte-level BPE (GPT-2 style): any text, never an unknown token.",
    "wordpiece": "WordPiece: characters of your text plus '##' continuations; unseen characters become <unk>.",
    "unigram": "Unigram (SentencePiece style): prunes a large candidate set; no minimum frequency; slower to train.",
}
METRICS = [  # (report attribute, column title, scale for display)
    ("bytes_per_token", "Bytes / token", 1), ("chars_per_token", "Chars / token", 1),
    ("tokens_per_word", "Tokens / word", 1), ("unknown_rate", "Unknown %", 100), ("vocab_used", "Vocab used %", 100),
]
TRAINING_FIELDS = ("algorithm", "vocab_size", "min_frequency", "sample_documents", "lowercase", "nfkc")
# progress(done, desc=..., unit=...), as gr.Progress takes it: done is a fraction or (done, total)
Progress = Callable[..., None]


# ---------------------------------------------------------------------------------------------
# Reading the shared state defensively (other tabs fill it in, maybe not yet).


def _run_config(config: dict):
    try:
        return config_from_dict(config or {})
    except UserError:
        raise UserError("The run configuration has problems; fix them in the Dataset tab first.") from None


def _data_config(config: dict) -> DataConfig:
    return _run_config(config).data


def _read_held_out(data_json: str) -> tuple[str, ...]:
    return tuple(held_out_texts(DataConfig(**json.loads(data_json)), max_bytes=EVAL_BYTES))


def recommendation_markdown(kept_profile, config=None) -> str:
    profile = DatasetProfile.from_dict(kept_profile)
    source = ((config or {}).get("data") or {}).get("source", "demo")
    if profile is None and source != "demo":
        return "**Profile the dataset** (Dataset tab) for a recommendation made from it."
    rec = recommend_tokenizer(profile, online=hub_reachable())
    basis = "the dataset profile" if profile else "the demo corpus (no dataset profiled yet)"
    if rec.action == "pretrained":
        what = f"reuse **{rec.hub_id}**"
    else:
        what = f"train a **{rec.algorithm}** tokenizer of **{rec.vocab_size:,}** tokens"
    return f"**Recommended** from {basis} (*{rec.domain}*): {what}. {rec.reason}"


def pretrained_choices(saved_dir: Path | None, runs_dir: Path, hosted: bool) -> list[tuple[str, str]]:
    """The tokenizers to offer: hosted, the visitor's own saved ones by name (no server path in the page;
    none while the visitor is not known yet); locally, those saved here and every run's; then the Hub's."""
    if saved_dir is None:
        local = []
    elif hosted:
        local = [(f"{p.name} (saved here)", p.name) for p in list_local_tokenizers(saved_dir)]
    else:
        local = [(f"{p.relative_to(runs_dir)} (saved here)", str(p))
                 for p in list_local_tokenizers(saved_dir, runs_dir)]
    hub = [(f"{h.hub_id} - {h.domain}, {h.algorithm}, ~{h.vocab_size:,} (Hub)", h.hub_id) for h in HUB_TOKENIZERS]
    return local + hub


# ---------------------------------------------------------------------------------------------
# What the session has trained or loaded, and the one in use.


def _remember(session: list[dict] | None, entry: dict) -> list[dict]:
    return [e for e in session or [] if e["name"] != entry["name"]] + [entry]


def _use(config: dict, entry: dict, settings: dict | None = None) -> dict:
    config = copy.deepcopy(config)
    config["tokenizer"].update(settings or {})
    config["tokenizer"].update(path=entry["path"], vocab_size=entry["vocab_size"])
    return config


def _in_use_note(entry: dict) -> str:
    return (f"In use for training: **{entry['name']}** ({entry['vocab_size']:,} tokens; the model's embedding "
            f"gets {padded_vocab_size(entry['vocab_size']):,} rows, a multiple of 64).")


def _after_adding(session: list[dict], entry: dict, compared: list[str] | None) -> dict:
    names = [e["name"] for e in session]
    checked = [n for n in (compared or []) if n in names and n != entry["name"]] + [entry["name"]]
    return {"compared": Choices(names, value=checked), "in_use": Choices(names, value=entry["name"])}


def _saved_or_given(value: str, saved_dir: Path) -> str:
    """A tokenizer saved here, named as the list names it (no slash: a Hub id has one), or `value` itself."""
    folder = saved_dir / value
    return str(folder) if value and "/" not in value and value not in (".", "..") and folder.is_dir() else value


def _table(reports) -> pd.DataFrame:
    rows = [{"Tokenizer": r.name, "Vocabulary": r.vocab_size,
             **{title: round(getattr(r, attr) * scale, 3) for attr, title, scale in METRICS}} for r in reports]
    return pd.DataFrame(rows)


def _highlighted(tok, text: str) -> list[tuple[str, str | None]]:
    pieces, flip = [], False
    for piece, token_id in token_boundaries(tok, text):
        if token_id is None:
            pieces.append((piece, None))
            continue
        flip = not flip
        pieces.append((piece, "unknown" if token_id == tok.unk_token_id else ("a" if flip else "b")))
    return pieces


class TokenizerActions:
    """The tab's actions. `warn(text)` shows a passing warning; a training runs until its browser session
    (`session_id`) cancels it. Held-out texts are read once per dataset setting (the last two kept), so
    comparing again does not read the corpus again."""

    def __init__(self, settings: AppSettings, warn: Callable[[str], None]):
        self.settings, self.warn = settings, warn
        self.cancels = SessionCancels()
        self._held_out_texts = functools.lru_cache(maxsize=2)(_read_held_out)

    def _held_out(self, data: DataConfig) -> tuple[str, ...]:
        """The source is checked first on every call: a copy cached for one visitor is never handed to another."""
        in_force().check_data_source(data.source)
        return self._held_out_texts(json.dumps(dataclasses.asdict(data), sort_keys=True))

    def _folders(self, visitor: Visitor | None) -> VisitorFolders:
        return visitor_folders(self.settings.runs_dir, require_visitor(visitor))

    def offered_to(self, visitor: Visitor | None) -> list[tuple[str, str]]:
        """The tokenizers to reuse, `visitor`'s own saved ones first (none while they are not known yet)."""
        saved = visitor_folders(self.settings.runs_dir, visitor).tokenizers if visitor else None
        return pretrained_choices(saved, self.settings.runs_dir, self.settings.hosted)

    def visitor_known(self, visitor: Visitor | None) -> dict:
        return {"choice": Choices(self.offered_to(visitor))}

    def _failed(self, exc: UserError) -> dict:
        """A step that failed: its message in the status (and a warning), nothing added. No exception reaches
        Gradio, which would leave red "Error" badges on all of the step's outputs."""
        self.warn(str(exc))
        return {"status": f"⚠️ {exc}", "added": None}

    @staticmethod
    def recommendation(kept_profile, config) -> dict:
        return {"recommendation": recommendation_markdown(kept_profile, config)}

    @staticmethod
    def algorithm_changed(algorithm: str) -> dict:
        return {"min_frequency": Shown(algorithm != "unigram"), "algorithm_note": ALGORITHM_NOTES[algorithm]}

    @staticmethod
    def apply_recommendation(kept_profile) -> dict:
        """Fill in what the recommendation says: the Hub id to load, or (also offline) the training settings."""
        rec = recommend_tokenizer(DatasetProfile.from_dict(kept_profile), online=hub_reachable())
        if rec.action == "pretrained":
            return {"algorithm": rec.algorithm, "vocab_size": rec.vocab_size, "choice": rec.hub_id,
                    "status": f"Filled in **{rec.hub_id}**: press **Load tokenizer**."}
        return {"algorithm": rec.algorithm, "vocab_size": rec.vocab_size, "choice": None,
                "status": f"Filled in a **{rec.algorithm}** tokenizer of **{rec.vocab_size:,}** tokens: press "
                          "**Train tokenizer**."}

    def train(self, visitor: Visitor | None, values: dict, session_id: str, progress: Progress) -> dict:
        """Train on the dataset's training split, save under the visitor's saved tokenizers as `name`, and use
        it. `values`: the training settings (TRAINING_FIELDS) and name, config, profile, session, compared, by
        name. The visitor's storage quota is checked before any work."""
        v = values
        settings = {"algorithm": v["algorithm"], "vocab_size": int(v["vocab_size"] or 0),
                    "min_frequency": int(v["min_frequency"] or 0), "sample_documents": int(v["sample_documents"] or 0),
                    "lowercase": bool(v["lowercase"]), "nfkc": bool(v["nfkc"])}
        config = v["config"]
        profile = DatasetProfile.from_dict(v["profile"])
        with self.cancels.task(session_id) as stop:
            try:
                folders = self._folders(visitor)
                check_storage(self.settings.quotas, visitor, folders, "Another tokenizer")
                cfg = dataclasses.replace(_run_config(config).tokenizer, path="", **settings)
                total = cfg.sample_documents or (profile.documents if profile else None)

                def report(documents: int, size: int) -> None:
                    progress((documents, total), desc=f"Learning from {documents:,} documents ({format_bytes(size)})",
                             unit="documents")

                tok = train_tokenizer(stream_documents(_data_config(config), "train"), cfg, on_progress=report,
                                      should_stop=stop.is_set)
            except UserError as exc:
                return self._failed(exc)
        label = slugify(v["name"] or f"{cfg.algorithm}-{cfg.vocab_size}")
        folder = save_tokenizer(tok, folders.tokenizers / label)
        entry = {"name": label, "path": str(folder), "vocab_size": len(tok)}
        session = _remember(v["session"], entry)
        note = f"Trained and saved as **{label}** (under Reuse, saved here). " + _in_use_note(entry)
        return {"status": note, "config": _use(config, entry, settings), "session": session,
                **_after_adding(session, entry, v["compared"]), **self.visitor_known(visitor),
                "added": entry["name"]}

    def cancel(self, session_id: str) -> dict:
        if not self.cancels.cancel(session_id):
            return {"status": "Nothing is training."}
        return {"status": "Cancelling: training stops after the current document (or when the vocabulary step ends)."}

    def load(self, visitor: Visitor | None, value, add_eos, config, session, compared) -> dict:
        """Load a folder, a tokenizer saved here or a Hub id; with an end-of-text token added, save that copy
        (into the visitor's saved tokenizers) so training uses it."""
        value, added = (value or "").strip(), False
        try:
            folders = self._folders(visitor)
            eos = _run_config(config).tokenizer.eos_token or "<|endoftext|>"
            if not value:
                raise UserError("Choose a tokenizer folder or type a Hub id first.")
            value = _saved_or_given(value, folders.tokenizers)
            try:
                tok = load_tokenizer(value, eos_token=eos)
            except MissingEosToken:
                if not add_eos:
                    raise UserError(f"This tokenizer has no end-of-text token: tick 'Add an end-of-text token' to "
                                    f"add {eos!r} (one more token), or train a new tokenizer.") from None
                tok, added = load_tokenizer(value, eos_token=eos, add_eos=True), True
        except UserError as exc:
            return self._failed(exc)
        name, path, note = Path(value).name or value, value, "Loaded."
        if added:
            name = slugify(f"{name}-with-eos")
            path = str(save_tokenizer(tok, folders.tokenizers / name))
            note = f"Added the end-of-text token {eos!r} and saved the result as **{name}** (under Reuse, saved here)."
        entry = {"name": name, "path": path, "vocab_size": len(tok)}
        session = _remember(session, entry)
        return {"status": f"{note} " + _in_use_note(entry), "config": _use(config, entry), "session": session,
                **_after_adding(session, entry, compared), "added": entry["name"]}

    @staticmethod
    def choose(name, config, session) -> dict:
        entry = next((e for e in session or [] if e["name"] == name), None)
        return {} if entry is None else {"status": _in_use_note(entry), "config": _use(config, entry)}

    def compare(self, compared, in_use, session, config) -> dict:
        entries = {e["name"]: e for e in session or []}
        names = [n for n in (compared or []) if n in entries]
        try:
            if not names:
                raise UserError("Tick at least one tokenizer to compare (train or load one first).")
            texts = self._held_out(_data_config(config))
            tokenizers = {n: load_tokenizer(entries[n]["path"], add_eos=True) for n in names}
        except UserError as exc:  # no comparison left standing for another selection
            return {"table": None, "plot": None, "boundaries": None, "caption": f"⚠️ {exc}"}
        reports = compare_tokenizers(tokenizers, texts)
        shown = in_use if in_use in tokenizers else names[-1]
        caption = (f"Held-out text: {reports[0].documents:,} document(s), {format_bytes(reports[0].bytes)}. "
                   f"Token boundaries below: **{shown}**.")
        return {"table": _table(reports), "plot": plots.tokenizer_comparison(reports, METRICS),
                "boundaries": _highlighted(tokenizers[shown], texts[0][:SAMPLE_CHARS]), "caption": caption}

    def compare_added(self, added, compared, in_use, session, config) -> dict:
        """The comparison after a tokenizer was trained or loaded; nothing after a step that failed."""
        return self.compare(compared, in_use, session, config) if added else {}

    @staticmethod
    def show_config(config, shown, session, compared) -> dict:
        """The draft's tokenizer settings in the widgets when they changed other than here (a reloaded page, a
        loaded config.yaml, a quick start), and its tokenizer in use listed for comparing and choosing; `shown`
        is the tokenizer settings as this tab last showed them."""
        section = (config or {}).get("tokenizer") if isinstance(config, dict) else None
        if draft_changes(section, shown) is None:
            return {}
        values = {name: section.get(name, getattr(TokenizerConfig(), name)) for name in TRAINING_FIELDS}
        if not section.get("path"):
            return {**values, "shown": section}
        del values["vocab_size"]  # the chosen tokenizer's size, not one to train
        if any(e["path"] == section["path"] for e in session or []):  # this tab trained or loaded it: all shown
            return {**values, "shown": section}
        entry = {"name": Path(section["path"]).name, "path": section["path"], "vocab_size": section["vocab_size"]}
        session = _remember(session, entry)
        return {**values, "status": _in_use_note(entry), "session": session, **_after_adding(session, entry, compared),
                "shown": section}
