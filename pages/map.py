"""Map: where people are (as counts, or a liaison's own nationals as points), facility
load, hazards and consular posts, on a base map that needs no internet."""

import streamlit as st

from components.charts import escape_markdown
from components.demography import show_profile
from components.map import as_of_caption, basemap, below, build_deck, legend_html, show
from components.page import live, opened_as_a_script, page_start
from components.place import picked_place
from components.session import Context, audited, note_filters, note_rows
from dashboard import language
from dashboard.contract import labels
from dashboard.figures import demography, geo
from dashboard.language import N_, _, ngettext
from dashboard.rules import access


def content(context: Context, as_of) -> None:
    options = geo.filter_options(context.database, context.viewer)
    nats_col, status_col, vuln_col, tiles_col = st.columns([3, 3, 3, 2])
    nationalities = nats_col.multiselect(
        _("Nationality"), list(options.nationalities), key="map_nats",
        # Translators: a filter with nothing chosen: every nationality.
        placeholder=_("All"),
        # a country's name (the data's) and its ISO3 code
        format_func=lambda iso3: f"{options.nationalities[iso3]} ({iso3})",
        help=_("First or second nationality."))
    statuses = status_col.multiselect(
        _("Status"), list(options.statuses), default=list(geo.IN_COUNTRY), key="map_status",
        # Translators: a filter with nothing chosen: every status.
        placeholder=_("All"), format_func=lambda s: labels.word(s, labels.PERSON_STATUS),
        help=_("By default, people still in the country."))
    vulnerabilities = vuln_col.multiselect(
        _("Vulnerability"), list(options.vulnerabilities), key="map_vuln",
        # Translators: a filter with nothing chosen: any vulnerability, or none.
        placeholder=_("Any"), format_func=lambda s: labels.word(s, labels.VULNERABILITY),
        help=_("People with at least one of these."))
    tiles = tiles_col.toggle(_("Street map tiles"), key="map_tiles",
                             help=_("Needs the internet. Off, the map uses only the shipped "
                                    "base map."))
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
        # Translators: {files} lists file names.
        st.warning(_("Base-map file(s) missing from data/basemap/: {files}. People, facilities "
                     "and hazards are still drawn.").format(files=", ".join(missing)))

    if access.sees_person_level(context.viewer.role):
        # Translators: {nationalities} lists ISO3 codes of countries (ETH, PHL).
        st.caption(_("Your consenting nationals only: {nationalities}").format(
            nationalities=", ".join(context.viewer.nationalities)))
    event = show(build_deck(people, layers, base, view, tiles=tiles))
    with below():  # the legend, notes and profile: under the deck
        st.markdown(legend_html(people.mode, statuses, rounded=people.rounded,
                                few_hidden=access.sees_person_level(context.viewer.role)),
                    unsafe_allow_html=True)

        for note in people.notes:  # made in English (cached): said in the reader's language
            st.markdown(note.said())
        said = [as_of_caption(as_of, earlier=people.as_of is not None),
                _("Confidential facilities are never drawn.")]
        if view.approximate:
            said.append(_("District shapes are approximations built from district centres, not "
                          "official boundaries."))
        st.caption(" ".join(said))
        if layers.unreadable_hazards:
            unreadable = layers.unreadable_hazards
            st.markdown(ngettext("{count} active hazard has an unreadable shape and is not drawn.",
                                 "{count} active hazards have an unreadable shape and are not "
                                 "drawn.", unreadable).format(count=language.number(unreadable)))

        place = picked_place((event or {}).get("selection"))
        if place is not None:
            note_filters(**place.as_audit())
        if place is None:
            st.subheader(_("Who the people matching the filters are"))
        else:
            # Translators: {place} is a district ("Matn district (P-code LB1101)") or a grid cell.
            st.subheader(_("Who the people matching the filters are in {place}").format(
                place=escape_markdown(place.label)))
        narrowing = demography.Narrowing(tuple(statuses), tuple(nationalities),
                                         tuple(vulnerabilities),
                                         area=place.pcode if place else None,
                                         cell=place.cell if place else None)
        show_profile(context, demography.profile(context.database, context.viewer, as_of,
                                                 narrowing), "map")


def body(context: Context, as_of) -> None:
    """The page's body, one audited view each time it runs (page_start's full run, or
    its fragment's refresh and widgets, which Streamlit runs alone)."""
    with audited(context):
        content(context, as_of)


def render() -> None:
    live(page_start("map", N_("Map")), body, as_of_control=True, whole_runs=True)


if __name__ == "__main__":  # its address opened first after a start (components.page)
    opened_as_a_script()
