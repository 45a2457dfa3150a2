"""Small-cell and complementary suppression (docs/design.md §2.4)."""

from dashboard.rules import privacy


def test_small_counts_are_hidden_and_zero_and_five_are_shown():
    assert [privacy.suppress_value(n) for n in (0, 1, 4, 5, 120)] == [0, "<5", "<5", 5, 120]


def test_one_small_cell_beside_a_total_hides_the_next_smallest_too():
    counts = {"a": 3, "b": 40, "c": 12, "d": 0}
    out = privacy.suppress_group(counts)
    assert out == {"a": "<5", "b": 40, "c": "<5", "d": 0}
    # the small cell cannot be recovered from the total and the cells still shown
    shown = sum(v for v in out.values() if isinstance(v, int))
    hidden = [k for k, v in out.items() if v == "<5"]
    assert len(hidden) >= 2 and sum(counts.values()) - shown == counts["a"] + counts["c"]


def test_two_small_cells_need_no_extra_suppression():
    assert privacy.suppress_group({"a": 2, "b": 1, "c": 50}) == {"a": "<5", "b": "<5", "c": 50}


def test_without_a_total_only_small_cells_are_hidden():
    assert privacy.suppress_group({"a": 3, "b": 40}, total_shown=False) == {"a": "<5", "b": 40}


def test_small_total_is_hidden():
    assert privacy.suppress_total({"a": 1, "b": 2}) == "<5"
    assert privacy.suppress_total({"a": 1, "b": 20}) == 21
