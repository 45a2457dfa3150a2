"""Who the people are: by sex and age band, and by vulnerability (docs/design.md §4,
Overview and Map).

The persons counted are the viewer's, at a moment, as the Overview counts them
(everyone registered by then) or as the Map draws them (its filters, and a district
clicked on the map). Every count is a privacy.Count shown as the viewer may see it:
exact for a liaison's own nationals, rounded with "<5" for everyone else; a row or
column whose total shows "<5" has its parts withheld, as everywhere.

Age is the age reached in the moment's year (`birth_year` is all the contract
holds); a birth year in the future or missing is "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from dashboard.contract import vocab
from dashboard.figures import geo, people, quality, scenarios, tallies
from dashboard.rules import access, privacy
from dashboard.rules.access import Viewer
from dashboard.rules.privacy import Count
from dashboard.store import cache, db
from dashboard.store.db import Database

# (band, first age, last age or None); the order they are shown in
AGE_BANDS = (("0-4", 0, 4), ("5-11", 5, 11), ("12-17", 12, 17), ("18-59", 18, 59),
             ("60+", 60, None))
UNKNOWN_AGE = "unknown"
BANDS = tuple(b for b, _, _ in AGE_BANDS) + (UNKNOWN_AGE,)
SEXES = tuple(vocab.SEXES)
OTHER_TAG = "other"  # a tag outside the vocabulary: counted, never shown as written


@dataclass(frozen=True)
class Narrowing:
    """Which of the viewer's persons are counted: by default everyone registered by
    the moment (the Overview); the Map's filters and a clicked district narrow it."""

    statuses: tuple[str, ...] = ()
    nationalities: tuple[str, ...] = ()
    vulnerabilities: tuple[str, ...] = ()
    area: str | None = None  # a district's P-code
    cell: tuple[int, int] | None = None  # a grid cell of the Map (geo.grid_columns)


@dataclass(frozen=True)
class Profile:
    by_age_sex: pd.DataFrame       # band, f, m, x, total: shown values as text, BANDS order
    by_vulnerability: pd.DataFrame  # tag, persons: the same, vocabulary order, then other
    total: privacy.Shown           # the persons counted
    rounded: bool                  # counts are rounded (a count-only role)


def age_band_sql(birth_year: str = "p.birth_year") -> str:
    """The age band of a person in the year :year (a bound parameter)."""
    cases = " ".join(
        f"WHEN :year - {birth_year} <= {last} THEN '{band}'" if last is not None
        else f"ELSE '{band}'" for band, _, last in AGE_BANDS)
    return (f"CASE WHEN {birth_year} IS NULL OR {birth_year} > :year THEN '{UNKNOWN_AGE}' "
            f"{cases} END")


def _persons(database: Database, viewer: Viewer, then: datetime | None,
             narrowing: Narrowing) -> tuple[str, str, dict]:
    # the Map's own filters, read as the Map reads them; no status chosen: every status
    source, where, params = geo.persons_matching(
        database, viewer, geo.MapFilters(narrowing.nationalities, narrowing.statuses,
                                         narrowing.vulnerabilities), then)
    if narrowing.area:
        where += " AND p.area_pcode = :d_area"
        params["d_area"] = narrowing.area
    if narrowing.cell is not None:  # the cell as the Map finds it, to the same rounding
        where += (f" AND {quality.valid_person_coordinates()} "
                  f"AND {database.floor_int('(p.lat + 90.0) / :d_step')} = :d_gi "
                  f"AND {database.floor_int('(p.lon + 180.0) / :d_step')} = :d_gj")
        params.update(d_step=geo.GRID_STEP, d_gi=narrowing.cell[0], d_gj=narrowing.cell[1])
    return source, where, params


def _count(row) -> Count:
    return Count(int(row.n), int(row.k))


