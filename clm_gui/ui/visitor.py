"""Who is using the page: handlers that need to know (to control a run, to count a quota) get an
`ownership.Visitor` for each call.

A visitor who did not log in is known by a random token kept in their browser (gr.BrowserState, in
localStorage), minted on their first visit, so a reload, a second tab or an app restart is still the same
visitor. A logged-in user (`--auth`, or the Hugging Face button on a Space with OAuth) is known by name.
Every call resolves the visitor from what that call itself carries (its request's login, the token it
sent): a script calling the endpoints directly is whoever its own request says, never somebody else.
Locally every visitor is the machine's user, as before.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import gradio as gr

from clm_gui.hosting.ownership import Visitor, new_browser_token, visitor_for
from clm_gui.hosting.settings import AppSettings

STORAGE_KEY = "clm-gui-visitor"
# The page is sent this key to read its own localStorage, so it guards nothing; it only has to stay the
# same across app restarts, so that a browser keeps its token, and with it its runs.
STORAGE_SECRET = "clm-gui-visitor-token"


def oauth_configured() -> bool:
    """A Space with `hf_oauth: true` in its README: Hugging Face sets the OAuth client for the app."""
    return bool(os.environ.get("OAUTH_CLIENT_ID"))


class Visitors:
    """The browser token component (and the sign-in button where there is one), and `bind`."""

    def __init__(self, settings: AppSettings):
        self.settings = settings
        self.token = gr.BrowserState(None, storage_key=STORAGE_KEY, secret=STORAGE_SECRET)
        if settings.hosted and oauth_configured():
            gr.LoginButton()

    def mint_on_load(self, demo: gr.Blocks) -> None:
        """Hosted: give a browser that has no token one, on its first visit."""
        if self.settings.hosted:  # a browser that has one keeps it untouched
            demo.load(lambda token: gr.skip() if token else new_browser_token(), inputs=self.token,
                      outputs=self.token, show_progress="hidden", api_visibility="private")

    def resolve(self, request: gr.Request | None, profile: gr.OAuthProfile | None, token) -> Visitor | None:
        username = (profile.username if profile else None) or getattr(request, "username", None)
        return visitor_for(self.settings.hosted, self.settings.admins, username,
                           token if isinstance(token, str) else None)

    def bind(self, handler: Callable) -> Callable:
        """`handler(visitor, *values)` as a Gradio function of `inputs(*components)`."""

        def call(request: gr.Request, profile: gr.OAuthProfile | None, token, *values):
            return handler(self.resolve(request, profile, token), *values)

        call.__name__ = handler.__name__  # the endpoint keeps the handler's name
        return call

    def inputs(self, *components) -> list:
        return [self.token, *components]

    def bind_by_name(self, handler: Callable) -> Callable:
        """`handler(visitor, given)` as a Gradio function whose inputs are a set holding `self.token`: Gradio
        then passes one {component: value} dict (ui/form.py), handed on whole."""

        def call(given: dict, request: gr.Request, profile: gr.OAuthProfile | None):
            return handler(self.resolve(request, profile, given[self.token]), given)

        call.__name__ = handler.__name__
        return call
