"""The naive pattern: the dashboard as a typical developer would first write it, the
reference that benchmarks/bench_browser.py times our pages against.

    NAIVE_DB_URL=sqlite:///... python -m streamlit run benchmarks/naive_app.py

One file, five pages as functions under st.navigation, no sign-in. Each page reads
whole tables with pd.read_sql (cached for 30 s with st.cache_data, shared by every
session), filters and groups them in pandas, draws Plotly charts and shows the
tables with st.dataframe; the Map draws every person as a point with pydeck. It
does on every page run what the dashboard does once per scenario (the shared
tallies): that difference is what the benchmark shows.
"""

from __future__ import annotations

import os

import pandas as pd
import plotly.express as px
import pydeck as pdk
import streamlit as st
from sqlalchemy import create_engine

OPEN_REFERRALS = ["open", "accepted", "in_service"]
STAGES = ["requested", "verified", "documented", "manifested", "departed",
          "arrived_transit", "arrived_origin", "followed_up"]

st.set_page_config(page_title="Situation Room (naive)", layout="wide")


@st.cache_resource
def engine():
    return create_engine(os.environ["NAIVE_DB_URL"])


@st.cache_data(ttl=30)
def load(table: str) -> pd.DataFrame:
    return pd.read_sql(f"SELECT * FROM {table}", engine())


def live(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the live scenario."""
    scenarios = load("scenarios")
    live_id = scenarios.loc[scenarios["kind"] == "live", "id"].min()
    return frame[frame["scenario_id"] == live_id]


def overview() -> None:
    st.title("Overview")
    persons = live(load("persons"))
    by_status = persons.groupby("status").size().rename("persons").reset_index()
    columns = st.columns(len(by_status) + 1)
    columns[0].metric("Persons", f"{len(persons):,}")
    for column, row in zip(columns[1:], by_status.itertuples(), strict=True):
        column.metric(row.status, f"{row.persons:,}")
    by_nationality = (persons.groupby("nationality").size().rename("persons")
                      .sort_values(ascending=False).reset_index())
    st.plotly_chart(px.bar(by_nationality, x="nationality", y="persons",
                           title="Persons by nationality"))
    st.dataframe(by_status)


def map_page() -> None:
    st.title("Map")
    persons = live(load("persons")).dropna(subset=["lat", "lon"])
    facilities = live(load("facilities"))
    facilities = facilities[~facilities["confidential"].astype(bool)]
    people = pdk.Layer("ScatterplotLayer", data=persons[["lon", "lat"]],
                       get_position=["lon", "lat"], get_radius=150,
                       get_fill_color=[200, 30, 0, 80])
    shelters = pdk.Layer("ScatterplotLayer", data=facilities[["lon", "lat", "name"]],
                         get_position=["lon", "lat"], get_radius=600,
                         get_fill_color=[30, 80, 200, 200], pickable=True)
    view = pdk.ViewState(latitude=persons["lat"].mean(), longitude=persons["lon"].mean(),
                         zoom=7)
    st.pydeck_chart(pdk.Deck(layers=[people, shelters], initial_view_state=view,
                             tooltip={"text": "{name}"}))


def shelters() -> None:
    st.title("Shelters")
    facilities = live(load("facilities"))
    occupancy = load("facility_occupancy")
    latest = occupancy.sort_values("at").groupby("facility_id").tail(1)
    table = facilities.merge(latest[["facility_id", "occupants", "at"]], how="left",
                             left_on="id", right_on="facility_id")
    table["occupancy %"] = (100 * table["occupants"] / table["capacity"]).round(1)
    table = table.sort_values("occupancy %", ascending=False)
    st.plotly_chart(px.bar(table.head(40), x="name", y=["occupants", "capacity"],
                           barmode="overlay", title="Fullest shelters"))
    st.dataframe(table[["name", "kind", "status", "capacity", "occupants", "occupancy %",
                        "at"]])


def referrals() -> None:
    st.title("Referrals")
    rows = live(load("referrals"))
    open_rows = rows[rows["status"].isin(OPEN_REFERRALS)].copy()
    open_rows["overdue"] = pd.to_datetime(open_rows["due_at"]) < pd.Timestamp.now()
    by_service = (open_rows.groupby("service")
                  .agg(open=("id", "size"), overdue=("overdue", "sum")).reset_index())
    left, right = st.columns(2)
    left.metric("Open referrals", f"{len(open_rows):,}")
    right.metric("Overdue", f"{int(open_rows['overdue'].sum()):,}")
    st.plotly_chart(px.bar(by_service, x="service", y=["open", "overdue"], barmode="group",
                           title="Open referrals by service"))
    st.dataframe(open_rows)


def evacuation() -> None:
    st.title("Evacuation")
    cases = live(load("evacuation_cases"))
    by_stage = cases.groupby("stage").size().reindex(STAGES, fill_value=0)
    funnel = by_stage[::-1].cumsum()[::-1].rename("cases").reset_index()  # reached
    st.plotly_chart(px.funnel(funnel, x="cases", y="stage", title="Evacuation funnel"))
    st.dataframe(pd.crosstab(cases["destination"], cases["stage"]))


st.navigation([st.Page(overview, title="Overview", default=True),
               st.Page(map_page, title="Map", url_path="map"),
               st.Page(shelters, title="Shelters"),
               st.Page(referrals, title="Referrals"),
               st.Page(evacuation, title="Evacuation")]).run()
