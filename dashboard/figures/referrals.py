"""Referral queues for the Referrals page: open referrals by service, status and
age, overdue against each service's deadline (vocab.REFERRAL_DEADLINE_HOURS),
receiving organisations' load, the flow from open to closed, and for the
coordinator the de-identified queue.

Counted in the database within the viewer's scope: a liaison counts only its
visible nationals' consular-type referrals (access.referral_services), never a
sensitive service. Rows breaking the contract (quality.valid_referral()) are
left out, as the data-quality view counts them. For roles that see only counts,
every count is the rounding of its own referrals (privacy.rounded, docs/design.md
§2.4): each query sums the record keys of the referrals it counts beside their
number, so that any cell, total or day is a privacy.Count. The queue carries no
name, ref, phone or person id.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from dashboard import language
from dashboard.contract import vocab
from dashboard.figures import quality, scenarios, tallies
from dashboard.language import _
from dashboard.rules import access, privacy
from dashboard.rules.access import Viewer
from dashboard.rules.privacy import Count, Shown
from dashboard.store import cache
from dashboard.store.db import Database

ACTIVE = tuple(s for s in vocab.REFERRAL_STATUSES if s not in vocab.REFERRAL_ENDED)
AGES = {  # label -> lower bound in hours since the referral was sent
    "under 1 day": 0, "1–3 days": 24, "3–7 days": 72, "7 days or more": 168,
}
QUEUE_LIMIT = 500  # the coordinator's queue shows the most pressing rows, and counts the rest
PRIORITY_RANK = {p: i for i, p in enumerate(vocab.REFERRAL_PRIORITIES)}


@dataclass(frozen=True)
class Referrals:
    """Every count as the viewer may see it: exact for a liaison, else rounded (the
    tables then hold text: numbers and "<5")."""

    as_of: datetime
    open_total: Shown
    overdue_total: Shown
    by_service: pd.DataFrame  # service, deadline_h, open, accepted, in_service, active, overdue
    by_age: pd.DataFrame      # service, one column per AGES label (active referrals)
    by_org: pd.DataFrame      # receiving_organisation, active, on_time, overdue
    flow: pd.DataFrame        # day, opened, ended, active (open at the end of the day)
    queue: pd.DataFrame | None  # coordinator only
    queue_total: Shown        # the shown open total
    worked_back: bool = False  # as_of is before the latest data: figures from the history


# --- queries --------------------------------------------------------------------------------

def _where(database: Database, viewer: Viewer) -> tuple[str, dict]:
    # The viewer's scope and services, contract breaks left out (shared with the
    # data-quality view through quality.scoped_referrals).
    return quality.scoped_referrals(database, viewer, "r")


def _active(database: Database, viewer: Viewer, as_of: datetime, worked_back: bool
            ) -> tuple[str, str, dict]:
    """A WITH clause (or nothing) and a FROM ... WHERE over the referrals active at
    `as_of`, as `r` with `r.status` their status then. At the latest data the current
    rows say it. Before it, the history does: sent by then, not closed by
    then, and the status of its latest event by then ("open" if none yet). A history
    whose status then is ended although closed_at is later contradicts itself: left out."""
    where, params = _where(database, viewer)
    params = {**params, "active": list(ACTIVE), "as_of": as_of}
    if not worked_back:
        return "", f"FROM referrals r WHERE {where} AND r.status IN :active", params
    # One index probe per referral on (referral_id, at): the latest time, then the
    # highest id. Materialised, or SQLite copies the probe into every use of r.status.
    then = ("COALESCE((SELECT e.status FROM referral_events e WHERE e.referral_id = r.id "
            "AND e.at <= :as_of ORDER BY e.at DESC, e.id DESC LIMIT 1), :v_open)")
    return ("WITH active_then AS MATERIALIZED (SELECT r.id, r.service, r.to_org, r.priority, "
            f"r.created_at, r.due_at, {then} AS status FROM referrals r WHERE {where} "
            "AND r.created_at <= :as_of AND (r.closed_at IS NULL OR r.closed_at > :as_of)) ",
            "FROM active_then r WHERE r.status IN :active", params)


def _counts(database: Database, viewer: Viewer, as_of: datetime,
            worked_back: bool) -> pd.DataFrame:
    """Active referrals by service, status, receiving organisation, age and overdue:
    one GROUP BY, a few thousand rows at most."""
    head, source, params = _active(database, viewer, as_of, worked_back)
    bounds = {f"age{i}": as_of - timedelta(hours=h) for i, h in enumerate(AGES.values()) if i}
    age = "CASE " + " ".join(
        f"WHEN r.created_at <= :age{i} THEN {i}" for i in reversed(range(1, len(AGES)))
    ) + " ELSE 0 END"
    params = {**params, **bounds, **privacy.installation_key_params()}
    # overdue: past the deadline and still awaiting acceptance at the moment shown
    return _whole(database.read(
        f"{head}SELECT r.service, r.status, r.to_org, {age} AS age, "
        "CASE WHEN r.status = :v_open AND r.due_at < :as_of THEN 1 ELSE 0 END AS overdue, "
        f"COUNT(*) AS n, SUM({privacy.record_key('r.id')}) AS k {source} "
        "GROUP BY r.service, r.status, r.to_org, age, overdue", params),
        ["age", "overdue", "n", "k"])


def _whole(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Counts and key sums as int64 (PostgreSQL sums to numeric, an empty sum to NULL)."""
    for column in columns:
        frame[column] = frame[column].fillna(0).astype(np.int64)
    return frame