@cache.scoped()
def counted(database: Database, counter: Viewer, then: datetime | None,
            narrowing: Narrowing = Narrowing()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The persons `counter` counts at `then` (None: the latest data), unshown: by age
    band and sex (band, sex, n, k) and by vulnerability (tag, n, k). At the latest data,
    narrowed by status and nationality only, they are summed from the scenario's
    `groups` once those are found (at start, figures.warmup). Anything else is two reads
    of every person at a million, shared by every role that counts the whole scenario
    (`profile`)."""
    moment = then or scenarios.data_as_of(database, counter.scenario_id)
    year = (moment or datetime.now()).year
    if (then is None and narrowing.area is None and narrowing.cell is None
            and not narrowing.vulnerabilities):
        found = groups(database, counter.scenario_id)
        if found is not None and found.year == year:
            return found.summed(counter, narrowing)
    whole = (then is None and narrowing == Narrowing()
             and not access.sees_person_level(counter.role))
    if whole:  # every person of the scenario now (the first Overview after a start)
        source, where, params = _everyone(database, counter.scenario_id)
    else:
        source, where, params = _persons(database, counter, then, narrowing)
    params = {**params, "year": year}
    ages = tallies.summed(database, (
        f"SELECT {age_band_sql()} AS band, p.sex AS sex, {tallies.rk('p.id')} AS k "
        f"FROM {source} WHERE {where}"), ["band", "sex"], ["k"], params)
    tags = tallies.read(database, (
        f"SELECT t.tag, COUNT(*) AS n, SUM({tallies.rk('t.pid')}) AS k FROM ("
        "SELECT DISTINCT p.id AS pid, CASE WHEN v.tag IN :known THEN v.tag "
        f"ELSE '{OTHER_TAG}' END AS tag FROM {_vulnerable(database, source, whole)} "
        f"WHERE {where}) t GROUP BY t.tag"),
        {**params, "known": list(vocab.VULNERABILITY_TAGS)})
    return ages, tags


def _everyone(database: Database, scenario_id: int) -> tuple[str, str, dict]:
    """Every person of the scenario now, with a status in the vocabulary, as `_persons`
    gives them: read in the table's order (db.in_scenario; at a million people SQLite
    reads their age bands in 0.41 s so, 0.65 s through the scenario's index)."""
    return ("persons p", f"{db.in_scenario('p.scenario_id', database.dialect)} = :scenario "
            f"AND {quality.valid_person_status()}", {"scenario": scenario_id})


def _vulnerable(database: Database, source: str, whole: bool) -> str:
    """`source` (persons `p`) joined to their vulnerabilities `v`. Over a whole scenario
    SQLite reads every vulnerability and looks its person up (CROSS JOIN keeps that
    order: 0.23 s at a million people), not every person and their vulnerabilities
    (0.46 s); its planner picks the latter, right for a narrowed count."""
    if whole and source == "persons p" and not database.is_postgresql:
        return "person_vulnerabilities v CROSS JOIN persons p ON p.id = v.person_id"
    return f"{source} JOIN person_vulnerabilities v ON v.person_id = p.id"


@dataclass(frozen=True)
class Groups:
    """Every person of a scenario at the latest data, counted by the groups a liaison's
    scope is made of (tallies.group_columns), status, age band and sex, and by status
    and vulnerability: any viewer's persons (a liaison's, or everyone as the roles
    shown counts count them), narrowed by status and nationality, are a sum of its rows.
    Found once, at start (figures.warmup): the Overview's and the Map's "who the people
    are" then read no person."""

    tallies: tallies.Tallies  # frames "ages" (group, status, band, sex, n, k), "tags"
    year: int                 # the year the age bands were counted in

    def summed(self, viewer: Viewer, narrowing: Narrowing) -> tuple[pd.DataFrame, pd.DataFrame]:
        """`counted`'s two frames for the viewer's persons, narrowed."""
        def rows(name: str, keys: list[str]) -> pd.DataFrame:
            frame = self.tallies.of_nationality(self.tallies.scope(name, viewer),
                                                narrowing.nationalities)
            if narrowing.statuses:
                frame = frame[frame["status"].isin(narrowing.statuses)]
            # dropna=False: a sex the data leaves empty is counted, as the SQL counts it
            summed = frame.groupby(keys, observed=True, dropna=False, as_index=False)
            return summed[["n", "k"]].sum().astype({"n": "int64", "k": "int64"})

        return rows("ages", ["band", "sex"]), rows("tags", ["tag"])


def groups(database: Database, scenario_id: int) -> Groups | None:
    """The scenario's Groups, or None while they are first being found (the caller
    counts in the database meanwhile)."""
    return database.current.peek(("demography", scenario_id),
                                 lambda: _count_groups(database, scenario_id))


def groups_come_later(database: Database, scenario_id: int) -> None:
    """The warm-up says it finds the Groups once the first page's counts are done: a
    profile asked before is read from the tables (`groups`), without a count of the
    Groups beside the first count, which every role's first profile would start."""
    database.current.promise(("demography", scenario_id))


def find_groups(database: Database, scenario_id: int) -> Groups:
    """The Groups, found now if they are not yet (the warm-up thread), which keeps the
    promise of `groups_come_later`."""
    return database.current.get_promised(("demography", scenario_id),
                                         lambda: _count_groups(database, scenario_id))


@db.patient()
def _count_groups(database: Database, scenario_id: int) -> Groups:
    year = (scenarios.data_as_of(database, scenario_id) or datetime.now()).year
    source, where, params = _everyone(database, scenario_id)
    params = {**params, "year": year}
    ages = tallies.summed(database, (
        f"SELECT {tallies.group_columns()}, p.status, {age_band_sql()} AS band, "
        f"p.sex AS sex, {tallies.rk('p.id')} AS k FROM {source} WHERE {where}"),
        [*tallies.GROUP_COLUMNS, "status", "band", "sex"], ["k"], params)
    tags = tallies.read(database, (
        f"SELECT {', '.join(tallies.GROUP_COLUMNS)}, t.status, t.tag, COUNT(*) AS n, "
        f"SUM({tallies.rk('t.pid')}) AS k FROM (SELECT DISTINCT p.id AS pid, "
        f"{tallies.group_columns()}, p.status, CASE WHEN v.tag IN :known THEN v.tag "
        f"ELSE '{OTHER_TAG}' END AS tag FROM {_vulnerable(database, source, True)} "
        f"WHERE {where}) t "
        f"GROUP BY {', '.join(tallies.GROUP_COLUMNS)}, t.status, t.tag"),
        {**params, "known": list(vocab.VULNERABILITY_TAGS)})
    for frame in (ages, tags):
        frame[["n", "k"]] = frame[["n", "k"]].astype("int64")
    return Groups(tallies.with_groups({"ages": ages, "tags": tags}), year)


@cache.scoped()
def profile(database: Database, viewer: Viewer, as_of: datetime | None = None,
            narrowing: Narrowing = Narrowing()) -> Profile:
    """The viewer's persons at `as_of` (None: the latest data) by sex and age band and
    by vulnerability, each count as the viewer may be shown it."""
    then = people.earlier(database, viewer.scenario_id, as_of)
    # Every role but a liaison counts the whole scenario: the same counts, shown apart.
    counter = (viewer if access.sees_person_level(viewer.role)
               else access.whole_scenario(viewer.scenario_id))
    ages, tags = counted(database, counter, then, narrowing)
    exact = not access.suppresses_small_counts(viewer.role)

    def show(count: Count) -> privacy.Shown:
        return privacy.shown(count, exact)

    cells: dict[tuple[str, str], Count] = {}
    for row in ages.itertuples(index=False):
        sex = row.sex if row.sex in SEXES else "x"  # a code outside SEXES: not recorded
        key = (str(row.band), sex)
        cells[key] = cells.get(key, privacy.ZERO) + _count(row)
    table = pd.DataFrame([
        {"band": band, **{s: show(cells.get((band, s), privacy.ZERO)) for s in SEXES},
         "total": show(sum((cells.get((band, s), privacy.ZERO) for s in SEXES), privacy.ZERO))}
        for band in BANDS])
    column_totals = {s: show(sum((cells.get((b, s), privacy.ZERO) for b in BANDS),
                                 privacy.ZERO)) for s in SEXES}
    if not exact:  # parts of a total shown "<5" would pin each of them
        table = privacy.withhold_under_small_totals(table, list(SEXES), "total")
        table = privacy.withhold_under_small_column_totals(table, column_totals)
    total = show(sum(cells.values(), privacy.ZERO))

    by_tag = {str(row.tag): _count(row) for row in tags.itertuples(index=False)}
    order = [*vocab.VULNERABILITY_TAGS, OTHER_TAG]
    vulnerability = pd.DataFrame({"tag": order,
                                  "persons": [show(by_tag.get(t, privacy.ZERO)) for t in order]})
    vulnerability = vulnerability[(vulnerability["persons"] != 0)
                                  | vulnerability["tag"].isin(vocab.VULNERABILITY_TAGS)]
    # numbers and "<5" or "—" as text in one column, as tables and files show them
    return Profile(privacy.as_shown(table, [*SEXES, "total"]),
                   privacy.as_shown(vulnerability.reset_index(drop=True), ["persons"]),
                   total, not exact)
