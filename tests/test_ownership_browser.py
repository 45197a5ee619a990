"""A second visitor of a hosted app, in a real browser: they watch alice's runs, but Stop, Resume, Delete
and the exports are off, and the page says why."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from clm_gui.hosting.ownership import new_browser_token
from clm_gui.ui.visitor import STORAGE_KEY
from tests.test_ownership_http import owned_run, stopped_with_a_model, training
from tests.waiting import UI_WAIT

pytestmark = pytest.mark.browser


def browser_tokens(request) -> list[str]:
    """The browser token an event sent to the queue carries, if any: a 32-character first input."""
    if request.method != "POST" or "/queue/join" not in request.url:
        return []
    first = (request.post_data_json.get("data") or [None])[0]
    return [first] if isinstance(first, str) and len(first) == len(new_browser_token()) else []


def test_a_second_visitor_sees_the_controls_of_someone_elses_runs_disabled_with_the_reason(serve_app, page, runs_root,
                                                                                          tmp_path):
    url = serve_app(hosted=True)
    finished = stopped_with_a_model(owned_run(runs_root, owner_name="alice", name="alices-finished"))
    live = training(owned_run(runs_root, owner_name="alice", name="alices-live"))

    sent_tokens = []  # the browser token each event carries (its first input)
    page.on("request", lambda request: sent_tokens.extend(browser_tokens(request)))
    page.goto(url)
    page.get_by_role("tab", name="Train").click()
    why = page.locator("#train-controls-why")
    expect(page.locator("#train-status")).to_contain_text(live.id, timeout=UI_WAIT)  # the live run, watched
    expect(why).to_contain_text(f"Stop is off: Only whoever started the run {live.id} (alice) or an admin may "
                                "stop it; you can watch its charts and samples.", timeout=UI_WAIT)
    expect(page.get_by_role("button", name="Stop", exact=True)).to_be_disabled()
    expect(page.get_by_label("Max minutes", exact=True)).to_have_value("60")  # hosted: within the time limit

    page.locator("#train-runs").get_by_text(finished.id).filter(visible=True).first.click()  # the other run, picked in the run list
    expect(page.locator("#train-status")).to_contain_text(finished.id, timeout=UI_WAIT)
    expect(why).to_contain_text(f"Delete is off: Only whoever started the run {finished.id} (alice) or an admin "
                                "may delete it", timeout=UI_WAIT)  # no run resumes while another trains
    live.write_status("stopped", "Stopped.", pid=None)
    expect(why).to_contain_text(f"Resume and Delete are off: Only whoever started the run {finished.id} (alice) "
                                "or an admin may resume or delete it", timeout=UI_WAIT)
    for name in ("Resume", "Delete", "Stop"):
        expect(page.get_by_role("button", name=name, exact=True)).to_be_disabled()
    page.get_by_role("button", name="Resume", exact=True).scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "second-visitor-train.png"), full_page=False)

    page.get_by_role("tab", name="Playground").click()
    expect(page.locator("#play-run input")).to_have_value(finished.id, timeout=UI_WAIT)
    page.get_by_text("Model card and export").click()
    expect(page.locator("#play-export-why")).to_contain_text(
        f"Export is off: Only whoever started the run {finished.id} (alice) or an admin may export it",
        timeout=UI_WAIT)
    expect(page.locator("#play-zip")).to_be_disabled()
    expect(page.locator("#play-push")).to_be_disabled()

    # The visitor is their browser: the page sends the same token with its events after a reload.
    assert page.evaluate(f"localStorage.getItem({STORAGE_KEY!r})")  # kept in the browser (encrypted)
    before = set(sent_tokens)
    sent_tokens.clear()
    page.reload()
    page.get_by_role("tab", name="Train").click()
    expect(why).to_contain_text(f"Delete is off: Only whoever started the run {live.id}", timeout=UI_WAIT)  # latest
    assert len(before) == 1 and set(sent_tokens) == before


HOSTILE_TEXT = ('````\n![x](http://127.0.0.2:9/x.png) <img src="http://127.0.0.2:9/y.png"> '
                '[log in again](http://127.0.0.2:9/login) http://127.0.0.2:9/auto')


def test_a_runs_hostile_name_and_samples_show_as_text_and_load_nothing_from_elsewhere(serve_app, page, runs_root,
                                                                                     tmp_path):
    """Alice's run is named, and samples, like an attack: a remote image in Markdown and in HTML, a link, a
    bare URL and four backticks to close the samples' fence. Bob's page shows all of it as text: no request
    leaves the app's origin, and no link or image comes from it, on the Train tab or in the model card."""
    from clm_gui.runs.model_card import write_model_card

    url = serve_app(hosted=True)
    run = stopped_with_a_model(owned_run(runs_root, owner_name="alice", name=HOSTILE_TEXT.replace("\n", " ")))
    run.append_sample({"step": 4, "samples": [{"prompt": "Once", "text": HOSTILE_TEXT}]})
    write_model_card(run.final_dir, run, run.load_config())

    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(url)
    page.get_by_role("tab", name="Train").click()
    expect(page.locator("#train-status")).to_contain_text(run.id, timeout=UI_WAIT)
    expect(page.get_by_text("![x](http://127.0.0.2:9/x.png)").first).to_be_visible(timeout=UI_WAIT)  # as text
    page.get_by_role("tab", name="Playground").click()
    expect(page.locator("#play-run input")).to_have_value(run.id, timeout=UI_WAIT)
    page.get_by_text("Model card and export").click()
    card = page.locator("#play-card")
    expect(card).to_contain_text("![x](http://127.0.0.2:9/x.png)", timeout=UI_WAIT)  # the heading, as written
    expect(card).to_contain_text("log in again", timeout=UI_WAIT)
    card.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "hostile-card.png"), full_page=False)

    for elsewhere in ("a[href*='127.0.0.2']", "img[src*='127.0.0.2']", "[src*='127.0.0.2']"):
        assert page.locator(elsewhere).count() == 0, elsewhere
    page.get_by_role("tab", name="Train").click()
    for elsewhere in ("a[href*='127.0.0.2']", "img[src*='127.0.0.2']"):
        assert page.locator(elsewhere).count() == 0, elsewhere
    outside = [address for address in requested if not address.startswith((url, "data:", "blob:"))]
    assert not outside, outside
