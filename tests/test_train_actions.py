"""The Train tab's actions, without Gradio or a page: each returns the widgets it changes by name."""

from __future__ import annotations

import pytest

from clm_gui.config import COMPILE_MODES, DISTRIBUTED_MODES, KEEP_MODES, OPTIMIZERS, PRECISIONS, SCHEDULES, RunConfig
from clm_gui.hosting.ownership import machine_user, visitor_for
from clm_gui.hosting.quotas import Quotas
from clm_gui.jobs.manager import JobManager
from clm_gui.runs.folder import list_runs
from clm_gui.ui.train_actions import (CHARTS, LATEST_SAMPLES, LIVE, LIVE_CHOICE, POLL_SECONDS, SETTINGS, TrainActions,
                                      shown_value)
from clm_gui.ui.widgets import Chart, Choices, Displayed, Interactive, Opened
from tests.fast_runs import fast_config, write_corpus
from tests.waiting import WAIT_S

pytestmark = pytest.mark.slow
STRANGER = visitor_for(True, [], None, "another browser's token")  # hosted: a visitor who owns no run


class Page:
    """The actions of one app, with what they noted, warned and discarded."""

    def __init__(self, runs_dir, offer_config: bool = True):
        self.notes, self.warnings, self.discarded = [], [], []
        self.actions = TrainActions(JobManager(runs_dir), runs_dir, RunConfig().to_dict(), Quotas(), offer_config,
                                    discard_exports=self.discarded.append, notify=self.notes.append,
                                    warn=self.warnings.append)


def fields_of(config: dict) -> dict:
    """The tab's fields as they show a draft."""
    return {"name": config["name"], **{s.key: shown_value(s, config["train"][s.key]) for s in SETTINGS}}


def test_each_setting_s_kind_comes_from_the_training_configuration():
    kinds = {s.key: s.kind for s in SETTINGS}
    assert {k: kinds[k] for k in ("learning_rate", "max_minutes", "weight_decay")} == dict.fromkeys(
        ("learning_rate", "max_minutes", "weight_decay"), float)
    assert kinds["max_steps"] is int and kinds["seed"] is int and kinds["sample_prompts"] is list
    assert (kinds["schedule"], kinds["keep"], kinds["precision"], kinds["compile"], kinds["distributed"],
            kinds["optimizer"]) == (SCHEDULES, KEEP_MODES, PRECISIONS, COMPILE_MODES, DISTRIBUTED_MODES, OPTIMIZERS)
    assert (kinds["device"], kinds["gpus"]) == (("auto", "cpu", "cuda"), ("",))  # free text offered choices


def test_the_draft_shows_what_changed_elsewhere_with_its_config_yaml_and_a_field_edit_is_stored(tmp_path):
    page = Page(tmp_path / "runs")
    draft = RunConfig().to_dict()
    applied = {**draft, "train": {**draft["train"], "micro_batch_size": 64}}  # the Model tab applied a batch
    shown = page.actions.prefill({**fields_of(draft), "config": applied, "shown": draft})
    assert shown["micro_batch_size"] == 64 and "name" not in shown and shown["shown"] == applied
    assert shown["validation"].startswith("Ready: ") and "micro_batch_size: 64" in shown["draft_yaml"]
    assert (tmp_path / "runs").joinpath(shown["draft_download"]).read_text() == shown["draft_yaml"]
    hosted = Page(tmp_path / "hosted", offer_config=False).actions.prefill(
        {**fields_of(draft), "config": applied, "shown": draft})
    assert "draft_yaml" not in hosted and "draft_download" not in hosted  # no server paths offered
    broken = {**draft, "train": {**draft["train"], "max_steps": "many"}}  # unreadable: the last config.yaml stays
    refused = page.actions.prefill({**fields_of(draft), "config": broken, "shown": draft})
    assert refused["validation"].startswith("**Fix before starting:**") and "draft_yaml" not in refused
    assert "Max steps (train.max_steps)" in refused["validation"]
    stored = page.actions.store_draft({**fields_of(draft), "max_steps": 123, "config": draft})
    assert stored["config"]["train"]["max_steps"] == 123 and stored["shown"] == stored["config"]


