"""The demo path a non-engineer takes, in a real browser: a quick start from an upload to a generated
sample within its time budget, prompts in the data's own words, a reload mid-run that shows the live
run's settings, a mistyped number refused by name, the offline tokenizer path, and two runs compared."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from clm_gui.config import load_config
from clm_gui.runs.folder import list_runs, new_run_dir
from clm_gui.train.trainer import train
from clm_gui.units import format_bytes
from tests.fast_runs import fast_config, write_corpus, write_english
from tests.waiting import TRAIN_WAIT, UI_WAIT, wait_for

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("CLM_GUI_SCREENSHOTS", ""))  # set: also keep the screenshots there (README assets)


def shot(page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    if SHOTS.name:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def upload_in_dataset_tab(page, path: Path) -> None:
    open_tab(page, "Dataset")
    page.locator("#dataset-kind").get_by_text("Upload files").click()
    page.locator("#dataset-files input[type=file]").set_input_files(str(path))
    # The upload's "1 file(s) ready" gives way to its preview at once: on a busy machine too quickly to see,
    # so the test waits for what stays, the preview of the uploaded file.
    expect(page.locator("#dataset-status")).to_contain_text("Showing the first", timeout=UI_WAIT)
    expect(page.locator("#dataset-preview")).to_contain_text(path.name, timeout=UI_WAIT)


def test_quick_start_trains_an_upload_until_its_time_is_up_and_the_playground_continues_its_prompts(
        serve_app, page, tmp_path):
    upload = write_english(tmp_path / "upload" / "reference.txt")
    page.goto(serve_app())
    expect(page.locator("#quick-start")).to_be_visible()  # the first tab: the demo path
    page.locator("#quick-kind").get_by_text("Upload a file").click()
    page.locator("#quick-files input[type=file]").set_input_files(str(upload))
    expect(page.locator("#quick-status")).to_contain_text("ready: reference.txt", timeout=UI_WAIT)
    page.locator("#quick-minutes input").fill("1")
    page.locator("#quick-start").click()
    expect(page.locator("#quick-status")).to_contain_text("Started", timeout=TRAIN_WAIT)
    choices = page.locator("#quick-choices")
    for step in ("Data", "Tokenizer", "Model", "Training"):
        expect(choices).to_contain_text(step)
    expect(choices).to_contain_text("uploaded reference.txt")  # the file's name, not the folder it was copied to
    expect(choices).to_contain_text("natural language")
    shot(page, tmp_path, "screenshot-quickstart")

    run = list_runs(tmp_path / "runs")[0]
    cfg = load_config(run.config_path)
    assert cfg.train.max_minutes <= 1 and cfg.train.max_steps == 0  # the clock ends it
    words = set(upload.read_text().split())
    assert cfg.train.sample_prompts and all(set(p.split()) <= words for p in cfg.train.sample_prompts)

    page.locator("#quick-to-model").click()  # each choice links to the tab that changes it
    expect(page.locator("#model-layers input")).to_have_value(str(cfg.model.n_layer), timeout=UI_WAIT)
    open_tab(page, "Quick start")
    page.locator("#quick-to-train").click()
    prompts = page.locator("#train-setting-sample_prompts textarea")
    expect(prompts).to_have_value(re.compile(re.escape(cfg.train.sample_prompts[0].strip())), timeout=UI_WAIT)
    expect(page.locator("#train-status")).to_contain_text("finished", timeout=TRAIN_WAIT)
    expect(page.locator("#train-samples")).to_contain_text(cfg.train.sample_prompts[0].strip(), timeout=UI_WAIT)
    shot(page, tmp_path, "screenshot-train")

    # The clock ended the run with its closing evaluation and samples, and the best model saved. That they
    # fit inside the budget is a matter of this machine's speed at that moment (a loaded box ran 0.14 s
    # over): test_cadence checks the trainer's rule for it on a fake clock.
    evals = [r for r in run.read_metrics() if r["kind"] == "eval"]
    samples = run.read_samples()
    assert (run.final_dir / "model.safetensors").is_file() and len(evals) >= 3
    assert run.read_status()["step"] == evals[-1]["step"] == samples[-1]["step"]

    open_tab(page, "Playground")
    page.get_by_role("button", name="Refresh runs").click()
    expect(page.locator("#play-model input")).to_have_value("final", timeout=UI_WAIT)
    expect(page.locator("#play-prompt textarea")).to_have_value(cfg.train.sample_prompts[0], timeout=UI_WAIT)
    page.get_by_role("spinbutton", name="number input for Max new tokens").fill("300")
    page.get_by_role("button", name="Generate", exact=True).click()
    output = page.locator("#play-output textarea")
    page.wait_for_function("() => (document.querySelector('#play-output textarea')?.value || '').length > 200",
                           timeout=UI_WAIT * 2)
    text = output.input_value()
    assert text.startswith(cfg.train.sample_prompts[0]) and "\n" in text  # prose, with the data's line breaks
    page.get_by_text("Model card and export").click()
    expect(page.locator("#play-zip")).to_be_visible()  # offered once a final model exists
    shot(page, tmp_path, "screenshot-playground")


def test_a_reload_mid_run_shows_the_live_run_s_settings_and_the_data_s_own_prompts(serve_app, page, tmp_path,
                                                                                    step_gate):
    upload = write_english(tmp_path / "upload" / "reference.txt")
    url = serve_app()
    page.goto(url)
    upload_in_dataset_tab(page, upload)
    page.locator("#dataset-profile-button").click()
    status = page.locator("#dataset-status")
    expect(status).to_contain_text("Sample prompts for training", timeout=TRAIN_WAIT)
    expect(page.locator("#dataset-profile")).to_contain_text("uploaded reference.txt")  # the file's name
    expect(page.locator("#dataset-profile")).not_to_contain_text("drop duplicates")  # its repeated lines are text
    open_tab(page, "Model")
    page.locator("#model-preset input").click()
    page.get_by_role("option", name="tiny (CPU demo)").click()
    page.locator("#model-apply").click()
    expect(page.locator("#model-applied")).to_contain_text("2 layers, width 128", timeout=UI_WAIT)
    open_tab(page, "Train")
    prompts = page.locator("#train-setting-sample_prompts textarea")
    expect(prompts).not_to_have_value("", timeout=UI_WAIT)
    shown_prompts = prompts.input_value().splitlines()
    words = set(upload.read_text().split())
    assert shown_prompts and all(set(p.split()) <= words for p in shown_prompts)  # prose prompts, not "def "
    for label, value in [("Max steps", "8"), ("Batch size", "4")]:
        page.get_by_label(label, exact=True).fill(value)
        page.get_by_label(label, exact=True).press("Tab")
    page.locator("#train-setting-device input").click()
    page.get_by_role("option", name="cpu", exact=True).click()
    step_gate.open_until(2)
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator("#train-action")).to_contain_text("Started", timeout=UI_WAIT)
    step_gate.wait_held_at(2)

    page.reload()  # mid-run: every tab shows the live run's settings, not the defaults
    open_tab(page, "Train")
    expect(page.locator("#train-status")).to_contain_text("live", timeout=UI_WAIT)
    # While a run trains, the settings may fold (charts first) at any moment of the page's start: read them in
    # one go while open, opening them again if folded (a field read before the fold raced it under load).
    max_steps = page.get_by_label("Max steps", exact=True)

    def live_settings() -> tuple | None:
        try:
            if max_steps.count() == 0:
                page.get_by_role("button", name="Training settings").click()
                max_steps.wait_for(state="attached", timeout=10_000)  # opened: no second click folds it again
            return (max_steps.input_value(timeout=1000),
                    page.get_by_label("Batch size", exact=True).input_value(timeout=1000),
                    page.locator("#train-setting-device input").input_value(timeout=1000),
                    prompts.input_value(timeout=1000))
        except PlaywrightError:  # folded between two reads
            return None

    expected = ("8", "4", "cpu", "\n".join(shown_prompts))
    wait_for(lambda: live_settings() == expected or None, UI_WAIT / 1000, "the live run's settings", every=0.5)
    expect(page.get_by_role("button", name="Start", exact=True)).to_be_disabled(timeout=UI_WAIT)
    open_tab(page, "Model")
    expect(page.locator("#model-layers input")).to_have_value("2", timeout=UI_WAIT)
    open_tab(page, "Dataset")
    expect(page.locator("#dataset-kind input[value=upload]")).to_be_checked(timeout=UI_WAIT)
    expect(page.locator("#dataset-status")).to_contain_text("Using the uploaded reference.txt", timeout=UI_WAIT)
    size = format_bytes(upload.stat().st_size)  # one size, in one format, everywhere
    expect(page.locator("#dataset-status")).to_contain_text(size)
    expect(page.locator("#dataset-recommendation")).to_contain_text(f"About {size} of text")  # not the demo's
    step_gate.open()
    open_tab(page, "Train")
    expect(page.locator("#train-status")).to_contain_text("finished", timeout=TRAIN_WAIT)
    run = list_runs(tmp_path / "runs")[0]
    saved = load_config(run.config_path)
    assert (saved.train.max_steps, saved.train.micro_batch_size, saved.model.n_layer) == (8, 4, 2)
    assert saved.train.sample_prompts == shown_prompts


def test_a_mistyped_number_blocks_start_with_a_message_naming_the_field(serve_app, page, tmp_path):
    page.goto(serve_app())
    open_tab(page, "Train")
    box = page.get_by_label("Learning rate", exact=True)
    box.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("abc")  # the number box cannot hold it: it empties
    page.keyboard.press("Tab")
    validation = page.locator("#train-validation")
    expect(validation).to_contain_text("Learning rate (train.learning_rate) is empty or not a number", timeout=UI_WAIT)
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator("#train-action")).to_contain_text("Could not start", timeout=UI_WAIT)
    expect(page.locator("#train-action")).to_contain_text("Learning rate (train.learning_rate)")
    assert list_runs(tmp_path / "runs") == []  # nothing trained with a hidden previous value


def test_offline_the_tokenizer_recommendation_leads_to_training_and_failures_leave_no_stale_figures(
        serve_app, page, tmp_path):  # the suite runs with HF_HUB_OFFLINE=1: the Hub is out of reach
    upload = write_english(tmp_path / "upload" / "reference.txt", max_chars=60_000)
    page.goto(serve_app())
    upload_in_dataset_tab(page, upload)
    page.locator("#dataset-profile-button").click()
    expect(page.locator("#dataset-profile")).to_contain_text("Bytes (UTF-8)", timeout=TRAIN_WAIT)
    page.locator("#dataset-histogram").scroll_into_view_if_needed()  # plots render once on screen
    expect(page.locator("#dataset-histogram .js-plotly-plot")).to_be_visible(timeout=UI_WAIT)
    shot(page, tmp_path, "screenshot-dataset")
    open_tab(page, "Tokenizer")
    recommendation = page.locator("#tokenizer-recommendation")
    expect(recommendation).to_contain_text("train a **bpe**".replace("**", ""), timeout=UI_WAIT)
    page.get_by_role("button", name="Apply the recommendation").click()
    expect(page.locator("#tokenizer-status")).to_contain_text("press Train tokenizer", timeout=UI_WAIT)
    expect(page.locator("#tokenizer-vocab-size input")).to_have_value("1024")
    page.locator("#tokenizer-train").click()
    expect(page.locator("#tokenizer-status")).to_contain_text("In use for training", timeout=TRAIN_WAIT)
    expect(page.locator("#tokenizer-table")).to_contain_text("bpe-1024", timeout=TRAIN_WAIT)
    # A Hub id offline fails at once, with its message in the status and no "Error" badge on the comparison.
    page.locator("#tokenizer-load").locator("xpath=..").locator("input").first.fill("openai-community/gpt2")
    page.locator("#tokenizer-load").click()
    expect(page.locator("#tokenizer-status")).to_contain_text("⚠️", timeout=UI_WAIT)
    expect(page.locator("#tokenizer-table")).to_contain_text("bpe-1024")  # the comparison stands
    assert page.locator(".error").count() == 0
    shot(page, tmp_path, "screenshot-tokenizer")

    # A failed upload clears the previous dataset's figures: nothing quotes its size any more.
    open_tab(page, "Dataset")
    bad = tmp_path / "upload" / "photos.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("photo.png", b"\x89PNG not text")
    page.locator("#dataset-files").get_by_role("button", name="Clear").click()
    page.locator("#dataset-files input[type=file]").set_input_files(str(bad))
    expect(page.locator("#dataset-status")).to_contain_text("⚠️", timeout=UI_WAIT)
    expect(page.locator("#dataset-recommendation")).to_have_text("", timeout=UI_WAIT)
    expect(page.locator("#dataset-profile")).not_to_contain_text("Bytes (UTF-8)")
    open_tab(page, "Tokenizer")
    expect(recommendation).to_contain_text("Profile the dataset", timeout=UI_WAIT)


def test_two_runs_compared_on_one_chart_against_steps_or_minutes(serve_app, page, tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt")
    for rate in (3e-3, 3e-4):
        cfg = fast_config(corpus, max_steps=8, eval_interval=2, learning_rate=rate)
        cfg.name = f"lr-{rate:g}"
        assert train(cfg, new_run_dir(tmp_path / "runs", cfg))["state"] == "finished"
    ids = [r.id for r in list_runs(tmp_path / "runs")]
    page.goto(serve_app())
    open_tab(page, "Train")
    page.get_by_text("Compare runs").click()
    picker = page.locator("#train-compare-runs input")
    for run_id in ids:  # typed, as a user may: on a loaded machine the page still moved after the option list
        picker.fill(run_id)  # opened, and a click on an option landed on the Notes box behind it
        # Enter picks the list's first option: wait for the typed id to be it (under load an Enter pressed before
        # the list had filtered picked nothing), and for the pick to show before typing the next
        expect(page.locator("#train-compare-runs [role=option]").first).to_contain_text(run_id, timeout=UI_WAIT)
        picker.press("Enter")
        expect(page.locator("#train-compare-runs .token", has_text=run_id)).to_be_visible(timeout=UI_WAIT)
    lines = """(id) => {
        const p = document.querySelector(id + ' .js-plotly-plot');
        return p && p.data ? p.data.filter(t => t.showlegend !== false).map(t => t.name) : [];
    }"""
    page.wait_for_function(f"() => ({lines})('#train-compare-bpb').length === 2", timeout=UI_WAIT)
    assert sorted(page.evaluate(lines, "#train-compare-loss")) == sorted(ids)
    page.locator("#train-compare-x").get_by_text("minutes").click()
    page.wait_for_function("""() => {
        const p = document.querySelector('#train-compare-loss .js-plotly-plot');
        return p && p.layout && p.layout.xaxis.title.text.startsWith('minutes');
    }""", timeout=UI_WAIT)
    shot(page, tmp_path, "screenshot-compare")
