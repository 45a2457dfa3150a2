"""The situation report (dashboard.figures.report_pdf, `sitroom report`, the Overview's
download): its text holds the headline figures this test works out with its own SQL
and the design's rounding (tests/disclosure.py), no person of a count-only role's
scenario by reference or name, EXERCISE on every page of an exercise's report, and
every report leaves an audit line. In the reader's language: every word translatable
(the pseudo-language), French numbers and dates, Arabic right to left with joined letters.

The PDF's text is read with pypdf (pure Python, in the test extras), so the tests need
no poppler on the machine.
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
from datetime import datetime, timedelta
from unicodedata import normalize

import pandas as pd
import pypdf
import pytest
from babel.dates import format_date
from babel.support import NullTranslations
from sqlalchemy import text

from dashboard import language
from dashboard.contract import vocab
from dashboard.figures import report_pdf
from dashboard.rules import audit
from dashboard.rules.access import Viewer
from dashboard.tools import cli
from tests import test_demography as demography_tests
from tests.apptest import open_page
from tests.conftest import opened
from tests.disclosure import expected, expected_change
from tests.pseudo import leftover

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


def headline_of_database(engine, viewer: Viewer) -> tuple[datetime, dict[str, int | str], str]:
    """The latest moment, the headline figures a viewer is shown (label: value), worked
    out with this test's own SQL and the design's rounding, and the printed change of
    Registered since 24 hours earlier."""
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
    before = shown(persons.id[registered_at <= reference])
    figures = {
        "Registered": registered,
        "Missing": shown(persons.id[persons.status == "missing"]),
        "Registered sheltered": shown(persons.id[persons.status == "sheltered"]),
        "Open referrals": shown(
            referrals.id[(created <= as_of) & (closed.isna() | (closed > as_of))]),
        "Overdue referrals": shown(referrals.id[(referrals.status == "open") & (due < as_of)]),
    }
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
    figures["Evacuated"] = shown(cases.id)
    return as_of, figures, printed_change(expected_change(registered, before))


@pytest.mark.parametrize("viewer", VIEWERS, ids=lambda v: f"{v.role}-{v.scenario_id}"
                         + "".join(f"-{n}" for n in v.nationalities))
def test_the_pdf_holds_the_headline_figures_of_the_database(db_url, raw, viewer):
    as_of, figures, change = headline_of_database(raw(db_url), viewer)

    written = report_pdf.write_report(opened(db_url), viewer)
    pages = pages_text(written.pdf)

    assert tile(pages, "Registered") == (printed(figures["Registered"]), f"{change} since then")
    for label in ("Missing", "Registered sheltered", "Open referrals", "Overdue referrals",
                  "Evacuated"):
        assert tile(pages, label)[0] == printed(figures[label]), label
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


# --- the reader's language --------------------------------------------------------------------

def marked(text: str) -> str:
    """`text` as the pseudo-language shows a catalog string."""
    return f"{language.PSEUDO_OPEN}{text}{language.PSEUDO_CLOSE}"


def data_values(report) -> list[str]:
    """What a report prints as the data has it, outside any sentence: the names of the
    scenario, of facilities and their areas, of districts and neighbouring countries on
    the map, of movements' destinations (longest first, so that none is cut by another)."""
    values = {report.scenario.name, *report_pdf.NEIGHBOURS}
    near = report.near_capacity
    values |= set(near["facility"].dropna().astype(str)) | set(near["area"].dropna().astype(str))
    if report.movements is not None:
        values |= set(report.movements["destination"].dropna().astype(str))
    if report.people is not None and report.people.mode == "areas":
        values |= set(report.people.areas["name"].astype(str))
    return sorted(values, key=len, reverse=True)


@pytest.mark.parametrize("viewer", VIEWERS, ids=lambda v: f"{v.role}-{v.scenario_id}"
                         + "".join(f"-{n}" for n in v.nationalities))
def test_every_word_of_the_report_is_translated(sqlite_url, raw, viewer):
    """In the pseudo-language every catalog string is wrapped in ⟦ ⟧: a word of the
    product left outside them is one no translation can reach (tests/pseudo.py). The
    headline figures are still the database's, and an exercise is marked on every page.
    A page is read as one line: a wrapped sentence's markers are lines apart."""
    with language.speaking(language.PSEUDO):
        written = report_pdf.write_report(opened(sqlite_url), viewer)
    pages = pages_text(written.pdf)
    data = data_values(written.report)
    for number, page in enumerate(pages, 1):
        text = " ".join(page.split())
        for value in data:
            text = text.replace(value, " ")
        assert not leftover(text), (number, leftover(text))

    as_of, figures, change = headline_of_database(raw(sqlite_url), viewer)
    first = " ".join(pages[0].split())
    assert (f"{marked('Registered')} {printed(figures['Registered'])} "
            f"{marked(f'{change} since then')}") in first
    for label in ("Missing", "Registered sheltered", "Open referrals", "Overdue referrals",
                  "Evacuated"):
        assert f"{marked(label)} {printed(figures[label])} " in first, label
    if written.report.scenario.is_exercise:
        band = marked(f"EXERCISE — {written.report.scenario.name} — NOT LIVE DATA")
        assert all(band in page and marked("EXERCISE") in page for page in pages)
    else:
        assert not any("EXERCISE" in page for page in pages)


