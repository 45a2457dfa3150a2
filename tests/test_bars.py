"""Horizontal bar charts drawn as HTML (components.bars): what Plotly drew, in markup."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from components import bars, charts
from dashboard.rules import privacy
from tests.apptest import _BarsReader

HOSTILE = '<a href="https://evil.example/x">x</a> & <b>bold</b>'


def read(markup: str) -> dict:
    reader = _BarsReader()
    reader.feed(markup)
    return reader.spec()


def widths(markup: str) -> list[float]:
    return [float(w) for w in re.findall(r'width: ([0-9.]+)%', markup)]


def shares() -> pd.DataFrame:
    return pd.DataFrame({"facility": [HOSTILE, "Shelter B", "Shelter C"],
                         "full_pct": [100, 50, None],
                         "colour": ["#b2182b", "#fdae61", "#1a9850"]})


def test_horizontal_bars_are_drawn_as_html_and_other_charts_by_plotly():
    stacked = pd.DataFrame({"area": ["Matn"], "occupants": [10], "free": [5]})
    assert bars.drawable(charts.share_bars(shares(), "facility", "full_pct", "colour"))
    assert bars.drawable(charts.stacked_bars(stacked, "area", ["occupants", "free"], {}))
    assert bars.drawable(charts.category_bars(
        pd.DataFrame({"status": ["sheltered"], "persons": [12]}), "status", "persons", {}))
    assert not bars.drawable(charts.grouped_bars(stacked, "area", ["occupants", "free"], {}))
    assert not bars.drawable(charts.time_chart(
        pd.DataFrame({"day": ["2026-11-01"], "opened": [5]}), "day",
        bars={"opened": ("Opened", "#000000")}))
    assert not bars.drawable(charts.funnel(["a", "b"], [10, 5], ["#000000", "#000000"]))


def test_database_text_is_written_as_text():
    markup = bars.html_of(charts.share_bars(shares(), "facility", "full_pct", "colour",
                                            title=HOSTILE), "k")
    assert "<a " not in markup and "<b>" not in markup
    # as text (the title and the label), and inside the bar's hover title
    as_text = '&lt;a href="https://evil.example/x"&gt;x&lt;/a&gt; &amp; &lt;b&gt;bold&lt;/b&gt;'
    assert markup.count(as_text) == 2
    assert as_text.replace('"', "&quot;") in markup
    spec = read(markup)
    assert spec["layout"]["title"]["text"] == HOSTILE  # read back as the text it is
    assert spec["data"][0]["y"][0] == HOSTILE


def test_a_share_is_drawn_against_its_whole_and_a_missing_one_not_at_all():
    markup = bars.html_of(charts.share_bars(shares(), "facility", "full_pct", "colour"), "k")
    assert widths(markup) == [100.0, 50.0]
    trace = read(markup)["data"][0]
    assert trace["x"] == [100.0, 50.0, None]
    assert trace["text"] == ["100%", "50%", ""]
    assert "#b2182b" in markup and "#fdae61" in markup and "#1a9850" not in markup


def test_stacked_bars_add_up_along_the_longest_and_keep_narrow_numbers_to_their_title():
    frame = pd.DataFrame({"area": ["Matn", "Akkar"], "occupants": [1500, 10],
                          "free": [500, 990]})
    markup = bars.html_of(charts.stacked_bars(
        frame, "area", ["occupants", "free"], {"occupants": "#08306b", "free": "#d9d9d9"},
        labels={"free": "Free places"}), "k")
    # the longest bar is 2,000: each segment its share of that
    assert widths(markup) == [75.0, 25.0, 0.5, 49.5]
    spec = read(markup)
    assert [t["name"] for t in spec["data"]] == ["Occupants", "Free places"]
    assert spec["data"][0]["x"] == [1500.0, 10.0] and spec["data"][1]["x"] == [500.0, 990.0]
    # 10 is under 5% of 2,000: not written on its sliver, but in its hover title
    assert spec["data"][0]["text"] == ["1,500", ""]
    assert 'title="Akkar: 10 (Occupants)"' in markup
    # white on the dark blue, black on the light grey
    assert "background: #08306b; color: #ffffff" in markup
    assert "background: #d9d9d9; color: #000000" in markup


def test_a_withheld_count_shows_its_sign_and_no_bar():
    frame = pd.DataFrame({"tag": ["pregnant", "disability"],
                          "persons": [privacy.SUPPRESSED, 40]})
    markup = bars.html_of(charts.category_bars(frame, "tag", "persons", {}), "k")
    trace = read(markup)["data"][0]
    assert trace["x"] == [None, 40.0]
    assert trace["text"][0] == privacy.SUPPRESSED
    assert widths(markup) == [100.0]


def test_one_series_has_no_legend_and_several_have_one():
    one = bars.html_of(charts.share_bars(shares(), "facility", "full_pct", "colour"), "k")
    two = bars.html_of(charts.stacked_bars(
        pd.DataFrame({"area": ["Matn"], "occupants": [10], "free": [5]}), "area",
        ["occupants", "free"], {}), "k")
    assert 'class="sr-bars-legend"' not in one and 'class="sr-bars-legend"' in two


@pytest.mark.parametrize(("projector", "font", "ink"), [(False, 18, "inherit"),
                                                         (True, 24, "#000000")])
def test_on_a_projector_the_type_is_larger_and_black(projector, font, ink):
    markup = bars.html_of(charts.share_bars(shares(), "facility", "full_pct", "colour"), "k",
                          projector=projector)
    assert f".sr-bars {{font-size: {font}px; line-height: 1.25; margin: 0 0 0.75rem 0; " \
           f"color: {ink};}}" in markup
