"""Projector mode (components/projector.py) with AppTest: the address and the sidebar
toggle turn it on, it stays in the address, the way out turns it off; the Shelters
table drops its low-value columns; the Map opens on what it shows, with the largest
districts named above everything. The browser's side (no sidebar, large type, no
horizontal scroll) is tests/browser/test_projector.py."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from components import projector
from components.map import HEIGHT, shown_extent
from components.session import KEY as CONTEXT
from dashboard.figures import geo, scenarios
from dashboard.rules.access import Viewer
from tests.apptest import APP, open_page, page_app
from tests.conftest import opened
from tests.signin import make_users_file, sign_in_as, use_users


@pytest.fixture
def app_db(sqlite_url, monkeypatch, tmp_path):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    use_users(monkeypatch, make_users_file(tmp_path))
    return sqlite_url


def toggle(at: AppTest):
    return next(t for t in at.toggle if t.label == "Projector mode")


def stylesheet_shown(at: AppTest) -> bool:
    return any("stMetricValue" in str(m.value) for m in at.markdown)


def test_the_address_asks_for_it():
    assert projector.from_params({"projector": "1", "rotate": "30"}) == projector.Projector(
        True, 30)
    assert projector.from_params({"projector": "true"}) == projector.Projector(True, 0)
    assert projector.from_params({"rotate": "30"}) == projector.Projector(False, 0)
    assert projector.from_params({"projector": "0"}).on is False
    # too fast to read, too slow, or nonsense
    assert [projector.rotate_seconds(v) for v in ("3", "99999", "x", "-5", "0")] == [
        projector.MIN_ROTATE_S, projector.MAX_ROTATE_S, 0, 0, 0]
    assert projector.Projector(True, 30).query_params() == {"projector": "1", "rotate": "30"}
    assert projector.Projector(False, 30).query_params() == {}


def test_rotation_goes_round_the_roles_pages():
    pages = [SimpleNamespace(url_path=t) for t in ("a", "b", "c")]  # st.Page needs a server
    assert [projector.next_page(pages, p).url_path for p in pages] == ["b", "c", "a"]


def test_opened_with_the_parameter_the_page_is_in_projector_mode_and_stays_so(app_db):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["projector"] = "1"
    at.query_params["rotate"] = "30"
    at = sign_in_as(at.run(), "committee")
    assert not at.exception
    assert toggle(at).value is True
    assert stylesheet_shown(at)
    assert any(b.label == "Exit projector mode" for b in at.button)
    assert at.query_params["projector"] == "1" and at.query_params["rotate"] == "30"
    # (AppTest keeps the entrypoint's elements of the first run only, tests/apptest.py:
    # a second run is judged by the session's setting and the address)
    at.run()  # the next run (a refresh, a widget) keeps it
    assert at.session_state[projector.KEY] == projector.Projector(True, 30)
    assert at.query_params["projector"] == "1"

    at = sign_in_as(AppTest.from_file(APP, default_timeout=120).run(), "committee")
    at.query_params["projector"] = "1"  # a new session keeps its first run's setting
    at.run()
    assert at.session_state[projector.KEY].on is False


def test_the_way_out_turns_it_off_and_clears_the_address(app_db):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["projector"] = "1"
    at = sign_in_as(at.run(), "committee")
    next(b for b in at.button if b.label == "Exit projector mode").click()
    at.run()
    assert not at.exception
    assert at.session_state[projector.KEY] == projector.Projector(False, 0)
    assert "projector" not in at.query_params and "rotate" not in at.query_params


def test_the_sidebar_toggle_turns_it_on_and_writes_it_into_the_address(app_db):
    at = sign_in_as(AppTest.from_file(APP, default_timeout=120).run(), "coordinator")
    assert toggle(at).value is False and not stylesheet_shown(at)
    toggle(at).set_value(True)
    at.run()
    assert not at.exception
    assert at.session_state[projector.KEY].on is True
    assert at.query_params["projector"] == "1" and "rotate" not in at.query_params


def test_the_shelters_table_fits_a_projector(sqlite_url):
    normal = open_page(sqlite_url, "shelters", "committee")
    at = page_app("shelters")
    at.session_state[CONTEXT] = normal.session_state[CONTEXT]
    at.session_state[projector.KEY] = projector.Projector(True, 0)
    at.run()
    assert not at.exception

    def facilities_columns(app: AppTest) -> list[str]:
        grid = app.dataframe[0].proto  # the facilities are the first table
        return list(grid.column_order)

    assert not facilities_columns(normal)  # every column, as the page configures them
    shown = facilities_columns(at)
    assert shown and "trend" not in shown and "last_confirmed" not in shown
    assert {"facility", "full_pct", "time_to_full", "confirmation"} <= set(shown)


def deck(at: AppTest) -> dict:
    return json.loads(at.get("deck_gl_json_chart")[0].proto.json)


@pytest.mark.parametrize("role", ["committee", "coordinator"])
def test_the_map_opens_on_what_it_shows_and_names_the_largest_districts(sqlite_url, role):
    at = open_page(sqlite_url, "map", role)
    assert not at.exception
    spec = deck(at)
    view = spec["initialViewState"]
    # everything drawn is in the first view, at a zoom no further out than the old
    # view of the areas' centres and a margin
    database = opened(sqlite_url)
    viewer = Viewer("t", role, 1, ())
    scenario_view = geo.map_view(database, viewer)
    people = geo.people(database, viewer, geo.MapFilters((), tuple(geo.IN_COUNTRY), ()))
    layers = geo.layers(database, viewer, scenarios.data_as_of(database, 1))
    south, west, north, east = shown_extent(scenario_view, people, layers)
    box = geo.view_box(view["latitude"], view["longitude"], view["zoom"],
                       geo.VIEW_WIDTH_PX, HEIGHT)
    assert box[0] <= south and box[1] <= west and north <= box[2] and east <= box[3]
    assert view["zoom"] >= scenario_view.zoom
    # the labels are the last layer, drawn over every dot
    last = spec["layers"][-1]
    assert last["@@type"] == "TextLayer"
    assert last["parameters"] == {"depthCompare": "always"}
    # a proportional sans serif, sent as text: a bare string reaches deck.gl as an
    # expression ("@@=...") and the labels come out a few pixels high, in monospace
    families = [name.strip() for name in last["fontFamily"].split(",")]
    assert families[0] == "Source Sans" and families[-1] == "sans-serif", families
    assert "monospace" not in last["fontFamily"]
    if role == "committee":
        named = [row["text"].split("\n")[0] for row in last["data"]]
        largest = people.areas.sort_values("persons", ascending=False)["name"].head(2)
        assert set(largest) <= set(named), (list(largest), named)
