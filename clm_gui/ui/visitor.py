"""Who is using the page: handlers that need to know (to control a run, to count a quota) get an
`ownership.Visitor` for each call.

A visitor who did not log in is known by a random token kept in their browser (gr.BrowserState, in
localStorage), minted on their first visit, so a reload, a second tab or an app restart is still the same
visitor. A logged-in user (`--auth`, or the Hugging Face button on a Space with OAuth) is known by name.
Every call resolves the visitor from what that call itself carries (its request's login, the token it
sent): a script calling the endpoints directly is whoever its own request says, never somebody else.
Locally every visitor is the machine's user, as before.

Hosted, every event of the page runs under its visitor's `AccessPolicy` (`enforce_on_every_event`), so
whatever path a value names, by whichever route it came (a kept draft, a form field, a direct API call),
the library reads only inside that visitor's own folders. An event that carries no browser token is
known by its page session (the token that page last sent with a call); a page the app does not know
yet reads no local path at all.
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
from collections import OrderedDict
from collections.abc import Callable

import gradio as gr
from gradio.context import LocalContext

from clm_gui.hosting.access import visitor_policy
from clm_gui.hosting.ownership import Visitor, new_browser_token, visitor_for
from clm_gui.hosting.settings import AppSettings
from clm_gui.security import AccessPolicy, enforcing

STORAGE_KEY = "clm-gui-visitor"
# The page is sent this key to read its own localStorage, so it guards nothing; it only has to stay the
# same across app restarts, so that a browser keeps its token, and with it its runs.
STORAGE_SECRET = "clm-gui-visitor-token"
MAX_SESSIONS = 10_000  # page sessions remembered (the oldest forgotten first: its page then reloads to be known)


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
        self._sessions: OrderedDict[str, Visitor] = OrderedDict()  # page session -> who it last said it was
        self._sessions_lock = threading.Lock()

    def mint_on_load(self, demo: gr.Blocks) -> None:
        """Hosted: give a browser that has no token one, on its first visit (one that has keeps it), and
        know the page's session as that visitor from then on."""
        if not self.settings.hosted:
            return

        def mint(request: gr.Request, token):
            known = token if isinstance(token, str) and token else None
            self.resolve(request, None, known or (fresh := new_browser_token()))
            return gr.skip() if known else fresh

        demo.load(mint, inputs=self.token, outputs=self.token, show_progress="hidden", api_visibility="private")

    def resolve(self, request: gr.Request | None, profile: gr.OAuthProfile | None, token) -> Visitor | None:
        username = (profile.username if profile else None) or getattr(request, "username", None)
        visitor = visitor_for(self.settings.hosted, self.settings.admins, username,
                              token if isinstance(token, str) else None)
        session = getattr(request, "session_hash", None)
        if visitor is not None and session:
            self._remember(session, visitor)
        return visitor

    def _remember(self, session: str, visitor: Visitor) -> None:
        with self._sessions_lock:
            self._sessions[session] = visitor
            self._sessions.move_to_end(session)
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)

    def of_request(self, request: gr.Request | None) -> Visitor | None:
        """Who sent a request that carries no token: its login, else whoever its page session last was."""
        username = getattr(request, "username", None)
        if username or not self.settings.hosted:
            return visitor_for(self.settings.hosted, self.settings.admins, username, None)
        with self._sessions_lock:
            return self._sessions.get(getattr(request, "session_hash", None) or "")

    def policy_of(self, visitor: Visitor | None) -> AccessPolicy:
        return visitor_policy(self.settings.runs_dir, visitor, self.settings.hosted)

    def enforce_on_every_event(self, demo: gr.Blocks) -> None:
        """Hosted: run every event function of `demo` under the policy of the visitor who sent it."""
        if not self.settings.hosted:
            return
        for block_fn in demo.fns.values():
            if block_fn.fn is not None:
                block_fn.fn = self._under_policy(block_fn.fn)

    def _policy_now(self) -> AccessPolicy:
        return self.policy_of(self.of_request(LocalContext.request.get(None)))  # Gradio sets it for each call

    def _under_policy(self, fn: Callable) -> Callable:
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def generate(*args, **kwargs):
                with enforcing(self._policy_now()) as policy:
                    items = fn(*args, **kwargs)
                while True:  # each step runs in a worker thread of its own: the policy goes with it
                    with enforcing(policy):
                        try:
                            item = next(items)
                        except StopIteration:
                            return
                    yield item
            return generate
        if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
            raise TypeError(f"{fn.__name__}: the app has no async handlers; give this one its policy first.")

        @functools.wraps(fn)
        def call(*args, **kwargs):
            with enforcing(self._policy_now()):
                return fn(*args, **kwargs)
        return call

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
