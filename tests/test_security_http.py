"""The served app, attacked over HTTP: file routes asked for system files, traversals and a run's insides;
API calls that smuggle server paths; authentication; where the server listens; the Gradio pin.

Requests are sent with http.client, which sends a path exactly as written (no `..` folding), the way an
attacker's tool would.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import io
import json
import os
import re
import zipfile
from pathlib import Path
from urllib.parse import quote

import gradio as gr
import httpx
import psutil
import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from clm_gui.cli import build_parser, parse_auth
from clm_gui.config import RunConfig
from clm_gui.errors import UserError
from clm_gui.hosting.settings import AppSettings
from clm_gui.runs.folder import new_run_dir
from clm_gui.ui.app import build_app, launch_options
from clm_gui.ui.file_guard import is_allowed_download
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[1]
SECRET = b"SECRET-MARKER"  # in every file under the runs folder that must never be served
PASSWD = b"root:"


class Site:
    """A runs folder holding one finished run with everything an attacker would want, and its export."""

    def __init__(self, root: Path):
        self.runs = root / "runs"
        run = new_run_dir(self.runs, RunConfig(name=f"victim {SECRET.decode()}"))
        self.run = run
        checkpoint = run.checkpoint_dir(10)
        checkpoint.mkdir(parents=True)
        for name in ("model.safetensors", "optimizer.pt", "COMPLETE"):
            (checkpoint / name).write_bytes(SECRET + b" " + name.encode())
        run.final_dir.mkdir()
        (run.final_dir / "config.json").write_text(json.dumps({"secret": SECRET.decode()}))
        (run.final_dir / "model.safetensors").write_bytes(SECRET + b" final weights")
        upload = self.runs / ".uploads" / "0123abcd"
        upload.mkdir(parents=True)
        (upload / "private.txt").write_bytes(SECRET + b" someone's uploaded data")
        exports = run.path / "exports"
        exports.mkdir()
        self.export = exports / f"{run.id}-final.zip"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("README.md", "an exported model")
        self.export.write_bytes(buffer.getvalue())
        (exports / "link-to-weights.zip").symlink_to(checkpoint / "model.safetensors")
        self.internals = {
            "config": run.config_path, "status": run.status_path,
            "weights": checkpoint / "model.safetensors", "optimizer": checkpoint / "optimizer.pt",
            "final": run.final_dir / "model.safetensors", "upload": upload / "private.txt",
        }


def serve(settings: AppSettings, blocks: gr.Blocks) -> str:
    blocks.queue()
    blocks.launch(**launch_options(settings), prevent_thread_lock=True, quiet=True)
    return f"http://{settings.host}:{settings.port}"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    return Site(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module")
def hosted_app(site):
    """The whole app in hosted mode, launched exactly as `python -m clm_gui app --hosted` launches it."""
    settings = AppSettings(runs_dir=site.runs, port=free_port(), hosted=True)
    demo = build_app(settings)
    yield serve(settings, demo)
    demo.close()


@pytest.fixture(scope="module")
def authed_app(site):
    """A small app with the same launch options and a password: what `--auth alice:s3cret` serves."""
    settings = AppSettings(runs_dir=site.runs, port=free_port(), auth=[("alice", "s3cret")])
    with gr.Blocks() as demo:
        gr.Markdown("behind a password")
    yield serve(settings, demo)
    demo.close()


def raw_get(base: str, path: str, method: str = "GET", cookie: str = "") -> tuple[int, bytes]:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request(method, path, headers={"Cookie": cookie} if cookie else {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body


def file_url(path: Path | str) -> str:
    return f"/gradio_api/file={path}"


# ---------------------------------------------------------------------------------------------
# Gradio's file routes


def traversal_paths(site: Site) -> list[str]:
    cache = Path(os.environ.get("GRADIO_TEMP_DIR", "/tmp/gradio"))
    up = "../" * 12
    return [
        file_url("/etc/passwd"),
        file_url(up + "etc/passwd"),
        file_url(f"{cache}/{up}etc/passwd"),  # inside Gradio's own cache, then out again
        file_url(f"{site.runs}/{up}etc/passwd"),
        file_url("//etc/passwd"),
        file_url("/etc/./passwd"),
        file_url(quote("/etc/passwd", safe="")),  # %2Fetc%2Fpasswd
        file_url(quote(up + "etc/passwd", safe="")),  # ..%2F..%2F
        file_url("%2e%2e/" * 12 + "etc/passwd"),
        file_url(quote(quote("/etc/passwd", safe=""), safe="")),  # double-encoded
        file_url("file:///etc/passwd"),
        "/gradio_api/file//etc/passwd",  # the legacy /file/ alias
        "/gradio_api/file/" + up + "etc/passwd",
        "/file=/etc/passwd",
        "/static/" + up + "etc/passwd",
        "/static/" + "%2e%2e%2f" * 12 + "etc/passwd",
        "/assets/" + up + "etc/passwd",
        "/svelte/" + up + "etc/passwd",
        "/gradio_api/file=" + "%252e%252e%252f" * 12 + "etc/passwd",
        file_url(REPO / "pyproject.toml"),  # the working directory is not served either
        file_url("pyproject.toml"),
    ]


def test_file_routes_refuse_system_files_and_every_traversal_spelling(hosted_app, site):
    for path in traversal_paths(site):
        status, body = raw_get(hosted_app, path)
        assert status in (400, 403, 404), (path, status)
        assert PASSWD not in body and b"[tool.pytest" not in body, path


def test_file_routes_refuse_a_runs_checkpoints_config_status_and_uploads(hosted_app, site):
    relative = os.path.relpath(site.internals["config"], REPO)
    paths = [file_url(p) for p in site.internals.values()] + [
        file_url(relative),  # relative to the working directory, as Gradio resolves it
        file_url(quote(str(site.internals["weights"]), safe="")),
        file_url(f"{site.export.parent}/../config.yaml"),  # through the exports folder and back out
        file_url(site.export.parent / "link-to-weights.zip"),  # a symlink in exports to a checkpoint
        "/gradio_api/file/" + str(site.internals["weights"]),
    ]
    for path in paths:
        for method in ("GET", "HEAD"):
            status, body = raw_get(hosted_app, path, method)
            assert status == 403, (path, method, status)
            assert SECRET not in body, path


def test_file_routes_serve_a_runs_export(hosted_app, site):
    status, body = raw_get(hosted_app, file_url(site.export))
    assert status == 200 and body == site.export.read_bytes()


def test_urls_in_file_routes_are_refused_not_fetched(hosted_app):
    for target in ("http://127.0.0.1:1/x", "https://example.com/", "http://169.254.169.254/latest/meta-data/"):
        status, _ = raw_get(hosted_app, file_url(target))
        assert status == 403, target


def test_the_guard_rule_by_itself(site, monkeypatch):
    monkeypatch.chdir(REPO)
    assert is_allowed_download(str(site.export), site.runs)
    assert is_allowed_download("/etc/passwd", site.runs)  # not the guard's business: Gradio refuses it
    for refused in [str(p) for p in site.internals.values()] + [
            f"{site.runs}/.uploads/x/exports/y", f"{site.runs}/{site.run.id}/exports", "https://example.com",
            f"{site.runs}/{site.run.id}/exports/a\0b"]:
        assert not is_allowed_download(refused, site.runs), refused


# ---------------------------------------------------------------------------------------------
# API calls that carry a server path


def call(base: str, api: str, data: list, session: str | None = None, cookies: dict | None = None) -> tuple[str, str]:
    """Call an event the way any HTTP client can; returns (last SSE event, its data). Calls with the same
    `session` share the page state (gr.State) of one page, as a scripted client can."""
    event_id = httpx.post(f"{base}/gradio_api/call/{api}", json={"data": data, "session_hash": session},
                          cookies=cookies, timeout=30).json()["event_id"]
    text = httpx.get(f"{base}/gradio_api/call/{api}/{event_id}", cookies=cookies, timeout=120).text
    events = re.findall(r"^event: (\w+)\ndata: (.*)$", text, re.M)
    return events[-1]


def endpoint_parameters(base: str) -> dict[str, list[dict]]:
    info = httpx.get(f"{base}/gradio_api/info", timeout=30).json()
    return {name.lstrip("/"): ep["parameters"] for name, ep in info["named_endpoints"].items()}


def test_no_endpoint_accepts_a_server_file_in_place_of_an_upload(hosted_app):
    """Every event with a file input is sent /etc/passwd as if it had been uploaded: Gradio refuses it."""
    smuggled = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}, "orig_name": "passwd"}
    with_files = {name: params for name, params in endpoint_parameters(hosted_app).items()
                  if any(p["component"] in ("File", "Uploadbutton", "UploadButton") for p in params)}
    assert {"_upload", "load_yaml"} <= set(with_files)
    genuine = []  # files really uploaded, one per accepted kind: the same calls with them succeed
    for name, content in (("notes.txt", b"some text\n"), ("config.yaml", b"name: fine\n")):
        path = httpx.post(f"{hosted_app}/gradio_api/upload", files={"files": (name, content)}).json()[0]
        genuine.append({**smuggled, "path": path, "orig_name": name})
    for name, params in with_files.items():
        def payload_with(file):
            return [([file] if "list" in p["python_type"]["type"] else file)
                    if p["component"] in ("File", "Uploadbutton", "UploadButton") else p.get("parameter_default")
                    for p in params]

        assert any(call(hosted_app, name, payload_with(file))[0] == "complete" for file in genuine), name
        event, payload = call(hosted_app, name, payload_with(smuggled))
        assert event == "error", (name, payload)
        assert "root:" not in payload


def test_hosted_app_refuses_server_paths_for_tokenizers_and_datasets(hosted_app):
    event, payload = call(hosted_app, "_load", ["a-browser-token", "/usr/lib", False, []])
    refused = json.loads(payload)  # said in the tab's status (no error badges); nothing loaded, nothing in use
    assert "hosted mode" in refused[0] and refused[-1] is None, payload
    params = endpoint_parameters(hosted_app)["_preview"]
    asked = {"Source": "local", "A folder or file on this machine": "/etc"}  # as a scripted client would send
    data = [asked.get(p["label"], p.get("parameter_default")) for p in params]
    assert sum(p["label"] in asked for p in params) == len(asked)
    event, payload = call(hosted_app, "_preview", data)
    assert "passwd" not in payload and ("error" == event or "switched off" in payload), payload


def test_hosted_app_offers_no_config_file_or_server_path_while_watching_a_run(hosted_app, site):
    event, payload = call(hosted_app, "poll", ["", False, 0.6, ""])
    assert event == "complete" and site.run.id in payload  # the page shows the run...
    assert "config.yaml" not in payload and str(site.runs) not in payload  # ...but no file or path on the server
    event, payload = call(hosted_app, "controls", [None, ""])  # the buttons and run details
    assert event == "complete" and site.run.id in payload
    assert "config.yaml" not in payload and str(site.runs) not in payload


def test_the_environment_variable_turns_hosted_mode_on(monkeypatch):
    monkeypatch.setenv("CLM_GUI_HOSTED", "1")
    assert build_parser().parse_args(["app"]).hosted is True
    monkeypatch.setenv("CLM_GUI_HOSTED", "0")
    assert build_parser().parse_args(["app"]).hosted is False
    assert build_parser().parse_args(["app", "--hosted"]).hosted is True


# ---------------------------------------------------------------------------------------------
# Authentication, binding, share links


def test_with_auth_nothing_is_served_before_login_and_internals_stay_refused_after(authed_app, site):
    for path in ("/config", file_url(site.export), "/gradio_api/info"):
        assert raw_get(authed_app, path)[0] == 401, path
    assert raw_get(authed_app, file_url(site.internals["weights"]))[0] == 403  # the guard answers first
    wrong = httpx.post(f"{authed_app}/login", data={"username": "alice", "password": "guess"})
    assert wrong.status_code == 400
    login = httpx.post(f"{authed_app}/login", data={"username": "alice", "password": "s3cret"})
    assert login.status_code == 200
    cookie = "; ".join(f"{k}={v}" for k, v in login.cookies.items())
    assert raw_get(authed_app, "/config", cookie=cookie)[0] == 200
    assert raw_get(authed_app, file_url(site.export), cookie=cookie) == (200, site.export.read_bytes())
    status, body = raw_get(authed_app, file_url(site.internals["weights"]), cookie=cookie)
    assert status == 403 and SECRET not in body


def test_auth_must_be_user_colon_password():
    assert parse_auth("alice:s3:cret") == ("alice", "s3:cret")
    for bad in ("alice", ":pw", "alice:"):
        with pytest.raises(UserError, match="USER:PASS"):
            parse_auth(bad)


def test_the_server_listens_on_loopback_only_by_default_and_never_shares(hosted_app, tmp_path):
    port = int(hosted_app.rsplit(":", 1)[1])
    listening = [c for c in psutil.Process().net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port == port]
    assert [c.laddr.ip for c in listening] == ["127.0.0.1"]
    args = build_parser().parse_args(["app"])
    assert args.host == "127.0.0.1"
    options = launch_options(AppSettings(runs_dir=tmp_path))
    assert options["server_name"] == "127.0.0.1" and options["share"] is False
    assert "--share" not in build_parser()._subparsers._group_actions[0].choices["app"].format_help()


# ---------------------------------------------------------------------------------------------
# The Gradio pin

# Advisories about reading or fetching files through a Gradio server, with the first release that fixed
# each (from the GitHub advisory database and Gradio's changelog).
FILE_ACCESS_ADVISORIES = {
    "CVE-2023-51449 (/file= traversal)": "4.11.0",
    "CVE-2024-1561 (arbitrary file read via component_server)": "4.13.0",
    "CVE-2024-1728 (local file inclusion via UploadButton)": "4.19.2",
    "CVE-2024-47164 (is_in_or_equal bypass of allowed paths)": "5.0.0",
    "CVE-2024-47166 (one-level traversal in /custom_component)": "5.0.0",
    "CVE-2024-47167 / CVE-2024-47168 (SSRF through /queue/join, file fetch)": "5.0.0",
    "CVE-2025-23042 (case-insensitive blocked_paths bypass)": "5.11.0",
    "CVE-2025-48889 (arbitrary file copy through flagging FileData)": "5.31.0",
    "CVE-2026-28416 / GHSA-jmh7-g254-2cq9 (SSRF through gr.load proxy_url)": "6.6.0",
    "CVE-2026-28414 / GHSA-39mp-8hj3-5c49 (absolute path traversal in /static)": "6.7.0",
    "GHSA-j36p-7w88-g82j (FileExplorer path traversal)": "6.16.0",
    "gradio#13593 / #13596 (open redirect and SSRF in /gradio_api/file=<url>)": "6.20.0",
}


def gradio_requirement() -> SpecifierSet:
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if re.match(r"^gradio\s*[<>=!~]", line):
            return SpecifierSet(line.removeprefix("gradio").split("#")[0].strip())
    raise AssertionError("requirements.txt does not pin gradio")


def test_gradio_is_pinned_above_every_known_file_access_fix():
    spec = gradio_requirement()
    lowest = min((Version(s.version) for s in spec if s.operator in (">=", "==", "~=")), default=None)
    assert lowest is not None, "gradio needs a lower bound"
    for advisory, fixed in FILE_ACCESS_ADVISORIES.items():
        assert lowest >= Version(fixed), f"{spec} admits gradio releases open to {advisory}"
        assert Version(gr.__version__) >= Version(fixed), advisory
    assert Version(gr.__version__) in spec  # the tests run on a release the pin allows


# ---------------------------------------------------------------------------------------------
# Every event of the hosted page, with hostile values in every input and a hostile draft in the page


HOSTILE_TOKEN = "token-of-an-attackers-browser"


def hostile_targets(site: Site, outside: Path) -> list[str]:
    """Paths a visitor must never read: a system file, a folder outside the app, another visitor's
    upload folder and the folder of everyone's uploads."""
    return ["/etc/passwd", str(outside), str(site.internals["upload"].parent), str(site.runs / ".uploads")]


