"""The reader's language: every word of every page translatable (the pseudo-language
leaves nothing outside its markers), each user's default, the server's default, the
session's choice kept across runs, and numbers and dates in the reader's convention.
The expected words are read from the catalogs by the test itself (Babel's reader of
.po files), not through the dashboard's translation functions."""

from __future__ import annotations

from datetime import datetime

import pytest
import yaml
from babel.messages.pofile import read_po

from components import language as reading
from dashboard import language
from dashboard.figures.scenarios import list_scenarios
from dashboard.rules import access
from dashboard.tools import catalogs
from tests.apptest import drawn_charts, metric, open_page, open_sections, start
from tests.conftest import opened
from tests.pseudo import leftover, untranslated
from tests.signin import ACCOUNTS, add_user, make_users_file, sign_in, use_users


@pytest.fixture
def app_db(sqlite_url, monkeypatch):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    return sqlite_url


def catalog_word(code: str, english: str) -> str:
    """`english` as the `code` catalog translates it, read from the .po file."""
    with open(catalogs.po_path(code), "rb") as source:
        found = read_po(source, locale=code).get(english)
    assert found is not None and found.string, f"{english!r} is not in the {code} catalog"
    return found.string


def _views() -> list[tuple[str, str, tuple[str, ...]]]:
    views = []
    for role in access.ROLES:
        nats = ("ETH",) if role == "consular" else ()
        views += [(page, role, nats) for page in access.pages_for(role)]
    return views


def _exercise(url: str) -> int:
    return next(s.id for s in list_scenarios(opened(url)) if s.kind == "exercise")


@pytest.mark.parametrize("page,role,nats", _views(),
                         ids=[f"{p}-{r}" for p, r, _ in _views()])
def test_every_word_of_every_page_is_in_the_catalogs(app_db, monkeypatch, page, role, nats):
    """Run in the pseudo-language, a page shows no word of the product outside the
    markers: anything else is a string no translator was given."""
    monkeypatch.setenv("SITROOM_LANGUAGE", language.PSEUDO)
    for scenario in (1, _exercise(app_db)):
        at = open_page(app_db, page, role, list(nats), scenario=scenario)
        assert not at.exception, at.exception
        assert untranslated(at) == [], (page, role, scenario)


def test_the_sign_in_page_and_the_sidebar_are_in_the_catalogs(app_db, monkeypatch, tmp_path):
    monkeypatch.setenv("SITROOM_LANGUAGE", language.PSEUDO)
    use_users(monkeypatch, make_users_file(tmp_path))
    at = start()
    assert not at.exception
    assert untranslated(at) == []
    name, password, _ = ACCOUNTS["coordinator"]
    at = sign_in(at, name, password)  # the form's labels are marked too: found by English
    assert not at.exception
    sidebar = [(w, t, left) for w, t, left in untranslated(at)]
    assert sidebar == []


def test_the_pseudo_language_marks_only_what_the_catalogs_hold():
    with language.speaking(language.PSEUDO):
        assert language.gettext("Overview").startswith(language.PSEUDO_OPEN)
        assert language.gettext("a string the code never marked") == \
            "a string the code never marked"
    assert leftover(f"{language.PSEUDO_OPEN}Overview{language.PSEUDO_CLOSE} 1,234 ETH") == []
    assert leftover("Overview 1,234") == ["Overview"]


# --- choosing the language -----------------------------------------------------------------

def test_a_users_default_language_is_kept_in_the_users_file(tmp_path):
    users_file = tmp_path / "users.yaml"
    code, err = add_user(users_file, "amira", "amira-pass-12", "consular", ("ETH",), "fr")
    assert code == 0, err
    entry = yaml.safe_load(users_file.read_text())["users"]["amira"]
    assert entry["language"] == "fr"
    code, err = add_user(users_file, "omar", "omar-pass-123", "committee", (), "xx")
    assert code != 0
    assert "'xx' is not a language" in err and "en, fr, es, pt, ar" in err
    assert "omar" not in users_file.read_text()


