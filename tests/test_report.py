"""The situation report (dashboard.figures.report_pdf, `sitroom report`, the Overview's
download): its text holds the headline figures this test works out with its own SQL
and the design's rounding (tests/disclosure.py), no person of a count-only role's
scenario by reference or name, EXERCISE on every page of an exercise's report, and
every report leaves an audit line.

The PDF's text is read with pypdf (pure Python, in the test extras), so the tests need
no poppler on the machine.
"""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import datetime, timedelta

import pandas as pd
import pypdf
import pytest
from sqlalchemy import text

from dashboard.contract import vocab
from dashboard.figures import report_pdf
from dashboard.rules import audit
from dashboard.rules.access import Viewer
from dashboard.tools import cli
from tests import test_demography as demography_tests
from tests.apptest import open_page
from tests.conftest import opened
from tests.disclosure import expected, expected_change

EXERCISE = 2
CONSULAR_SERVICES = ("consular", "documentation", "evacuation", "family_tracing")


def pages_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def tile(pages: list[str], label: str) -> tuple[str, str]:
    """The value and change printed under a headline figure's label."""
    lines = [line.strip() for line in pages[0].splitlines()]
    at = lines.index(label)
    return lines[at + 1], lines[at + 2]


def frame(engine, sql: str, **params) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(text(sql), params)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def printed(value: int | str) -> str:
    return f"{value:,}" if isinstance(value, int) else value


def printed_change(value: int | str) -> str:
    return f"{value:+,}" if isinstance(value, int) else value


def audit_lines(path) -> list[dict]:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM audit_log ORDER BY id")]


VIEWERS = [
    Viewer("c", "committee", 1),
    Viewer("k", "coordinator", 1),
    Viewer("l", "consular", 1, ("ETH",)),
    Viewer("x", "committee", EXERCISE),
]


@pytest.mark.parametrize("viewer", VIEWERS, ids=lambda v: f"{v.role}-{v.scenario_id}"
                         + "".join(f"-{n}" for n in v.nationalities))
def test_the_pdf_holds_the_headline_figures_of_the_database(db_url, raw, viewer):
    engine = raw(db_url)
    persons = frame(engine, "SELECT * FROM persons WHERE scenario_id = :s", s=viewer.scenario_id)
    persons = persons[persons.status.isin(list(vocab.PERSON_STATUSES))]
    if viewer.role == "consular":
        nats = set(viewer.nationalities)
        persons = persons[(persons.nationality.isin(nats) | persons.second_nationality.isin(nats))
                          & persons.consent_consular.astype(bool)
                          & ~persons.protection_confidential.astype(bool)]
    as_of = pd.to_datetime(frame(engine, "SELECT MAX(updated_at) AS at FROM persons "
                                         "WHERE scenario_id = :s", s=viewer.scenario_id)
                           .at[0, "at"]).to_pydatetime()
    reference = as_of - timedelta(hours=24)
    reference -= timedelta(minutes=reference.minute % 15, seconds=reference.second,
                           microseconds=reference.microsecond)

    def shown(ids) -> int | str:
        ids = list(ids)
        return len(ids) if viewer.role == "consular" else expected(ids)

    registered_at = pd.to_datetime(persons.registered_at, format="mixed")
    registered = shown(persons.id[registered_at <= as_of])
    referrals = frame(engine, "SELECT r.* FROM referrals r JOIN persons p ON p.id = r.person_id "
                              "WHERE r.scenario_id = :s", s=viewer.scenario_id)
    if viewer.role == "consular":
        referrals = referrals[referrals.person_id.isin(persons.id)
                              & referrals.service.isin(CONSULAR_SERVICES)]
    closed = pd.to_datetime(referrals.closed_at, format="mixed")
    created = pd.to_datetime(referrals.created_at, format="mixed")
    due = pd.to_datetime(referrals.due_at, format="mixed")

    written = report_pdf.write_report(opened(db_url), viewer)
    pages = pages_text(written.pdf)

    before = shown(persons.id[registered_at <= reference])
    assert tile(pages, "Registered") == (
        printed(registered), f"{printed_change(expected_change(registered, before))} since then")
    assert tile(pages, "Missing")[0] == printed(shown(persons.id[persons.status == "missing"]))
    assert tile(pages, "Registered sheltered")[0] == printed(
        shown(persons.id[persons.status == "sheltered"]))
    assert tile(pages, "Open referrals")[0] == printed(shown(
        referrals.id[(created <= as_of) & (closed.isna() | (closed > as_of))]))
    assert tile(pages, "Overdue referrals")[0] == printed(shown(
        referrals.id[(referrals.status == "open") & (due < as_of)]))
    cases = frame(engine, "SELECT DISTINCT c.id FROM evacuation_cases c JOIN evacuation_events e "
                          "ON e.case_id = c.id WHERE c.scenario_id = :s AND e.stage = 'departed' "
                          "AND e.at <= :at AND c.person_id IN (SELECT id FROM persons)",
                  s=viewer.scenario_id, at=as_of)
    if viewer.role == "consular":
        cases = frame(engine, "SELECT DISTINCT c.id, c.person_id FROM evacuation_cases c "
                              "JOIN evacuation_events e ON e.case_id = c.id WHERE "
                              "c.scenario_id = :s AND e.stage = 'departed' AND e.at <= :at",
                      s=viewer.scenario_id, at=as_of)
        cases = cases[cases.person_id.isin(persons.id)]
    assert tile(pages, "Evacuated")[0] == printed(shown(cases.id))
    assert f"Data as of\n{as_of:%a %d %b %Y, %H:%M} UTC" in pages[0]


