"""Map: where people are (as counts, or a liaison's own nationals as points), facility
load, hazards and consular posts, on a base map that needs no internet."""

import streamlit as st

from components.charts import escape_markdown
from components.demography import show_profile
from components.map import HEIGHT, as_of_caption, basemap, build_deck, legend_html
from components.page import live, page_start
from components.place import picked_place
from components.session import Context, audited, note_filters, note_rows
from dashboard.contract import labels
from dashboard.figures import demography, geo
from dashboard.rules import access


def content(context: Context, as_of) -> None:
    options = geo.filter_options(context.database, context.viewer)
    nats_col, status_col, vuln_col, tiles_col = st.columns([3, 3, 3, 2])
    nationalities = nats_col.multiselect(
        "Nationality", list(options.nationalities), key="map_nats", placeholder="All",
        format_func=lambda iso3: f"{options.nationalities[iso3]} ({iso3})",
        help="First or second nationality.")
    statuses = status_col.multiselect(
        "Status", list(options.statuses), default=list(geo.IN_COUNTRY), key="map_status",
        placeholder="All", format_func=lambda s: labels.word(s, labels.PERSON_STATUS),
        help="By default, people still in the country.")
    vulnerabilities = vuln_col.multiselect(
        "Vulnerability", list(options.vulnerabilities), key="map_vuln", placeholder="Any",
        format_func=lambda s: labels.word(s, labels.VULNERABILITY),
        help="People with at least one of these.")
    tiles = tiles_col.toggle("Street map tiles", key="map_tiles",
                             help="Needs the internet. Off, the map uses only the shipped "
                                  "base map.")
    note_filters(nationality=nationalities, status=statuses, vulnerability=vulnerabilities,
                 tiles=tiles)

    filters = geo.MapFilters(tuple(nationalities), tuple(statuses), tuple(vulnerabilities))
    people = geo.people(context.database, context.viewer, filters, as_of=as_of)
    layers = geo.layers(context.database, context.viewer, as_of)
    view = geo.map_view(context.database, context.viewer)
    if people.as_of is not None:
        note_filters(as_of=as_of.isoformat(timespec="minutes"))
    note_rows(len(people.points))  # points are rows about people: the audit log counts them

    base = basemap()
    missing = [name for name, data in base.items() if data.get("missing")]
    if missing:
        st.warning(f"Base-map file(s) missing from data/basemap/: {', '.join(missing)}. "
                   "People, facilities and hazards are still drawn.")

    if access.sees_person_level(context.viewer.role):
        st.caption(f"Your consenting nationals only: {', '.join(context.viewer.nationalities)}")
    event = st.pydeck_chart(build_deck(people, layers, base, view, tiles=tiles), height=HEIGHT,
                            on_select="rerun", selection_mode="single-object", key="map-deck")
    st.markdown(legend_html(people.mode, statuses, rounded=people.rounded,
                            few_hidden=access.sees_person_level(context.viewer.role)),
                unsafe_allow_html=True)

    for note in people.notes:
        st.markdown(note)
    shapes = ("District shapes are approximations built from district centres, not "
              "official boundaries." if view.approximate else "")
    st.caption(f"{as_of_caption(as_of, earlier=people.as_of is not None)} Confidential "
               f"facilities are never drawn. {shapes}".strip())
    if layers.unreadable_hazards:
        st.markdown(f"{layers.unreadable_hazards} active hazards have an unreadable shape and "
                    "are not drawn.")

    place = picked_place((event or {}).get("selection"))
    if place is not None:
        note_filters(**place.as_audit())
    st.subheader("Who the people matching the filters are"
                 + (f" in {escape_markdown(place.label)}" if place is not None else ""))
    narrowing = demography.Narrowing(tuple(statuses), tuple(nationalities), tuple(vulnerabilities),
                                     area=place.pcode if place else None,
                                     cell=place.cell if place else None)
    show_profile(context, demography.profile(context.database, context.viewer, as_of, narrowing),
                 "map")


def body(context: Context, as_of) -> None:
    """The page's body, one audited view each time it runs (page_start's full run, or
    its fragment's refresh and widgets, which Streamlit runs alone)."""
    with audited(context):
        content(context, as_of)


def render() -> None:
    live(page_start("map", "Map"), body, as_of_control=True)
