"""The situation report: what one viewer sees at one moment, gathered for a PDF
that the committee circulates after a meeting (dashboard.figures.report_pdf sets it).

Nothing is counted here. Every figure comes from the function that computes it for
its page, with the same viewer and moment: the headline figures, people by status,
the evacuation funnel and overdue referrals from the Overview
(`overview.overview`), facilities near capacity with their time to full from the
Shelters page (`shelters.shelters`), movements from the Evacuation page
(`evacuation.movements`), the map's people and layers from the Map page (`geo.people`
with the map's default filters, `geo.layers`), the contract breaks from the Data
quality page (`quality.quality_table`), each only for a role that may open that page (the
data protection lead's report is the Overview's figures and data quality). So the report
holds exactly the figures, rounding and "<5" the same viewer is shown on screen
(docs/design.md §2.4), and the
people of a role that sees only counts are districts or grid cells, never a person
(§2.6): a liaison's points are its own nationals, drawn without a name or reference.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from dashboard.figures import (
    demography,
    evacuation,
    geo,
    meetings,
    quality,
    scenarios,
    shelters,
    tallies,
)
from dashboard.figures.overview import Overview, overview
from dashboard.figures.scenarios import ScenarioInfo
from dashboard.rules import access
from dashboard.rules.access import Viewer
from dashboard.store.db import Database

# A report is read on paper: long lists are cut, and say how many more the page has.
MOST_FACILITIES = 30
MOST_MOVEMENTS = 20
MOST_HAZARDS = 25
DEFAULT_SPAN = timedelta(hours=24)  # the reference moment when no meeting is recorded


class ReportRefused(ValueError):
    """A report that cannot be made: an unknown scenario, a moment outside it."""


@dataclass(frozen=True)
class Reference:
    """The moment changes are counted from, and what it is: `kind` "meeting" (the
    committee's previous meeting, at `named`), "chosen" (the moment asked for, `named`)
    or "span" (DEFAULT_SPAN before the figures' moment)."""

    at: datetime
    kind: str
    named: datetime | None

    @property
    def words(self) -> str:
        """In English, for the command line (report_pdf says it in the reader's language)."""
        if self.kind == "meeting":
            return f"the previous meeting ({self.named:%a %d %b %Y, %H:%M} UTC)"
        if self.kind == "chosen":
            return f"{self.named:%a %d %b %Y, %H:%M} UTC"
        return "24 hours earlier"


@dataclass(frozen=True)
class SituationReport:
    viewer: Viewer
    scenario: ScenarioInfo
    as_of: datetime               # the moment the figures are for
    data_as_of: datetime          # the latest data of the scenario
    reference_at: datetime        # the moment changes are counted from
    reference_label: str          # what that moment is, in English words (the command line's)
    reference: Reference          # what that moment is, for words in the reader's language
    generated_at: datetime        # naive UTC
    overview: Overview
    near_capacity: pd.DataFrame   # facility, kind, area, capacity, occupants, full_pct, and
    #                               from the Shelters page change_24h, hours_to_full (which
    #                               says time_to_full in words), time_to_full, confirmation
    near_capacity_more: int       # near-capacity facilities left out of the list
    shelter_headline: dict | None  # the Shelters page's headline
    shelters_left_out: tuple[int, int]  # facilities with no report, with an invalid one
    movements: pd.DataFrame | None  # as evacuation.movements, cut to MOST_MOVEMENTS
    movements_more: int
    people: geo.People | None     # the map's people, with its default filters
    layers: geo.MapLayers | None  # facilities (never a confidential one), hazards, posts
    hazards: pd.DataFrame | None  # one row per active hazard: kind, severity, valid_from, valid_to
    hazards_more: int
    quality: pd.DataFrame | None  # contract breaks, for the roles that open Data quality
    profile: demography.Profile | None = None  # people by age and sex, and by vulnerability

    @property
    def earlier(self) -> bool:
        """The report shows an earlier moment than the latest data."""
        return self.as_of < self.data_as_of

    @property
    def rounded(self) -> bool:
        return access.suppresses_small_counts(self.viewer.role)

    @property
    def rows_about_people(self) -> int:
        """Rows about people in the report, for the audit log: a liaison's points."""
        return 0 if self.people is None else len(self.people.points)


def _scenario(database: Database, scenario_id: int) -> ScenarioInfo:
    found = [s for s in scenarios.list_scenarios(database) if s.id == scenario_id]
    if not found:
        raise ReportRefused(f"There is no scenario {scenario_id} in this database.")
    return found[0]


def reference_moment(viewer: Viewer, as_of: datetime, starts_at: datetime,
                     since: datetime | None = None) -> Reference:
    """The moment changes are counted from: `since` if given, else the committee's
    previous meeting before `as_of` (the Overview's default), else 24 hours earlier;
    never before the scenario started nor after `as_of`."""
    try:
        meeting = meetings.previous(viewer.scenario_id, as_of)
    except meetings.MeetingStoreUnavailable:
        meeting = None  # the other reference moments still work
    if meeting is not None and since in (None, meeting.at):
        at, kind, named = meeting.at, "meeting", meeting.at
    elif since is not None:
        at, kind, named = since, "chosen", since
    else:
        at, kind, named = as_of - DEFAULT_SPAN, "span", None
    return Reference(min(max(at, starts_at), as_of), kind, named)


def _near_capacity(listing: pd.DataFrame) -> pd.DataFrame:
    """The Shelters page's rows of the facilities that hold people (open or full) at 90%
    of their places or more, fullest first, as the page shows them."""
    free = pd.to_numeric(listing["free"], errors="coerce")
    capacity = listing["capacity"].astype(float)
    near = listing[listing["status"].isin(shelters.IN_USE) & free.notna()
                   & ((capacity - free) >= shelters.NEAR_FULL * capacity)]
    return near[["facility", "kind", "area", "capacity", "occupants", "full_pct", "change_24h",
                 "hours_to_full", "time_to_full", "confirmation"]].reset_index(drop=True)


SEVERITY_ORDER = {"extreme": 0, "high": 1, "medium": 2, "low": 3}


def _hazards(layers: geo.MapLayers) -> pd.DataFrame:
    """One row per active hazard (the map has one per polygon), the most severe first."""
    frame = layers.hazards.drop_duplicates("id")
    frame = frame.assign(order=frame["severity"].map(SEVERITY_ORDER).fillna(9),
                         since=pd.to_datetime(frame["valid_from"], format="mixed"))
    frame = frame.sort_values(["order", "since"], ascending=[True, False])
    return frame[["kind", "severity", "valid_from", "valid_to"]].reset_index(drop=True)


def situation_report(database: Database, viewer: Viewer, as_of: datetime | None = None,
                     since: datetime | None = None,
                     now: datetime | None = None) -> SituationReport:
    """Everything the report holds for `viewer` at `as_of` (None: the latest data), with
    the changes since `since` (None: the previous meeting, else 24 hours earlier)."""
    scenario = _scenario(database, viewer.scenario_id)
    latest = scenarios.data_as_of(database, viewer.scenario_id)
    if latest is None:
        raise ReportRefused(f"Scenario {scenario.id} ({scenario.name}) has no person records "
                            "yet: there is nothing to report.")
    as_of = latest if as_of is None else min(as_of, latest)
    if as_of < scenario.starts_at:
        raise ReportRefused(f"{as_of:%d %b %Y %H:%M} UTC is before the scenario started "
                            f"({scenario.starts_at:%d %b %Y %H:%M} UTC).")
    reference = reference_moment(viewer, as_of, scenario.starts_at, since)

    may = lambda page: access.may_open(viewer.role, page)  # noqa: E731
    # The moment the Overview's figures will be for (overview._counts_at): the pages'
    # figures that need it start at once instead of after the Overview, the longest part.
    moment = latest if as_of >= latest else tallies.snap(as_of)
    # Two at a time on a server, beside its pages; three in a process of its own
    # (`sitroom report`), where nothing is counted yet and the three keep both cores busy
    # (the database does the work, without the interpreter's lock). Each figure function
    # declares its own viewer's scope (cache.scoped), in any thread.
    workers = 2 if database.alone else 1
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="report") as helper:
        # The rows every figure leaves out (shared facts, found once): while the Overview
        # counts the persons, who need none of them (found already on a running server).
        # The longest first: the evacuation cases' history, which the Overview's count of
        # cases waits for.
        helper.submit(quality.backward_case_ids, database, viewer.scenario_id)
        helper.submit(quality.invalid_case_ids, database, viewer.scenario_id)
        helper.submit(quality.excluded_referral_ids, database, viewer.scenario_id)

        def pages_at(moment: datetime) -> dict:
            """The pages' figures at `moment`, started now; each only for a role that
            may open its page."""
            return {
                "shelters": helper.submit(shelters.shelters, database, viewer, moment)
                if may("shelters") else None,
                "people": helper.submit(geo.people, database, viewer, geo.MapFilters(),
                                        as_of=moment) if may("map") else None,
                "layers": helper.submit(geo.layers, database, viewer, moment)
                if may("map") else None}

        started = pages_at(moment)
        profile = helper.submit(demography.profile, database, viewer, as_of)
        table = helper.submit(quality.quality_table, database, viewer) \
            if may("data_quality") else None
        moves = helper.submit(evacuation.movements, database, viewer) \
            if may("evacuation") else None
        figures = overview(database, viewer, as_of, reference.at)
        if figures.as_of != moment:  # the data changed meanwhile: the Overview's moment
            started = pages_at(figures.as_of)
        near, headline, left_out = figures.near_capacity, None, (0, 0)
        if started["shelters"] is not None:
            found = started["shelters"].result()
            near, headline = _near_capacity(found.facilities), found.headline
            left_out = (found.no_report, found.invalid)
        moved = None if moves is None else moves.result()
        drawn = None if started["layers"] is None else started["layers"].result()
        people = None if started["people"] is None else started["people"].result()
        hazards = None if drawn is None else _hazards(drawn)
        quality_table = None if table is None else table.result()
    return SituationReport(
        viewer=viewer, scenario=scenario, as_of=figures.as_of, data_as_of=latest,
        reference_at=figures.reference_at, reference_label=reference.words,
        reference=reference,
        generated_at=(now or datetime.now(UTC)).replace(tzinfo=None, microsecond=0),
        overview=figures,
        near_capacity=near.head(MOST_FACILITIES),
        near_capacity_more=max(0, len(near) - MOST_FACILITIES),
        shelter_headline=headline, shelters_left_out=left_out,
        movements=None if moved is None else moved.head(MOST_MOVEMENTS),
        movements_more=0 if moved is None else max(0, len(moved) - MOST_MOVEMENTS),
        people=people, layers=drawn,
        hazards=None if hazards is None else hazards.head(MOST_HAZARDS),
        hazards_more=0 if hazards is None else max(0, len(hazards) - MOST_HAZARDS),
        quality=quality_table, profile=profile.result())
