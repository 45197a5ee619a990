"""The Tokenizer tab: a recommendation from the dataset's domain, reuse a pretrained tokenizer or train
one, then evaluate and compare them on held-out text. The tokenizer in use (and its vocabulary size,
which the Model tab reads) is written into the shared run configuration."""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
from pathlib import Path

import gradio as gr
import pandas as pd

from clm_gui.config import TOKENIZER_ALGORITHMS, DataConfig, TokenizerConfig, config_from_dict
from clm_gui.data.held_out import held_out_texts, stream_documents
from clm_gui.data.profiling import DatasetProfile
from clm_gui.errors import UserError
from clm_gui.hub import hub_reachable
from clm_gui.model.architecture import padded_vocab_size
from clm_gui.runs.folder import slugify
from clm_gui.security import in_force
from clm_gui.hosting.access import visitor_folders
from clm_gui.hosting.ownership import machine_user, require_visitor
from clm_gui.hosting.quotas import check_storage
from clm_gui.tokenizer.loading import MissingEosToken, list_local_tokenizers, load_tokenizer, save_tokenizer
from clm_gui.tokenizer.quality import compare_tokenizers, token_boundaries
from clm_gui.tokenizer.recommendation import HUB_TOKENIZERS, recommend_tokenizer
from clm_gui.tokenizer.training import train_tokenizer
from clm_gui.ui import plots
from clm_gui.ui.context import UIContext
from clm_gui.ui.draft_view import draft_changes
from clm_gui.ui.form import Form
from clm_gui.ui.progress import SessionCancels
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
_CANCELS = SessionCancels()


# ---------------------------------------------------------------------------------------------
# Reading the shared state defensively (other tabs fill it in, maybe not yet).


def _run_config(config: dict):
    try:
        return config_from_dict(config or {})
    except UserError:
        raise UserError("The run configuration has problems; fix them in the Dataset tab first.") from None


def _data_config(config: dict) -> DataConfig:
    return _run_config(config).data


def _held_out(data: DataConfig) -> tuple[str, ...]:
    """The held-out texts, read once per dataset setting: comparing again must not re-read the corpus. The
    source is checked first on every call: a copy cached for one visitor is never handed to another."""
    in_force().check_data_source(data.source)
    return _held_out_cached(json.dumps(dataclasses.asdict(data), sort_keys=True))


@functools.lru_cache(maxsize=2)
def _held_out_cached(data_json: str) -> tuple[str, ...]:
    return tuple(held_out_texts(DataConfig(**json.loads(data_json)), max_bytes=EVAL_BYTES))


def _recommendation(profile: DatasetProfile | None):
    return recommend_tokenizer(profile, online=hub_reachable())


def _recommendation_markdown(kept_profile, config=None) -> str:
    profile = DatasetProfile.from_dict(kept_profile)
    source = ((config or {}).get("data") or {}).get("source", "demo")
    if profile is None and source != "demo":
        return "**Profile the dataset** (Dataset tab) for a recommendation made from it."
    rec = _recommendation(profile)
    basis = "the dataset profile" if profile else "the demo corpus (no dataset profiled yet)"
    if rec.action == "pretrained":
        what = f"reuse **{rec.hub_id}**"
    else:
        what = f"train a **{rec.algorithm}** tokenizer of **{rec.vocab_size:,}** tokens"
    return f"**Recommended** from {basis} (*{rec.domain}*): {what}. {rec.reason}"


def _pretrained_choices(saved_dir: Path | None, runs_dir: Path, hosted: bool) -> list[tuple[str, str]]:
    """The tokenizers to offer: hosted, the visitor's own saved ones by name (no server path in the page;
    none while the visitor is not known yet); locally, those saved here and every run's; then the Hub's."""
    if saved_dir is None:
        local = []
    elif hosted:
        local = [(f"{p.name} (saved here)", p.name) for p in list_local_tokenizers(saved_dir)]
    else:
        local = [(f"{p.relative_to(runs_dir)} (saved here)", str(p)) for p in list_local_tokenizers(saved_dir, runs_dir)]
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


def _after_adding(session: list[dict], entry: dict, compared: list[str] | None):
    names = [e["name"] for e in session]
    checked = [n for n in (compared or []) if n in names and n != entry["name"]] + [entry["name"]]
    return (gr.update(choices=names, value=checked), gr.update(choices=names, value=entry["name"]))


# ---------------------------------------------------------------------------------------------
# Event handlers: thin wrappers around clm_gui.tokenizer.


def _progress_reporter(progress: gr.Progress, total: int | None):
    def report(documents: int, size: int) -> None:
        progress((documents, total), desc=f"Learning from {documents:,} documents ({format_bytes(size)})",
                 unit="documents")
    return report


