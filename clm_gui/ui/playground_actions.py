"""What the Playground tab does, without Gradio: pick a run and its models, generate from one or compare two,
score a text, export the final model and push it to the Hub.

Each action of `PlaygroundActions` takes the tab's values and returns the widgets it changes by name,
`{name: value}` (`ui/widgets.py`); a widget it leaves out keeps its value. The names: `run_pick`, `model_a`,
`model_b`, `offered` (the model labels last offered), `data_prompts`, `prompt`, `out_a`, `out_b`, `score_out`,
`card`, `loss_svg`, `downloads`, `zip_file`, `gguf_files`, `gguf_msg`, `zip_btn`, `gguf_btn`, `push_btn`,
`export_why`, `push_msg`. The tab (`ui/playground_tab.py`) lays the widgets out under these names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path

from clm_gui.config import load_config
from clm_gui.errors import UserError
from clm_gui.hosting.ownership import Visitor, check_control, control_refusal, may_control
from clm_gui.machine.devices import resolve_device
from clm_gui.model.generate import SamplingSettings, generate_stream, load_for_generation
from clm_gui.runs.export import push_to_hub, zip_final
from clm_gui.runs.folder import WEIGHTS_FILE, RunDir, list_runs, open_run
from clm_gui.runs.gguf_export import export_run_gguf
from clm_gui.runs.model_card import read_model_card
from clm_gui.runs.monitor import model_choices, read_samples
from clm_gui.runs.notes import run_label
from clm_gui.train.evaluation import score_texts
from clm_gui.ui.widgets import Choices, Displayed, Interactive, Shown
from clm_gui.units import format_bytes

NONE = ""  # "compare with: nothing"
GGUF_TYPES = [("f16 (default)", "f16"), ("q8_0 (about half the size)", "q8_0"), ("bf16", "bf16"),
              ("f32 (exact, largest)", "f32")]
GGUF_HINT = ("*GGUF: one file with the tokenizer inside, for llama.cpp, Ollama and LM Studio; an Ollama Modelfile "
             "comes with it.*")
Progress = Callable[[int, int], None]  # (bytes written, bytes in all)


def runs_with_models(runs_dir: Path) -> list[tuple[str, str]]:
    """(label, id) of the runs that have a model to generate from, labelled by their display names."""
    return [(run_label(run), run.id) for run in list_runs(runs_dir) if model_choices(run)]


def picked_run(runs_dir: Path, run_id: str | None) -> RunDir:
    if not run_id:
        raise UserError("Pick a run first: only runs with a final model or a checkpoint are listed.")
    return open_run(runs_dir, run_id)


def model_folder(runs_dir: Path, run_id: str, label: str) -> Path:
    """The folder behind a model choice, looked up in the run (never a path the page sent)."""
    folders = dict(model_choices(picked_run(runs_dir, run_id)))
    if label not in folders:
        raise UserError(f"The run {run_id} has no model {label!r} (any more); pick another one.")
    return Path(folders[label])


def run_prompts(run: RunDir) -> list[str]:
    """The prompts the run sampled from during training (by default its data's own, see clm_gui.data.prompts):
    those of its latest samples, else its configuration's."""
    samples = read_samples(run)
    if samples:
        return [s["prompt"] for s in samples[-1].get("samples", [])]
    try:
        return list(load_config(run.config_path).train.sample_prompts)
    except UserError:
        return []


def card_parts(run: RunDir) -> tuple[str, str]:
    """(card markdown without front matter and image, the loss plot SVG) of a run's final model."""
    return read_model_card(run.final_dir) or (
        "*The model card is written when the run finishes (final/README.md).*", "")


def sampling_settings(values: dict) -> SamplingSettings:
    """The sliders' sampling settings (`temperature`, `top_k`, `top_p`, `max_new_tokens`, `seed`; 0: random)."""
    return SamplingSettings(max_new_tokens=int(values["max_new_tokens"]), temperature=float(values["temperature"]),
                            top_k=int(values["top_k"]), top_p=float(values["top_p"]),
                            seed=int(values["seed"]) if values["seed"] else None)


class PlaygroundActions:
    """The tab's actions for one runs folder. The two models last used stay loaded (a comparison's two);
    `warn(text)` shows a passing warning."""

    def __init__(self, runs_dir: Path, warn: Callable[[str], None]):
        self.runs_dir, self.warn = runs_dir, warn
        self._load = lru_cache(maxsize=2)(self._load_uncached)

    @staticmethod
    def _load_uncached(folder: str, weights_mtime: float):
        return load_for_generation(folder, str(resolve_device("auto")))

    def load_model(self, folder: Path):
        """The model and tokenizer in `folder`, loaded again once its weights change."""
        weights = folder / WEIGHTS_FILE
        return self._load(str(folder), weights.stat().st_mtime if weights.exists() else 0.0)

    # --- choosing a run and a model ---------------------------------------------------------------
    def list_choices(self, current: str | None) -> dict:
        """The runs with a model; the picked one stays while it has one, else the newest is picked."""
        runs = runs_with_models(self.runs_dir)
        ids = [run_id for _, run_id in runs]
        return {"run_pick": Choices(runs, value=current if current in ids else (ids[0] if ids else None))}

    def model_updates(self, run_id: str | None, current_a: str | None = None, current_b: str | None = None,
                      shown_before=()) -> dict:
        """The two model dropdowns and the labels they offer. A choice that still exists stays, except the
        newest model, which follows the newest: a page opened while a run trained offers its final model
        once it ends, and a checkpoint deleted since gives way to the newest model."""
        try:
            labels = [label for label, _ in model_choices(open_run(self.runs_dir, run_id))] if run_id else []
        except UserError:  # the run was deleted meanwhile
            labels = []
        follow = not shown_before or current_a == shown_before[0]
        a = current_a if current_a in labels and not follow else (labels or [None])[0]
        b = current_b if current_b in labels else NONE
        return {"model_a": Choices(labels, value=a), "model_b": Choices([("(none)", NONE)] + labels, value=b),
                "offered": labels}

    def pick_run(self, run_id: str | None, current_a: str | None = None, current_b: str | None = None,
                 shown_before=()) -> dict:
        """The run's models (see model_updates), its card, the export buttons once it has a final model, and
        the prompts it sampled from."""
        models = self.model_updates(run_id, current_a, current_b, shown_before)
        if not run_id:
            return {**models, "card": "*No trained model yet: train one in the Train tab.*", "loss_svg": "",
                    "downloads": Shown(False), "data_prompts": Choices([], value=None)}
        run = open_run(self.runs_dir, run_id)
        text, svg = card_parts(run)
        prompts = run_prompts(run)
        return {**models, "card": text, "loss_svg": svg, "downloads": Shown(run.has_final_model()),
                "data_prompts": Choices([(p.replace("\n", "⏎"), p) for p in prompts],
                                        value=prompts[0] if prompts else None)}

    @staticmethod
    def run_changed() -> dict:
        """Another run picked: the previous run's exported files go."""
        return {"zip_file": Shown(False), "gguf_files": Shown(False), "gguf_msg": GGUF_HINT}

    @staticmethod
    def prompt_chosen(chosen: str | None) -> dict:
        return {"prompt": chosen} if chosen is not None else {}

    # --- generation -------------------------------------------------------------------------------
    def _stream(self, run_id: str, label: str, text: str, settings: SamplingSettings) -> Iterator[str]:
        model, tokenizer = self.load_model(model_folder(self.runs_dir, run_id, label))
        yield from generate_stream(model, tokenizer, text, settings)

    def generate(self, values: dict) -> Iterator[dict]:
        """The text so far as the model `label_a` of run `run_id` continues the prompt `text`."""
        try:
            for out in self._stream(values["run_id"], values["label_a"], values["text"], sampling_settings(values)):
                yield {"out_a": out, "out_b": Shown(False)}
        except UserError as exc:
            self.warn(str(exc))

    def compare(self, values: dict) -> Iterator[dict]:
        """The two models' continuations of the same prompt with the same settings, one after the other."""
        run_id, label_b, text = values["run_id"], values["label_b"], values["text"]
        try:
            if not label_b:
                raise UserError("Pick a second model under 'Compare with'.")
            settings = sampling_settings(values)
            first = ""
            for first in self._stream(run_id, values["label_a"], text, settings):
                yield {"out_a": first, "out_b": Displayed("", label=f"Output ({label_b})")}
            for second in self._stream(run_id, label_b, text, settings):
                yield {"out_a": first, "out_b": Displayed(second, label=f"Output ({label_b})")}
        except UserError as exc:
            self.warn(str(exc))

    # --- scoring ----------------------------------------------------------------------------------
    def score(self, run_id: str, label: str, text: str | None) -> dict:
        try:
            model, tokenizer = self.load_model(model_folder(self.runs_dir, run_id, label))
            result = score_texts(model, tokenizer, [text or ""])
        except UserError as exc:
            return {"score_out": f"**Not scored:** {exc}"}
        return {"score_out": f"**{result.bits_per_byte:.3f} bits per byte** ({result.nats_per_token:.3f} nats per "
                             f"token over {result.tokens:,} tokens, {result.bytes:,.0f} bytes) for {label}."}

    # --- export: only by whoever may control the run ----------------------------------------------
    def _exportable(self, visitor: Visitor | None, run_id: str | None) -> RunDir:
        run = picked_run(self.runs_dir, run_id)
        check_control(visitor, run, "export")
        return run

    def export_controls(self, visitor: Visitor | None, run_id: str | None) -> dict:
        """The export buttons, off with the reason for a visitor who may not export the picked run."""
        try:
            run = open_run(self.runs_dir, run_id) if run_id else None
        except UserError:  # deleted meanwhile: nothing to export, nothing to explain
            run = None
        allowed = run is None or may_control(visitor, run)
        why = "" if allowed else f"**Export is off:** {control_refusal(run, 'export')}"
        return {"zip_btn": Interactive(allowed), "gguf_btn": Interactive(allowed), "push_btn": Interactive(allowed),
                "export_why": why}

    def make_zip(self, visitor: Visitor | None, run_id: str | None) -> dict:
        try:
            return {"zip_file": Displayed(str(zip_final(self._exportable(visitor, run_id))))}
        except UserError as exc:
            self.warn(str(exc))
            return {"zip_file": Shown(False)}

    def make_gguf(self, visitor: Visitor | None, run_id: str | None, outtype: str, progress: Progress) -> dict:
        """The run's final model as one GGUF file and its Modelfile; `progress` hears of the bytes written."""
        try:
            result = export_run_gguf(self._exportable(visitor, run_id), outtype, on_progress=progress)
        except UserError as exc:
            return {"gguf_files": Shown(False), "gguf_msg": f"**Not exported:** {exc}"}
        return {"gguf_files": Displayed([str(result.path), str(result.modelfile)]),
                "gguf_msg": f"**{format_bytes(result.bytes)}** ({result.outtype}), written in {result.seconds:.1f} s. "
                            "Download both files into one folder, then `llama-completion -m FILE.gguf -no-cnv -p "
                            "\"a prompt\"`, or `ollama create NAME -f FILE.Modelfile` and `ollama run NAME`."}

    def push(self, visitor: Visitor | None, run_id: str | None, repo_id: str, hf_token: str, is_private: bool) -> dict:
        try:
            url = push_to_hub(self._exportable(visitor, run_id), repo_id, hf_token, is_private)
        except UserError as exc:
            return {"push_msg": f"**Not pushed:** {exc}"}
        return {"push_msg": f"Pushed to [{url}]({url})."}
