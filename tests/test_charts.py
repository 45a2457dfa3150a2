"""Charts Plotly draws keep their words whole in a third of a laptop's page: the number
beside the longest bar has room right of the plot (Plotly lays out tick labels, not bar
text), on a projector too, and a long category label is broken into lines instead of
squeezing the bars. The bar charts drawn as HTML (components.bars, tests/test_bars.py)
are laid out by the browser. What the browser draws is checked on every page by the
browser tours (tests/browser/conftest.py, cut_off_texts)."""

from __future__ import annotations

import pandas as pd

from components import charts

# The narrowest a digit is drawn in the sans-serif fonts Plotly falls back to: about
# half the font size. A margin narrower than this cannot hold the text.
DIGIT_EM = 0.5


def test_the_longest_value_has_room_beside_its_bar():
    frame = pd.DataFrame({"area": ["Matn", "Akkar"], "median": [347_315, 12], "p90": [12, 40]})
    figure = charts.grouped_bars(frame, "area", ["median", "p90"], {})
    assert "347,315" in figure.data[0].text
    assert figure.layout.margin.r >= DIGIT_EM * 18 * len("347,315")
    on_projector = charts.larger(figure)
    assert on_projector.layout.margin.r >= DIGIT_EM * 24 * len("347,315")


def test_a_long_category_label_takes_lines_and_its_row_room_for_them():
    areas = ["Minieh-Danniyeh and the north", "Akkar", "Tyre", "Saida", "Zahle", "Aley"]
    frame = pd.DataFrame({"area": areas, "overdue": [1185, 1480, 3430, 2750, 4920, 1535]})
    figure = charts.grouped_bars(frame, "area", ["overdue"], {})
    long, short = figure.data[0].y[:2]
    assert long.replace("  <br>", " ") == "Minieh-Danniyeh and the north"
    assert "<br>" in long and "<br>" not in short
    one_line = charts.grouped_bars(frame.assign(area=["Matn"] + areas[1:]),
                                   "area", ["overdue"], {})
    assert figure.layout.height > one_line.layout.height


def test_a_label_is_escaped_line_by_line():
    frame = pd.DataFrame({"facility": ["<b>Shelter</b> & clinic of the north"],
                          "full_pct": [100.0], "colour": ["#d73027"]})
    label = charts.share_bars(frame, "facility", "full_pct", "colour").data[0].y[0]
    assert "<b>" not in label and "&lt;b&gt;Shelter&lt;/b&gt;" in label
    assert label.count("<br>") >= 1
