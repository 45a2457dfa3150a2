"""Who is looking, and what they may see (docs/design.md §2–§3).

Every rule is one small pure function, tested as a truth table in
tests/test_access.py. The SQL scopes at the bottom say the same rules in the
database's words so that rows outside a viewer's scope never leave it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dashboard.contract import vocab
from dashboard.language import N_

# Each role and what it sees, in English: translated where shown (the report's cover).
ROLES = {
    "committee": N_("Emergency committee member: the whole picture, as counts"),
    "consular": N_("Consular liaison: own consenting, non-protected nationals, person by "
                   "person"),
    "coordinator": N_("Host-state coordinator: all nationalities, de-identified operational "
                      "detail"),
    "admin": N_("Data protection lead: users, audit log, aggregates"),
}

_ISO3 = re.compile(r"^[A-Z]{3}$")


class AccessError(ValueError):
    """A viewer that cannot exist: unknown role, bad nationality, consular without one."""


@dataclass(frozen=True)
class Viewer:
    """The person looking at the dashboard. Hashable: it is part of every cache key."""

    user: str
    role: str
    scenario_id: int
    nationalities: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise AccessError(f"Unknown role {self.role!r}; roles are {', '.join(ROLES)}.")
        bad = [n for n in self.nationalities if not _ISO3.match(n)]
        if bad:
            raise AccessError(f"Nationality {bad[0]!r} is not an ISO 3166-1 alpha-3 code.")
        if self.role == "consular" and not self.nationalities:
            raise AccessError("A consular liaison needs at least one nationality.")
        if self.role != "consular" and self.nationalities:
            raise AccessError(f"Role {self.role!r} is not scoped by nationality.")
        # Sorted so that the same scope always makes the same cache key.
        object.__setattr__(self, "nationalities", tuple(sorted(set(self.nationalities))))

    def scope_key(self) -> tuple:
        """What a viewer may see depends on this alone: the key of cached results."""
        return (self.role, self.scenario_id, self.nationalities)

    def sees_counts_only(self) -> bool:
        """Whether every figure this viewer is shown is a count (store.cache keeps those
        between starts)."""
        return counts_only(self.role)

    def with_scenario(self, scenario_id: int) -> Viewer:
        return Viewer(self.user, self.role, scenario_id, self.nationalities)

    def visible_rows_mark_sql(self, dialect: str) -> tuple[str, dict] | None:
        """SQL whose one row moves whenever the set of persons this viewer may see
        changes, with its parameters (store.cache); None for a viewer that sees no
        person individually."""
        return visible_persons_mark_sql(self, dialect) if sees_person_level(self.role) else None


def whole_scenario(scenario_id: int) -> Viewer:
    """The scope of the server's own shared counts: everyone in the scenario, as an
    aggregate role counts them. Never a reader: what it counts is summed per group and
    cut to each reader's scope before anyone sees it (figures.tallies)."""
    return Viewer("server", "committee", scenario_id)


# --- the rules, as pure functions -------------------------------------------------------

def sees_person_level(role: str) -> bool:
    """Only a consular liaison ever sees a person as a row (docs/design.md §2.4)."""
    return role == "consular"


def person_visible(
    viewer: Viewer,
    nationality: str | None,
    second_nationality: str | None,
    consent_consular: bool,
    protection_confidential: bool,
) -> bool:
    """docs/design.md §2.2: own national (either nationality), consenting, not protected."""
    if not sees_person_level(viewer.role):
        return False
    own = nationality in viewer.nationalities or second_nationality in viewer.nationalities
    return own and bool(consent_consular) and not protection_confidential


def referral_visible(viewer: Viewer, service: str, person_is_visible: bool) -> bool:
    """docs/design.md §2.3 and §3: a liaison sees its visible nationals' consular-type referrals."""
    if not sees_person_level(viewer.role):
        return False
    return person_is_visible and service in vocab.CONSULAR_SERVICES


def sees_referral_queue(role: str) -> bool:
    """Only the coordinator sees referral rows, and those de-identified (design §3)."""
    return role == "coordinator"


def counts_only(role: str) -> bool:
    """Roles shown counts alone, no row of a person even de-identified: only their
    figures may be kept on the server's disk between starts (store.kept)."""
    return not sees_person_level(role) and not sees_referral_queue(role)


def map_people_by_district(role: str) -> bool:
    """The committee sees people on the map by district; the coordinator by the finer
    grid cell, and a liaison its own nationals as points (grid cells past a cap)."""
    return role == "committee"


def suppresses_small_counts(role: str) -> bool:
    """Counts below the threshold are hidden from everyone who sees only aggregates."""
    return not sees_person_level(role)


def facility_drawn(confidential: bool) -> bool:
    """docs/design.md §2.5: confidential places are never drawn; they count in area totals only."""
    return not confidential


def may_record_meeting(role: str) -> bool:
    """Committee members and host-state coordinators chair and staff the committee's
    meetings, so they record when the previous one was held . Everyone who
    may open the Overview then compares with it; recording it shows no data."""
    return role in ("committee", "coordinator")


# --- the same rules in SQL ----------------------------------------------------------------

def _visible(alias: str) -> str:
    """The rule of docs/design.md §2.2 on `persons AS alias`: own national by either
    nationality, consenting, not protected."""
    return (f"({alias}.nationality IN :scope_nats OR {alias}.second_nationality IN :scope_nats) "
            f"AND {alias}.consent_consular = :scope_true "
            f"AND {alias}.protection_confidential = :scope_false")


