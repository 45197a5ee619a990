"""Who may control a run, through the library every entry point goes through (`jobs.JobManager`): the
owner and admins in hosted mode, the machine's user locally; and the quotas one person has when hosted."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from clm_gui.cli import app_settings, build_parser
from clm_gui.config import RunConfig
from clm_gui.errors import UserError
from clm_gui.jobs.manager import JobManager
from clm_gui.hosting.ownership import (MACHINE, OWNER_FILE, NotOwner, machine_user, may_control, owner_of, record_owner,
                                       visitor_for)
from clm_gui.hosting.access import visitor_folders
from clm_gui.hosting.quotas import (QuotaExceeded, Quotas, check_new_run, check_storage, delete_uploads, folder_bytes,
                                    import_within_quota)
from clm_gui.data.uploads import UploadLimits
from clm_gui.runs.folder import RunDir, new_run_dir

ALICE_BROWSER, BOB_BROWSER = "token-of-alices-browser", "token-of-bobs-browser"


def hosted(username=None, token=None):
    return visitor_for(True, admins=("root",), username=username, browser_token=token)


class HeldLauncher:
    """Launches nothing: each 'training' stays alive until the test releases it."""

    def __init__(self):
        self.release = threading.Event()

    def launch(self, run: RunDir, cfg, resume: bool):
        run.write_status("running", "Training.", pid=os.getpid(), started=time.time())
        release = self.release

        class Handle:
            def is_alive(self):
                return not release.is_set()

            def join(self, timeout=None):
                release.wait(timeout)

        return Handle()

    def finish(self, run: RunDir) -> None:
        self.release.set()
        run.write_status("stopped", "Stopped.", pid=None)
        self.release = threading.Event()


def config(minutes: float = 30) -> RunConfig:
    cfg = RunConfig(name="mine")
    cfg.train.max_minutes = minutes
    return cfg.check()


def with_checkpoint(run: RunDir) -> RunDir:
    checkpoint = run.checkpoint_dir(4)
    checkpoint.mkdir(parents=True)
    (checkpoint / "COMPLETE").write_text("")
    return run


@pytest.fixture
def manager(runs_root):
    launcher = HeldLauncher()
    manager = JobManager(runs_root, launcher=launcher)
    manager.held = launcher
    return manager


def test_a_visitor_is_the_logged_in_user_else_their_browser_else_unknown_and_locally_the_machine_user():
    alice = hosted(username="alice")
    assert (alice.key, alice.name, alice.admin) == ("user:alice", "alice", False)
    assert hosted(username="root").admin
    browser = hosted(token=ALICE_BROWSER)
    assert browser.key.startswith("browser:") and ALICE_BROWSER not in browser.key  # only a hash is kept
    assert browser == hosted(token=ALICE_BROWSER) != hosted(token=BOB_BROWSER)  # the same browser after a reload
    assert hosted() is None
    assert visitor_for(False, (), None, None) == visitor_for(False, (), "bob", BOB_BROWSER) == machine_user()
    assert machine_user().admin


def test_only_the_owner_or_an_admin_may_stop_a_run_and_a_refusal_says_why(manager):
    alice, bob = hosted(token=ALICE_BROWSER), hosted(token=BOB_BROWSER)
    run = manager.start(config(), by=alice)
    assert owner_of(run) == alice.key and ALICE_BROWSER not in (run.path / OWNER_FILE).read_text()

    for stranger in (bob, hosted(username="carol"), None):
        with pytest.raises(NotOwner) as refused:
            manager.stop(by=stranger)
        assert not run.stop_path.exists()
    assert "reload the page" in str(refused.value)  # a request that carries no identity
    with pytest.raises(NotOwner, match=rf"Only whoever started the run {run.id} \(another visitor\) or an admin "
                                       "may stop it; you can watch its charts and samples"):
        manager.stop(by=bob)
    assert manager.stop(by=alice) == run and run.stop_path.exists()
    run.stop_path.unlink()
    assert manager.stop(by=hosted(username="root")) == run  # an admin named at launch
    manager.held.finish(run)


def test_only_the_owner_or_an_admin_may_resume_or_delete_a_run(manager):
    alice, bob = hosted(username="alice"), hosted(token=BOB_BROWSER)
    run = manager.start(config(), by=alice)
    with pytest.raises(UserError, match="is training; stop it first"):
        manager.delete(run.id, by=alice)
    manager.held.finish(with_checkpoint(run))

    with pytest.raises(NotOwner, match=rf"run {run.id} \(alice\) or an admin may resume it"):
        manager.resume(run.id, by=bob)
    with pytest.raises(NotOwner, match="may delete it"):
        manager.delete(run.id, by=bob)
    assert run.read_status()["state"] == "stopped" and run.exists()  # refused before anything changed
    assert manager.resume(run.id, by=alice) == run
    manager.held.finish(run)
    manager.delete(run.id, by=alice)
    assert not run.path.exists()


def test_command_line_runs_belong_to_the_machine_only_an_admin_controls_them_when_hosted(manager, runs_root):
    cli_run = with_checkpoint(new_run_dir(runs_root, config()))  # as `python -m clm_gui train` makes it
    cli_run.write_status("stopped", "Stopped.")
    assert owner_of(cli_run) == MACHINE
    assert not may_control(hosted(username="alice"), cli_run)
    with pytest.raises(NotOwner, match=r"\(the machine's administrator \(command line\)\)"):
        manager.resume(cli_run.id, by=hosted(username="alice"))
    assert may_control(hosted(username="root"), cli_run) and may_control(machine_user(), cli_run)


def test_locally_every_visitor_controls_every_run_as_before(manager, runs_root):
    local = visitor_for(False, (), None, None)
    someone_elses = new_run_dir(runs_root, config())
    record_owner(someone_elses, hosted(token=BOB_BROWSER))  # e.g. a runs folder once served hosted
    assert may_control(local, someone_elses)
    run = manager.start(config(minutes=0), quotas=Quotas(max_runs_per_owner=1, max_train_minutes=1))  # no quotas
    assert manager.stop() == run  # the CLI's and the tests' default: the machine's user
    manager.held.finish(run)


# ---------------------------------------------------------------------------------------------
# Quotas


def test_the_number_of_runs_kept_per_owner_is_limited_and_deleting_one_makes_room(manager):
    quotas = Quotas(max_runs_per_owner=2)
    alice, bob = hosted(username="alice"), hosted(token=BOB_BROWSER)
    kept = []
    for _ in range(2):
        kept.append(manager.start(config(), by=alice, quotas=quotas))
        manager.held.finish(kept[-1])
    with pytest.raises(QuotaExceeded) as refused:
        manager.start(config(), by=alice, quotas=quotas)
    message = str(refused.value)
    assert "You keep 2 runs" in message and "--max-runs-per-owner 2" in message
    assert "Delete one you no longer need (Train tab" in message and kept[0].id in message
    manager.held.finish(manager.start(config(), by=bob, quotas=quotas))  # bob's quota is his own
    manager.held.finish(manager.start(config(), by=hosted(username="root"), quotas=quotas))  # admins have none
    manager.delete(kept[0].id, by=alice)
    manager.held.finish(manager.start(config(), by=alice, quotas=quotas))


def test_a_hosted_run_must_end_within_the_training_time_limit(manager):
    quotas, alice = Quotas(max_train_minutes=20), hosted(username="alice")
    for minutes, asked in ((0, "no time limit"), (45, "45 minutes")):
        with pytest.raises(QuotaExceeded, match=rf"at most 20 minutes on this app \(--max-train-minutes 20\), and "
                                                rf"this one asks for {asked}.*Set Max minutes"):
            manager.start(config(minutes=minutes), by=alice, quotas=quotas)
    run = manager.start(config(minutes=20), by=alice, quotas=quotas)
    manager.held.finish(run)


def test_upload_storage_per_owner_is_limited_and_deleting_uploads_frees_it(tmp_path):
    runs, quotas, limits = tmp_path / "runs", Quotas(max_upload_storage_mb=1), UploadLimits.from_megabytes(1)
    alice, bob = hosted(username="alice"), hosted(token=BOB_BROWSER)
    files = []
    for name in ("a.txt", "b.txt", "c.txt"):
        files.append(tmp_path / name)
        files[-1].write_text(name * 150_000)  # 0.75 MB each
    folders = visitor_folders(runs, alice)
    mine = folders.uploads
    first = import_within_quota([files[0]], folders, limits, quotas, alice)
    with pytest.raises(QuotaExceeded) as refused:
        import_within_quota([files[1]], folders, limits, quotas, alice)
    message = str(refused.value)
    assert "over the 1 MB one person may keep" in message and "--max-upload-storage-mb 1" in message
    assert "Delete uploads you no longer need (Dataset tab: Delete my uploads)" in message
    assert [p.name for p in mine.iterdir()] == [first.folder.name]  # the refused upload is gone, the first kept
    import_within_quota([files[1]], visitor_folders(runs, bob), limits, quotas, bob)  # his own room
    import_within_quota([files[1]], visitor_folders(runs, hosted(username="root")), limits, quotas,
                        hosted(username="root"))
    kept = folder_bytes(first.folder)
    assert delete_uploads(folders) == kept > 0 and not mine.exists()
    import_within_quota([files[2]], folders, limits, quotas, alice)
    assert visitor_folders(runs, machine_user()).uploads == runs / ".uploads"  # locally: where they always went


def test_storage_counts_tokenizers_and_caches_too_and_refuses_before_more_work(tmp_path):
    runs, quotas, limits = tmp_path / "runs", Quotas(max_upload_storage_mb=1), UploadLimits.from_megabytes(1)
    alice = hosted(username="alice")
    folders = visitor_folders(runs, alice)
    for folder in (folders.tokenizers / "bpe-300", folders.quickstart_tokenizers / "bpe-1", folders.token_cache):
        folder.mkdir(parents=True)
        (folder / "blob").write_bytes(b"x" * 400_000)  # 1.2 MB in all: none of it an upload
    with pytest.raises(QuotaExceeded) as refused:
        check_storage(quotas, alice, folders, "Another tokenizer")
    assert "(uploads, tokenizers and caches) to 1.2 MB" in str(refused.value)
    note = tmp_path / "a.txt"
    note.write_text("some text")
    with pytest.raises(QuotaExceeded):
        import_within_quota([note], folders, limits, quotas, alice)
    with pytest.raises(QuotaExceeded, match="tokenizers and caches"):  # a run adds a token cache: refused first
        check_new_run(quotas, runs, alice, config())
    check_storage(quotas, hosted(username="bob"), visitor_folders(runs, hosted(username="bob")))  # his own room


def test_quotas_and_admins_are_launch_options_with_safe_defaults(monkeypatch):
    parse = lambda argv: build_parser().parse_args(argv)  # noqa: E731 - the parser reads the environment
    monkeypatch.setenv("CLM_GUI_ADMINS", "space-owner, helper")  # a Space passes no options
    assert app_settings(parse(["app"])).admins == ("space-owner", "helper")
    monkeypatch.delenv("CLM_GUI_ADMINS")
    defaults = app_settings(parse(["app"]))
    assert defaults.quotas == Quotas() and defaults.admins == () and defaults.auth is None
    assert (Quotas().max_runs_per_owner, Quotas().max_train_minutes, Quotas().max_upload_storage_mb) == (5, 60, 1000)
    chosen = app_settings(parse(["app", "--hosted", "--auth", "alice:pw", "--auth", "bob:pw", "--admin", "alice",
                                 "--max-upload-mb", "50", "--max-upload-storage-mb", "300",
                                 "--max-runs-per-owner", "2", "--max-train-minutes", "15"]))
    assert chosen.auth == [("alice", "pw"), ("bob", "pw")] and chosen.admins == ("alice",)
    assert chosen.max_upload_mb == 50 and chosen.quotas == Quotas(300, 2, 15)
    with pytest.raises(UserError, match="--max-runs-per-owner must be a positive number"):
        app_settings(parse(["app", "--max-runs-per-owner", "0"]))


def test_an_unreadable_owner_file_means_the_machine_owns_the_run(runs_root):
    run = new_run_dir(runs_root, config())
    for text in ("not json", json.dumps(["a list"]), json.dumps({"owner": ""})):
        (run.path / OWNER_FILE).write_text(text)
        assert owner_of(run) == MACHINE


def test_a_hosted_run_reads_only_its_owners_uploads_however_it_is_started(manager, runs_root, tmp_path):
    """`JobManager.start` itself, called directly, refuses a server path, a folder outside the app, another
    visitor's upload and the uploads folder of everyone; the owner's own upload starts, its cache is theirs."""
    alice, bob = hosted(username="alice"), hosted(token=BOB_BROWSER)
    outside = tmp_path / "outside"
    bobs = visitor_folders(runs_root, bob).uploads / "0123abcd"
    mine = visitor_folders(runs_root, alice).uploads / "4567ef01"
    for folder in (outside, bobs, mine):
        folder.mkdir(parents=True)
        (folder / "notes.txt").write_text("SECRET words of someone\n")
    for source in ("/etc/passwd", str(outside), str(bobs), str(runs_root / ".uploads"), f"{mine}/../../"):
        cfg = config()
        cfg.data.source = source
        with pytest.raises(UserError, match="not one of your uploads"):
            manager.start(cfg, by=alice)
    cfg = config()
    cfg.tokenizer.path = str(outside)
    with pytest.raises(UserError, match="tokenizer.path"):
        manager.start(cfg, by=alice)
    assert not [p for p in runs_root.iterdir() if not p.name.startswith(".")]  # nothing was made
    cfg = config()
    cfg.data.source = str(mine)
    run = manager.start(cfg, by=alice)
    assert run.token_cache_dir == visitor_folders(runs_root, alice).token_cache  # counted as hers
    manager.held.finish(run)
    local = manager.start(config(), by=machine_user())  # the machine's own user keeps the shared cache
    assert local.token_cache_dir == runs_root / ".token-cache"
    manager.held.finish(local)