def test_a_config_yaml_becomes_the_draft_and_a_bad_one_is_a_warning(tmp_path):
    page = Page(tmp_path / "runs")
    good = tmp_path / "mine.yaml"
    good.write_text(RunConfig(name="loaded").to_yaml(), encoding="utf-8")
    loaded = page.actions.load_yaml(str(good))
    assert loaded["config"]["name"] == "loaded"
    assert loaded["action"] == "Loaded **mine.yaml** into the settings (all tabs)."
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [not, a, section", encoding="utf-8")
    assert page.actions.load_yaml(str(bad)) == {}
    assert len(page.warnings) == 1 and page.warnings[0].startswith("Could not load that file: ")


def test_a_bad_setting_starts_nothing_and_is_named_as_the_tab_labels_it(tmp_path):
    page = Page(tmp_path / "runs")
    draft = fast_config(write_corpus(tmp_path / "book.txt")).to_dict()
    started = page.actions.start(machine_user(), {**fields_of(draft), "max_steps": -1, "config": draft,
                                                  "started": ""})
    assert started["action"].startswith("**Could not start:**\n- ")
    assert "Max steps (train.max_steps)" in started["action"]
    assert list(started) == ["action"] and page.warnings and list_runs(tmp_path / "runs") == []


def test_start_watch_stop_and_delete_a_run(tmp_path, step_gate):
    page = Page(tmp_path / "runs")
    actions, me = page.actions, machine_user()
    assert actions.view.poll("", False, 0.6, LATEST_SAMPLES, None)["status"] == (
        "No runs yet: adjust the settings and press **Start**.")
    draft = fast_config(write_corpus(tmp_path / "book.txt")).to_dict()
    values = {**fields_of(draft), "config": draft, "started": ""}
    started = actions.start(me, values)
    run_id = started["started"]
    try:
        assert started == {"picker": Choices([LIVE_CHOICE, run_id], value=run_id), "action": f"Started **{run_id}**.",
                           "timer": POLL_SECONDS, "started": run_id}
        step_gate.wait_held_at(0)
        assert actions.start(me, {**values, "started": run_id}) == {}  # pressed again: a note, the line stays
        assert page.notes == [f"{run_id} is already training: your first Start started it."]
        controls = actions.view.controls(me, "")
        assert (controls["start_btn"], controls["stop_btn"], controls["delete_btn"]) == (
            Interactive(False), Interactive(True), Interactive(False))
        assert controls["settings_box"] == Opened(False) and controls["timer"] == POLL_SECONDS
        assert controls["viewed"] == run_id and isinstance(controls["run_download"], Displayed)
        assert actions.view.controls(STRANGER, "")["stop_btn"] == Interactive(False)
        first = actions.view.poll("", False, 0.6, LATEST_SAMPLES, None)
        assert f"**{run_id}**" in first["status"] and " — live" in first["status"]
        assert all(isinstance(first[chart], Chart) for chart in CHARTS)
        again = actions.view.poll("", False, 0.6, LATEST_SAMPLES, first["seen"])  # nothing new: nothing sent
        assert set(again) == {"controls_key", "seen"} and again["controls_key"] == first["controls_key"]
        assert actions.stop(STRANGER)["action"].startswith("Only ")
        assert actions.stop(me) == {"action": f"Stopping **{run_id}**: it saves a checkpoint at its next step, "
                                              "then you can resume it."}
    finally:
        step_gate.open()
        actions.manager.wait(WAIT_S)
    assert "settings_box" not in actions.view.controls(me, run_id)  # folded only while a run trains
    assert actions.delete(me, run_id, "") == {
        "action": f"Press **Delete** again to delete **{run_id}** and its checkpoints for good.",
        "delete_armed": run_id}
    assert actions.delete(me, run_id, run_id) == {"picker": LIVE, "action": f"Deleted **{run_id}**.",
                                                  "delete_armed": ""}
    assert page.discarded == [run_id] and list_runs(tmp_path / "runs") == []
    resumed = actions.resume(me, run_id, None)
    assert resumed["action"].startswith("**Could not resume:** ") and list(resumed) == ["action"]


def test_notes_are_their_owner_s_and_runs_compare_by_id(tmp_path):
    from clm_gui.runs.folder import new_run_dir
    from clm_gui.train.trainer import train

    page = Page(tmp_path / "runs")
    cfg = fast_config(write_corpus(tmp_path / "book.txt"), max_steps=4, eval_interval=2)
    run = new_run_dir(tmp_path / "runs", cfg)
    assert train(cfg, run)["state"] == "finished"
    actions = page.actions
    assert actions.show_notes(STRANGER, run.id)["save_notes"] == Interactive(False)
    assert actions.keep_notes(STRANGER, run.id, "mine", "")["notes_said"].startswith("**Not saved:** ")
    kept = actions.keep_notes(machine_user(), run.id, "first try", "small")
    label = f"first try ({run.id})"  # the display name, then the id
    assert kept == {"notes_said": f"Saved the name and notes of **{run.id}**.",
                    "picker": Choices([LIVE_CHOICE, (label, run.id)])}
    assert actions.show_notes(machine_user(), run.id) == {"display_name": "first try", "run_notes": "small",
                                                         "save_notes": Interactive(True), "notes_said": ""}
    assert actions.compare_choices([run.id]) == {"compare_runs": Choices([(label, run.id)])}
    assert actions.compare_choices([run.id, "gone"]) == {
        "compare_runs": Choices([(label, run.id)], value=[run.id])}  # a gone run leaves the choice
    compared = actions.compare([run.id], "steps")
    assert {trace.legendgroup for trace in compared["compare_loss"].data} == {run.id}
    assert compared["compare_settings"] == "*Tick two or more runs to see their settings side by side.*"
    steps = actions.offer_sample_steps(run.id, "999")["samples_step"]
    assert steps.value == LATEST_SAMPLES and steps.choices[0] == ("latest", LATEST_SAMPLES)
