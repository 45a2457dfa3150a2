"""Situation Room: the entrypoint. Opens the database, learns who is looking,
picks the scenario, builds the page list for the role and runs the page."""

from __future__ import annotations

import logging

import streamlit as st

from dashboard import access, audit, config, db, reference, runtime, scenarios, schema
from dashboard.access import Viewer
from dashboard.session import Context, finish_view, set_context

log = logging.getLogger("sitroom")
st.set_page_config(page_title="Situation Room", page_icon=":material/emergency:", layout="wide")

PAGES = {
    key: st.Page(f"pages/{key}.py", title=spec.title, icon=spec.icon,
                 url_path=key.replace("_", "-"))
    for key, spec in access.PAGES.items()
}


def open_database(url: str) -> None:
    building = config.is_demo_url(url) and not config.demo_db_path().exists()
    try:
        if building:
            with st.spinner("First start: building the synthetic demo database…"):
                runtime.engine(url)
        else:
            runtime.engine(url)
    except (db.DatabaseUnavailable, schema.SchemaMismatch) as exc:
        st.title("Situation Room")
        st.error(str(exc), icon=":material/error:")
        st.stop()


def demo_viewer(url: str, scenario: scenarios.ScenarioInfo) -> Viewer:
    """Until sign-in lands: a clearly marked picker of who is looking."""
    st.sidebar.warning("**Demo viewer** — sign-in is not enabled yet. Pick a role to see "
                       "what it may see.", icon=":material/warning:")
    role = st.sidebar.selectbox("Role", list(access.ROLES), key="demo_role",
                                format_func=str.capitalize, help="\n\n".join(
                                    f"**{r}**: {d}" for r, d in access.ROLES.items()))
    nationalities: tuple[str, ...] = ()
    if role == "consular":
        names = reference.nationalities(url, scenario.id)
        chosen = st.sidebar.multiselect(
            "Nationalities served", list(names), default=list(names)[:1], key="demo_nats",
            format_func=lambda iso3: f"{names[iso3]} ({iso3})")
        if not chosen:
            st.sidebar.error("A consular liaison serves at least one nationality.")
            st.stop()
        nationalities = tuple(chosen)
    return Viewer(user=f"demo-{role}", role=role, scenario_id=scenario.id,
                  nationalities=nationalities)


def main() -> None:
    url = config.db_url()
    open_database(url)
    try:
        available = scenarios.list_scenarios(url)
    except db.DatabaseUnavailable as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    if not available:
        st.warning("The database holds no scenario yet.")
        st.stop()

    st.sidebar.title("Situation Room")
    by_id = {s.id: s for s in available}
    scenario = by_id[st.sidebar.selectbox("Scenario", list(by_id), key="scenario",
                                          format_func=lambda i: by_id[i].label)]
    viewer = demo_viewer(url, scenario)
    set_context(Context(db_url=url, viewer=viewer, scenario=scenario))

    page = st.navigation([PAGES[name] for name in access.pages_for(viewer.role)])
    try:
        page.run()
        finish_view(viewer)
    except db.DatabaseUnavailable as exc:
        st.error(f"{exc} The figures cannot be shown until it is back.", icon=":material/error:")
    except audit.AuditUnavailable as exc:
        st.error(str(exc), icon=":material/error:")
    except Exception:  # a reader gets a message, the operator the traceback
        log.exception("page %s failed for role %s", page.title, viewer.role)
        st.error(f"The {page.title} page stopped on an unexpected problem; it has been logged "
                 "for the operators. Other pages still work.", icon=":material/error:")


main()
