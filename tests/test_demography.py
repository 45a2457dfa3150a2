"""People by sex and age band and by vulnerability (Overview, Map): the expected
tables are worked out here with the tests' own SQL and the disclosure oracle
(tests/disclosure.py), on SQLite and PostgreSQL, for a count-only role and a
liaison, and on the pages."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import event, text

from dashboard.figures import demography
from dashboard.rules.access import Viewer
from tests.apptest import open_page, shown_tables
from tests.conftest import opened
from tests.disclosure import LESS_THAN_5, expected, expected_columns, expected_parts

STATUSES = ("located", "sheltered", "in_transit", "evacuated", "relocated", "missing",
            "deceased")
BANDS = ["0-4", "5-11", "12-17", "18-59", "60+", "unknown"]
# the profile's columns and the headings a reader sees over them
SEX_HEADINGS = {"f": "Female", "m": "Male", "x": "Other or not recorded", "total": "Total"}
TAGS = ["uasc", "trafficking", "gbv", "disability", "elderly", "medical", "pregnant",
        "single_parent"]


def persons(engine, nats: tuple[str, ...] | None, where: str = "") -> pd.DataFrame:
    """The scope's persons of the live scenario: everyone, or a liaison's consenting,
    unprotected nationals (either nationality)."""
    scope = ""
    if nats is not None:
        marks = ", ".join(f"'{n}'" for n in nats)
        scope = (f"AND (nationality IN ({marks}) OR second_nationality IN ({marks})) "
                 "AND consent_consular = :t AND protection_confidential = :f")
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    with engine.connect() as conn:
        year = pd.Timestamp(conn.execute(text(
            "SELECT MAX(updated_at) FROM persons WHERE scenario_id = 1")).scalar()).year
        found = conn.execute(text(
            f"SELECT id, sex, birth_year, area_pcode, status FROM persons WHERE scenario_id = 1 "
            f"AND status IN ({statuses}) {scope} {where}"), {"t": True, "f": False})
        frame = pd.DataFrame(found.fetchall(), columns=list(found.keys()))
    frame.attrs["year"] = year
    return frame


def band(birth_year, year: int) -> str:
    if birth_year is None or pd.isna(birth_year) or birth_year > year:
        return "unknown"
    age = year - int(birth_year)
    return ("0-4" if age <= 4 else "5-11" if age <= 11 else "12-17" if age <= 17
            else "18-59" if age <= 59 else "60+")


def expected_table(frame: pd.DataFrame, exact: bool) -> dict[str, dict[str, object]]:
    """band -> {f, m, x, total} as the viewer must be shown them."""
    count = (lambda ids: len(ids)) if exact else expected  # noqa: E731
    bands = frame.assign(band=[band(b, frame.attrs["year"]) for b in frame.birth_year])
    rows = {}
    for b in BANDS:
        mine = bands[bands.band == b]
        parts = {s: count(list(mine[mine.sex == s].id)) for s in ("f", "m", "x")}
        total = count(list(mine.id))
        rows[b] = {**(parts if exact else expected_parts(parts, total)), "total": total}
    if not exact:
        columns = {s: expected(list(bands[bands.sex == s].id)) for s in ("f", "m", "x")}
        rows = expected_columns(rows, columns)
    return rows


def tagged(engine, ids: list[int]) -> dict[str, list[int]]:
    with engine.connect() as conn:
        found = pd.DataFrame(conn.execute(text(
            "SELECT person_id, tag FROM person_vulnerabilities")).fetchall(),
            columns=["person_id", "tag"])
    found = found[found.person_id.isin(set(ids))]
    return {t: sorted(found[found.tag == t].person_id) for t in TAGS}


def shown_table(profile: demography.Profile) -> dict[str, dict[str, object]]:
    """The shown table with its numbers as numbers (tables show them as text)."""
    def value(v: str) -> object:
        return int(v) if v.isdigit() else v

    return {row["band"]: {c: value(row[c]) for c in ("f", "m", "x", "total")}
            for row in profile.by_age_sex.to_dict("records")}


@pytest.mark.parametrize("role,nats", [("committee", None), ("consular", ("ETH",))])
def test_people_by_age_sex_and_vulnerability(db_url, raw, role, nats):
    engine = raw(db_url)
    mine = persons(engine, nats)
    viewer = Viewer("v", role, 1, nats or ())
    profile = demography.profile(opened(db_url), viewer)
    exact = role == "consular"
    assert shown_table(profile) == expected_table(mine, exact)
    assert profile.total == (len(mine) if exact else expected(list(mine.id)))
    by_tag = tagged(engine, list(mine.id))
    shown = {t: int(v) if v.isdigit() else v for t, v in zip(
        profile.by_vulnerability.tag, profile.by_vulnerability.persons, strict=True)}
    assert {t: shown[t] for t in TAGS} == {
        t: (len(ids) if exact else expected(ids)) for t, ids in by_tag.items()}
    if not exact:  # the test data holds suppressed cells: the rule is exercised
        assert any(v in (LESS_THAN_5, "—") for row in shown_table(profile).values()
                   for v in row.values())


def test_every_role_counting_the_whole_scenario_shares_one_count(db_url, raw):
    """The committee, the coordinator and the admin count the same persons: the two
    reads of every person are made once for the three (a cold Overview for the second
    role costs no scan of a million), and each is shown them as its role may be."""
    database = opened(db_url)
    reads: list[str] = []
    listen = lambda *args: reads.append(args[2])  # noqa: E731 (statement)
    event.listen(database.engine, "before_cursor_execute", listen)
    try:
        profiles = [demography.profile(database, Viewer("v", role, 1))
                    for role in ("committee", "coordinator", "admin")]
    finally:
        event.remove(database.engine, "before_cursor_execute", listen)
    # (the scenario's groups, which the first profile starts finding in the background,
    # read the persons with their nationalities too: not these reads)
    own = [r for r in reads if "nat2" not in r]
    assert len([r for r in own if "AS band, p.sex AS sex" in r]) == 1
    assert len([r for r in own if "person_vulnerabilities v" in r]) == 1
    wanted = expected_table(persons(raw(db_url), None), exact=False)
    assert [shown_table(p) for p in profiles] == [wanted] * 3


IN_COUNTRY = ("located", "sheltered", "in_transit", "relocated", "missing")


@pytest.mark.parametrize("role,nats,narrowing,where", [
    ("consular", ("ETH",), demography.Narrowing(), ""),
    ("consular", ("ETH",), demography.Narrowing(statuses=IN_COUNTRY),
     "AND status IN ('located', 'sheltered', 'in_transit', 'relocated', 'missing')"),
    ("consular", ("PHL", "KEN"),
     demography.Narrowing(nationalities=("KEN",), statuses=("missing",)),
     "AND (nationality = 'KEN' OR second_nationality = 'KEN') AND status = 'missing'"),
    ("committee", None, demography.Narrowing(), ""),
    ("coordinator", None, demography.Narrowing(statuses=("sheltered", "missing")),
     "AND status IN ('sheltered', 'missing')"),
    ("committee", None, demography.Narrowing(nationalities=("ETH", "SYR"),
                                             statuses=("located",)),
     "AND (nationality IN ('ETH', 'SYR') OR second_nationality IN ('ETH', 'SYR')) "
     "AND status = 'located'"),
])
@pytest.mark.parametrize("found", [True, False])
def test_a_profile_is_the_same_from_the_scenarios_groups(db_url, raw, role, nats, narrowing,
                                                         where, found):
    """Once the scenario's groups are found (figures.warmup), a profile at the latest
    data, narrowed by status and nationality, is summed from them and reads no person;
    before, it is counted in the database. Both are exactly the liaison's own consenting,
    unprotected nationals, or everyone rounded as a role shown counts may see them, as
    the test counts them."""
    database = opened(db_url)
    if found:
        demography.find_groups(database, 1)
    reads: list[str] = []
    listen = lambda *args: reads.append(args[2])  # noqa: E731 (statement)
    event.listen(database.engine, "before_cursor_execute", listen)
    try:
        profile = demography.profile(database, Viewer("v", role, 1, nats or ()),
                                     narrowing=narrowing)
    finally:
        event.remove(database.engine, "before_cursor_execute", listen)
    engine = raw(db_url)
    mine = persons(engine, nats, where)
    assert len(mine) > 0
    exact = role == "consular"
    count = len if exact else expected
    assert shown_table(profile) == expected_table(mine, exact=exact)
    assert profile.total == count(list(mine.id))
    by_tag = tagged(engine, list(mine.id))
    shown = {t: int(v) if v.isdigit() else v for t, v in zip(
        profile.by_vulnerability.tag, profile.by_vulnerability.persons, strict=True)}
    assert {t: shown[t] for t in TAGS} == {t: count(ids) for t, ids in by_tag.items()}
    assert any("AS band, p.sex AS sex" in r for r in reads) != found


def test_a_map_district_and_filters_narrow_the_profile(sqlite_url, raw):
    """Narrowed to one district and the Map's default statuses: the counts are those of
    that district's persons alone, each rounded on its own (no difference of two shown
    profiles gives back a hidden one: each is a multiple of 5, "<5" or withheld)."""
    engine = raw(sqlite_url)
    everyone = persons(engine, None)
    area = everyone.area_pcode.value_counts().index[1]  # the second-largest district
    in_country = ("located", "sheltered", "in_transit", "relocated", "missing")
    marks = ", ".join(f"'{s}'" for s in in_country)
    mine = persons(engine, None, f"AND area_pcode = '{area}' AND status IN ({marks})")
    narrowing = demography.Narrowing(statuses=in_country, area=area)
    profile = demography.profile(opened(sqlite_url), Viewer("v", "committee", 1),
                                 narrowing=narrowing)
    assert shown_table(profile) == expected_table(mine, exact=False)
    for row in shown_table(profile).values():
        for value in row.values():
            assert value in (0, LESS_THAN_5, "—") or value % 5 == 0


def test_the_overview_and_map_show_the_profile(sqlite_url, raw, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    mine = persons(raw(sqlite_url), None)
    want = expected_table(mine, exact=False)
    for page in ("overview", "map"):
        at = open_page(sqlite_url, page, "committee")
        assert not at.exception
        table = next(t for t in shown_tables(at) if "Age" in t.columns)
        assert list(table["Age"]) == ["0–4", "5–11", "12–17", "18–59", "60+", "Age unknown"]
        if page == "overview":  # everyone registered; the Map counts its filters' persons
            assert [[str(v) for v in table[c]] for c in SEX_HEADINGS.values()] == [
                [str(want[b][c]) for b in BANDS] for c in SEX_HEADINGS]
        tags = next(t for t in shown_tables(at) if "Vulnerability" in t.columns)
        assert "Unaccompanied or separated child" in list(tags["Vulnerability"])
        # shown whole as text, not as a data grid that sizes itself after the page
        assert not [t for t in at.dataframe if {"band", "tag"} & set(t.value.columns)]


def pick(at, layer: str, row: dict):
    """What the browser sends when the reader clicks one object of the map's `layer`."""
    at.session_state["map-deck"] = {"selection": {"indices": {layer: [0]},
                                                  "objects": {layer: [row]}}}
    return at.run()