@pytest.mark.parametrize("role", ["committee", "coordinator", "consular"])
def test_a_report_names_no_one(sqlite_url, raw, role):
    """No registration reference or name of anyone in the scenario: the count-only roles
    see no person (docs/design.md §2.4), and a liaison's report names none of its own
    nationals either (its map draws them as dots)."""
    engine = raw(sqlite_url)
    people = frame(engine, "SELECT ref, full_name FROM persons WHERE scenario_id = 1")
    assert len(people) > 1000
    viewer = Viewer("r", role, 1, ("ETH",) if role == "consular" else ())
    written = report_pdf.write_report(opened(sqlite_url), viewer)
    whole = "\n".join(pages_text(written.pdf))
    words = set(whole.split())
    assert not [ref for ref in people.ref if ref in whole]
    assert not [name for name in people.full_name if name in whole]
    assert not set(people.ref) & words
    if role == "consular":
        assert written.report.rows_about_people > 0  # its nationals drawn, nameless


def test_an_exercise_report_says_exercise_on_every_page(sqlite_url):
    written = report_pdf.write_report(opened(sqlite_url), Viewer("x", "committee", EXERCISE))
    pages = pages_text(written.pdf)
    assert len(pages) >= 2
    assert all("EXERCISE" in page for page in pages)
    assert written.file_name.startswith("EXERCISE-")
    live = report_pdf.write_report(opened(sqlite_url), Viewer("x", "committee", 1))
    assert not any("EXERCISE" in page for page in pages_text(live.pdf))


def test_every_report_is_written_to_the_audit_log(sqlite_url, own_audit_log):
    viewer = Viewer("someone", "coordinator", 1)
    since = datetime(2026, 11, 22, 6, 0)
    written = report_pdf.write_report(opened(sqlite_url), viewer, since=since, page="overview",
                                      filters={"reference_at": "chosen"})
    line, = audit_lines(own_audit_log)
    assert (line["user"], line["role"], line["scenario_id"], line["page"], line["action"]) == (
        "someone", "coordinator", 1, "overview", "report")
    filters = json.loads(line["filters"])
    assert filters["file"] == written.file_name
    assert filters["as_of"] == written.report.as_of.isoformat(timespec="minutes")
    assert written.report.reference_label.startswith("Sun 22 Nov 2026, 06:00")


