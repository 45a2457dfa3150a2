"""My nationals: a liaison's own visible nationals, person by person, against the
test's own SQL; nobody outside the scope, the cap, the filters and the export."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import text

from dashboard.contract import labels, vocab
from dashboard.figures import people
from dashboard.rules.access import Viewer
from tests.apptest import metric, open_page, shown_tables, texts
from tests.conftest import opened
from tests.downloads import served_files

ETD = ("expired_passport", "held_by_employer", "national_id", "none")
STATUSES = ("located", "sheltered", "in_transit", "evacuated", "relocated", "missing", "deceased")


def visible(engine, nats: tuple[str, ...]) -> pd.DataFrame:
    marks = ", ".join(f"'{n}'" for n in nats)
    with engine.connect() as conn:
        result = conn.execute(text(
            "SELECT * FROM persons WHERE scenario_id = 1 "
            f"AND (nationality IN ({marks}) OR second_nationality IN ({marks})) "
            "AND consent_consular = :t AND protection_confidential = :f "
            "AND status IN ('located', 'sheltered', 'in_transit', 'evacuated', 'relocated', "
            "'missing', 'deceased')"), {"t": True, "f": False})
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


@pytest.mark.parametrize("nats", [("ETH",), ("KEN", "PHL")], ids="-".join)
def test_counts_and_rows_are_the_visible_nationals(db_url, raw, nats):
    mine = visible(raw(db_url), nats)
    data = people.nationals(opened(db_url), Viewer("l", "consular", 1, nats), people.Filters())
    assert data.total == len(mine) == data.matching
    assert data.missing == int((mine.status == "missing").sum())
    assert data.travel_document == int(mine.documents.isin(ETD).sum())
    assert len(data.rows) == min(people.ROW_LIMIT, len(mine))
    assert set(data.rows.ref) <= set(mine.ref)
    # missing first
    missing = list(data.rows.status == "missing")
    assert missing == sorted(missing, reverse=True)


@pytest.mark.parametrize("nats", [("ETH",), ("KEN", "PHL")], ids="-".join)
def test_the_filters_offer_the_places_of_the_visible_nationals(db_url, raw, nats):
    engine = raw(db_url)
    mine = visible(engine, nats)
    with engine.connect() as conn:
        areas = pd.DataFrame(conn.execute(text("SELECT pcode, name FROM areas")).fetchall(),
                             columns=["pcode", "name"])
        fac = pd.DataFrame(conn.execute(text(
            "SELECT id, name, confidential FROM facilities WHERE scenario_id = 1")).fetchall(),
            columns=["id", "name", "confidential"])
    listed = fac[~fac.confidential.astype(bool)]
    offered = people.options(opened(db_url), Viewer("l", "consular", 1, nats))
    assert offered["areas"] == sorted(set(areas[areas.pcode.isin(mine.area_pcode)].name))
    assert offered["facilities"] == sorted(set(listed[listed.id.isin(mine.facility_id)].name))
    secret = set(fac[fac.confidential.astype(bool) & fac.id.isin(mine.facility_id)].name)
    assert offered["facilities"] and secret and not secret & set(offered["facilities"])


def test_a_liaison_never_sees_protected_or_non_consenting_people(db_url, raw):
    with raw(db_url).connect() as conn:
        hidden = {r[0] for r in conn.execute(text(
            "SELECT ref FROM persons WHERE (nationality = 'ETH' OR second_nationality = 'ETH') "
            "AND (consent_consular = :f OR protection_confidential = :t)"),
            {"t": True, "f": False})}
    assert hidden
    viewer = Viewer("l", "consular", 1, ("ETH",))
    for search in ("", "a", "e"):
        rows = people.nationals(opened(db_url), viewer, people.Filters(search=search)).rows
        assert not hidden & set(rows.ref)
    for ref in list(hidden)[:3]:
        found = people.nationals(opened(db_url), viewer, people.Filters(search=ref)).rows
        assert found.empty


def test_filters_narrow_in_the_database(db_url, raw):
    mine = visible(raw(db_url), ("ETH",))
    viewer = Viewer("l", "consular", 1, ("ETH",))
    missing = people.nationals(opened(db_url), viewer, people.Filters(show="missing"))
    assert missing.matching == int((mine.status == "missing").sum())
    assert set(missing.rows.status) == {"missing"}
    etd = people.nationals(opened(db_url), viewer, people.Filters(show="travel_document"))
    assert etd.matching == int(mine.documents.isin(ETD).sum())
    assert etd.rows.needs_travel_document.all()
    one = mine.iloc[0]
    found = people.nationals(opened(db_url), viewer, people.Filters(search=one.ref.lower()))
    assert list(found.rows.ref) == [one.ref]
    sheltered = people.nationals(opened(db_url), viewer, people.Filters(statuses=("sheltered",)))
    assert sheltered.matching == int((mine.status == "sheltered").sum())
    assert sheltered.rows.facility.notna().all()


def test_other_roles_get_no_person_rows(db_url):
    for role in ("committee", "coordinator", "admin"):
        with pytest.raises(people.NotPersonLevel):
            people.nationals(opened(db_url), Viewer("x", role, 1), people.Filters())


@pytest.mark.parametrize("role", ["committee", "coordinator", "admin"])
def test_page_refuses_other_roles(sqlite_url, monkeypatch, role):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "my_nationals", role)
    assert not at.exception
    assert "cannot open this page" in texts(at)
    assert not shown_tables(at)


def test_page_shows_the_capped_list_and_exports_exactly_it(sqlite_url, raw, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "my_nationals", "consular", ["ETH"])
    assert not at.exception
    mine = visible(raw(sqlite_url), ("ETH",))
    assert metric(at, "My nationals") == f"{len(mine):,}"
    assert metric(at, "Missing") == f"{int((mine.status == 'missing').sum()):,}"
    table = at.dataframe[0].value
    assert len(table) == min(people.ROW_LIMIT, len(mine))
    assert {"ref", "name", "phone", "area", "facility", "status", "evacuation_stage",
            "documents"} <= set(table.columns)
    button = at.get("download_button")[0].proto
    assert button.label == f"Download these {len(table):,} rows (CSV)"


def test_page_search_narrows_the_table(sqlite_url, raw, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "my_nationals", "consular", ["ETH"])
    ref = visible(raw(sqlite_url), ("ETH",)).ref.iloc[0]
    at.text_input(key="nationals-search").input(ref).run()
    assert not at.exception
    assert list(at.dataframe[0].value.ref) == [ref]
    assert metric(at, "Matching the filters") == "1"


def test_page_on_a_dirty_database(dirty_sqlite_url, raw, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", dirty_sqlite_url)
    at = open_page(dirty_sqlite_url, "my_nationals", "consular", ["ETH"])
    assert not at.exception
    assert metric(at, "My nationals") == f"{len(visible(raw(dirty_sqlite_url), ('ETH',))):,}"


# --- an earlier moment (the As-of slider) --------------------------------------------------

def table(engine, sql: str) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(text(sql))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def as_time(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format="mixed")


def earlier_step(engine, days: int = 5) -> datetime:
    """The As-of slider's hourly step `days` before the latest data."""
    start = pd.Timestamp(table(engine, "SELECT starts_at FROM scenarios WHERE id = 1")
                         .starts_at.iloc[0]).to_pydatetime()
    latest = as_time(table(engine, "SELECT updated_at FROM persons WHERE scenario_id = 1")
                     .updated_at).max().to_pydatetime()
    return start + timedelta(hours=int((latest - timedelta(days=days) - start)
                                       .total_seconds() // 3600))


def visible_then(engine, nats: tuple[str, ...], moment: datetime) -> pd.DataFrame:
    """The visible nationals registered by `moment`, with the status, facility (as the
    table names it), area and change time of their latest event by then (latest `at`,
    then highest id). A person who was then in another facility than now is in that
    facility's area, anyone else in their current area."""
    now = visible(engine, nats)
    now = now[as_time(now.registered_at) <= moment]
    events = table(engine, "SELECT * FROM person_events")
    events["at"] = as_time(events["at"])
    last = (events[events["at"] <= moment].sort_values(["person_id", "at", "id"])
            .groupby("person_id").tail(1)[["person_id", "at", "status", "facility_id"]])
    then = now.merge(last, left_on="id", right_on="person_id", suffixes=("_now", ""))
    then = then[then.status.isin(STATUSES)].reset_index(drop=True)
    fac = table(engine, "SELECT id, name, area_pcode, confidential FROM facilities")
    fac_area = dict(zip(fac.id, fac.area_pcode, strict=True))
    elsewhere = then.facility_id.notna() & (then.facility_id != then.facility_id_now)
    pcode = then.area_pcode.where(~elsewhere, then.facility_id.map(fac_area)
                                  .fillna(then.area_pcode))
    areas = table(engine, "SELECT pcode, name FROM areas")
    then["area"] = pcode.map(dict(zip(areas.pcode, areas.name, strict=True)))
    names = {int(f.id): ("confidential facility" if bool(f.confidential) else f.name)
             for f in fac.itertuples()}
    then["facility"] = then.facility_id.map(lambda i: None if pd.isna(i) else names.get(int(i)))
    return then


def shown_rows(rows: pd.DataFrame) -> dict[str, tuple]:
    return {r.ref: (r.status, None if pd.isna(r.facility) else r.facility,
                    None if pd.isna(r.area) else r.area, pd.Timestamp(r.updated_at))
            for r in rows.itertuples()}


def expected_rows(then: pd.DataFrame) -> dict[str, tuple]:
    return {r.ref: (r.status, None if pd.isna(r.facility) else r.facility,
                    None if pd.isna(r.area) else r.area, pd.Timestamp(r.at))
            for r in then.itertuples()}


@pytest.mark.parametrize("nats", [("ETH",), ("KEN", "PHL")], ids="-".join)
def test_rows_at_an_earlier_moment_are_those_of_the_history(db_url, raw, nats):
    engine = raw(db_url)
    moment = earlier_step(engine)
    then = visible_then(engine, nats, moment)
    viewer = Viewer("l", "consular", 1, nats)
    data = people.nationals(opened(db_url), viewer, people.Filters(), moment)
    assert data.as_of == moment
    assert data.total == data.matching == len(then) < len(visible(engine, nats))
    assert len(then) <= people.ROW_LIMIT  # so every row is compared
    assert data.missing == int((then.status == "missing").sum())
    assert data.travel_document == int(then.documents.isin(ETD).sum())
    assert shown_rows(data.rows) == expected_rows(then)
    assert (data.rows.as_of == pd.Timestamp(moment)).all()
    now = people.nationals(opened(db_url), viewer, people.Filters())
    assert shown_rows(now.rows) != shown_rows(data.rows)
    assert "as_of" not in now.rows.columns and now.as_of is None


def test_missing_and_travel_document_views_at_an_earlier_moment(db_url, raw):
    engine = raw(db_url)
    moment = earlier_step(engine)
    then = visible_then(engine, ("ETH",), moment)
    viewer = Viewer("l", "consular", 1, ("ETH",))
    missing = people.nationals(opened(db_url), viewer, people.Filters(show="missing"), moment)
    expected = then[then.status == "missing"]
    assert missing.matching == len(expected) > 0
    assert shown_rows(missing.rows) == expected_rows(expected)
    now = visible(engine, ("ETH",))
    assert set(expected.ref) != set(now[now.status == "missing"].ref)
    etd = people.nationals(opened(db_url), viewer, people.Filters(show="travel_document"), moment)
    expected = then[then.documents.isin(ETD)]
    assert etd.matching == len(expected) > 0
    assert shown_rows(etd.rows) == expected_rows(expected)
    sheltered = people.nationals(opened(db_url), viewer, people.Filters(statuses=("sheltered",)),
                                 moment)
    assert shown_rows(sheltered.rows) == expected_rows(then[then.status == "sheltered"])
    area = then.area.dropna().iloc[0]
    by_area = people.nationals(opened(db_url), viewer, people.Filters(areas=(area,)), moment)
    assert shown_rows(by_area.rows) == expected_rows(then[then.area == area])
    assert area in people.options(opened(db_url), viewer, moment)["areas"]




def test_moving_the_slider_shows_and_exports_the_nationals_as_they_were(db_url, raw,
                                                                        downloads):
    engine = raw(db_url)
    moment = earlier_step(engine)
    at = open_page(db_url, "my_nationals", "consular", ["ETH"])
    assert not at.exception
    assert metric(at, "My nationals") == f"{len(visible(engine, ('ETH',))):,}"
    assert {"my-nationals.csv", "my-nationals.xlsx"} <= set(served_files(downloads))

    at.select_slider(key="as-of").set_value(moment).run()
    assert not at.exception
    then = visible_then(engine, ("ETH",), moment)
    assert metric(at, "My nationals") == f"{len(then):,}"
    assert metric(at, "Missing") == f"{int((then.status == 'missing').sum()):,}"
    shown = at.dataframe[0].value
    assert dict(zip(shown.ref, shown.status, strict=True)) == dict(  # the statuses' labels
        zip(then.ref, then.status.map(labels.PERSON_STATUS), strict=True))
    assert (pd.to_datetime(shown.as_of) == pd.Timestamp(moment)).all()
    assert "Documents, evacuation case and movement have no history" in texts(at)

    file = served_files(downloads)[f"my-nationals-as-of-{moment:%Y-%m-%d-%H%M}.csv"]
    codes = [h for h in file.headings if h.endswith("(code)")]  # codes keep their labels
    assert codes == ["Sex (code)", "Status (code)", "Evacuation stage (code)",
                     "Documents (code)"]
    assert len(file.headings) == len(shown.columns) + len(codes)
    assert file.column("#affected+id") == list(shown.ref)
    assert (pd.to_datetime(file.column("#date+as_of")) == pd.Timestamp(moment)).all()
    labels_shown = [b.proto.label for b in at.get("download_button")]
    assert f"Download these {len(shown):,} rows as of {moment:%d %b %H:%M} (CSV)" in labels_shown


def test_an_earlier_moment_on_a_dirty_database(dirty_db_url, raw):
    engine = raw(dirty_db_url)
    moment = earlier_step(engine)
    at = open_page(dirty_db_url, "my_nationals", "consular", ["ETH"])
    at.select_slider(key="as-of").set_value(moment).run()
    assert not at.exception
    assert metric(at, "My nationals") == f"{len(visible_then(engine, ('ETH',), moment)):,}"


# --- the liaison's desk: sex, age, vulnerabilities, open referrals, paging ------------------

def desk_expected(engine, nats: tuple[str, ...]) -> pd.DataFrame:
    """Each visible national's sex, age, vulnerability tags and open referrals (the
    consular services, overdue ones marked), by the test's own SQL and pandas."""
    from tests.readback import as_of_of
    from tests.test_referrals import ACTIVE, valid_referrals

    viewer = Viewer("l", "consular", 1, nats)
    as_of = pd.Timestamp(as_of_of(engine, 1))
    mine = visible(engine, nats)
    tags = table(engine, "SELECT person_id, tag FROM person_vulnerabilities")
    refs = valid_referrals(engine, viewer)
    refs = refs[refs.status.isin(ACTIVE) & (refs.created_at_ts <= as_of)
                & (refs.closed_at_ts.isna() | (refs.closed_at_ts > as_of))]
    refs = refs.assign(overdue=(refs.status == "open") & (refs.due_at_ts < as_of))
    return pd.DataFrame({
        "ref": mine.ref,
        "sex": mine.sex.map(labels.SEX),
        "age": as_of.year - mine.birth_year,
        "tags": [sorted(labels.VULNERABILITY[t] for t in tags.tag[tags.person_id == i])
                 for i in mine.id],
        "referrals": [sorted((labels.REFERRAL_SERVICE[s], bool(o)) for s, o in zip(
            refs.service[refs.person_id == i], refs.overdue[refs.person_id == i], strict=True))
            for i in mine.id],
    }).set_index("ref")


def said_referrals(cell: str) -> list[tuple[str, bool]]:
    return sorted((part.removesuffix(" (overdue)"), part.endswith(" (overdue)"))
                  for part in cell.split(", ") if part)


def test_the_desk_shows_sex_age_vulnerabilities_and_open_referrals(db_url, raw):
    engine = raw(db_url)
    expected_rows = desk_expected(engine, ("ETH",))
    data = people.nationals(opened(db_url), Viewer("l", "consular", 1, ("ETH",)),
                            people.Filters())
    rows = data.rows.set_index("ref")
    assert set(rows.index) == set(expected_rows.index)
    for ref, want in expected_rows.iterrows():
        got = rows.loc[ref]
        assert got["sex"] == next(k for k, v in labels.SEX.items() if v == want["sex"]), ref
        assert (pd.isna(got["age"]) and pd.isna(want["age"])) or got["age"] == want["age"], ref
        shown_tags = sorted(t for t in got["vulnerabilities"].split(", ") if t)
        assert shown_tags == want["tags"], ref
        assert said_referrals(got["open_referrals"]) == want["referrals"], ref
        assert got["overdue_referral"] == any(o for _, o in want["referrals"]), ref
        overdue_first = [p.endswith("(overdue)") for p in got["open_referrals"].split(", ") if p]
        assert overdue_first == sorted(overdue_first, reverse=True), ref
    sensitive = {labels.REFERRAL_SERVICE[s] for s in vocab.SENSITIVE_SERVICES}
    assert not any(s in cell for cell in rows["open_referrals"] for s in sensitive)
    assert any(expected_rows["referrals"].map(len)) and any(expected_rows["tags"].map(len))


def test_the_overdue_filter_finds_exactly_those_with_an_overdue_referral(db_url, raw):
    engine = raw(db_url)
    want = desk_expected(engine, ("ETH", "KEN"))
    overdue = {ref for ref, r in want.iterrows() if any(o for _, o in r["referrals"])}
    assert overdue
    data = people.nationals(opened(db_url), Viewer("l", "consular", 1, ("ETH", "KEN")),
                            people.Filters(overdue_referral=True))
    assert data.matching == len(overdue)
    assert set(data.rows.ref) == overdue


def test_pages_walk_through_every_matching_national_once(db_url, raw, monkeypatch):
    monkeypatch.setattr(people, "ROW_LIMIT", 40)
    mine = visible(raw(db_url), ("ETH",))
    viewer = Viewer("l", "consular", 1, ("ETH",))
    pages = -(-len(mine) // 40)
    assert pages >= 3
    seen = []
    for page in range(pages):
        data = people.nationals(opened(db_url), viewer, people.Filters(), None, page)
        assert data.page == page and len(data.rows) == min(40, len(mine) - 40 * page)
        seen += list(data.rows.ref)
    assert sorted(seen) == sorted(mine.ref)  # every one, once
    missing_first = [r in set(mine.ref[mine.status == "missing"]) for r in seen]
    assert missing_first == sorted(missing_first, reverse=True)
    beyond = people.nationals(opened(db_url), viewer, people.Filters(), None, pages + 3)
    assert beyond.page == pages - 1  # past the end: the last page


def test_the_page_offers_the_overdue_filter_and_pages(sqlite_url, raw, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    monkeypatch.setattr(people, "ROW_LIMIT", 100)
    at = open_page(sqlite_url, "my_nationals", "consular", ["ETH"])
    assert not at.exception
    mine = visible(raw(sqlite_url), ("ETH",))
    assert at.number_input(key="nationals-page").max == -(-len(mine) // 100)
    at.number_input(key="nationals-page").set_value(2).run()
    assert not at.exception
    assert "Rows 101–200" in texts(at)
    at.toggle(key="nationals-overdue").set_value(True).run()
    assert not at.exception
    table_shown = at.dataframe[0].value
    assert table_shown["overdue_referral"].all() and len(table_shown) > 0


def test_each_row_carries_its_areas_p_code(db_url, raw):
    mine = visible(raw(db_url), ("ETH",)).set_index("ref")
    rows = people.nationals(opened(db_url), Viewer("l", "consular", 1, ("ETH",)),
                            people.Filters()).rows.set_index("ref")
    assert list(rows.columns).index("pcode") == list(rows.columns).index("area") + 1
    assert rows["pcode"].fillna("").to_dict() == mine["area_pcode"].fillna("").to_dict()
