"""Overview: the whole picture at a glance, for the viewer's scope."""

import streamlit as st

from components.kpi import kpi_row
from components.page import page_start
from components.reference import reference_picker
from dashboard import scenarios
from dashboard.overview import overview
from dashboard.session import note_filters

context = page_start("overview", "Overview")
as_of = scenarios.data_as_of(context.db_url, context.scenario.id)
if as_of is None:
    st.stop()

reference_at = reference_picker(as_of, context.scenario.starts_at)
note_filters(reference_at=reference_at.isoformat(timespec="minutes"))
data = overview(context.db_url, context.viewer, as_of, reference_at)
if context.viewer.role == "consular":
    st.caption(f"Your consenting nationals only: {', '.join(context.viewer.nationalities)}")
kpi_row(data.figures, delta_label=f"since {reference_at:%d %b %H:%M}")

left, middle, right = st.columns(3)
with left:
    st.subheader("People by status")
    st.dataframe(data.by_status, hide_index=True, width="stretch")
with middle:
    st.subheader("Evacuation cases by stage")
    st.dataframe(data.funnel, hide_index=True, width="stretch")
with right:
    st.subheader("Overdue referrals")
    st.dataframe(data.overdue_by_service, hide_index=True, width="stretch")

st.subheader("Facilities at 90% of capacity or more")
if data.near_capacity.empty:
    st.write("None.")
else:
    st.dataframe(data.near_capacity, hide_index=True, width="stretch",
                 column_config={"full_pct": st.column_config.NumberColumn("% full", format="%d%%")})