def visible_persons_sql(viewer: Viewer, dialect: str = "sqlite") -> tuple[str, dict]:
    """A subquery of the ids of the persons a consular liaison may see (docs/design.md §2.2).

    On SQLite a UNION of two index searches (first and second nationality): its
    planner reads every person of the scenario for the OR. PostgreSQL combines the
    two indexes for the OR itself, twice as fast as deduplicating a UNION."""
    if not sees_person_level(viewer.role):
        raise AccessError(f"Role {viewer.role!r} never sees persons individually.")
    params = {"scope_scenario": viewer.scenario_id, "scope_nats": list(viewer.nationalities),
              "scope_true": True, "scope_false": False}
    if dialect == "postgresql":
        return (f"SELECT v.id FROM persons v WHERE v.scenario_id = :scope_scenario "
                f"AND {_visible('v')}"), params
    allowed = ("consent_consular = :scope_true AND protection_confidential = :scope_false "
               "AND scenario_id = :scope_scenario")
    return (f"SELECT id FROM persons WHERE nationality IN :scope_nats AND {allowed} UNION "
            f"SELECT id FROM persons WHERE second_nationality IN :scope_nats AND {allowed}"), params


# The multiplier is prime to the modulus, a prime, so no two ids below it (four billion)
# hash alike: one person leaving a liaison's view and another coming into it always
# move the sum, and the count moves with everything else.
_ID_HASH = "(id * 2654435761) % 4294967291"


def visible_persons_mark_sql(viewer: Viewer, dialect: str = "sqlite") -> tuple[str, dict]:
    """SQL for the count and a hash sum of the ids of the persons a consular liaison may
    see: it moves with any change to who they are (consent withdrawn, protection
    given, a nationality corrected, a person added or removed), read from the rows
    themselves, whatever change time the writer kept."""
    visible, params = visible_persons_sql(viewer, dialect)
    return f"SELECT COUNT(*) AS n, SUM({_ID_HASH}) AS h FROM ({visible}) AS visible", params


def person_scope(viewer: Viewer, alias: str = "p", dialect: str = "sqlite") -> tuple[str, dict]:
    """SQL condition on `persons AS alias` for the rows this viewer's figures may count.

    Aggregate roles count everyone in the scenario (and are shown only counts);
    a consular liaison counts only the persons it may see. Returns the condition
    and its bound parameters. On PostgreSQL a liaison's rule applies to the row
    itself, five times faster there than matching ids against a subquery."""
    params: dict = {"scope_scenario": viewer.scenario_id}
    cond = f"{alias}.scenario_id = :scope_scenario"
    if sees_person_level(viewer.role):
        visible, params = visible_persons_sql(viewer, dialect)
        cond += (f" AND {_visible(alias)}" if dialect == "postgresql"
                 else f" AND {alias}.id IN ({visible})")
    return cond, params


def at_confidential_place(scenario_id: int, p: str = "p") -> tuple[str, dict]:
    """SQL, on `persons AS p`, that is 1 for a person staying at a confidential facility
    or standing on its very spot, else 0 (never NULL): such a person would draw the
    place (design §2.5), so they count in district totals only, never in a drawn
    point or grid cell. With its bound parameters."""
    return (f"CASE WHEN {p}.facility_id IN (SELECT cf.id FROM facilities cf "
            "WHERE cf.scenario_id = :conf_scenario AND cf.confidential = :conf_yes) "
            f"OR ({p}.lat, {p}.lon) IN (SELECT cg.lat, cg.lon FROM facilities cg "
            "WHERE cg.scenario_id = :conf_scenario AND cg.confidential = :conf_yes) "
            "THEN 1 ELSE 0 END", {"conf_scenario": scenario_id, "conf_yes": True})


def referral_services(viewer: Viewer) -> tuple[str, ...]:
    """Referral services whose referrals this viewer's figures may count (docs/design.md §2.3):
    a liaison only the consular-type services of its visible nationals."""
    if sees_person_level(viewer.role):
        return vocab.CONSULAR_SERVICES
    return tuple(vocab.REFERRAL_SERVICES)


# --- pages ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PageSpec:
    """A page of the dashboard: its file under pages/, its title (in English, translated
    where shown), and who may open it."""

    title: str
    icon: str
    roles: tuple[str, ...]


# app.py builds the navigation from this table, in this order, and every page
# checks it again itself (components.page.page_start). The file is pages/<key>.py.
ALL = ("committee", "consular", "coordinator", "admin")
PAGES: dict[str, PageSpec] = {
    "overview": PageSpec(N_("Overview"), ":material/dashboard:", ALL),
    "map": PageSpec(N_("Map"), ":material/map:", ("committee", "consular", "coordinator")),
    "shelters": PageSpec(N_("Shelters"), ":material/night_shelter:",
                         ("committee", "consular", "coordinator")),
    "referrals": PageSpec(N_("Referrals"), ":material/assignment:",
                          ("committee", "consular", "coordinator")),
    "evacuation": PageSpec(N_("Evacuation"), ":material/flight_takeoff:",
                           ("committee", "consular", "coordinator")),
    "my_nationals": PageSpec(N_("My nationals"), ":material/badge:", ("consular",)),
    "drill": PageSpec(N_("Drill"), ":material/sports_score:", ("coordinator",)),
    "audit": PageSpec(N_("Audit"), ":material/policy:", ("admin",)),
    "data_quality": PageSpec(N_("Data quality"), ":material/rule:",
                             ("committee", "coordinator", "admin")),
}
PAGE_ROLES: dict[str, tuple[str, ...]] = {key: spec.roles for key, spec in PAGES.items()}


def may_open(role: str, page: str) -> bool:
    return role in PAGE_ROLES.get(page, ())


def pages_for(role: str) -> list[str]:
    return [page for page in PAGE_ROLES if may_open(role, page)]