def _flow(database: Database, viewer: Viewer, as_of: datetime,
          worked_back: bool) -> pd.DataFrame:
    """Referrals sent and ended per day (day, opened, opened_k, ended, ended_k): each
    with the sum of its referrals' record keys."""
    where, params = _where(database, viewer)
    params = {**params, "ended": list(vocab.REFERRAL_ENDED),
              **privacy.installation_key_params()}
    key = privacy.record_key("r.id")
    sent_by = ended_by = ""
    if worked_back:  # cut at the moment shown: what was sent and ended by then
        params["as_of"] = as_of
        sent_by, ended_by = " AND r.created_at <= :as_of", " AND r.closed_at <= :as_of"
    sent, ended = database.day_of("r.created_at"), database.day_of("r.closed_at")
    return _whole(database.read(
        f"SELECT {sent} AS day, COUNT(*) AS opened, SUM({key}) AS opened_k, 0 AS ended, "
        f"0 AS ended_k FROM referrals r WHERE {where}{sent_by} GROUP BY {sent} UNION ALL "
        f"SELECT {ended} AS day, 0 AS opened, 0 AS opened_k, COUNT(*) AS ended, "
        f"SUM({key}) AS ended_k FROM referrals r "
        f"WHERE {where} AND r.status IN :ended AND r.closed_at IS NOT NULL{ended_by} "
        f"GROUP BY {ended}", params), ["opened", "opened_k", "ended", "ended_k"])


def _queue(database: Database, viewer: Viewer, as_of: datetime,
           worked_back: bool) -> pd.DataFrame:
    """The most pressing active referrals, de-identified: overdue first, then by
    priority and deadline. No person column is ever selected."""
    head, source, params = _active(database, viewer, as_of, worked_back)
    rank = "CASE r.priority " + " ".join(
        f"WHEN '{p}' THEN {i}" for p, i in PRIORITY_RANK.items()) + " ELSE 9 END"
    params = {**params, "limit": QUEUE_LIMIT}
    return database.read(
        f"{head}SELECT r.id AS case_number, r.service, r.priority, r.status, r.created_at, "
        f"r.due_at, r.to_org AS receiving_organisation {source} "
        "ORDER BY CASE WHEN r.status = :v_open AND r.due_at < :as_of THEN 0 ELSE 1 END, "
        f"{rank}, r.due_at, r.id LIMIT :limit", params)


def _age_words(hours: float) -> str:
    """A time in English, as the queue holds it ("20 h", "3.5 days"): `said_duration`
    says it in the reader's language where it is shown."""
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.1f} days"


_HOURS, _DAYS = re.compile(r"(\d+) h"), re.compile(r"(\d+\.\d) days")


def said_duration(text: object) -> object:
    """A time of the queue (`_age_words`) in the reader's language; anything else
    (an empty cell) as it is. Never called in cached code."""
    if not isinstance(text, str):
        return text
    if found := _HOURS.fullmatch(text):
        # Translators: a number of hours, "h" its abbreviation
        return _("{hours} h").format(hours=language.number(int(found[1])))
    if found := _DAYS.fullmatch(text):
        # Translators: a number of days with one decimal, two or more
        return _("{days} days").format(days=language.number(float(found[1]), 1))
    return text


def said_queue(queue: pd.DataFrame) -> pd.DataFrame:
    """The queue with its ages and delays in the reader's language."""
    return queue.assign(age=queue["age"].map(said_duration),
                        overdue_by=queue["overdue_by"].map(said_duration))


def _order(value: Shown) -> float:
    """A shown count as a number to sort by, "<5" between 0 and 5: rows are ordered by
    what is shown, so that their order tells nothing the numbers do not."""
    return 2.5 if isinstance(value, str) else float(value)


