"""Attacks on the Drill page's response figures as the coordinator sees them
(docs/design.md §2.4).

The response in the hour after each inject and the cumulative series by the hour
used to be small-cell suppression and thinning: a line drawn only where at least 5
had been added since its last point. Now every count is the rounding of its own rows
by their cell key. Each test reads the true rows with its own SQL (tests.test_review),
works out what must be shown with the oracle of tests/disclosure.py, and then plays
the reader who sets one point of the series against the next, any two points against
each other, an inject's response against the series around it, and one replay moment
against another: no comparison may narrow a count of one to four down to one value.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from dashboard.figures import review
from tests import test_review
from tests.conftest import opened
from tests.disclosure import LESS_THAN_5
from tests.test_referrals_disclosure import (
    assert_not_pinned,
    assert_shown,
    derived,
    left_open,
    truths,
)
from tests.test_review import (
    COORDINATOR,
    RUN,
    cumulative,
    frame,
    own_responses,
    own_window,
    responding,
    times,
)

# The scenario with a drill played, on each backend (a fixture of tests.test_review).
drill_url = test_review.drill_url

RESPONSES = ("registered", "accepted", "departed")
MOMENTS = ["end", "middle"]


def growth(now, before) -> range:
    """What a running total can have gained between two shown points: `derived`, and
    never less than 0 (it never goes down, and the reader knows that too)."""
    values = derived([now], [before])
    return range(max(values.start, 0), values.stop)


def replay(drill_url, raw, moment: str):
    """The review at a replay moment, the window's start and the moment."""
    start, end = own_window(raw, drill_url)
    until = pd.Timestamp(end if moment == "end" else start + timedelta(hours=30))
    got = review.review(opened(drill_url), COORDINATOR, RUN, start, until.to_pydatetime())
    return got, start, until


def own_injects(raw, url: str, until) -> pd.DataFrame:
    injects = times(frame(raw, url, "SELECT seq, at FROM drill_injects WHERE run_id = :r",
                          r=RUN), "at")
    return injects[injects["at"] <= until].sort_values("at").reset_index(drop=True)


def points(got, responses, name: str, start, until) -> list[tuple[object, list]]:
    """Each point of a series as shown, with the ids of the rows it counts."""
    return [(value, cumulative(responses[name], start, hour, until))
            for hour, value in zip(got.series["hour"], got.series[name], strict=True)]


@pytest.mark.parametrize("moment", MOMENTS)
def test_every_inject_response_is_the_rounding_of_its_own_rows(drill_url, raw,
                                                               moment):
    """Nothing hidden and nothing exact: each response in the hour after an inject is
    0, "<5" for 1 to 4, or the oracle's multiple of 5 for those rows."""
    got, _, until = replay(drill_url, raw, moment)
    responses = own_responses(raw, drill_url)
    injects = own_injects(raw, drill_url, until)
    assert list(got.injects["seq"]) == list(injects["seq"])
    shown = []
    for inject, row in zip(injects.itertuples(), got.injects.itertuples(), strict=True):
        hi = min(inject.at + timedelta(hours=1), until + timedelta(seconds=1))
        for name in RESPONSES:
            ids = responding(responses[name], inject.at, hi, until)
            assert_shown(getattr(row, name), ids, (inject.seq, name))
            shown.append(getattr(row, name))
    assert set(shown) - {"0"}  # the drill drew some response: the test is about something


@pytest.mark.parametrize("moment", MOMENTS)
def test_the_cumulative_series_never_gives_a_small_increment(drill_url, raw,
                                                             moment):
    """Every hour is drawn, each point the rounding of everything counted by then; the
    count added between any two points, consecutive or not, is left a run of values."""
    got, start, until = replay(drill_url, raw, moment)
    responses = own_responses(raw, drill_url)
    rounded = small = 0
    for name in RESPONSES:
        series = points(got, responses, name, start, until)
        assert all(v is not None for v, _ in series)  # no point held back any more
        for (value, ids), hour in zip(series, got.series["hour"], strict=True):
            assert_shown(value, ids, (name, hour))
            rounded += len(ids) >= 5 and len(ids) % 5 != 0
        # a point against every earlier one (the first against the empty start)
        for j, (now, then) in enumerate(series):
            for before, was in [(0, [])] + series[:j]:
                added = len(then) - len(was)
                small += 1 <= added <= 4
                values = left_open(added, growth(now, before))
                assert_not_pinned(values, (name, j, added))
    assert rounded and small  # rounded points, and increments of 1 to 4 to protect


