"""A place picked on the map (a district or a grid cell), which narrows the page's other
figures to it until the reader clears it."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from components.charts import escape_markdown
from dashboard import language
from dashboard.figures.geo import GRID_STEP
from dashboard.language import _

PICKED_KEY = "map-picked"    # the place narrowing the page
CLEARED_KEY = "map-cleared"  # the selection the reader cleared: ignored until it changes


@dataclass(frozen=True)
class Place:
    name: str = ""                   # a district's name, as the data has it
    pcode: str | None = None         # a district
    cell: tuple[int, int] | None = None  # a grid cell (geo.grid_columns' gi, gj)

    @property
    def label(self) -> str:
        """The place as a reader reads it, in the reader's language (said at each run: the
        place is kept across runs, and the reader may change language meanwhile)."""
        if self.pcode:
            return _("{name} district (P-code {pcode})").format(name=self.name,
                                                                pcode=self.pcode)
        gi, gj = self.cell or (0, 0)
        south, west = gi * GRID_STEP - 90, gj * GRID_STEP - 180

        def degrees(value: float) -> str:
            return language.number(value, 2)

        # Translators: a square of the map's grid, by its latitudes and longitudes.
        return _("the {step}° cell at {south}–{north}° N, {west}–{east}° E").format(
            step=language.number(GRID_STEP, 2), south=degrees(south),
            north=degrees(south + GRID_STEP), west=degrees(west), east=degrees(west + GRID_STEP))

    def as_audit(self) -> dict:
        return {"area": self.pcode} if self.pcode else {"cell": list(self.cell or ())}


def _from_selection(selection) -> tuple[Place | None, str]:
    """The district or cell in a pydeck selection, and a fingerprint of the selection.
    Anything else picked (a facility, a hazard, a liaison's point) narrows nothing."""
    objects = dict((selection or {}).get("objects") or {})
    for row in objects.get("people-districts") or []:
        if row.get("pcode"):
            name = str(row.get("name") or row["pcode"])
            return Place(name, pcode=str(row["pcode"])), f"d:{row['pcode']}"
    for row in objects.get("people-cells") or []:
        if row.get("gi") is not None and row.get("gj") is not None:
            gi, gj = int(row["gi"]), int(row["gj"])
            return Place(cell=(gi, gj)), f"c:{gi},{gj}"
    return None, ""


def picked_place(selection) -> Place | None:
    """The place the reader picked on the map (`selection`: st.pydeck_chart's), kept
    across the page's refreshes until cleared; a chip says it, with a way to clear it."""
    place, fingerprint = _from_selection(selection)
    if fingerprint and fingerprint != st.session_state.get(CLEARED_KEY):
        st.session_state[PICKED_KEY] = place
    elif not fingerprint:
        st.session_state.pop(CLEARED_KEY, None)  # a new click may pick it again
        st.session_state.pop(PICKED_KEY, None)
    place = st.session_state.get(PICKED_KEY)
    if place is None:
        st.caption(_("Click a district or cell on the map to narrow the figures below to it."))
        return None

    def clear() -> None:  # before the next run, which then ignores this selection
        st.session_state[CLEARED_KEY] = fingerprint
        st.session_state.pop(PICKED_KEY, None)

    chip, button = st.columns([5, 1], vertical_alignment="center")
    # Translators: {place} is a district ("Matn district (P-code LB1101)") or a grid cell.
    said = _("**Narrowed to {place}**").format(place=escape_markdown(place.label))
    chip.markdown(f":material/filter_alt: {said}")
    button.button(_("Clear"), icon=":material/close:", key="map-clear-place", on_click=clear,
                  help=_("Show the figures for everything the filters match again"))
    return place