def hostile_value(component, path: str, draft: dict):
    """What an attacker sends for `component` (or, for a gr.State, what a route could have left there)."""
    if isinstance(component, gr.BrowserState):
        return HOSTILE_TOKEN if component.storage_key == "clm-gui-visitor" else {"config": draft, "profile": None}
    if isinstance(component, gr.State):
        initial = component.value
        if isinstance(initial, dict) and "data" in initial:
            return draft
        if isinstance(initial, str):
            return path  # an upload folder kept by the page
        if isinstance(initial, list):
            return [{"name": "x", "path": path, "vocab_size": 300}]  # tokenizers the session "loaded"
        return initial
    if isinstance(component, gr.Radio):
        values = [choice[1] for choice in component.choices]
        return "upload" if "upload" in values else "local" if "local" in values else component.value
    if isinstance(component, gr.Dropdown) and not component.allow_custom_value:
        return component.value  # Gradio itself refuses anything else: the handler must be reached
    if isinstance(component, (gr.Textbox, gr.Dropdown, gr.Code)):
        return path
    return getattr(component, "value", None)


def run_apart(coroutine):
    """Run a coroutine to its end on an event loop of its own thread: a browser test earlier in the same
    process (Playwright's sync API) can leave this thread looking as if a loop were running, and
    asyncio.run refuses to start there (seen in a full run: two events answered that error)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def walk_every_event(demo: gr.Blocks, path: str, session: str) -> dict[str, str]:
    """Call every registered event function of `demo`, as its queue would, in one page session whose
    draft names `path` as data source and tokenizer; returns each event's output (or error) as text."""
    from gradio.state_holder import SessionState

    draft = RunConfig().to_dict()
    draft["data"]["source"] = draft["tokenizer"]["path"] = path
    draft["data"]["text_unit"] = "line"
    state = SessionState(demo)
    request = gr.Request(username=None, session_hash=session)
    # The page's first call says who it is; deleting comes last, so that every other event has what it reads.
    fns = sorted(demo.fns.values(), key=lambda fn: (fn.name != "mint", "delete" in (fn.name or "")))
    kept = [c for fn in fns for c in fn.inputs if isinstance(c, gr.State) and not isinstance(c, gr.BrowserState)]
    said = {}
    for fn in fns:
        if fn.fn is None:
            continue
        for component in kept:  # each event meets the hostile values, whatever the one before it left there
            state[component._id] = hostile_value(component, path, draft)
        inputs = [hostile_value(component, path, draft) for component in fn.inputs]
        try:
            result = run_apart(demo.process_api(fn, inputs, state=state, request=request, session_hash=session))
            said[f"{fn.name}#{fn._id}"] = json.dumps(result.get("data"), default=str)
        except Exception as exc:  # noqa: BLE001 - an error is a refusal; its text is checked too
            said[f"{fn.name}#{fn._id}"] = f"error: {exc!r}"
    return said


