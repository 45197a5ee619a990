"""The Dataset tab in a real browser: upload a file, preview it, profile it; and hosted mode."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from clm_gui.data.profiling import IN_MEMORY_BYTES_PER_BYTE
from tests.waiting import UI_WAIT

pytestmark = pytest.mark.browser

ROWS = [{"id": i, "text": f"Document number {i}. The cat sat on the mat and the dog slept by the door."}
        for i in range(40)] + [{"id": 40, "text": ""}]


def test_uploading_a_file_previews_it_and_profiles_it(serve_app, page, tmp_path):
    upload = tmp_path / "notes.jsonl"
    upload.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    page.goto(serve_app())
    page.get_by_role("tab", name="Dataset").click()
    recommendation = page.locator("#dataset-recommendation")
    expect(recommendation).to_contain_text("Recommended: in-memory")
    # The figure the recommendation rests on, measured by bench/big_data.py (#29).
    expect(recommendation).to_contain_text(f"training holds about {IN_MEMORY_BYTES_PER_BYTE:g}x the text size")

    page.locator("#dataset-kind").get_by_text("Upload files").click()
    page.locator("#dataset-files input[type=file]").set_input_files(str(upload))
    status = page.locator("#dataset-status")
    expect(status).to_contain_text("the text comes from text (marked ▶)", timeout=UI_WAIT)
    preview = page.locator("#dataset-preview")
    expect(preview).to_contain_text("▶ text")
    expect(preview).to_contain_text("Document number 0.")

    page.locator("#dataset-profile-button").click()
    profile = page.locator("#dataset-profile")
    expect(profile).to_contain_text("all 41 documents (exact figures)", timeout=UI_WAIT * 2)
    expect(profile).to_contain_text("Empty documents")
    expect(profile).to_contain_text("natural language (English)")
    expect(profile).to_contain_text("Held-out split")  # how the split is made, in words
    expect(profile).to_contain_text("held out whole, chosen by a hash of their text")
    page.locator("#dataset-histogram").scroll_into_view_if_needed()  # plots render once on screen
    expect(page.locator("#dataset-histogram .js-plotly-plot")).to_be_visible(timeout=UI_WAIT)
    page.screenshot(path=str(tmp_path / "dataset-tab.png"), full_page=True)
    uploads = tmp_path / "runs" / ".uploads"
    assert [p.name for p in next(uploads.iterdir()).iterdir()] == ["notes.jsonl"]


def test_hosted_mode_offers_no_server_path_and_a_bad_upload_is_explained(serve_app, page, tmp_path):
    (tmp_path / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(300))
    page.goto(serve_app(hosted=True))
    page.get_by_role("tab", name="Dataset").click()
    kinds = page.locator("#dataset-kind")
    expect(kinds).to_contain_text("Upload files")
    expect(kinds).not_to_contain_text("Local path")
    kinds.get_by_text("Upload files").click()
    page.locator("#dataset-files input[type=file]").set_input_files(str(tmp_path / "photo.txt"))
    expect(page.locator("#dataset-status")).to_contain_text("photo.txt is not a text file", timeout=UI_WAIT)


def test_one_text_file_is_profiled_as_one_stream(serve_app, page, tmp_path):
    # A regression (#26, item 10): one 1.2 MB text file showed "3 documents", a 3-bar histogram and a
    # suggested context of 2048, while the run used 128.
    upload = tmp_path / "essay.txt"
    upload.write_text("".join(f"Line {i} of a long essay about rivers, towns and the people in them.\n"
                              for i in range(20_000)), encoding="utf-8")  # about 1.4 MB: two pieces
    page.goto(serve_app())
    page.get_by_role("tab", name="Dataset").click()
    page.locator("#dataset-kind").get_by_text("Upload files").click()
    page.locator("#dataset-files input[type=file]").set_input_files(str(upload))
    expect(page.locator("#dataset-preview")).to_contain_text("Line 0 of a long essay", timeout=UI_WAIT)
    page.locator("#dataset-profile-button").click()
    profile = page.locator("#dataset-profile")
    expect(profile).to_contain_text("none: 1 file read as one stream of text", timeout=UI_WAIT * 2)
    expect(profile).to_contain_text("none from the data")
    expect(profile).not_to_contain_text("Characters per document")
    page.locator("#dataset-histogram").scroll_into_view_if_needed()
    expect(page.locator("#dataset-histogram .js-plotly-plot")).to_be_visible(timeout=UI_WAIT)
    expect(page.locator("#dataset-histogram")).to_contain_text("Characters per non-blank line (20,000 non-blank lines)")
    page.screenshot(path=str(tmp_path / "dataset-stream.png"), full_page=True)
