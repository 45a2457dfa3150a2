"""The tests' own reading of the database: plain SQL through a plain engine,
never the code under test."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import text


def load(engine, sql: str, **params) -> pd.DataFrame:
    """Rows of a query as a DataFrame."""
    with engine.connect() as conn:
        result = conn.execute(text(sql), params)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def as_of_of(engine, scenario: int):
    """The scenario's "data as of" moment: its latest person record change."""
    frame = load(engine, "SELECT MAX(updated_at) AS at FROM persons WHERE scenario_id = :s",
                 s=scenario)
    return pd.Timestamp(frame["at"].iloc[0]).to_pydatetime()
