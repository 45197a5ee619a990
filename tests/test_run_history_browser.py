"""Against W&B, in a real browser: earlier rounds of samples, the compared runs' settings side by side, and
runs renamed and annotated. Runs are written into their folders before the page opens: nothing here
depends on how fast the machine trains."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from clm_gui.runs.folder import new_run_dir
from tests.conftest import make_tiny_config
from tests.waiting import UI_WAIT

pytestmark = pytest.mark.browser
IMPROVING = {10: "Once qqq zzz xkcd", 20: "Once upon a tme", 30: "Once upon a time there was"}


def finished_run(runs_root, name: str, texts: dict[int, str], **train):
    cfg = make_tiny_config(**train)
    cfg.name = name
    run = new_run_dir(runs_root, cfg)
    for step, text in texts.items():
        run.append_metrics({"kind": "train", "step": step, "tokens": step * 512, "train_loss": 5.0 - step / 10,
                            "elapsed_s": step / 10})
        run.append_metrics({"kind": "eval", "step": step, "tokens": step * 512, "eval_loss": 5.0 - step / 10,
                            "eval_bpb": 2.0 - step / 100})
        run.append_sample({"step": step, "samples": [{"prompt": "Once", "text": text}]})
    run.write_status("finished", "Finished.", step=max(texts), pid=None)
    return run


def test_earlier_rounds_of_samples_can_be_picked_to_show_how_the_text_improved(serve_app, page, runs_root, tmp_path):
    run = finished_run(runs_root, "story", IMPROVING)
    page.goto(serve_app())
    page.get_by_role("tab", name="Train").click()
    samples = page.locator("#train-samples")
    expect(samples).to_contain_text("Samples at step 30 (the latest of 3 rounds)", timeout=UI_WAIT)
    expect(samples).to_contain_text(IMPROVING[30])

    page.locator("#train-samples-step input").click()
    page.get_by_role("option", name="step 10", exact=True).click()
    expect(samples).to_contain_text("Samples at step 10 (round 1 of 3 rounds)", timeout=UI_WAIT)
    expect(samples).to_contain_text(IMPROVING[10])
    expect(samples).not_to_contain_text(IMPROVING[30])
    samples.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "samples-step-10.png"))

    run.append_sample({"step": 40, "samples": [{"prompt": "Once", "text": "Once upon a time there was a king"}]})
    page.locator("#train-samples-step input").click()  # a new round is offered while the picked one stays shown
    expect(page.get_by_role("option", name="step 40", exact=True)).to_be_visible(timeout=UI_WAIT)
    expect(samples).to_contain_text("Samples at step 10 (round 1 of 4 rounds)", timeout=UI_WAIT)
    page.get_by_role("option", name="latest", exact=True).click()
    expect(samples).to_contain_text("Samples at step 40 (the latest of 4 rounds)", timeout=UI_WAIT)
    page.screenshot(path="/tmp/i26b-samples.png")


def test_compared_runs_settings_stand_side_by_side_with_what_differs_highlighted(serve_app, page, runs_root, tmp_path):
    slow = finished_run(runs_root, "slow-lr", IMPROVING, learning_rate=3e-4)
    fast = finished_run(runs_root, "fast-lr", {10: "Once", 20: "Once upon"}, learning_rate=3e-3, seed=7)
    page.goto(serve_app())
    page.get_by_role("tab", name="Train").click()
    page.get_by_text("Compare runs").click()
    picker = page.locator("#train-compare-runs input")
    for run in (slow, fast):
        picker.click()
        # The box's list is placed once, when it opens; on a loaded machine the accordion may still be growing
        # then, and the list stays outside the viewport, where no click lands. Its own handler takes a
        # mousedown from any option, wherever it is drawn.
        page.get_by_role("option", name=run.id).dispatch_event("mousedown")
    table = page.locator("#train-compare-settings")
    expect(table.locator("th")).to_have_text(["Setting", slow.id, fast.id], timeout=UI_WAIT)
    seed = table.locator("tr", has_text="train.seed")
    expect(seed.locator("mark")).to_have_text(["1337", "7"])  # highlighted: the runs differ in it
    expect(table.locator("tr", has_text="train.learning_rate").locator("mark")).to_have_text(["0.0003", "0.003"])
    expect(table.locator("tr", has_text="Best held-out bits/byte")).to_contain_text("1.700")
    tokenizer = table.locator("tr", has_text="Tokenizer")
    expect(tokenizer).to_contain_text("bpe, 1,024 tokens (trained)")
    assert tokenizer.locator("mark").count() == 0  # the same in both: shown, not highlighted
    assert table.locator("tr", has_text="model.n_layer").count() == 0  # the same in both: left out
    table.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "compare-settings.png"))
    page.screenshot(path="/tmp/i26b-compare.png")


def test_a_run_renamed_and_annotated_shows_its_name_in_the_lists_and_the_comparison(serve_app, page, runs_root,
                                                                                   tmp_path):
    older = finished_run(runs_root, "baseline", IMPROVING)
    run = finished_run(runs_root, "lr-3e-3", IMPROVING, learning_rate=3e-3)
    run.final_dir.mkdir()  # a model to pick in the Playground
    (run.final_dir / "config.json").write_text('{"model_type": "gpt2"}')
    page.goto(serve_app())
    page.get_by_role("tab", name="Train").click()
    expect(page.locator("#train-status")).to_contain_text(run.id, timeout=UI_WAIT)
    save = page.locator("#train-save-notes")
    expect(save).to_be_enabled(timeout=UI_WAIT)  # a local user owns every run
    page.locator("#train-run-name input").fill("Fast *learning* rate")
    page.locator("#train-run-notes textarea").fill("Loss fell faster.\n[not a link](http://127.0.0.2:9/)")
    save.click()
    expect(page.locator("#train-notes-said")).to_contain_text(f"Saved the name and notes of {run.id}", timeout=UI_WAIT)
    expect(page.locator("#train-runs")).to_contain_text("Fast *learning* rate", timeout=UI_WAIT)  # the run list
    save.scroll_into_view_if_needed()
    page.screenshot(path="/tmp/i26b-notes-editor.png")

    page.get_by_text("Compare runs").click()
    picker = page.locator("#train-compare-runs input")
    picker.click()
    page.get_by_role("option", name=f"Fast *learning* rate ({run.id})").click()  # the picker, by name
    picker.click()
    page.get_by_role("option", name=older.id, exact=True).click()
    table = page.locator("#train-compare-settings")
    expect(table.locator("th").nth(1)).to_have_text(f"Fast *learning* rate ({run.id})", timeout=UI_WAIT)
    expect(table.locator("tr", has_text="Notes")).to_contain_text("[not a link](http://127.0.0.2:9/)")
    assert page.locator("a[href*='127.0.0.2']").count() == 0  # notes are text, never a link
    table.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "renamed.png"))
    page.screenshot(path="/tmp/i26b-renamed.png")

    page.reload()  # kept in the run folder
    page.get_by_role("tab", name="Train").click()
    expect(page.locator("#train-run-name input")).to_have_value("Fast *learning* rate", timeout=UI_WAIT)
    page.get_by_role("tab", name="Playground").click()
    expect(page.locator("#play-run input")).to_have_value(f"Fast *learning* rate ({run.id})", timeout=UI_WAIT)


def test_hosted_a_visitor_cannot_rename_someone_elses_run_and_is_told_why(serve_app, page, runs_root):
    from tests.test_ownership_http import owned_run, stopped_with_a_model

    run = stopped_with_a_model(owned_run(runs_root, owner_name="alice", name="alices"))
    page.goto(serve_app(hosted=True))
    page.get_by_role("tab", name="Train").click()
    expect(page.locator("#train-status")).to_contain_text(run.id, timeout=UI_WAIT)
    expect(page.locator("#train-notes-said")).to_contain_text(
        f"Renaming is off: Only whoever started the run {run.id} (alice) or an admin may rename it", timeout=UI_WAIT)
    expect(page.locator("#train-save-notes")).to_be_disabled()