def test_a_french_report_writes_numbers_and_dates_as_the_french_do(sqlite_url, raw):
    """Numbers with French thousands separators (a narrow space, which Vera lacks: set in
    DejaVu Sans, so that no letter prints as a missing glyph) and dates in French."""
    viewer = Viewer("c", "committee", 1)
    with language.speaking("fr"):
        written = report_pdf.write_report(opened(sqlite_url), viewer)
    pages = pages_text(written.pdf)
    as_of, figures, _ = headline_of_database(raw(sqlite_url), viewer)
    assert figures["Registered"] >= 1000
    grouped = re.escape(f"{figures['Registered']:,}").replace(",", "[\u202f\u00a0 ]")
    assert re.search(rf"(?<![\d,]){grouped}(?![\d,])", pages[0])  # (pypdf reads it a space)
    assert f"{figures['Registered']:,}" not in pages[0]
    assert format_date(as_of, "EEE d MMM y", locale="fr") in pages[0]  # "dim. 22 nov. 2026"
    assert not any("\x00" in page for page in pages)


class _SomeArabic(NullTranslations):
    """A few of the report's strings in Arabic: the catalogs are not translated yet."""

    WORDS = {"Situation report": "تقرير الوضع", "People by status": "الأشخاص حسب الحالة",
             "EXERCISE": "تمرين"}

    def gettext(self, message: str) -> str:
        return self.WORDS.get(message, message)


def fonts_of(pdf: bytes) -> set[str]:
    return {str(font.get_object()["/BaseFont"]) for page in pypdf.PdfReader(io.BytesIO(pdf)).pages
            for font in page["/Resources"]["/Font"].values()}


def test_an_arabic_report_reads_right_to_left_with_joined_letters(sqlite_url, monkeypatch):
    """In Arabic the report is set in DejaVu Sans (Vera has no Arabic letters), its
    letters joined (Arabic presentation forms, as HarfBuzz shapes them) and its lines laid
    out from the right: the title is set from the right margin, its first word rightmost.
    The English report does not carry the Arabic font."""
    real = language._translations
    monkeypatch.setattr(language, "_translations",
                        lambda code: _SomeArabic() if code == "ar" else real(code))
    viewer = Viewer("x", "committee", EXERCISE)
    with language.speaking("ar"):
        written = report_pdf.write_report(opened(sqlite_url), viewer)
    fonts = fonts_of(written.pdf)
    assert any(font.endswith("+DejaVuSans") for font in fonts)
    assert not any("BitstreamVera" in font for font in fonts)

    reader = pypdf.PdfReader(io.BytesIO(written.pdf))
    drawn: list[tuple[str, float]] = []
    pages = [page.extract_text(visitor_text=lambda text, cm, tm, *_: drawn.append(
        (text, cm[4] + tm[4]))) for page in reader.pages]
    joined = set(range(0xFB50, 0xFE00)) | set(range(0xFE70, 0xFF00))  # presentation forms
    title = next((text, x) for text, x in drawn if "تقرير" in normalize("NFKC", text))
    assert joined & {ord(c) for c in title[0]}
    # Drawn as seen, its first word at the right: pypdf reads a right-to-left run back
    # into the order it was written (a line drawn in that order would read back reversed).
    assert normalize("NFKC", title[0]).split() == ["تقرير", "الوضع"]
    assert title[1] > report_pdf.PAGE_W / 2  # set from the right margin
    # dates in Arabic (the weekdays and months are CLDR's), and EXERCISE on every page
    assert joined & {ord(c) for c in pages[0]}
    assert all("تمرين" in normalize("NFKC", page) for page in pages)

    english = report_pdf.write_report(opened(sqlite_url), viewer)
    assert not any("DejaVu" in font for font in fonts_of(english.pdf))


def test_a_name_in_arabic_prints_joined_in_an_english_report(sqlite_url, tmp_path):
    """A name with letters Vera lacks is set in DejaVu Sans, which has them, its Arabic
    letters joined; the rest of the English report stays in Vera."""
    copy = tmp_path / "arabic-name.sqlite"
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as source, \
            sqlite3.connect(copy) as target:
        source.backup(target)
        target.execute("UPDATE scenarios SET name = ? WHERE id = ?", ("تمرين الأرز", EXERCISE))
    written = report_pdf.write_report(opened(f"sqlite:///{copy}"),
                                      Viewer("x", "committee", EXERCISE))
    fonts = fonts_of(written.pdf)
    assert any(font.endswith("+DejaVuSans") for font in fonts)
    assert any(font.endswith("+BitstreamVeraSans-Roman") for font in fonts)
    pages = pages_text(written.pdf)
    assert "Situation report" in pages[0]
    assert all("تمرين الأرز" in normalize("NFKC", page) for page in pages)  # the band
    assert {ord(c) for c in pages[0]} & set(range(0xFE70, 0xFF00))


def test_the_command_writes_the_report_in_the_language_asked_for(sqlite_url, tmp_path,
                                                                  own_audit_log, capsys):
    from babel.messages.pofile import read_po

    from dashboard import language
    from dashboard.tools import catalogs

    with open(catalogs.po_path("fr"), "rb") as source:
        french = read_po(source, locale="fr").get("Situation report").string
    out = tmp_path / "rapport.pdf"
    code = cli.main(["report", "--db-url", sqlite_url, "--scenario", "1", "--role",
                     "committee", "--language", "fr", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert french in pages_text(out.read_bytes())[0]
    assert language.current() == language.server_default()  # the caller's is unchanged
    refused = tmp_path / "refused.pdf"
    assert cli.main(["report", "--db-url", sqlite_url, "--scenario", "1", "--role",
                     "committee", "--language", "de", "--out", str(refused)]) == 2
    assert "--language: 'de' is not a language" in capsys.readouterr().err
    assert not refused.exists()
