"""Attacks on the Overview's counts, kept as tests: each was a way to work a count of
1 to 4 people out of what a count-only role is shown (docs/design.md §2.4)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import text

from dashboard.contract import vocab
from dashboard.figures.overview import overview
from dashboard.rules.access import Viewer
from tests.conftest import opened
from tests.disclosure import LESS_THAN_5, possible_truths


def latest(raw, url: str, scenario_id: int):
    with raw(url).connect() as conn:
        value = conn.execute(text("SELECT MAX(updated_at) FROM persons WHERE scenario_id = :s"),
                             {"s": scenario_id}).scalar()
    return pd.Timestamp(value).to_pydatetime()


@pytest.mark.parametrize("role", ["committee", "coordinator"])
def test_registered_less_the_other_statuses_never_pins_a_hidden_one(db_url, raw, role):
    """The attack: the chart hid Missing and Deceased as "<5" while the tiles showed
    Registered 1,000 and Missing 31, so Deceased = 4. Every status count is rounded
    on its own now: for each status shown "<5", what Registered less the others
    allows is never a single value."""
    data = overview(opened(db_url), Viewer("a", role, 2), latest(raw, db_url, 2))
    by_status = dict(zip(data.by_status.status, data.by_status.persons, strict=True))
    shown = {s: (v if v == LESS_THAN_5 else int(v)) for s, v in by_status.items()}
    registered = possible_truths(data.figure("registered").value)
    hidden = [s for s, v in shown.items() if v == LESS_THAN_5]
    assert hidden, "the exercise scenario has small statuses: the attack needs one"
    for status in hidden:
        others = [possible_truths(v) for s, v in shown.items() if s != status]
        low = registered.start - sum(r.stop - 1 for r in others)
        high = registered.stop - 1 - sum(r.start for r in others)
        candidates = set(range(max(low, 1), min(high, 4) + 1))
        assert len(candidates) > 1, (status, candidates)


def test_stepping_an_hour_never_pins_a_change_of_a_few_people(db_url, raw):
    """The attack: stepping *As of* an hour showed Missing 642 then 643. Counts at
    each moment are rounded on their own, so consecutive moments narrow a change
    only to a range of more than one value."""
    viewer = Viewer("c", "committee", 1)
    end = latest(raw, db_url, 1)
    previous = None
    for hours in range(12, 0, -1):
        data = overview(opened(db_url), viewer, end - timedelta(hours=hours))
        value = data.figure("missing").value
        assert value == LESS_THAN_5 or value == 0 or value % 5 == 0
        if previous is not None:
            changes = {b - a for a in possible_truths(previous) for b in possible_truths(value)}
            assert len(changes) > 1
        previous = value


def test_a_change_beside_a_hidden_count_is_withheld_not_marked_small(db_url, raw):
    """A change is worked out from the shown counts; where one of them is "<5" it is
    withheld with its own mark, never shown as "<5" (that means 1 to 4 people)."""
    data = overview(opened(db_url), Viewer("c", "committee", 2), latest(raw, db_url, 2),
                    latest(raw, db_url, 2) - timedelta(days=6))
    for figure in data.figures:
        if figure.value == LESS_THAN_5:
            assert figure.delta == "—", figure.key
        assert figure.delta != LESS_THAN_5, figure.key
    assert set(vocab.PERSON_STATUSES) == set(data.by_status.status)
