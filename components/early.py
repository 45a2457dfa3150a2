"""What the browser loads behind the sign-in form, while the reader types: the scripts
of the kinds of element the first pages draw.

Streamlit's browser side loads a kind of element's script (a metric, a toggle, a
data grid, Plotly...) the first time one is drawn. Drawn first on the page after
Sign in, they come after its run has ended, and the page redraws itself as each
arrives: at a million people (2 cores, no graphics card) the Overview after Sign in
kept changing 0.4-0.6 s after it appeared, and once 1.24 s. So the form draws one of
each, empty and out of sight (`out_of_sight`): no figure, no person, nothing a reader
can reach. deck.gl's script loads behind the form too: the empty deck of
components/map.py's slot."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

KEY = "early-scripts"  # the container of `load`, never shown
# What the first pages draw (the Overview after Sign in, the sidebar, the Map's filters,
# the audit's dates), one of each kind, by its test id in the browser: a test checks
# that every one is drawn, out of sight.
DRAWN = ("stPlotlyChart", "stMetric", "stCheckbox", "stNumberInput", "stSlider",
         "stButtonGroup", "stButton", "stDownloadButton", "stDataFrame", "stTable",
         "stMultiSelect", "stDateInput", "stMarkdown")


def load() -> None:
    """Draw one element of each kind in DRAWN, empty, out of sight."""
    with out_of_sight(KEY):
        st.plotly_chart(go.Figure(), key=f"{KEY}-chart", config={"staticPlot": True})
        st.metric("·", "—")
        st.toggle("·", key=f"{KEY}-toggle", label_visibility="collapsed")
        st.number_input("·", key=f"{KEY}-number", label_visibility="collapsed")
        st.slider("·", 0, 1, key=f"{KEY}-slider", label_visibility="collapsed")
        st.segmented_control("·", ["·"], key=f"{KEY}-choice", label_visibility="collapsed")
        st.button("·", key=f"{KEY}-button")
        st.download_button("·", b"", key=f"{KEY}-download")
        st.dataframe(pd.DataFrame({"·": []}), key=f"{KEY}-grid")
        st.table(pd.DataFrame({"·": []}))
        st.multiselect("·", ["·"], key=f"{KEY}-pick", label_visibility="collapsed")
        st.date_input("·", date(2000, 1, 1), key=f"{KEY}-date", label_visibility="collapsed")
        st.markdown("<span></span>", unsafe_allow_html=True)  # the Map's legend: HTML


@contextmanager
def out_of_sight(key: str) -> Iterator[None]:
    """A container that takes no room and shows nothing (display: none): what is
    drawn in it is neither seen, nor read out, nor reached with the keyboard."""
    st.html(f"<style>.st-key-{key} {{display: none;}}</style>")
    with st.container(key=key):
        yield
