"""A fixture shared by the tests of downloads (what each download button would serve),
and the served tables read back."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pytest
import streamlit as st
from openpyxl import load_workbook


@pytest.fixture
def downloads(monkeypatch):
    """What each download button would serve: (file name, body), the body a callable
    where the button makes its file on the click (calling it is the click)."""
    served: list = []
    original = st.download_button

    def spy(label, data, file_name=None, *args, **kwargs):
        served.append((file_name, data))
        return original(label, data, file_name, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", spy)
    return served


@dataclass
class File:
    """A served CSV or XLSX table as the tests read it back, row by row: the EXERCISE
    (or other) first line if there is one, the headings, the hashtag row, the rows."""

    name: str
    marking: str | None
    headings: list[str]
    hashtags: list[str]
    rows: list[list]

    def column(self, hashtag: str) -> list:
        """The cells of the first column tagged `hashtag` (exactly)."""
        at = self.hashtags.index(hashtag)
        return [row[at] for row in self.rows]


def _split(name: str, lines: list[list]) -> File:
    # the first line is one cell "# …" (a marking); the hashtag row's cells are "#tag+…"
    marking = None
    if len([c for c in lines[0] if c not in (None, "")]) == 1 \
            and str(lines[0][0]).startswith("# "):
        marking, lines = lines[0][0], lines[1:]
    return File(name, marking, list(lines[0]), list(lines[1]), [list(r) for r in lines[2:]])


def read_csv_file(name: str, data) -> File:
    """The CSV a download serves (made now if the button makes it on the click)."""
    body = data() if callable(data) else data
    return _split(name, list(csv.reader(io.StringIO(body, newline=""))))


def read_xlsx_file(name: str, data) -> File:
    """The workbook a download serves (made now if the button makes it on the click),
    each row cut to the header's width, empty cells as None."""
    body = data() if callable(data) else data
    book = load_workbook(io.BytesIO(body), read_only=True)
    lines = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    width = max(len([c for c in line if c is not None]) for line in lines[:3])
    return _split(name, [(line + [None] * width)[:width] for line in lines])


def served_files(served) -> dict[str, File]:
    """Every served CSV and XLSX file, read back, by file name: each one made, as a
    click on its button does."""
    out = {}
    for name, data in served:
        if name and name.endswith(".csv"):
            out[name] = read_csv_file(name, data)
        elif name and name.endswith(".xlsx"):
            out[name] = read_xlsx_file(name, data)
    return out