def _train(values: dict, request: gr.Request, progress: gr.Progress):
    """Train on the dataset's training split, save under the visitor's saved tokenizers as NAME, and use it.
    `values`: the training settings (TRAINING_FIELDS) and name, config, profile, session, compared, app,
    and the visitor's `folders` and `check_room` (their storage quota, checked before any work), by name."""
    v = values
    settings = {"algorithm": v["algorithm"], "vocab_size": int(v["vocab_size"] or 0),
                "min_frequency": int(v["min_frequency"] or 0), "sample_documents": int(v["sample_documents"] or 0),
                "lowercase": bool(v["lowercase"]), "nfkc": bool(v["nfkc"])}
    config, session, compared, app, name = v["config"], v["session"], v["compared"], v["app"], v["name"]
    profile = DatasetProfile.from_dict(v["profile"])
    documents = profile.documents if profile else None
    with _CANCELS.task(request.session_hash) as stop:
        try:
            v["check_room"]()
            cfg = dataclasses.replace(_run_config(config).tokenizer, path="", **settings)
            total = cfg.sample_documents or documents
            tok = train_tokenizer(stream_documents(_data_config(config), "train"), cfg,
                                  on_progress=_progress_reporter(progress, total), should_stop=stop.is_set)
        except UserError as exc:
            return _failed(exc, 7)
    label = slugify(name or f"{cfg.algorithm}-{cfg.vocab_size}")
    saved_dir = v["folders"].tokenizers
    folder = save_tokenizer(tok, saved_dir / label)
    entry = {"name": label, "path": str(folder), "vocab_size": len(tok)}
    session = _remember(session, entry)
    note = f"Trained and saved as **{label}** (under Reuse, saved here). " + _in_use_note(entry)
    return (note, _use(config, entry, settings), session, *_after_adding(session, entry, compared),
            gr.update(choices=_pretrained_choices(saved_dir, Path(app["runs_dir"]), app["hosted"])), entry["name"])


def _failed(exc: UserError, outputs: int) -> tuple:
    """A step that failed: its message in the status (and a toast), every other output as it was, nothing
    added. No exception reaches Gradio, which would leave red "Error" badges on all of the step's outputs."""
    gr.Warning(str(exc))
    return (f"⚠️ {exc}", *[gr.skip()] * (outputs - 2), None)


def _cancel(request: gr.Request) -> str:
    if not _CANCELS.cancel(request.session_hash):
        return "Nothing is training."
    return "Cancelling: training stops after the current document (or when the vocabulary step ends)."


def _saved_or_given(value: str, saved_dir: Path) -> str:
    """A tokenizer saved here, named as the list names it (no slash: a Hub id has one), or `value` itself."""
    folder = saved_dir / value
    return str(folder) if value and "/" not in value and value not in (".", "..") and folder.is_dir() else value


def _load(value, add_eos, config, session, compared, folders):
    """Load a folder, a tokenizer saved here or a Hub id; with an end-of-text token added, save that copy
    (into the visitor's saved tokenizers) so training uses it."""
    value, added = (value or "").strip(), False
    try:
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
        return _failed(exc, 6)
    name, path, note = Path(value).name or value, value, "Loaded."
    if added:
        name = slugify(f"{name}-with-eos")
        path = str(save_tokenizer(tok, folders.tokenizers / name))
        note = f"Added the end-of-text token {eos!r} and saved the result as **{name}** (under Reuse, saved here)."
    entry = {"name": name, "path": path, "vocab_size": len(tok)}
    session = _remember(session, entry)
    return (f"{note} " + _in_use_note(entry), _use(config, entry), session, *_after_adding(session, entry, compared),
            entry["name"])


def _choose(name, config, session):
    entry = next((e for e in session or [] if e["name"] == name), None)
    if entry is None:
        return gr.skip(), gr.skip()
    return _in_use_note(entry), _use(config, entry)


def _compare(compared, in_use, session, config):
    entries = {e["name"]: e for e in session or []}
    names = [n for n in (compared or []) if n in entries]
    try:
        if not names:
            raise UserError("Tick at least one tokenizer to compare (train or load one first).")
        texts = _held_out(_data_config(config))
        tokenizers = {n: load_tokenizer(entries[n]["path"], add_eos=True) for n in names}
    except UserError as exc:
        return None, None, None, f"⚠️ {exc}"  # no comparison left standing for another selection
    reports = compare_tokenizers(tokenizers, texts)
    shown = in_use if in_use in tokenizers else names[-1]
    caption = (f"Held-out text: {reports[0].documents:,} document(s), {format_bytes(reports[0].bytes)}. "
               f"Token boundaries below: **{shown}**.")
    return (_table(reports), plots.tokenizer_comparison(reports, METRICS), _highlighted(tokenizers[shown], texts[0][:SAMPLE_CHARS]), caption)


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


