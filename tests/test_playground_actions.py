"""The Playground tab's actions, without Gradio or a page: each returns the widgets it changes by name."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from clm_gui.hosting.ownership import machine_user, visitor_for
from clm_gui.runs.folder import new_run_dir, open_run
from clm_gui.runs.monitor import model_choices
from clm_gui.train.trainer import train
from clm_gui.ui.playground_actions import GGUF_HINT, NONE, PlaygroundActions
from clm_gui.ui.widgets import Choices, Displayed, Interactive, Shown
from tests.fast_runs import fast_config, write_corpus

pytestmark = pytest.mark.slow  # trains a small run
STRANGER = visitor_for(True, [], None, "another browser's token")  # hosted: a visitor who owns no run


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, str]:
    """A runs folder with one finished run (a final model and its checkpoints); (runs folder, run id)."""
    root = tmp_path_factory.mktemp("playground")
    cfg = fast_config(write_corpus(root / "corpus.txt"), max_steps=4)
    run = new_run_dir(root / "runs", cfg)
    assert train(cfg, run)["state"] == "finished"
    return root / "runs", run.id


def asked(run_id: str, label_a: str, label_b: str = NONE, text: str = "def ") -> dict:
    return {"run_id": run_id, "label_a": label_a, "label_b": label_b, "text": text, "temperature": 0.8, "top_k": 0,
            "top_p": 1.0, "max_new_tokens": 6, "seed": 7}


def test_an_empty_runs_folder_offers_no_run_and_says_how_to_get_one(tmp_path):
    actions = PlaygroundActions(tmp_path / "runs", warn=[].append)
    assert actions.list_choices(None) == {"run_pick": Choices([], value=None)}
    assert actions.pick_run(None) == {
        "model_a": Choices([], value=None), "model_b": Choices([("(none)", NONE)], value=NONE), "offered": [],
        "card": "*No trained model yet: train one in the Train tab.*", "loss_svg": "", "downloads": Shown(False),
        "data_prompts": Choices([], value=None)}


def test_a_run_s_models_its_card_and_its_prompts_are_offered_and_a_chosen_older_model_stays(trained):
    runs_dir, run_id = trained
    actions = PlaygroundActions(runs_dir, warn=[].append)
    assert actions.list_choices("gone") == {"run_pick": Choices([(run_id, run_id)], value=run_id)}
    picked = actions.pick_run(run_id)
    labels = picked["offered"]
    assert len(labels) > 1 and picked["model_a"] == Choices(labels, value=labels[0])
    assert picked["downloads"] == Shown(True) and picked["card"] and picked["data_prompts"].value
    older = labels[-1]  # chosen by hand: not the newest, so it stays while it exists
    assert actions.model_updates(run_id, older, labels[0], labels)["model_a"].value == older
    assert actions.model_updates(run_id, older, "deleted", labels)["model_b"].value == NONE
    assert actions.run_changed() == {"zip_file": Shown(False), "gguf_files": Shown(False), "gguf_msg": GGUF_HINT}
    assert actions.prompt_chosen(None) == {} and actions.prompt_chosen("class ") == {"prompt": "class "}


def test_generation_streams_the_text_and_a_seed_repeats_it(trained):
    runs_dir, run_id = trained
    actions = PlaygroundActions(runs_dir, warn=[].append)
    label = model_choices(open_run(runs_dir, run_id))[0][0]
    first = list(actions.generate(asked(run_id, label)))
    assert first and all(step["out_b"] == Shown(False) for step in first)
    assert first[-1]["out_a"] and first == list(actions.generate(asked(run_id, label)))


def test_compare_shows_both_models_or_warns_what_to_pick(trained):
    runs_dir, run_id = trained
    warnings = []
    actions = PlaygroundActions(runs_dir, warn=warnings.append)
    labels = actions.pick_run(run_id)["offered"]
    assert list(actions.compare(asked(run_id, labels[0]))) == []
    assert list(actions.generate(asked(run_id, "no such model"))) == []
    assert warnings == ["Pick a second model under 'Compare with'.",
                        f"The run {run_id} has no model 'no such model' (any more); pick another one."]
    steps = list(actions.compare(asked(run_id, labels[0], labels[-1])))
    last = steps[-1]["out_b"]
    assert isinstance(last, Displayed) and last.visible and last.label == f"Output ({labels[-1]})" and last.value
    assert steps[0]["out_b"] == Displayed("", label=f"Output ({labels[-1]})")  # the first model first


def test_a_text_is_scored_in_bits_per_byte_and_an_empty_one_is_refused(trained):
    runs_dir, run_id = trained
    actions = PlaygroundActions(runs_dir, warn=[].append)
    label = actions.pick_run(run_id)["offered"][0]
    scored = actions.score(run_id, label, "def return self import class")["score_out"]
    assert " bits per byte** (" in scored and scored.endswith(f"for {label}.")
    assert actions.score(run_id, label, "") == {"score_out": "**Not scored:** There is no text to score."}


def test_only_the_run_s_owner_exports_it(trained):
    runs_dir, run_id = trained
    warnings = []
    actions = PlaygroundActions(runs_dir, warn=warnings.append)
    assert actions.export_controls(machine_user(), run_id) == {
        "zip_btn": Interactive(True), "gguf_btn": Interactive(True), "push_btn": Interactive(True), "export_why": ""}
    refused = actions.export_controls(STRANGER, run_id)
    assert refused["zip_btn"] == refused["push_btn"] == Interactive(False)
    assert refused["export_why"].startswith("**Export is off:** ")
    assert actions.make_zip(STRANGER, run_id) == {"zip_file": Shown(False)} and len(warnings) == 1
    assert actions.push(STRANGER, run_id, "someone/model", "hf_x", True)["push_msg"].startswith("**Not pushed:** ")
    gguf = actions.make_gguf(STRANGER, run_id, "f16", lambda done, total: None)
    assert gguf["gguf_files"] == Shown(False) and gguf["gguf_msg"].startswith("**Not exported:** ")
    made = actions.make_zip(machine_user(), run_id)["zip_file"]
    assert isinstance(made, Displayed) and made.visible and zipfile.is_zipfile(made.value)
