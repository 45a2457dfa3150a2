"""Scenarios in the database and how fresh their data is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from dashboard.language import _
from dashboard.store import cache
from dashboard.store.db import Database


@dataclass(frozen=True)
class ScenarioInfo:
    id: int
    name: str
    kind: str
    starts_at: datetime
    synthetic: bool

    @property
    def is_exercise(self) -> bool:
        return self.kind == "exercise"

    @property
    def label(self) -> str:
        """The scenario as the sidebar offers it, in the reader's language (read where it
        is drawn, never in cached code)."""
        if not self.is_exercise:
            return self.name
        # Translators: an exercise scenario in the scenario menu; {name} is its name.
        return _("EXERCISE — {name}").format(name=self.name)


@cache.scoped()
def list_scenarios(database: Database) -> list[ScenarioInfo]:
    """All scenarios, live first. Not viewer-scoped: every role may pick any."""
    frame = database.read(
        "SELECT id, name, kind, starts_at, synthetic FROM scenarios "
        "ORDER BY CASE kind WHEN :v_live THEN 0 ELSE 1 END, id",
    )
    return [
        ScenarioInfo(int(r.id), r.name, r.kind, pd.Timestamp(r.starts_at).to_pydatetime(),
                     bool(r.synthetic))
        for r in frame.itertuples()
    ]


@cache.scoped()
def data_as_of(database: Database, scenario_id: int) -> datetime | None:
    """The latest change to any person record of the scenario: "data as of"."""
    return latest_change(database, scenario_id)


def latest_change(database: Database, scenario_id: int) -> datetime | None:
    """data_as_of, read now (for the shared tallies, which keep their own time)."""
    frame = database.read(
        "SELECT MAX(updated_at) AS at FROM persons WHERE scenario_id = :scenario",
        {"scenario": scenario_id},
    )
    value = frame.iloc[0, 0]
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()