def test_no_report_is_handed_out_without_its_audit_line(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setenv("SITROOM_AUDIT_DB", str(tmp_path))  # a folder: cannot be written
    with pytest.raises(audit.AuditUnavailable):
        report_pdf.write_report(opened(sqlite_url), Viewer("c", "committee", 1))


def test_the_command_writes_the_report_and_its_audit_line(sqlite_url, tmp_path, own_audit_log,
                                                          capsys):
    out = tmp_path / "report.pdf"
    code = cli.main(["report", "--db-url", sqlite_url, "--scenario", str(EXERCISE), "--role",
                     "consular", "--nationality", "ETH", "KEN", "--as-of",
                     "2026-11-22T20:00:00+00:00", "--since", "2026-11-22T08:00", "--out",
                     str(out)])
    assert code == 0, capsys.readouterr().err
    pages = pages_text(out.read_bytes())
    assert all("EXERCISE" in page for page in pages)
    assert "Figures for\nSun 22 Nov 2026, 20:00 UTC" in pages[0]
    line, = audit_lines(own_audit_log)
    assert line["user"].startswith("cli")
    assert (line["role"], line["nationalities"], line["scenario_id"], line["page"],
            line["action"]) == ("consular", "ETH,KEN", EXERCISE, "cli", "report")
    assert json.loads(line["filters"])["out"] == str(out.resolve())


def test_the_command_refuses_what_it_cannot_report(sqlite_url, tmp_path, own_audit_log, capsys):
    for args in (["--scenario", "99", "--role", "committee"],
                 ["--scenario", "1", "--role", "consular"],
                 ["--scenario", "1", "--role", "committee", "--as-of", "yesterday"]):
        out = tmp_path / "refused.pdf"
        assert cli.main(["report", "--db-url", sqlite_url, *args, "--out", str(out)]) == 2
        assert not out.exists()
    assert "no scenario 99" in capsys.readouterr().err
    assert not own_audit_log.exists() or not audit_lines(own_audit_log)


def test_the_overview_offers_the_report_and_audits_its_download(sqlite_url, own_audit_log,
                                                                 monkeypatch, downloads):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    at = open_page(sqlite_url, "overview", "committee", scenario=EXERCISE)
    assert not at.exception
    (name, made), = [(n, d) for n, d in downloads if n and n.endswith(".pdf")]
    assert name.startswith("EXERCISE-situation-report-")
    assert not [r for r in audit_lines(own_audit_log) if r["action"] == "report"]  # not yet
    pdf = made()  # what the click serves
    shown_value = next(m.value for m in at.metric if m.label == "Registered")
    assert tile(pages_text(pdf), "Registered")[0] == shown_value
    reports = [r for r in audit_lines(own_audit_log) if r["action"] == "report"]
    assert [(r["user"], r["role"], r["scenario_id"], r["page"]) for r in reports] == [
        ("test-committee", "committee", EXERCISE, "overview")]
    assert json.loads(reports[0]["filters"])["file"] == name


def test_markup_in_a_name_prints_as_written(sqlite_url, tmp_path):
    """A scenario or facility named with ReportLab's paragraph markup (or a bare "&",
    which its parser refuses) prints as written, and makes no other text."""
    copy = tmp_path / "markup.sqlite"
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as source, \
            sqlite3.connect(copy) as target:
        source.backup(target)
        name = 'Cedar & <font size="40">Shield</font> <b>drill'
        target.execute("UPDATE scenarios SET name = ? WHERE id = ?", (name, EXERCISE))
    written = report_pdf.write_report(opened(f"sqlite:///{copy}"),
                                      Viewer("x", "committee", EXERCISE))
    pages = pages_text(written.pdf)
    assert name in pages[0]
    assert all(f"EXERCISE — {name} — NOT LIVE DATA" in page for page in pages)


def test_a_report_of_broken_data_says_what_was_left_out(dirty_sqlite_url, raw):
    """Rows that break the data contract are counted in the report's quality notes, as on
    the Data quality page (exact: they count records, not people by any attribute)."""
    bad = frame(raw(dirty_sqlite_url),
                "SELECT COUNT(*) AS n FROM persons WHERE scenario_id = 1 AND (lat IS NULL "
                "OR lon IS NULL OR lat NOT BETWEEN -90 AND 90 OR lon NOT BETWEEN -180 AND 180)"
                ).at[0, "n"]
    assert bad > 0
    written = report_pdf.write_report(opened(dirty_sqlite_url), Viewer("c", "committee", 1))
    lines = [line.strip() for page in pages_text(written.pdf) for line in page.splitlines()]
    at = lines.index("Persons with missing or impossible coordinates")
    assert lines[at + 1] == f"{bad:,}"


def test_the_data_protection_leads_report_holds_only_the_pages_it_opens(sqlite_url):
    """The admin opens the Overview and Data quality, not the Map, Shelters or Evacuation
    pages: its report has their figures, no map, no movements, no time to full."""
    written = report_pdf.write_report(opened(sqlite_url), Viewer("a", "admin", 1))
    lines = {line.strip() for page in pages_text(written.pdf) for line in page.splitlines()}
    assert {"Registered", "Overdue referrals by service", "Evacuation cases by stage",
            "Data freshness and quality"} <= lines
    assert not {"Map", "Movement", "Time to full", "Severity"} & lines
    assert written.report.people is None and written.report.movements is None


def test_changes_are_counted_since_the_previous_meeting(sqlite_url, raw):
    """With a committee meeting recorded, the report counts its changes from it, as the
    Overview does by default, and says so."""
    from dashboard.figures import meetings
    from dashboard.figures.scenarios import list_scenarios

    engine = raw(sqlite_url)
    persons = frame(engine, "SELECT id, registered_at, status FROM persons WHERE scenario_id = 1")
    persons = persons[persons.status.isin(list(vocab.PERSON_STATUSES))]
    as_of = pd.to_datetime(frame(engine, "SELECT MAX(updated_at) AS at FROM persons "
                                         "WHERE scenario_id = 1").at[0, "at"]).to_pydatetime()
    held = as_of.replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    viewer = Viewer("c", "committee", 1)
    starts_at = next(s for s in list_scenarios(opened(sqlite_url)) if s.id == 1).starts_at
    meetings.record(viewer, held, starts_at, now=as_of)

    written = report_pdf.write_report(opened(sqlite_url), viewer)
    pages = pages_text(written.pdf)
    said = f"the previous meeting ({held:%a %d %b %Y, %H:%M} UTC)"
    assert f"Headline figures and changes since {said}" in " ".join(pages[0].split())
    registered_at = pd.to_datetime(persons.registered_at, format="mixed")
    change = expected_change(expected(persons.id[registered_at <= as_of]),
                             expected(persons.id[registered_at <= held]))
    assert tile(pages, "Registered")[1] == f"{printed_change(change)} since then"


@pytest.mark.parametrize("role,nats", [("committee", None), ("consular", ("ETH",))])
def test_the_report_holds_people_by_age_sex_and_vulnerability(sqlite_url, raw, role, nats):
    """The table the Overview shows, worked out with the tests' own SQL (rounded for
    the committee, exact for a liaison's nationals)."""
    mine = demography_tests.persons(raw(sqlite_url), nats)
    want = demography_tests.expected_table(mine, exact=role == "consular")
    written = report_pdf.write_report(opened(sqlite_url), Viewer("r", role, 1, nats or ()))
    text = " ".join(" ".join(pages_text(written.pdf)).split())  # a cell a line: one line
    assert "Who the people are" in text
    for band, label in zip(demography_tests.BANDS, ["0–4", "5–11", "12–17", "18–59", "60+",
                                                     "Age unknown"], strict=True):
        cells = " ".join(printed(want[band][c]) for c in ("f", "m", "x", "total"))
        assert f"{label} {cells}" in text, (band, cells)
    assert "Unaccompanied or separated child" in text