def test_a_users_file_with_an_unknown_language_is_refused_by_line(tmp_path):
    from dashboard.rules import users

    users_file = tmp_path / "users.yaml"
    assert add_user(users_file, "amira", "amira-pass-12", "committee")[0] == 0
    data = yaml.safe_load(users_file.read_text())
    data["users"]["amira"]["language"] = "klingon"
    users_file.write_text(yaml.safe_dump(data))
    with pytest.raises(users.UsersError, match="user 'amira': language 'klingon'"):
        users.load(users_file)


def test_a_user_signs_in_to_their_own_language(app_db, monkeypatch, tmp_path):
    users_file = make_users_file(tmp_path)
    assert add_user(users_file, "amira", "amira-pass-12", "coordinator", (), "fr")[0] == 0
    use_users(monkeypatch, users_file)
    at = sign_in(start(), "amira", "amira-pass-12")
    assert not at.exception
    assert at.session_state[reading.KEY] == "fr"
    assert catalog_word("fr", "Auto-refresh") in [t.label for t in at.toggle]
    # Someone else on the same server reads the server's default.
    at = sign_in(start(), *ACCOUNTS["coordinator"][:2])
    assert "Auto-refresh" in [t.label for t in at.toggle]


def test_the_servers_default_is_sitroom_language(app_db, monkeypatch):
    monkeypatch.setenv("SITROOM_LANGUAGE", "es")
    at = open_page(app_db, "overview", "coordinator")
    assert not at.exception
    assert at.title[0].value == catalog_word("es", "Overview")


def test_a_wrong_sitroom_language_says_which_languages_there_are(monkeypatch):
    monkeypatch.setenv("SITROOM_LANGUAGE", "de")
    with pytest.raises(language.LanguageUnknown, match="SITROOM_LANGUAGE: 'de'.*en, fr"):
        language.server_default()


def test_the_sessions_choice_outlives_a_rerun_and_a_page_change(app_db, raw):
    at = open_page(app_db, "overview", "coordinator")
    at.session_state[reading.KEY] = "pt"
    at.run()
    assert at.title[0].value == catalog_word("pt", "Overview")
    at.run()  # what the refresh timer does
    assert at.title[0].value == catalog_word("pt", "Overview")
    registered = raw(app_db).connect().exec_driver_sql(
        "SELECT COUNT(*) FROM persons WHERE scenario_id = 1").scalar()
    assert metric(at, catalog_word("pt", "Registered")).replace(".", "") == str(registered)


def test_a_right_to_left_language_turns_the_page(app_db):
    at = open_page(app_db, "overview", "coordinator")
    at.session_state[reading.KEY] = "ar"
    at.run()
    assert not at.exception
    assert at.title[0].value == catalog_word("ar", "Overview")


# --- numbers, dates and times --------------------------------------------------------------

@pytest.mark.parametrize("code,number,decimal,moment", [
    ("en", "1,234,567", "12.5", "22 Nov 2026, 23:59 UTC"),
    ("fr", "1\u202f234\u202f567", "12,5", "22 nov. 2026, 23:59 UTC"),
    ("es", "1.234.567", "12,5", "22 nov 2026, 23:59 UTC"),
    ("pt", "1.234.567", "12,5", "22 de nov. de 2026 23:59 UTC"),
    ("ar", "1,234,567", "12.5", "22 نوفمبر 2026، 23:59 UTC"),
])
def test_numbers_and_dates_follow_the_readers_convention(code, number, decimal, moment):
    with language.speaking(code):
        assert language.number(1234567) == number
        assert language.number(12.5, digits=1) == decimal
        shown = language.moment(datetime(2026, 11, 22, 23, 59))
    assert shown.endswith("UTC") and "23:59" in shown  # 24-hour, and says it is UTC
    assert shown.replace("\u200f", "") == moment


