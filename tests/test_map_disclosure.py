"""Attacks on the Map's people layer as a count-only role sees it (docs/design.md §2.4).

Committee Map: Aley showed 181 persons for Ethiopia and 182 for Ethiopia + Eritrea,
so the one Eritrean there, a protected person, was singled out by comparing two
filters. Each test here reads the true persons with its own SQL (tests.test_map),
works out what must be shown with the oracle of tests/disclosure.py, and then plays
the reader who compares filters, moments, parts and totals: no comparison may pin
a count of one to four people down to a single value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd
import pytest

from dashboard.figures import geo
from dashboard.rules.access import Viewer
from tests.conftest import opened
from tests.disclosure import LESS_THAN_5, expected, possible_truths
from tests.test_map import (
    IN_COUNTRY,
    at_confidential,
    district_shapes,
    earlier_step,
    facilities,
    ids_by,
    on_map,
    persons,
    persons_then,
    with_cells,
)

COMMITTEE = Viewer("c", "committee", 1)
COORDINATOR = Viewer("k", "coordinator", 1)
COUNT_ONLY = [COMMITTEE, COORDINATOR]
ROLES = [v.role for v in COUNT_ONLY]
UNDRAWN = "not drawn"  # a place the map leaves out: it holds no one, or 1 to 4 ("<5")

# Filter A, then A + B: the second selects everyone the first does and a few more.
NATIONALITY_PAIRS = [(("ETH",), ("ETH", "ERI")), (("SYR",), ("SYR", "SDN")),
                     (("BGD",), ("BGD", "PHL")), (("EGY", "ETH"), ("EGY", "ETH", "CMR"))]
STATUS_PAIRS = [(("located",), ("located", "missing")),
                (("sheltered",), ("sheltered", "in_transit")),
                (IN_COUNTRY, (*IN_COUNTRY, "evacuated", "deceased"))]


@pytest.fixture(params=["placements", "tables"])
def counted_from(request, db_url, monkeypatch) -> str:
    """The latest moment is summed from the shared placements, or counted in the
    database before they are found: the same persons must show the same counts."""
    if request.param == "placements":
        geo.find_placements(opened(db_url), 1)
    else:
        monkeypatch.setattr(geo, "placements", lambda *_: None)
    return request.param


# --- the test's own persons, place by place ------------------------------------------------

def matching(people: pd.DataFrame, filters: geo.MapFilters) -> pd.DataFrame:
    """The persons a filter selects, by the rule the page states: either nationality,
    any of the statuses."""
    chosen = on_map(people, statuses=filters.statuses)
    if filters.nationalities:
        wanted = set(filters.nationalities)
        chosen = chosen[chosen.nationality.isin(wanted) | chosen.second_nationality.isin(wanted)]
    return chosen


def own_places(engine, people: pd.DataFrame, viewer: Viewer) -> dict:
    """The ids of the persons in each district (committee) or grid cell (coordinator:
    never those at a confidential place)."""
    if viewer.role == "committee":
        return ids_by(people[people.area_pcode.isin(district_shapes())], "area_pcode")
    secret = at_confidential(people, facilities(engine))
    return ids_by(with_cells(people[~secret]), ["gi", "gj"])


def shown_places(result: geo.People) -> dict:
    """What the map draws: each drawn district's or cell's count."""
    if result.mode == "areas":
        return dict(zip(result.areas.pcode, result.areas.persons, strict=True))
    return {(int(r.gi), int(r.gj)): r.persons for r in result.cells.itertuples()}


def seen(value) -> range:
    """What a reader who knows the method can infer from a place's count: a drawn count
    is a rounding, an undrawn place holds 0 to 4 (the notes say which are left out)."""
    return range(0, 5) if value == UNDRAWN else possible_truths(value)


def derived(plus: Iterable = (), minus: Iterable = ()) -> range:
    """Every value of sum(plus) - sum(minus) consistent with those shown counts."""
    plus, minus = [seen(v) for v in plus], [seen(v) for v in minus]
    low = sum(r.start for r in plus) - sum(r.stop - 1 for r in minus)
    high = sum(r.stop - 1 for r in plus) - sum(r.start for r in minus)
    return range(low, high + 1)


def check_shown(result: geo.People, places: dict, label) -> dict:
    """Every drawn count is a multiple of 5, at least 5, and the oracle's rounding of the
    persons there; every other place holds no one or 1 to 4. Returns each place's
    count as the reader sees it (UNDRAWN where not drawn)."""
    drawn = shown_places(result)
    assert set(drawn) <= set(places), (label, set(drawn) - set(places))
    out = {}
    for place, ids in places.items():
        want = expected(ids)
        if place in drawn:
            value = drawn[place]
            assert isinstance(value, int) and value >= 5 and value % 5 == 0, (label, place)
            assert value == want, (label, place, value, want, len(ids))
            out[place] = value
        else:
            assert want in (0, LESS_THAN_5), (label, place, want, len(ids))
            out[place] = UNDRAWN
    return out


def check_totals(result: geo.People, places: dict, label) -> None:
    """The People's numbers are shown values too: the oracle's rounding of the persons
    each counts, never a true count."""
    drawn_ids = [i for k in shown_places(result) for i in places[k]]
    small_ids = [i for ids in places.values() if 0 < len(ids) < 5 for i in ids]
    assert result.rounded
    assert result.drawn == expected(drawn_ids), label
    assert result.hidden == expected(small_ids), label
    assert "Counts are rounded to a multiple of 5" in " ".join(result.notes)


def attack(values_a: dict, values_ab: dict, places_a: dict, places_ab: dict,
           label) -> int:
    """The reader subtracts filter A's count from filter A+B's in each place: wherever
    the true difference is 1 to 4, what is shown leaves it more than one value. A place
    holding the same persons under both filters shows the same count. Returns how many
    places had a difference of 1 to 4 (the attack had something to find)."""
    attacked = 0
    for place in set(places_a) | set(places_ab):
        ids_a, ids_ab = set(places_a.get(place, ())), set(places_ab.get(place, ()))
        assert ids_a <= ids_ab, (label, place)  # A+B selects everyone A does
        a, ab = values_a.get(place, UNDRAWN), values_ab.get(place, UNDRAWN)
        if ids_a == ids_ab:
            assert a == ab, (label, place, a, ab)
        truth = len(ids_ab) - len(ids_a)
        possible = {y - x for x in seen(a) for y in seen(ab) if y >= x}
        assert truth in possible, (label, place, a, ab, truth)
        if 1 <= truth <= 4:
            attacked += 1
            assert len(possible) > 1, (label, place, a, ab, possible)
            assert a == UNDRAWN or ab == UNDRAWN or (ab - a) % 5 == 0
    return attacked


def run_pair(db_url, engine, viewer: Viewer, first: geo.MapFilters,
             second: geo.MapFilters, label) -> int:
    everyone = persons(engine)
    database = opened(db_url)
    places_a = own_places(engine, matching(everyone, first), viewer)
    places_ab = own_places(engine, matching(everyone, second), viewer)
    result_a, result_ab = geo.people(database, viewer, first), geo.people(database, viewer,
                                                                          second)
    values_a = check_shown(result_a, places_a, (label, "A"))
    values_ab = check_shown(result_ab, places_ab, (label, "A+B"))
    check_totals(result_a, places_a, (label, "A"))
    check_totals(result_ab, places_ab, (label, "A+B"))
    # the totals the notes tell, against each other: never a small difference pinned
    told = derived([result_ab.drawn, result_ab.hidden], [result_a.drawn, result_a.hidden])
    truth = (sum(len(v) for v in places_ab.values()) - sum(len(v) for v in places_a.values()))
    assert truth in told and len(told) > 1, (label, told, truth)
    return attack(values_a, values_ab, places_a, places_ab, label)


# --- the attacks ---------------------------------------------------------------------------

@pytest.mark.parametrize("viewer", COUNT_ONLY, ids=ROLES)
def test_comparing_two_nationality_filters_never_singles_anyone_out(db_url, raw, viewer,
                                                                   counted_from):
    """Committee Map: Aley shows 181 persons for Ethiopia and 182 for Ethiopia + Eritrea:
    the one Eritrean there is a protected person. Now every district (and every
    coordinator's cell) shows a rounding of its own persons, so where Eritreans add 1 to
    4 people, the two shown counts leave the difference more than one value."""
    engine = raw(db_url)
    attacked = 0
    for first, second in NATIONALITY_PAIRS:
        attacked += run_pair(db_url, engine, viewer, geo.MapFilters(nationalities=first),
                             geo.MapFilters(nationalities=second), (viewer.role, second))
    assert attacked >= 5  # the scenario has places where B adds 1 to 4 people


@pytest.mark.parametrize("viewer", COUNT_ONLY, ids=ROLES)
def test_comparing_two_status_filters_never_singles_anyone_out(db_url, raw, viewer,
                                                               counted_from):
    """The same attack with the status filter: "located" against "located" + "missing"
    must not tell how many of a district's people are missing when they are 1 to 4."""
    engine = raw(db_url)
    attacked = 0
    for first, second in STATUS_PAIRS:
        attacked += run_pair(db_url, engine, viewer, geo.MapFilters(statuses=first),
                             geo.MapFilters(statuses=second), (viewer.role, second))
    assert attacked >= 5


@pytest.mark.parametrize("viewer", COUNT_ONLY, ids=ROLES)
def test_the_same_persons_show_the_same_count_whatever_selects_them(db_url, raw, viewer,
                                                                    counted_from):
    """Two filters that select exactly the same persons in a place show it the same
    count: every nationality chosen against no nationality filter, and a status no one
    on the map has added to the default. Asking differently gives nothing away."""
    engine = raw(db_url)
    everyone = persons(engine)
    nats = tuple(sorted(set(everyone.nationality.dropna())
                        | set(everyone.second_nationality.dropna())))
    database = opened(db_url)
    same = 0
    for first, second in [(geo.MapFilters(), geo.MapFilters(nationalities=nats)),
                          (geo.MapFilters(statuses=("located",)),
                           geo.MapFilters(statuses=("located", "deceased")))]:
        places_a = own_places(engine, matching(everyone, first), viewer)
        places_b = own_places(engine, matching(everyone, second), viewer)
        values_a = check_shown(geo.people(database, viewer, first), places_a, first)
        values_b = check_shown(geo.people(database, viewer, second), places_b, second)
        for place in set(places_a) & set(places_b):
            if set(places_a[place]) == set(places_b[place]):
                same += 1
                assert values_a[place] == values_b[place], (place, first, second)
    assert same > 10


@pytest.mark.parametrize("viewer", COUNT_ONLY, ids=ROLES)
def test_comparing_two_moments_never_singles_anyone_out(db_url, raw, viewer):
    """The As-of slider: a place's count at an earlier moment against now. Where 1 to 4
    people came or went, the two shown counts leave the change more than one value."""
    engine = raw(db_url)
    database = opened(db_url)
    moment = earlier_step(engine)
    filters = geo.MapFilters()
    places_now = own_places(engine, on_map(persons(engine)), viewer)
    places_then = own_places(engine, on_map(persons_then(engine, moment)), viewer)
    now = check_shown(geo.people(database, viewer, filters), places_now, "now")
    then_result = geo.people(database, viewer, filters, as_of=moment)
    assert then_result.as_of is not None
    then = check_shown(then_result, places_then, "then")
    changed = 0
    for place in set(places_now) | set(places_then):
        ids_now, ids_then = set(places_now.get(place, ())), set(places_then.get(place, ()))
        a, b = then.get(place, UNDRAWN), now.get(place, UNDRAWN)
        if ids_now == ids_then:
            assert a == b, place  # the same persons, the same count
        truth = len(ids_now) - len(ids_then)
        possible = {y - x for x in seen(a) for y in seen(b)}
        assert truth in possible
        if 1 <= abs(truth) <= 4:
            changed += 1
            assert len(possible) > 1, (place, a, b)
    assert changed > 0


@pytest.mark.parametrize("viewer", COUNT_ONLY, ids=ROLES)
def test_a_total_less_its_drawn_parts_never_gives_the_undrawn_away(db_url, raw, viewer,
                                                                   counted_from):
    """The notes tell how many persons are drawn and how many are in places of fewer
    than 5; the map draws each place's count. A total less its parts is known only to
    within the rounding of each: the undrawn persons are never pinned to a small count."""
    engine = raw(db_url)
    people = on_map(persons(engine))
    places = own_places(engine, people, viewer)
    result = geo.people(opened(db_url), viewer, geo.MapFilters())
    values = check_shown(result, places, viewer.role)
    check_totals(result, places, viewer.role)
    drawn = [v for v in values.values() if v != UNDRAWN]
    # the persons in drawn places, told in a note, less the drawn counts: 0 in truth
    rest = derived([result.drawn], drawn)
    assert 0 in rest and len(rest) > 1
    undrawn = sum(len(ids) for k, ids in places.items() if values[k] == UNDRAWN)
    assert 0 < undrawn
    assert undrawn in seen(result.hidden) and len(seen(result.hidden)) > 1
    # no count of persons anywhere in the notes is a true count the rounding would hide
    told = [m for note in result.notes for m in re.findall(r"([\d,]+|Fewer than 5) persons",
                                                            note)]
    assert told
    assert all(m == "Fewer than 5" or int(m.replace(",", "")) % 5 == 0 for m in told), told
