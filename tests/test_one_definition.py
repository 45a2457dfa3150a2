"""One definition per figure: every headline figure that two pages show is the same
number on both at the same moment, and is what the test's own SQL says it is."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import text

from dashboard.figures.overview import overview
from dashboard.figures.shelters import shelters
from dashboard.rules.access import Viewer
from tests.conftest import opened
from tests.disclosure import expected

LATEST_REPORT = """
    SELECT f.id, f.capacity, f.status, f.confidential, f.area_pcode, o.occupants
    FROM facilities f JOIN facility_occupancy o ON o.facility_id = f.id
    WHERE f.scenario_id = :s AND o.id = (
        SELECT o2.id FROM facility_occupancy o2 WHERE o2.facility_id = f.id AND o2.at <= :at
        ORDER BY o2.at DESC, o2.id DESC LIMIT 1)
"""


def own_place_figures(raw, url: str, scenario_id: int, at) -> dict[str, int]:
    """Places, occupants and free places over facilities in use (open or full) with a
    valid latest report by `at`; a confidential place counts only where its district
    holds another (docs/design.md §2.5)."""
    with raw(url).connect() as conn:
        rows = pd.DataFrame(conn.execute(text(LATEST_REPORT), {"s": scenario_id, "at": at})
                            .mappings().all())
    rows = rows[(rows.occupants >= 0) & (rows.occupants <= rows.capacity) & (rows.capacity > 0)]
    confidential = rows.confidential.astype(bool)
    pooled = confidential.groupby(rows.area_pcode.fillna("")).transform("sum") >= 2
    rows = rows[(~confidential | pooled) & rows.status.isin(["open", "full"])]
    places, occupants = int(rows.capacity.sum()), int(rows.occupants.sum())
    return {"places": places, "occupants": occupants, "free": places - occupants}


def latest(raw, url: str, scenario_id: int):
    with raw(url).connect() as conn:
        value = conn.execute(text("SELECT MAX(updated_at) FROM persons WHERE scenario_id = :s"),
                             {"s": scenario_id}).scalar()
    return pd.Timestamp(value).to_pydatetime()


@pytest.mark.parametrize("viewer", [Viewer("c", "committee", 1), Viewer("k", "coordinator", 1),
                                    Viewer("c", "committee", 2)],
                         ids=["committee", "coordinator", "exercise"])
@pytest.mark.parametrize("days_back", [0, 4])
def test_place_figures_are_one_definition_on_every_page(db_url, raw, viewer, days_back):
    """The committee once read Free places 4,061 on the Overview and 4,596 on Shelters
    at the same moment: two definitions. Both pages now count the same facilities."""
    moment = latest(raw, db_url, viewer.scenario_id) - timedelta(days=days_back)
    front = overview(opened(db_url), viewer, moment)
    if days_back:
        moment = front.as_of  # an earlier moment is taken to the quarter hour
    page = shelters(opened(db_url), viewer, moment)
    own = own_place_figures(raw, db_url, viewer.scenario_id, moment)
    assert front.figure("free_places").value == page.headline["Free places"] == own["free"]
    assert (front.figure("occupants").value == page.headline["Reported occupants"]
            == own["occupants"])
    assert page.headline["Places"] == own["places"]


def test_registered_sheltered_and_reported_occupants_are_named_for_what_they_are(db_url, raw):
    """People registered as sheltered and occupants reported by facilities are two
    sources: both shown, side by side, each named for what it is and the gap explained."""
    viewer = Viewer("c", "committee", 1)
    data = overview(opened(db_url), viewer, latest(raw, db_url, 1))
    sheltered, occupants = data.figure("sheltered"), data.figure("occupants")
    assert sheltered.label == "Registered sheltered"
    assert occupants.label == "Reported occupants"
    keys = [f.key for f in data.figures]
    assert keys.index("occupants") == keys.index("sheltered") + 1
    assert "report" in sheltered.help and "registration" in sheltered.help
    with raw(db_url).connect() as conn:
        ids = [r[0] for r in conn.execute(text(
            "SELECT id FROM persons WHERE scenario_id = 1 AND status = 'sheltered'"))]
    assert sheltered.value == expected(ids)
    by_status = dict(zip(data.by_status.status, data.by_status.persons, strict=True))
    assert by_status["sheltered"] == str(sheltered.value)
