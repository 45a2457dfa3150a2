"""A horizontal bar chart Plotly draws (bars side by side: the others are drawn as
HTML, components/bars.py) starts with margins that already hold its category labels,
its x tick labels and its legend as Chromium lays them out: where they do not, Plotly
grows them and draws the whole chart a second time (components/charts.py, _fitted).
Drawn by the plotly.js of the plotly package (no internet), in Debian's chromium."""

from __future__ import annotations

import json

import pandas as pd
import plotly.io as pio
import pytest
from plotly.offline import get_plotlyjs

from components import bars, charts
from dashboard import language
from tests.browser.conftest import new_context

# Names as the reference scenario and a real crisis write them: short, long, several
# words wrapped on lines, figures, Arabic.
NAMES = ["Akkar", "Minieh-Danniyeh", "Tripoli Technical Institute Shelter 48",
         "Baabda Technical Institute Shelter 41", "Safe House 1-1976", "West Bekaa",
         "Hasbaya Reception Centre 1", "Nabatieh Transit Centre 9", "مركز إيواء صور 12",
         "Rashaya Transit Centre 1", "Zahle Collective Shelter 40", "Koura Collective Shelter 10",
         "Batroun Government Hospital 1", "Chouf Assembly Point 3", "Bint Jbeil"]

DRAW = """async (figure) => {
  const div = document.getElementById('chart');
  Plotly.purge(div);
  await Plotly.newPlot(div, figure.data, figure.layout);
  const size = div._fullLayout._size;
  return {l: size.l, b: size.b, t: size.t, r: size.r};
}"""


def figures(n: int) -> dict[str, object]:
    names = NAMES[:n]
    frame = pd.DataFrame({"area": names, "occupants": [123_456 - 7_000 * i for i in range(n)],
                          "free": [300 + 40 * i for i in range(n)]})
    drawn = {"grouped": charts.grouped_bars(frame, "area", ["occupants", "free"], {}, title="T")}
    assert not any(bars.drawable(figure) for figure in drawn.values())
    return drawn


@pytest.fixture(scope="module")
def plotly_page(browser, tmp_path_factory):
    page_file = tmp_path_factory.mktemp("plotly") / "chart.html"
    page_file.write_text("<html><body><div id='chart' style='width:700px'></div><script>"
                         + get_plotlyjs() + "</script></body></html>")
    context = new_context(browser)
    page = context.new_page()
    page.goto(page_file.as_uri())
    yield page
    context.close()


@pytest.mark.parametrize("code", ["en", "ar"])
@pytest.mark.parametrize("projector", [False, True], ids=["screen", "projector"])
def test_a_horizontal_bar_chart_is_laid_out_in_one_go(plotly_page, code, projector):
    grown = []
    with language.speaking(code):
        for n in (1, 3, 8, 15):
            for kind, figure in figures(n).items():
                if projector:
                    figure = charts.larger(figure)
                spec = json.loads(pio.to_json(figure))
                given = spec["layout"]["margin"]
                drawn = plotly_page.evaluate(DRAW, spec)
                grown += [f"{kind} of {n} rows: {side} {given[side]} -> {drawn[side]} px"
                          for side in ("l", "b", "t", "r") if drawn[side] > given[side]]
    assert not grown, "Plotly had to grow the margins and draw again: " + "; ".join(grown)
