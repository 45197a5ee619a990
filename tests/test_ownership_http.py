"""A hosted app's endpoints called directly by a second client, as a script would, past the buttons:
stop, resume, delete and export are refused with a clear message for anyone but the run's owner (or an
admin), and the run folder is left as it was."""

from __future__ import annotations

import json
import os
import time
import uuid

import httpx
import pytest

from clm_gui.config import RunConfig
from clm_gui.hosting.ownership import record_owner, visitor_for
from clm_gui.runs.folder import RunDir, list_runs, new_run_dir
from tests.test_security_http import call, raw_get

ALICE_BROWSER, BOB_BROWSER = "alices-browser-token-0123456789abcdef", "bobs-browser-token-0123456789abcdef"
REFUSED = "Only whoever started the run"


def owned_run(runs_dir, owner_token: str | None = None, owner_name: str | None = None, name: str = "alices") -> RunDir:
    run = new_run_dir(runs_dir, RunConfig(name=name))
    record_owner(run, visitor_for(True, (), owner_name, owner_token))
    return run


def training(run: RunDir) -> RunDir:
    """The run shows as training in a live process (this one), as a run the app trains does."""
    run.write_status("running", "Training.", pid=os.getpid(), started=time.time())
    return run


def stopped_with_a_model(run: RunDir) -> RunDir:
    checkpoint = run.checkpoint_dir(4)
    checkpoint.mkdir(parents=True)
    (checkpoint / "COMPLETE").write_text("")
    run.final_dir.mkdir()
    (run.final_dir / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    run.write_status("stopped", "Stopped.", pid=None)
    return run


def page_session(base: str, token: str | None, run: RunDir) -> str:
    """A page (a session) that has picked `run` in the Train tab, so Resume and Delete act on it."""
    session = uuid.uuid4().hex
    for picked in ("", run.id):  # the first call lists the runs in the picker, as a page's first poll does
        event, _ = call(base, "controls", [token, picked], session=session)
        assert event == "complete"
    return session


def playground_session(base: str) -> str:
    """A page whose Playground has listed the runs with a model, so a run can be picked there."""
    session = uuid.uuid4().hex
    assert call(base, "list_choices", [None], session=session)[0] == "complete"
    return session


@pytest.fixture
def hosted(serve_app):
    return serve_app(hosted=True, admins=("root",))


def test_a_second_client_cannot_stop_a_run_that_is_not_its_own(hosted, runs_root):
    run = training(owned_run(runs_root, ALICE_BROWSER))
    for token in (BOB_BROWSER, None, "a-guess"):
        event, payload = call(hosted, "stop", [token])
        assert event == "complete" and (REFUSED in payload or "reload the page" in payload), payload
        assert not run.stop_path.exists()
    event, payload = call(hosted, "stop", [BOB_BROWSER])
    assert f"{REFUSED} {run.id} (another visitor) or an admin may stop it" in payload
    event, payload = call(hosted, "stop", [ALICE_BROWSER])  # the owner's own browser may
    assert f"Stopping **{run.id}**" in payload and run.stop_path.exists()
    run.write_status("stopped", "Stopped.", pid=None)


def test_a_second_client_cannot_resume_or_delete_a_run_that_is_not_its_own(hosted, runs_root):
    run = stopped_with_a_model(owned_run(runs_root, ALICE_BROWSER))
    bob = page_session(hosted, BOB_BROWSER, run)
    for api, data in (("resume", [BOB_BROWSER, None]), ("delete", [BOB_BROWSER])):
        event, payload = call(hosted, api, data, session=bob)
        assert event == "complete" and f"{REFUSED} {run.id}" in payload and f"may {api} it" in payload, payload
    assert run.exists() and run.read_status()["state"] == "stopped"
    alice = page_session(hosted, ALICE_BROWSER, run)
    event, payload = call(hosted, "delete", [ALICE_BROWSER], session=alice)
    assert f"Press **Delete** again to delete **{run.id}**" in payload and run.exists()  # it asks first
    event, payload = call(hosted, "delete", [ALICE_BROWSER], session=alice)
    assert f"Deleted **{run.id}**" in payload and not run.path.exists()


def test_a_second_client_cannot_rename_a_run_that_is_not_its_own(hosted, runs_root):
    from clm_gui.runs.notes import NOTES_FILE, read_notes

    run = stopped_with_a_model(owned_run(runs_root, ALICE_BROWSER))
    event, payload = call(hosted, "keep_notes", [BOB_BROWSER, "Bob's now", "mine"], session=page_session(
        hosted, BOB_BROWSER, run))
    assert event == "complete" and f"Not saved:** {REFUSED} {run.id}" in payload and "may rename it" in payload
    assert not (run.path / NOTES_FILE).exists()
    event, payload = call(hosted, "keep_notes", [ALICE_BROWSER, "Alice's best", "kept"], session=page_session(
        hosted, ALICE_BROWSER, run))
    assert f"Saved the name and notes of **{run.id}**" in payload and read_notes(run).name == "Alice's best"


def test_a_second_client_cannot_export_a_run_that_is_not_its_own(hosted, runs_root):
    run = stopped_with_a_model(owned_run(runs_root, ALICE_BROWSER))
    bob = playground_session(hosted)
    event, payload = call(hosted, "push", [BOB_BROWSER, run.id, "bob/stolen", "hf_token", True], session=bob)
    assert event == "complete" and f"Not pushed:** {REFUSED} {run.id}" in payload and "may export it" in payload
    assert call(hosted, "make_zip", [BOB_BROWSER, run.id], session=bob)[0] == "complete"
    assert not (run.path / "exports").exists()  # nothing was zipped for him

    event, payload = call(hosted, "make_zip", [ALICE_BROWSER, run.id], session=playground_session(hosted))
    [made] = (run.path / "exports").iterdir()
    assert event == "complete" and made.name in payload
    assert raw_get(hosted, f"/gradio_api/file={made}")[0] == 200  # the owner downloads it...
    guessed = run.path / "exports" / f"{run.id}-final.zip"
    assert raw_get(hosted, f"/gradio_api/file={guessed}")[0] in (403, 404)  # ...nobody else can name it


def test_a_second_client_cannot_export_someone_elses_run_as_gguf(hosted, runs_root):
    from tests.test_gguf_export import save_final, tokenizer

    run = save_final(owned_run(runs_root, ALICE_BROWSER), "gpt2", tokenizer())
    event, payload = call(hosted, "make_gguf", [BOB_BROWSER, run.id, "q8_0"], session=playground_session(hosted))
    assert event == "complete" and f"Not exported:** {REFUSED} {run.id}" in payload and "may export it" in payload
    assert not (run.path / "exports").exists()  # nothing was written for him

    event, payload = call(hosted, "make_gguf", [ALICE_BROWSER, run.id, "q8_0"], session=playground_session(hosted))
    made = sorted((run.path / "exports").iterdir())
    assert event == "complete" and [p.suffix for p in made] == [".Modelfile", ".gguf"]
    assert all(p.name in payload for p in made) and " KB** (q8_0)" in payload
    for path in made:
        assert raw_get(hosted, f"/gradio_api/file={path}")[0] == 200  # the owner downloads both...
    guessed = run.path / "exports" / f"{run.id}-q8_0.gguf"
    assert raw_get(hosted, f"/gradio_api/file={guessed}")[0] in (403, 404)  # ...nobody else can name them


def test_the_controls_a_second_client_receives_are_off_and_say_why(hosted, runs_root):
    run = stopped_with_a_model(owned_run(runs_root, ALICE_BROWSER))
    def train_controls(token):
        event, payload = call(hosted, "controls", [token, run.id], session=page_session(hosted, token, run))
        start, stop, resume, delete, why = json.loads(payload)[:5]
        return resume["interactive"], delete["interactive"], why

    resume, delete, why = train_controls(BOB_BROWSER)
    assert (resume, delete) == (False, False)
    assert why.startswith("**Resume and Delete are off:** ") and f"{REFUSED} {run.id}" in why
    event, payload = call(hosted, "export_controls", [BOB_BROWSER, run.id], session=playground_session(hosted))
    zip_button, gguf_button, push_button, why = json.loads(payload)
    assert zip_button["interactive"] is gguf_button["interactive"] is push_button["interactive"] is False
    assert why.startswith("**Export is off:** ") and f"{REFUSED} {run.id}" in why
    assert train_controls(ALICE_BROWSER) == (True, True, "")


def test_with_logins_each_user_controls_only_their_runs_and_an_admin_controls_all(serve_app, runs_root):
    base = serve_app(hosted=True, auth=[("alice", "pw-a"), ("bob", "pw-b"), ("root", "pw-r")], admins=("root",))
    run = training(owned_run(runs_root, owner_name="alice"))

    def logged_in(user: str, password: str) -> dict:
        response = httpx.post(f"{base}/login", data={"username": user, "password": password})
        assert response.status_code == 200
        return dict(response.cookies)

    event, payload = call(base, "stop", [ALICE_BROWSER], cookies=logged_in("bob", "pw-b"))  # alice's token won't do
    assert f"{REFUSED} {run.id} (alice) or an admin may stop it" in payload
    assert not run.stop_path.exists()
    event, payload = call(base, "stop", [None], cookies=logged_in("root", "pw-r"))
    assert f"Stopping **{run.id}**" in payload
    run.stop_path.unlink()
    event, payload = call(base, "stop", [None], cookies=logged_in("alice", "pw-a"))
    assert f"Stopping **{run.id}**" in payload
    run.write_status("stopped", "Stopped.", pid=None)


def test_quick_start_counts_the_visitor_s_runs_and_makes_them_the_owner(serve_app, runs_root):
    # Regression: the Quick start tab started runs as the machine, past the visitor's quotas.
    from clm_gui.hosting.quotas import Quotas

    base = serve_app(hosted=True, quotas=Quotas(max_runs_per_owner=1))
    kept = owned_run(runs_root, ALICE_BROWSER)
    event, payload = call(base, "begin_for_visitor", [ALICE_BROWSER, "demo", "", "", 1, ""])  # "": none started
    assert event == "complete" and "--max-runs-per-owner 1" in payload and kept.id in payload, payload
    assert [run.id for run in list_runs(runs_root)] == [kept.id]  # nothing started, nothing written