def _flow_shown(flow: pd.DataFrame, show: Callable[[Count], Shown]) -> pd.DataFrame:
    """Sent and ended per day, and open at the end of each day: the referrals sent by
    then less those ended by then, a Count whose key is likewise the keys of those sent
    less those ended. Each point is its own referrals rounded (docs/design.md §2.4):
    two consecutive points, or a point and the day's bars, give a change only to within
    the rounding of each, so no point is held back."""
    flow = (flow.groupby("day", as_index=False)[["opened", "opened_k", "ended", "ended_k"]]
            .sum().sort_values("day").reset_index(drop=True))
    active_n = flow["opened"].cumsum() - flow["ended"].cumsum()
    active_k = flow["opened_k"].cumsum() - flow["ended_k"].cumsum()
    return pd.DataFrame({
        "day": flow["day"],
        "opened": [show(Count(int(n), int(k)))
                   for n, k in zip(flow["opened"], flow["opened_k"], strict=True)],
        "ended": [show(Count(int(n), int(k)))
                  for n, k in zip(flow["ended"], flow["ended_k"], strict=True)],
        "active": [show(Count(int(n), int(k))) for n, k in zip(active_n, active_k, strict=True)],
    })


@cache.scoped()
def referrals(database: Database, viewer: Viewer, as_of: datetime) -> Referrals:
    """Every figure of the Referrals page for `viewer` at `as_of`: the current rows
    at the latest data, the history before it. Each count is shown for the viewer
    (privacy.shown): parts are rounded on their own, and need not add up to totals."""
    exact = not access.suppresses_small_counts(viewer.role)
    services = list(access.referral_services(viewer))
    worked_back = as_of < (scenarios.data_as_of(database, viewer.scenario_id) or as_of)
    counts = _counts(database, viewer, as_of, worked_back)

    def show(count: Count) -> Shown:
        return privacy.shown(count, exact)

    def cells(rows: pd.DataFrame) -> Shown:
        return show(tallies.counted(rows))

    per_service = [counts[counts["service"] == s] for s in services]
    by_service = pd.DataFrame({"service": services, "deadline_h": [
        vocab.REFERRAL_DEADLINE_HOURS[s] for s in services]})
    for status in ACTIVE:
        by_service[status] = [cells(rows[rows["status"] == status]) for rows in per_service]
    by_service["active"] = [cells(rows) for rows in per_service]
    by_service["overdue"] = [cells(rows[rows["overdue"] == 1]) for rows in per_service]

    by_age = pd.DataFrame({"service": services})
    for i, label in enumerate(AGES):
        by_age[label] = [cells(rows[rows["age"] == i]) for rows in per_service]

    by_org = pd.DataFrame(
        [{"receiving_organisation": org, "active": cells(rows),
          "on_time": cells(rows[rows["overdue"] == 0]),
          "overdue": cells(rows[rows["overdue"] == 1])}
         for org, rows in counts.groupby("to_org")],
        columns=["receiving_organisation", "active", "on_time", "overdue"])
    by_org = (by_org.assign(order=[_order(v) for v in by_org["active"]])
              .sort_values(["order", "receiving_organisation"], ascending=[False, True])
              .drop(columns="order").reset_index(drop=True))

    flow = _flow_shown(_flow(database, viewer, as_of, worked_back), show)
    open_total, overdue_total = cells(counts), cells(counts[counts["overdue"] == 1])
    if not exact:  # tables of numbers, "<5" and "—", as text
        by_service = privacy.withhold_under_small_totals(by_service, [*ACTIVE, "overdue"],
                                                         "active")
        by_age = privacy.withhold_under_small_totals(
            by_age.assign(active=by_service["active"]), list(AGES), "active").drop(
            columns="active")
        by_org = privacy.withhold_under_small_totals(by_org, ["on_time", "overdue"], "active")
        by_service = privacy.as_shown(by_service, [*ACTIVE, "active", "overdue"])
        by_age = privacy.as_shown(by_age, list(AGES))
        by_org = privacy.as_shown(by_org, ["active", "on_time", "overdue"])

    queue = None
    if access.sees_referral_queue(viewer.role):
        raw = _queue(database, viewer, as_of, worked_back)
        created = pd.to_datetime(raw["created_at"], format="mixed")
        due = pd.to_datetime(raw["due_at"], format="mixed")
        ages = (pd.Timestamp(as_of) - created).dt.total_seconds() / 3600
        late = (pd.Timestamp(as_of) - due).dt.total_seconds() / 3600
        queue = pd.DataFrame({
            "case_number": raw["case_number"].astype(int),
            "service": raw["service"], "priority": raw["priority"], "status": raw["status"],
            "age": [_age_words(h) for h in ages],
            "deadline": due,
            "overdue_by": [_age_words(h) if s == "open" and h > 0 else ""
                           for h, s in zip(late, raw["status"], strict=True)],
            "receiving_organisation": raw["receiving_organisation"],
        })
    return Referrals(as_of=as_of, open_total=open_total, overdue_total=overdue_total,
                     by_service=by_service, by_age=by_age, by_org=by_org, flow=flow,
                     queue=queue, queue_total=open_total, worked_back=worked_back)
