"""A fixture shared by the tests of downloads: what each download button would serve."""

from __future__ import annotations

import pytest
import streamlit as st


@pytest.fixture
def downloads(monkeypatch):
    """What each download button would serve: (file name, body)."""
    served = []
    original = st.download_button

    def spy(label, data, file_name=None, *args, **kwargs):
        served.append((file_name, data))
        return original(label, data, file_name, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", spy)
    return served
