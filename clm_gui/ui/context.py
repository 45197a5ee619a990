"""What every tab shares: app settings, who the visitor is, and the session's run configuration under construction."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from clm_gui.hosting.settings import AppSettings
from clm_gui.ui.visitor import Visitors


@dataclass
class UIContext:
    settings: AppSettings
    config: gr.State  # RunConfig.to_dict() being filled in by the tabs, read by the Train tab
    profile: gr.State  # the latest DatasetProfile.to_dict() (JSON, kept in the browser) or None: tabs read it with from_dict
    visitors: Visitors  # who asks, for the handlers that control runs or count quotas
    tabs: gr.Tabs | None = None  # the page's tabs, for links from one tab to another (gr.Tabs(selected=id))
    tab: gr.Tab | None = None  # the tab whose build() runs now, for its own select event