def _compare_added(added, *compare_inputs):
    """The comparison after a tokenizer was trained or loaded; nothing after a step that failed."""
    return _compare(*compare_inputs) if added else (gr.skip(),) * 4


def _apply_recommendation(kept_profile):
    """Fill in what the recommendation says: the Hub id to load, or (also offline) the training settings."""
    rec = _recommendation(DatasetProfile.from_dict(kept_profile))
    if rec.action == "pretrained":
        return (rec.algorithm, rec.vocab_size, gr.update(value=rec.hub_id),
                f"Filled in **{rec.hub_id}**: press **Load tokenizer**.")
    return (rec.algorithm, rec.vocab_size, gr.update(value=None),
            f"Filled in a **{rec.algorithm}** tokenizer of **{rec.vocab_size:,}** tokens: press **Train tokenizer**.")


TRAINING_FIELDS = ("algorithm", "vocab_size", "min_frequency", "sample_documents", "lowercase", "nfkc")


def _show_config(config, shown, session, compared):
    """The draft's tokenizer settings in the widgets when they changed other than here (a reloaded page, a
    loaded config.yaml, a quick start), and its tokenizer in use listed for comparing and choosing."""
    section = (config or {}).get("tokenizer") if isinstance(config, dict) else None
    if draft_changes(section, shown) is None:
        return (gr.skip(),) * (len(TRAINING_FIELDS) + 5)
    values = {name: section.get(name, getattr(TokenizerConfig(), name)) for name in TRAINING_FIELDS}
    if not section.get("path"):
        return (*values.values(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), section)
    values["vocab_size"] = gr.skip()  # the chosen tokenizer's size, not one to train
    if any(e["path"] == section["path"] for e in session or []):  # this tab trained or loaded it: all shown
        return (*values.values(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), section)
    entry = {"name": Path(section["path"]).name, "path": section["path"], "vocab_size": section["vocab_size"]}
    session = _remember(session, entry)
    return (*values.values(), _in_use_note(entry), session, *_after_adding(session, entry, compared), section)


def _algorithm_changed(algorithm):
    return gr.update(visible=algorithm != "unigram"), ALGORITHM_NOTES[algorithm]


# ---------------------------------------------------------------------------------------------
# Layout and wiring.


