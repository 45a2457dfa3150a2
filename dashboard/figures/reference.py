"""Reference data: countries and the nationalities present in a scenario."""

from __future__ import annotations

from dashboard.store import cache
from dashboard.store.db import Database


@cache.scoped()
def nationalities(database: Database, scenario_id: int) -> dict[str, str]:
    """ISO3 → country name for every known nationality held in the scenario.
    Codes only, no counts: safe to show to any role."""
    frame = database.read(
        "SELECT c.iso3, c.name FROM countries c WHERE c.iso3 IN "
        "(SELECT DISTINCT nationality FROM persons WHERE scenario_id = :scenario) "
        "ORDER BY c.name",
        {"scenario": scenario_id},
    )
    return dict(zip(frame["iso3"], frame["name"], strict=True))