@pytest.mark.parametrize("page, role", [("shelters", "coordinator"), ("audit", "admin")])
def test_a_right_to_left_table_starts_on_the_right(app_db, page, role):
    """In Arabic a table's first column is its rightmost: the order is reversed, the
    columns themselves the same."""
    def orders(code: str) -> list[list[str]]:
        at = open_page(app_db, page, role)
        at.session_state[reading.KEY] = code
        at.run()
        open_sections(at)  # again: a section's label, and so its id, is the language's
        assert not at.exception
        return [list(f.proto.column_order) or [str(c) for c in f.value.columns]
                for f in at.dataframe]

    english, arabic = orders("en"), orders("ar")
    assert english and len(english) == len(arabic)
    assert [list(reversed(o)) for o in english] == arabic


def test_a_right_to_left_static_table_keeps_its_columns_for_the_browser(app_db):
    """A table shown whole as text (the people's profile under the Overview) is an HTML
    table, which the browser lays out in the page's direction: in Arabic its first
    column, the age band, is already the rightmost, so its columns are not reversed
    as a grid's are (they would then start on the left)."""
    def tables(code: str) -> list:
        at = open_page(app_db, "overview", "committee")
        at.session_state[reading.KEY] = code
        at.run()
        assert not at.exception
        return [t.value for t in at.table]

    english, arabic = tables("en"), tables("ar")
    assert english and len(english) == len(arabic)
    for left, right in zip(english, arabic, strict=True):
        assert len(left.columns) == len(right.columns) > 1
    # the age table: its bands in figures ("0–4") first in both (the last in words)
    assert list(english[0].iloc[:5, 0]) == list(arabic[0].iloc[:5, 0]) == [
        "0–4", "5–11", "12–17", "18–59", "60+"]


@pytest.mark.parametrize("page", ["shelters", "referrals"])
def test_a_right_to_left_chart_starts_on_the_right(app_db, page):
    """Plotly's title and legend anchored right; a bar chart drawn as HTML laid out
    right to left (its labels on the right, its bars growing leftwards)."""
    at = open_page(app_db, page, "coordinator")
    at.session_state[reading.KEY] = "ar"
    at.run()
    charts = drawn_charts(at)
    assert charts
    for chart in charts:
        if chart.html:
            assert '<div class="sr-bars" data-chart="' in chart.payload
            assert f'data-chart="{chart.key}" dir="rtl">' in chart.payload
        else:
            assert chart.spec["layout"]["title"]["xanchor"] == "right"


def test_a_table_writes_its_moments_without_english_month_names(app_db):
    """The browser formats a table's moments itself, in English only: a reader in
    another language gets figures, day before month, as their conventions write them."""
    import json

    def formats(code: str) -> list[str]:
        at = open_page(app_db, "my_nationals", "consular", ["ETH"])
        at.session_state[reading.KEY] = code
        at.run()
        assert not at.exception
        found = []
        for frame in at.dataframe:
            for setting in json.loads(frame.proto.columns or "{}").values():
                kind = (setting or {}).get("type_config") or {}
                if kind.get("type") == "datetime":
                    found.append(kind.get("format"))
        return found

    english, french = formats("en"), formats("fr")
    assert english and all("MMM" in f for f in english)
    assert french and all("MMM" not in f and f.startswith("DD/MM") for f in french)


def test_a_tile_says_its_count_in_the_plural_where_a_status_is_singular(app_db):
    """"Missing" is a person's status and the count of people missing: a tile reads the
    catalog's entry for tiles ("Disparus"), a status the plain one ("Disparu")."""
    with open(catalogs.po_path("fr"), "rb") as source:
        french = read_po(source, locale="fr")
    tile, status = french.get("Missing", context="tile").string, french.get("Missing").string
    assert tile != status
    at = open_page(app_db, "overview", "coordinator")
    at.session_state[reading.KEY] = "fr"
    at.run()
    shown = [m.label for m in at.metric]
    assert tile in shown and status not in shown
