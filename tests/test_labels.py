"""Words people use (docs/design.md §2.9): every code of the contract has a label, and
no page shows a reader a raw code or "None" where a label or a blank belongs."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from dashboard.contract import labels, vocab
from dashboard.rules import access
from tests.apptest import drawn_charts, open_page, shown_tables


def vocabularies() -> dict[str, dict[str, str]]:
    """Every vocabulary the contract declares (a dict of code → meaning in vocab)."""
    return {name: value for name, value in vars(vocab).items()
            if name.isupper() and isinstance(value, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
            and name != "REFERRAL_DEADLINE_HOURS"}


def test_every_code_of_every_vocabulary_has_a_label():
    labelled = {id(codes): words for codes, words in labels.VOCABULARIES.values()}
    for name, codes in vocabularies().items():
        if name in ("EVACUATION_STAGES", "EVACUATION_BRANCHES"):  # in ALL_EVACUATION_STAGES
            codes, words = vocab.ALL_EVACUATION_STAGES, labels.EVACUATION_STAGE
        else:
            assert id(codes) in labelled, f"vocab.{name} has no labels in dashboard.contract.labels"
            words = labelled[id(codes)]
        missing = set(codes) - set(words)
        assert not missing, f"vocab.{name}: no label for {sorted(missing)}"
        for code in codes:
            assert words[code].strip() and words[code][0].isupper(), (name, code, words[code])


# The codes a reader would not understand as written: every one whose label is not
# the code itself with a capital letter.
RAW = {code for codes, words in labels.VOCABULARIES.values() for code in codes
       if words[code].lower() != code}


def shown_words(at) -> list[str]:
    """Every cell of every table and every category, series and text of every chart."""
    out = []
    for frame in shown_tables(at):
        if isinstance(frame, pd.DataFrame):
            for column in frame.columns:
                if frame[column].dtype == object or str(frame[column].dtype).startswith("str"):
                    out += [str(v) for v in frame[column].tolist() if not isinstance(v, list)]
    for chart in drawn_charts(at):
        for trace in chart.spec["data"]:
            for key in ("x", "y", "name", "text"):
                value = trace.get(key)
                values = value if isinstance(value, list) else [value]
                out += [str(v) for v in values if v is not None]  # None: nothing drawn
    for deck in at.get("deck_gl_json_chart"):  # the map's tooltips: codes of two words
        out += [w for w in re.findall(r"[A-Za-z_]+", " ".join(_tips(json.loads(deck.proto.json))))
                if "_" in w]
    return out


def _tips(spec) -> list[str]:
    if isinstance(spec, dict):
        return [v for k, v in spec.items() if k == "tip" and isinstance(v, str)] + [
            t for v in spec.values() for t in _tips(v)]
    if isinstance(spec, list):
        return [t for v in spec for t in _tips(v)]
    return []


@pytest.mark.parametrize("role,nats", [("committee", None), ("coordinator", None),
                                       ("consular", ["ETH"])], ids=["committee", "coordinator",
                                                                     "consular"])
def test_no_page_shows_a_raw_code_or_none(sqlite_url, monkeypatch, role, nats):
    monkeypatch.setenv("SITROOM_DB_URL", sqlite_url)
    for page in access.pages_for(role):
        if page in ("audit", "data_quality"):  # the log and the checks speak of columns
            continue
        at = open_page(sqlite_url, page, role, nats, scenario=2 if page == "drill" else 1)
        assert not at.exception, (page, at.exception)
        assert shown_tables(at) or drawn_charts(at) or at.get("deck_gl_json_chart"), \
            f"{page} showed no table, chart or map to read"
        words = shown_words(at)
        raw = sorted({w for w in words if w in RAW})
        assert not raw, f"{role} / {page} shows raw codes: {raw}"
        assert "None" not in words and "nan" not in words, f"{role} / {page} shows None"