@pytest.mark.parametrize("moment", MOMENTS)
def test_an_inject_s_response_against_the_series_never_pins_a_small_count(
        drill_url, raw, moment):
    """The injects fall on the hour, so the hour after one is also the step of the
    series from the hour before it to its own: the shown response and that step
    together still leave more than one value for a response of 1 to 4."""
    got, start, until = replay(drill_url, raw, moment)
    responses = own_responses(raw, drill_url)
    injects = own_injects(raw, drill_url, until)
    hours = list(got.series["hour"])
    compared = 0
    for inject, row in zip(injects.itertuples(), got.injects.itertuples(), strict=True):
        hour = pd.Timestamp(inject.at)
        if hour != hour.floor("h") or hour not in hours:
            continue
        i = hours.index(hour)
        for name in RESPONSES:
            ids = responding(responses[name], inject.at, inject.at + timedelta(hours=1), until)
            before = got.series[name].iloc[i - 1] if i else 0
            values = left_open(len(ids), truths(getattr(row, name)),
                               growth(got.series[name].iloc[i], before))
            assert_not_pinned(values, (inject.seq, name))
            compared += 1
    assert compared >= 9  # three injects at least, each on the hour


def test_a_later_replay_moment_shows_the_same_rows_the_same(drill_url, raw):
    """Replaying further on: every hour that was complete shows the same value (the same
    rows), and so does the response to every inject whose hour had passed; a point
    that has grown is rounded anew, and the growth is left a run of values."""
    start, end = own_window(raw, drill_url)
    early = pd.Timestamp(start) + timedelta(hours=30, minutes=30)
    late = early + timedelta(hours=1)
    first = review.review(opened(drill_url), COORDINATOR, RUN, start, early.to_pydatetime())
    second = review.review(opened(drill_url), COORDINATOR, RUN, start, late.to_pydatetime())
    responses = own_responses(raw, drill_url)
    assert len(second.series) == len(first.series) + 1
    for name in RESPONSES:
        for i in range(len(first.series) - 1):  # the hours complete at both moments
            assert first.series[name].iloc[i] == second.series[name].iloc[i], (name, i)
        # the last hour of the early replay was partial: read again, it has grown
        hour = first.series["hour"].iloc[-1]
        was = cumulative(responses[name], start, hour, early)
        then = cumulative(responses[name], start, hour, late)
        now, before = second.series[name].iloc[len(first.series) - 1], first.series[name].iloc[-1]
        assert_shown(before, was, (name, "early"))
        assert_shown(now, then, (name, "late"))
        values = left_open(len(then) - len(was), growth(now, before))
        assert_not_pinned(values, (name, "growth"))
    passed = first.injects["at"] + timedelta(hours=1) <= early
    assert passed.any()
    for col in RESPONSES:
        assert list(first.injects[col][passed]) == list(second.injects[col][passed]), col


def test_a_small_series_starts_at_less_than_5_and_is_left_undrawn_there(drill_url, raw):
    """A running total of 1 to 4 is "<5", which the chart leaves undrawn, never a number."""
    got, start, until = replay(drill_url, raw, "end")
    responses = own_responses(raw, drill_url)
    for name in RESPONSES:
        for value, ids in points(got, responses, name, start, until):
            assert (value == LESS_THAN_5) == (1 <= len(ids) <= 4), name
            assert value == LESS_THAN_5 or (isinstance(value, int) and value % 5 == 0), name
