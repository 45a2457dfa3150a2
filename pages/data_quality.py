"""Data quality: rows that break the data contract, and what they are kept out of."""

import streamlit as st

from components.page import live, opened_as_a_script, page_start
from components.session import Context, audited
from components.tables import export, small_table
from dashboard import language
from dashboard.figures.quality import quality_table, translated
from dashboard.language import N_, _


def content(context: Context, as_of) -> None:
    st.write(_("Rows written by other systems that break the data contract. They are left out "
               "of the figures named beside them, so those figures stay right; "
               "fix them at the source."))
    # eight checks, some named at length: shown whole, wrapped, on a projector too
    breaks = translated(quality_table(context.database, context.viewer))[
        ["check", "left out of", "rows"]]
    small_table(breaks, words=2)
    export(context, breaks, "data-quality")
    total = int(breaks["rows"].sum())
    if total:
        st.warning(language.ngettext("{count} row is left out of one or more figures.",
                                     "{count} rows are left out of one or more figures.",
                                     total).format(count=language.number(total)))
    else:
        st.success(_("Every row meets the data contract."))


def body(context: Context, as_of) -> None:
    """The page's body, one audited view each time it runs (page_start's full run, or
    its fragment's refresh and widgets, which Streamlit runs alone)."""
    with audited(context):
        content(context, as_of)


def render() -> None:
    live(page_start("data_quality", N_("Data quality")), body)


if __name__ == "__main__":  # its address opened first after a start (components.page)
    opened_as_a_script()