def shown_profile_table(at) -> dict[str, dict[str, object]]:
    table = next(t for t in shown_tables(at) if "Age" in t.columns)
    bands = dict(zip(["0–4", "5–11", "12–17", "18–59", "60+", "Age unknown"], BANDS, strict=True))
    return {bands[row["Age"]]: {c: int(row[h]) if str(row[h]).isdigit() else row[h]
                                for c, h in SEX_HEADINGS.items()}
            for row in table.to_dict("records")}


def test_clicking_a_district_or_cell_narrows_the_map_figures_until_cleared(
        sqlite_url, raw, monkeypatch):
    from dashboard.figures.geo import GRID_STEP

    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    engine = raw(sqlite_url)
    in_country = "AND status IN ('located', 'sheltered', 'in_transit', 'relocated', 'missing')"
    everyone = persons(engine, None, in_country)
    area = everyone.area_pcode.value_counts().index[1]
    at = open_page(sqlite_url, "map", "committee")
    assert not at.exception
    assert shown_profile_table(at) == expected_table(everyone, exact=False)

    pick(at, "people-districts", {"pcode": area, "name": "Matn", "persons": 10})
    assert not at.exception
    assert shown_profile_table(at) == expected_table(
        persons(engine, None, f"{in_country} AND area_pcode = '{area}'"), exact=False)
    assert any("Narrowed to Matn district" in m.value for m in at.markdown)
    at.button(key="map-clear-place").click().run()
    assert not at.exception
    assert shown_profile_table(at) == expected_table(everyone, exact=False)
    assert not any("Narrowed to" in m.value for m in at.markdown)

    with engine.connect() as conn:  # the busiest grid cell, found here
        gi, gj = conn.execute(text(
            f"SELECT CAST((lat + 90.0) / {GRID_STEP} AS INTEGER) AS gi, "
            f"CAST((lon + 180.0) / {GRID_STEP} AS INTEGER) AS gj FROM persons "
            f"WHERE scenario_id = 1 AND lat IS NOT NULL {in_country} "
            "GROUP BY 1, 2 ORDER BY COUNT(*) DESC LIMIT 1")).one()
    pick(at, "people-cells", {"gi": gi, "gj": gj, "persons": 10})
    assert not at.exception
    south, west = gi * GRID_STEP - 90, gj * GRID_STEP - 180
    in_cell = persons(engine, None, f"{in_country} AND lat >= {south} AND lat < "
                                    f"{south + GRID_STEP} AND lon >= {west} AND lon < "
                                    f"{west + GRID_STEP}")
    assert len(in_cell) >= 5
    assert shown_profile_table(at) == expected_table(in_cell, exact=False)