def build(ctx: UIContext) -> None:
    gr.Markdown("## Tokenizer")
    defaults = TokenizerConfig()
    with gr.Row():
        recommendation = gr.Markdown(_recommendation_markdown(None), elem_id="tokenizer-recommendation")
        apply = gr.Button("Apply the recommendation", size="sm", scale=0)
    session = gr.State([])  # [{"name", "path", "vocab_size"}]: what this browser session trained or loaded
    app = gr.State({"runs_dir": str(ctx.settings.runs_dir), "hosted": ctx.settings.hosted})
    with gr.Row(equal_height=False):
        with gr.Column():
            gr.Markdown("### Train a new tokenizer")
            algorithm = gr.Radio(list(TOKENIZER_ALGORITHMS), value=defaults.algorithm, label="Algorithm")
            algorithm_note = gr.Markdown(ALGORITHM_NOTES[defaults.algorithm])
            with gr.Row():
                vocab_size = gr.Number(defaults.vocab_size, precision=0, label="Vocabulary size",
                                       elem_id="tokenizer-vocab-size")
                min_frequency = gr.Number(defaults.min_frequency, precision=0, label="Minimum pair frequency")
                sample = gr.Number(defaults.sample_documents, precision=0, elem_id="tokenizer-sample",
                                   label="Train on the first N documents (0: all)")
            with gr.Row():
                lowercase = gr.Checkbox(defaults.lowercase, label="Lowercase")
                nfkc = gr.Checkbox(defaults.nfkc, label="NFKC (merge look-alike characters)")
            name = gr.Textbox(label="Save as", placeholder="algorithm-size, e.g. bpe-8192", elem_id="tokenizer-name")
            with gr.Row():
                train = gr.Button("Train tokenizer", variant="primary", elem_id="tokenizer-train")
                cancel = gr.Button("Cancel", elem_id="tokenizer-cancel")
        with gr.Column():
            gr.Markdown("### Reuse a pretrained tokenizer")
            first = None if ctx.settings.hosted else visitor_folders(ctx.settings.runs_dir, machine_user()).tokenizers
            choice = gr.Dropdown(_pretrained_choices(first, ctx.settings.runs_dir, ctx.settings.hosted), value=None,
                                 allow_custom_value=True, elem_id="tokenizer-choice",
                                 label="A saved tokenizer, a run folder or a Hub id (owner/name)")
            add_eos = gr.Checkbox(False, label="Add an end-of-text token if it has none")
            load = gr.Button("Load tokenizer", elem_id="tokenizer-load")
    status = gr.Markdown(elem_id="tokenizer-status")
    gr.Markdown("### Evaluate and compare on held-out text")
    with gr.Row():
        compared = gr.CheckboxGroup([], label="Tokenizers to compare", elem_id="tokenizer-compared", scale=3)
        in_use = gr.Dropdown([], label="Use for training", elem_id="tokenizer-in-use", scale=2)
        compare = gr.Button("Compare", elem_id="tokenizer-compare", scale=0)
    caption = gr.Markdown()
    table = gr.Dataframe(label="Comparison", interactive=False, elem_id="tokenizer-table")
    plot = gr.Plot(label="Comparison chart", elem_id="tokenizer-plot")
    boundaries = gr.HighlightedText(label="Token boundaries", color_map=BOUNDARY_COLORS, show_legend=False,
                                    show_inline_category=False, elem_id="tokenizer-boundaries")

    settings = Form(algorithm=algorithm, vocab_size=vocab_size, min_frequency=min_frequency, sample_documents=sample,
                    lowercase=lowercase, nfkc=nfkc)  # TRAINING_FIELDS
    training = Form(**settings.components, name=name, config=ctx.config, profile=ctx.profile, session=session,
                    compared=compared, app=app)
    visitors, quotas = ctx.visitors, ctx.settings.quotas

    def folders_of(visitor):
        return visitor_folders(ctx.settings.runs_dir, require_visitor(visitor))

    def train_by_name(given: dict, request: gr.Request, oauth: gr.OAuthProfile | None, progress=gr.Progress()):
        visitor = visitors.resolve(request, oauth, given[visitors.token])
        try:
            folders = folders_of(visitor)
        except UserError as exc:
            return _failed(exc, 7)
        return _train({**training.values(given), "folders": folders,
                       "check_room": lambda: check_storage(quotas, visitor, folders, "Another tokenizer")},
                      request, progress)

    train_by_name.__name__ = "_train"  # the endpoint keeps the handler's name
    compare_outputs = [table, plot, boundaries, caption]
    compare_inputs = [compared, in_use, session, ctx.config]
    added = gr.State(None)  # the name of the tokenizer the last train or load added; None when it failed
    train.click(
        train_by_name, show_progress="full", inputs=training.inputs(visitors.token),
        outputs=[status, ctx.config, session, compared, in_use, choice, added],
    ).then(_compare_added, [added, *compare_inputs], compare_outputs)
    cancel.click(_cancel, None, status)
    def load_for_visitor(visitor, *values):
        try:
            folders = folders_of(visitor)
        except UserError as exc:
            return _failed(exc, 6)
        return _load(*values, folders)

    load_for_visitor.__name__ = "_load"  # the endpoint keeps the handler's name
    load.click(visitors.bind(load_for_visitor), visitors.inputs(choice, add_eos, ctx.config, session, compared),
               [status, ctx.config, session, compared, in_use, added]).then(
        _compare_added, [added, *compare_inputs], compare_outputs)
    in_use.input(_choose, [in_use, ctx.config, session], [status, ctx.config])
    compare.click(_compare, compare_inputs, compare_outputs)
    apply.click(_apply_recommendation, ctx.profile, [algorithm, vocab_size, choice, status])
    algorithm.change(_algorithm_changed, algorithm, [min_frequency, algorithm_note])
    ctx.profile.change(_recommendation_markdown, [ctx.profile, ctx.config], recommendation)
    if ctx.settings.hosted:  # the visitor's own saved tokenizers, once the page knows who they are
        visitors.token.change(visitors.bind(lambda visitor: gr.update(choices=_pretrained_choices(
            folders_of(visitor).tokenizers if visitor else None, ctx.settings.runs_dir, True))),
            visitors.inputs(), choice, show_progress="hidden", api_visibility="private")
    shown = gr.State(dataclasses.asdict(defaults))  # the tokenizer settings as this tab last showed them
    ctx.config.change(_show_config, [ctx.config, shown, session, compared],
                      [*(settings[name] for name in TRAINING_FIELDS), status, session, compared, in_use, shown],
                      show_progress="hidden")
