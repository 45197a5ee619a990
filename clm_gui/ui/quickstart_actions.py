"""What the Quick start tab does, without Gradio: each action takes the tab's values and returns the widgets
it changes by name, `{name: value}`; a widget it leaves out keeps its value. `Shown(True)` shows a widget,
`Shown(False)` hides it. The tab (`ui/quickstart_tab.py`) lays the widgets out, registers them under these
names and turns each result into Gradio's `{component: value}` (`ui/widgets.py`).

Start calls the library's quick start (`clm_gui.jobs.quickstart.plan_quickstart`, the same as
`python -m clm_gui quickstart`), puts the configuration it made into the shared draft (`config`), so that
every tab shows the choices, and starts the run the Train tab then follows.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from clm_gui.config import DataConfig, RunConfig
from clm_gui.data.sources import check_readable
from clm_gui.data.uploads import source_label
from clm_gui.errors import UserError
from clm_gui.hosting.access import visitor_folders
from clm_gui.hosting.ownership import Visitor, require_visitor
from clm_gui.hosting.quotas import check_new_run
from clm_gui.hosting.settings import AppSettings
from clm_gui.jobs.manager import JobManager
from clm_gui.jobs.quickstart import QuickstartPlan, check_minutes, plan_quickstart
from clm_gui.ui.widgets import Shown
from clm_gui.units import format_minutes

DEFAULT_MINUTES = 5
# Where each choice can be changed: (choice step, tab id, tab title)
CHANGE_IN = [("Data", "dataset", "Dataset"), ("Tokenizer", "tokenizer", "Tokenizer"), ("Model", "model", "Model"),
             ("Training", "train", "Train")]
Progress = Callable[[float | None, str], None]  # (fraction or None, what it does now)


def data_kinds(hosted: bool) -> list[tuple[str, str]]:
    """The choices of data, (label, kind): a hosted app reads no file of its server's."""
    kinds = [("Demo corpus (Python's standard library)", "demo"), ("Upload a file", "upload")]
    return kinds if hosted else [*kinds, ("A file or folder on this machine", "local")]


def choices_html(planned: QuickstartPlan, run_id: str, label: str) -> str:
    """The choices the quick start made, each with why, as a table (the tabs to change them are below it)."""
    rows = "".join(f"<tr><td><b>{html.escape(c.step)}</b></td><td>{html.escape(c.plain)}</td>"
                   f"<td>{html.escape(c.value)}</td><td>{html.escape(c.why)}</td></tr>" for c in planned.choices)
    return (f'<div class="clm-quick-choices"><p>Training <b>{html.escape(run_id)}</b> on {html.escape(label)} '
            f"with every recommendation accepted (preparing took {planned.seconds_spent:,.0f} s of the budget):</p>"
            f'<table><tr><th>Step</th><th>In plain words</th><th>Choice</th><th>Why, in detail</th></tr>{rows}'
            "</table></div>")


def source_of(kind: str, uploaded: str, path: str) -> str:
    """The data source the form names; a UserError saying what to do when it names none."""
    if kind == "demo":
        return "demo"
    if kind == "upload":
        if not uploaded:
            raise UserError("Upload a text file first (.txt, .md, .jsonl, .json, .csv, .parquet or an archive).")
        return uploaded
    if not (path or "").strip():
        raise UserError("Type the path of a file or folder on this machine first.")
    return path.strip()


class QuickStartActions:
    """The tab's actions. `import_upload(visitor, paths)` copies uploaded files into the visitor's upload
    folder (the UI's, which also clears Gradio's copies); `notify(text)` shows a passing note."""

    def __init__(self, settings: AppSettings, manager: JobManager,
                 import_upload: Callable[[Visitor | None, list], Any], notify: Callable[[str], None]):
        self.settings, self.manager = settings, manager
        self.import_upload, self.notify = import_upload, notify
        self.kinds = data_kinds(settings.hosted)

    @staticmethod
    def kind_chosen(kind: str) -> dict:
        return {"files": Shown(kind == "upload"), "local_path": Shown(kind == "local")}

    def files_chosen(self, visitor: Visitor | None, paths: list | None) -> dict:
        """The files in the upload widget: imported, or none once removed (its x), so Start asks for a file."""
        if not paths:
            return {"uploaded": "", "status": ""}
        try:
            result = self.import_upload(visitor, paths)
            check_readable(DataConfig(source=str(result.folder)))
        except UserError as exc:
            return {"uploaded": "", "status": f"⚠️ {exc}"}
        return {"uploaded": str(result.folder), "status": f"Uploaded: {result.summary()}."}

    def start(self, visitor: Visitor | None, values: dict, progress: Progress) -> dict:
        """Plan and start a run from the form's `kind`, `uploaded`, `local_path`, `minutes`; `started` is the
        run this page started, if any. A second press while that run trains is no error: a note says so."""
        if self.manager.is_training(values["started"]):
            self.notify(f"{values['started']} is already training: your first Start started it.")
            return {}
        try:
            if self.manager.active_run() is not None:
                raise UserError(f"{self.manager.active_run().id} is training: one run at a time. Watch or stop it "
                                "in the Train tab.")
            source = source_of(values["kind"], values["uploaded"], values["local_path"])
            budget = check_minutes(values["minutes"])
            visitor = require_visitor(visitor)
            asked = RunConfig()
            asked.train.max_minutes = budget
            check_new_run(self.settings.quotas, self.settings.runs_dir, visitor, asked)  # before any work
            progress(0, "Profiling the data")
            tokenizers = visitor_folders(self.settings.runs_dir, visitor).quickstart_tokenizers
            planned = plan_quickstart(source, budget, runs_dir=self.settings.runs_dir, tokenizers_dir=tokenizers,
                                      log=lambda message: progress(None, message))
            run = self.manager.start(planned.config, by=visitor, quotas=self.settings.quotas)
        except UserError as exc:
            return {"status": f"⚠️ {exc}"}
        shown = choices_html(planned, run.id, source_label(source, self.settings.runs_dir))
        line = (f"Started **{run.id}**: it trains for at most {format_minutes(planned.config.train.max_minutes)} "
                "more and keeps its best model; then try it in the Playground.")
        page = {"run": run.id, "choices": shown, "status": line, "kind": values["kind"],
                "folder": values["uploaded"], "path": values["local_path"], "minutes": budget}
        return {"status": line, "choices": shown, "links": Shown(True), "watch": Shown(True),
                "config": planned.config.to_dict(), "profile": planned.profile.to_dict(), "kept": page,
                "started": run.id}

    def reopen(self, page: Any) -> dict:
        """A page opened (a reload, a second tab) while the run this browser started trains: the form, the
        line and the choices as they were, and Start knows the run. Once it ended: a fresh form."""
        if not isinstance(page, dict) or not self.manager.is_training(page.get("run")):
            return {"choices": "", "links": Shown(False), "watch": Shown(False), "kept": ""}
        kind, minutes = page.get("kind"), page.get("minutes")  # as the browser sent them
        return {**({"kind": kind} if kind in dict(self.kinds).values() else {}),
                **({"minutes": minutes} if isinstance(minutes, (int, float)) else {}),
                "uploaded": str(page.get("folder") or ""), "local_path": str(page.get("path") or ""),
                "status": str(page.get("status") or ""), "started": page["run"],
                "choices": str(page.get("choices") or ""), "links": Shown(True), "watch": Shown(True)}

