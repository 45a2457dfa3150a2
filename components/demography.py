"""People by sex and age band and by vulnerability, as the Overview and the Map show
them (dashboard.figures.demography counts them)."""

from __future__ import annotations

import streamlit as st

from components import charts
from components.session import Context
from components.tables import export, small_table
from dashboard.contract import labels
from dashboard.figures import demography, palette
from dashboard.language import _


def show_profile(context: Context, profile: demography.Profile, key: str) -> None:
    """The age-and-sex table beside a chart of it, and the vulnerability chart; each
    table can be taken away. The page's heading above says who is counted."""
    ages, tags = st.columns([3, 2])
    with ages:
        charts.show(charts.stacked_bars(
            profile.by_age_sex, "band", list(demography.SEXES), palette.SEX,
            title=_("People by age and sex"), labels=labels.COLUMNS),
            key=f"{key}-age-sex")
        small_table(profile.by_age_sex)
        export(context, profile.by_age_sex, f"{key}-by-age-and-sex")
    with tags:
        charts.show(charts.category_bars(
            profile.by_vulnerability, "tag", "persons", {},
            title=_("People with each vulnerability")), key=f"{key}-vulnerability")
        small_table(profile.by_vulnerability)
        export(context, profile.by_vulnerability, f"{key}-by-vulnerability")
    notes = [_("Age in the year of the figures, from the year of birth. A person with "
               "several vulnerabilities counts under each.")]
    if profile.rounded:
        notes.append(_("Counts are rounded to a multiple of 5; parts may not add up to the "
                       "total; — where a total below 5 would give its parts away."))
    st.caption(" ".join(notes))
