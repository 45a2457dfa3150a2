"""Projector mode: the dashboard for a committee around a projector or a wall screen.

Large type, high contrast, no sidebar and none of Streamlit's chrome, everything
within the width of the screen; optionally the role's pages in turn, one every N
seconds. Turned on by the sidebar toggle, or by the address, so that a wall screen
opens straight into it:

    https://sitroom.example/shelters?projector=1&rotate=30

The setting lives in the session (`Projector`, under KEY) and is written back into
the address on every run, so it survives the navigation (which drops the query
parameters), a reload and the auto-refresh. Its look is one stylesheet,
components/projector.css. Rotation moves with st.switch_page: every page it shows
is a full run of app.py, signed-in check and audit line included, and it stops when
the session ends (the timer checks the session first, components/signin.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage
from streamlit.runtime.scriptrunner import get_script_run_ctx

from components.signin import require_session
from dashboard.language import _

KEY = "sitroom_projector"  # the session's Projector
TOGGLE, ROTATE_INPUT, EXIT = "projector-toggle", "projector-rotate", "projector-exit"
PARAM, ROTATE_PARAM = "projector", "rotate"
ON_WORDS = ("1", "true", "yes", "on")
MIN_ROTATE_S, MAX_ROTATE_S = 10, 3600  # faster than 10 s, a page is not read before it goes
STYLESHEET = Path(__file__).with_name("projector.css")


@dataclass(frozen=True)
class Projector:
    on: bool = False
    rotate_s: int = 0  # seconds on each page before the next; 0: no rotation

    def query_params(self) -> dict[str, str]:
        """What the address says for this setting (nothing when it is off)."""
        if not self.on:
            return {}
        return {PARAM: "1", **({ROTATE_PARAM: str(self.rotate_s)} if self.rotate_s else {})}


def rotate_seconds(value: object) -> int:
    """A rotation interval as asked (the address, the control): 0 for none or for
    anything unreadable, else within MIN_ROTATE_S..MAX_ROTATE_S."""
    try:
        seconds = int(str(value).strip())
    except ValueError:
        return 0
    return 0 if seconds <= 0 else max(MIN_ROTATE_S, min(seconds, MAX_ROTATE_S))


def from_params(params: dict[str, str]) -> Projector:
    """The setting an address asks for: `?projector=1`, `&rotate=30`."""
    on = str(params.get(PARAM, "")).strip().lower() in ON_WORDS
    return Projector(on=on, rotate_s=rotate_seconds(params.get(ROTATE_PARAM, 0)) if on else 0)


def current() -> Projector:
    """The session's setting; on the session's first run, the one its address asks for."""
    setting = st.session_state.get(KEY)
    if not isinstance(setting, Projector):
        setting = from_params({k: st.query_params.get(k, "") for k in (PARAM, ROTATE_PARAM)})
        st.session_state[KEY] = setting
    return setting


def is_on() -> bool:
    return current().on


def _set(setting: Projector) -> None:
    st.session_state[KEY] = setting
    keep_in_address(setting)


def keep_in_address(setting: Projector) -> None:
    """Write the setting into the address bar (only what differs, so an unchanged run
    sends nothing)."""
    wanted = setting.query_params()
    for name in (PARAM, ROTATE_PARAM):
        if name in wanted:
            if st.query_params.get(name) != wanted[name]:
                st.query_params[name] = wanted[name]
        elif name in st.query_params:
            del st.query_params[name]


def _toggled() -> None:
    on = bool(st.session_state.get(TOGGLE))
    _set(replace(current(), on=on, rotate_s=current().rotate_s if on else 0))


def _rotation_changed() -> None:
    _set(replace(current(), rotate_s=rotate_seconds(st.session_state.get(ROTATE_INPUT, 0))))


def _exit() -> None:
    _set(Projector())


def sidebar_controls() -> Projector:
    """The sidebar's toggle and rotation interval. Drawn on every signed-in run, even
    while the sidebar is hidden, so the widgets keep their state."""
    setting = current()
    st.session_state[TOGGLE] = setting.on  # the session's setting, from the address too
    st.session_state[ROTATE_INPUT] = setting.rotate_s
    with st.sidebar:
        st.toggle(_("Projector mode"), key=TOGGLE, on_change=_toggled,
                  help=_("Large type and high contrast for a projector or a wall screen, with "
                         "no sidebar. Open a page with ?projector=1 in its address for the "
                         "same; add &rotate=30 to show the pages in turn."))
        st.number_input(_("Rotate pages every (s)"), min_value=0, max_value=MAX_ROTATE_S,
                        step=10, key=ROTATE_INPUT, on_change=_rotation_changed,
                        disabled=not setting.on,
                        # Translators: {seconds} is the shortest interval, in seconds.
                        help=_("In projector mode, show your pages in turn; 0 stays on this "
                               "page. At least {seconds} s.").format(seconds=MIN_ROTATE_S))
    return setting


def apply(setting: Projector, pages: Sequence[StreamlitPage], shown: StreamlitPage,
          db_url: str) -> None:
    """In projector mode: the stylesheet, the way out, and the rotation timer. Call on
    every signed-in full run, before the page runs."""
    keep_in_address(setting)
    if not setting.on:
        return
    st.markdown(f"<style>{STYLESHEET.read_text(encoding='utf-8')}</style>", unsafe_allow_html=True)
    st.button(_("Exit projector mode"), key=EXIT, on_click=_exit, icon=":material/close:",
              help=_("Back to the normal view, with the sidebar"))
    if setting.rotate_s and len(pages) > 1:
        with st.sidebar:  # hidden: the timer needs a place, not a space on the page
            _rotation(setting, next_page(pages, shown), db_url)


def next_page(pages: Sequence[StreamlitPage], shown: StreamlitPage) -> StreamlitPage:
    """The page after `shown` in the role's list, round to the first."""
    paths = [p.url_path for p in pages]
    at = paths.index(shown.url_path) if shown.url_path in paths else -1
    return pages[(at + 1) % len(pages)]


def _rotation(setting: Projector, following: StreamlitPage, db_url: str) -> None:
    @st.fragment(run_every=setting.rotate_s)
    def turn() -> None:
        ctx = get_script_run_ctx()
        if ctx is None or not ctx.fragment_ids_this_run:
            return  # the page's own run: the timer starts now
        # The session first: signed out (here or in another tab) or expired, the whole
        # app reruns into the sign-in form, which starts no timer again.
        require_session(db_url)
        if is_on():  # turned off since (another control): stay
            st.switch_page(following, query_params=current().query_params())

    turn()