def test_every_event_of_the_hosted_page_reads_nothing_outside_the_visitors_own_folders(site, tmp_path):
    """Each event, sent a server file, a folder outside the app, another visitor's upload or everyone's
    uploads in every text input, in every kept value and in the page's draft: no secret comes back. The
    same walk with the visitor's own upload reads it: the policy tells visitors apart, it refuses not all."""
    from clm_gui.hosting.access import visitor_folders
    from clm_gui.hosting.ownership import visitor_for

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "notes.txt").write_text("words outside the app\n" * 50)
    settings = AppSettings(runs_dir=site.runs, hosted=True)
    demo = build_app(settings)
    for n, path in enumerate(hostile_targets(site, outside)):
        for event, output in walk_every_event(demo, path, f"hostile-{n}").items():
            for secret in ("words outside the app", "someone's uploaded data", "root:x:"):  # what each file holds
                assert secret not in output, (path, event, output[:300])
            if not path.startswith(str(site.runs)):  # and no server path it did not send itself (the disk's folder)
                assert str(site.runs.resolve()) not in output, (path, event, output[:300])
    attacker = visitor_for(True, (), None, HOSTILE_TOKEN)
    own = visitor_folders(site.runs, attacker).uploads / "abcd0123"
    own.mkdir(parents=True)
    (own / "mine.txt").write_text("MINE-MARKER of the visitor's own\n" * 50)
    said = walk_every_event(demo, str(own), "own")
    readers = {event: output[:300] for event, output in said.items() if "preview" in event or "profile" in event}
    assert any("MINE-MARKER" in output for output in said.values()), ("the visitor's own upload was not read", readers)
