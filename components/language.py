"""The reader's language on screen: chosen once per run of the script (and of each
fragment, which Streamlit runs without the script), switched from the sign-in page or
the sidebar, and the page's direction for a language read right to left.

The choice is the session's: it survives an auto-refresh and a page change, and it is
in the address (`?lang=fr`), so a reload or a wall screen's bookmark keeps it. Before
the reader chooses: the address, else the user's own default (the users file), else
the server's (SITROOM_LANGUAGE)."""

from __future__ import annotations

import streamlit as st

from dashboard import language
from dashboard.language import _

KEY = "sitroom_language"
PARAM = "lang"
RTL_SEEN = "sitroom_language_rtl_seen"  # this session has turned a page right to left


def start(account_default: str | None = None) -> str:
    """Set the run's language and return it. Call first in every run."""
    chosen = st.session_state.get(KEY)
    if chosen is None:
        asked = st.query_params.get(PARAM)
        if asked and language.known(asked):
            chosen = st.session_state[KEY] = asked  # kept when a page change drops it
        elif account_default:
            chosen = account_default
    if chosen is not None and not language.known(chosen):
        chosen = None
    code = chosen or language.server_default()
    language.use(code)
    # Kept in the address, which the navigation drops: a reload keeps the language.
    if code != language.server_default():
        if st.query_params.get(PARAM) != code:
            st.query_params[PARAM] = code
    elif PARAM in st.query_params:
        del st.query_params[PARAM]
    return code


def adopt_account_default(account_default: str | None) -> None:
    """At sign-in: the user's own language, unless this session already chose one."""
    if KEY not in st.session_state and account_default and language.known(account_default) \
            and not st.query_params.get(PARAM):
        st.session_state[KEY] = account_default
        language.use(account_default)


def _chosen(widget: str) -> None:
    st.session_state[KEY] = st.session_state[widget]


def switch(where: str = "sidebar") -> None:
    """The language switch, each language named in its own words."""
    current = language.current()
    codes = list(language.LANGUAGES)
    if current not in codes:  # the pseudo-language of the tests: kept, not offered
        codes.append(current)
    widget = f"{KEY}_switch_{where}"  # the sign-in page's and the sidebar's, in one run
    st.session_state[widget] = current
    place = st.sidebar if where == "sidebar" else st
    place.selectbox(_("Language"), codes, key=widget, on_change=_chosen, args=(widget,),
                    format_func=lambda c: language.LANGUAGES.get(c, c))


def direction() -> None:
    """A page in a language read right to left: the document's direction, the text's
    alignment and the sidebar on the right (the app's row of sidebar and page is a flex
    row, which a right-to-left direction starts from the right). Data values (names,
    codes, numbers) keep their own direction inside (Unicode's bidirectional algorithm,
    with `unicode-bidi: plaintext` on table cells)."""
    code = language.current()
    if not language.right_to_left():
        if st.session_state.get(RTL_SEEN):  # back from Arabic: the document turns back
            st.html(f"""<script>
document.documentElement.setAttribute("dir", "ltr");
document.documentElement.setAttribute("lang", "{code}");
</script>""", unsafe_allow_javascript=True)
        return
    st.session_state[RTL_SEEN] = True
    st.html(f"""<style>
.stApp, [data-testid="stSidebar"], [data-testid="stMain"] {{ direction: rtl; text-align: right; }}
[data-testid="stMarkdownContainer"], [data-testid="stCaptionContainer"] {{ text-align: right; }}
[data-testid="stMetricValue"], [data-testid="stMetricDelta"] {{ direction: ltr; }}
td, th {{ unicode-bidi: plaintext; }}
</style>
<span id="sitroom-direction" data-lang="{code}" data-dir="rtl" hidden></span>""")
    # The document itself, for the browser's own layout and for screen readers.
    # A table wider than the page opens at its right end, where its first columns are
    # (components/tables.py reverses them): once per table, so the reader's own
    # scrolling is left alone.
    st.html(f"""<script>
document.documentElement.setAttribute("dir", "rtl");
document.documentElement.setAttribute("lang", "{code}");
if (!window.sitroomRightToLeft) {{
  window.sitroomRightToLeft = true;
  const toRight = () => document.querySelectorAll(".dvn-scroller").forEach((grid) => {{
    if (grid.dataset.sitroomRtl || grid.scrollWidth <= grid.clientWidth) return;
    grid.dataset.sitroomRtl = "1";
    grid.scrollLeft = grid.scrollWidth;
  }});
  new MutationObserver(toRight).observe(document.body, {{childList: true, subtree: true}});
  toRight();
}}
</script>""", unsafe_allow_javascript=True)
