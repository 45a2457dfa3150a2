"""Referral queues for the Referrals page: open referrals by service, status and
age, overdue against each service's deadline (vocab.REFERRAL_DEADLINE_HOURS),
receiving organisations' load, the flow from open to closed, and for the
coordinator the de-identified queue.

Counted in the database within the viewer's scope: a liaison counts only its
visible nationals' consular-type referrals (access.referral_services), never a
sensitive service. Rows breaking the contract (quality.valid_referral()) are
left out, as the data-quality view counts them. Counts below 5 are suppressed
for aggregate roles; the queue carries no name, ref, phone or person id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from dashboard.contract import vocab
from dashboard.figures import quality, scenarios
from dashboard.rules import access, privacy
from dashboard.rules.access import Viewer
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
    as_of: datetime
    open_total: int | str
    overdue_total: int | str
    by_service: pd.DataFrame  # service, deadline_h, open, accepted, in_service, active, overdue
    by_age: pd.DataFrame      # service, one column per AGES label (active referrals)
    by_org: pd.DataFrame      # receiving_organisation, active, on_time, overdue
    flow: pd.DataFrame        # day, opened, ended, active (None where thinned for privacy)
    queue: pd.DataFrame | None  # coordinator only
    queue_total: int
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
    params = {**params, **bounds}
    # overdue: past the deadline and still awaiting acceptance at the moment shown
    return database.read(
        f"{head}SELECT r.service, r.status, r.to_org, {age} AS age, "
        "CASE WHEN r.status = :v_open AND r.due_at < :as_of THEN 1 ELSE 0 END AS overdue, "
        f"COUNT(*) AS n {source} "
        "GROUP BY r.service, r.status, r.to_org, age, overdue", params)


def _flow(database: Database, viewer: Viewer, as_of: datetime,
          worked_back: bool) -> pd.DataFrame:
    where, params = _where(database, viewer)
    params = {**params, "ended": list(vocab.REFERRAL_ENDED)}
    sent_by = ended_by = ""
    if worked_back:  # cut at the moment shown: what was sent and ended by then
        params["as_of"] = as_of
        sent_by, ended_by = " AND r.created_at <= :as_of", " AND r.closed_at <= :as_of"
    sent, ended = database.day_of("r.created_at"), database.day_of("r.closed_at")
    return database.read(
        f"SELECT {sent} AS day, COUNT(*) AS opened, 0 AS ended FROM referrals r "
        f"WHERE {where}{sent_by} GROUP BY {sent} UNION ALL "
        f"SELECT {ended} AS day, 0 AS opened, COUNT(*) AS ended FROM referrals r "
        f"WHERE {where} AND r.status IN :ended AND r.closed_at IS NOT NULL{ended_by} "
        f"GROUP BY {ended}", params)


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
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.1f} days"


@cache.scoped()
def referrals(database: Database, viewer: Viewer, as_of: datetime) -> Referrals:
    """Every figure of the Referrals page for `viewer` at `as_of`: the current rows
    at the latest data, the history before it."""
    hide = access.suppresses_small_counts(viewer.role)
    services = list(access.referral_services(viewer))
    worked_back = as_of < (scenarios.data_as_of(database, viewer.scenario_id) or as_of)
    counts = _counts(database, viewer, as_of, worked_back)
    counts["n"] = counts["n"].astype(int)

    status = counts.pivot_table(index="service", columns="status", values="n", aggfunc="sum")
    by_service = status.reindex(index=services, columns=list(ACTIVE)).fillna(0).astype(int)
    by_service["active"] = by_service.sum(axis=1)
    overdue = counts[counts["overdue"].astype(int) == 1].groupby("service")["n"].sum()
    by_service["overdue"] = overdue.reindex(services).fillna(0).astype(int)
    by_service.insert(0, "deadline_h", [vocab.REFERRAL_DEADLINE_HOURS[s] for s in services])
    by_service = by_service.rename_axis(None, axis=1).reset_index()

    age = counts.pivot_table(index="service", columns="age", values="n", aggfunc="sum")
    by_age = age.reindex(index=services, columns=range(len(AGES))).fillna(0).astype(int)
    by_age.columns = list(AGES)
    by_age = by_age.rename_axis(None, axis=1).reset_index()

    late = counts["overdue"].astype(int) == 1
    by_org = (counts.assign(on_time=counts["n"].where(~late, 0), late=counts["n"].where(late, 0))
              .groupby("to_org", as_index=False)
              .agg(active=("n", "sum"), on_time=("on_time", "sum"), overdue=("late", "sum"))
              .rename(columns={"to_org": "receiving_organisation"})
              .sort_values(["active", "receiving_organisation"], ascending=[False, True])
              .reset_index(drop=True))

    flow = _flow(database, viewer, as_of, worked_back)
    flow = (flow.groupby("day", as_index=False)[["opened", "ended"]].sum()
            .sort_values("day").reset_index(drop=True))
    flow[["opened", "ended"]] = flow[["opened", "ended"]].astype(int)
    flow["active"] = (flow["opened"].cumsum() - flow["ended"].cumsum()).astype(object)

    open_n, overdue_n = int(by_service["active"].sum()), int(by_service["overdue"].sum())
    open_total: int | str = open_n
    overdue_total: int | str = overdue_n
    if hide:
        by_service = privacy.suppress_rows(by_service, list(ACTIVE))
        by_service = privacy.suppress_column(by_service, "service", "overdue")
        by_service["active"] = [privacy.suppress_value(int(v)) for v in by_service["active"]]
        by_age = privacy.suppress_rows(by_age, list(AGES))
        # on time + overdue = open, per organisation and (as headline figures) overall
        active = by_org["active"]
        by_org = privacy.suppress_table(by_org, ["on_time", "overdue"])
        by_org["active"] = [privacy.suppress_value(int(v)) for v in active]
        kept = privacy.thin_steps(flow, ["opened", "ended"])
        flow["active"] = [v if k else None for v, k in zip(flow["active"], kept, strict=True)]
        for col in ("opened", "ended"):
            flow[col] = [privacy.suppress_value(int(v)) for v in flow[col]]
        by_service = privacy.as_shown(by_service, [*ACTIVE, "active", "overdue"])
        by_age = privacy.as_shown(by_age, list(AGES))
        by_org = privacy.as_shown(by_org, ["active", "on_time", "overdue"])
        open_total = privacy.suppress_value(open_n)
        overdue_total = privacy.suppress_value(overdue_n)

    queue, queue_total = None, 0
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
        queue_total = open_total if isinstance(open_total, int) else len(queue)
    return Referrals(as_of=as_of, open_total=open_total, overdue_total=overdue_total,
                     by_service=by_service, by_age=by_age, by_org=by_org, flow=flow,
                     queue=queue, queue_total=queue_total, worked_back=worked_back)
