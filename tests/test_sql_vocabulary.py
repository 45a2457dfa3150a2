"""Vocabulary values reach SQL only as bound parameters (store.db.VOCABULARY_PARAMS):
each is a value of the contract's vocabularies, and each name the code uses exists."""

from __future__ import annotations

import re

import pytest

from dashboard.config import PROJECT_ROOT
from dashboard.contract import vocab
from dashboard.store import db

# Which vocabulary each bound value belongs to.
BELONGS = {
    "v_person_statuses": vocab.PERSON_STATUSES, "v_referral_services": vocab.REFERRAL_SERVICES,
    "v_referral_statuses": vocab.REFERRAL_STATUSES, "v_referral_ended": vocab.REFERRAL_STATUSES,
    "v_stages": vocab.ALL_EVACUATION_STAGES,
    "v_path": vocab.EVACUATION_STAGES, "v_open": vocab.REFERRAL_STATUSES,
    "v_accepted": vocab.REFERRAL_STATUSES, "v_missing": vocab.PERSON_STATUSES,
    "v_departed": vocab.EVACUATION_STAGES, "v_manifested": vocab.EVACUATION_STAGES,
    "v_in_use": vocab.FACILITY_STATUSES, "v_skipped": vocab.DRILL_INJECT_STATUSES,
    "v_live": vocab.SCENARIO_KINDS, "v_sheltered": vocab.PERSON_STATUSES,
    "v_unsheltered": vocab.PERSON_STATUSES, "v_in_country_reachable": vocab.PERSON_STATUSES,
    "v_boardable": vocab.MOVEMENT_STATUSES,
    **{f"v_path_{i}": vocab.EVACUATION_STAGES for i in range(len(vocab.EVACUATION_PATH))},
}


@pytest.mark.parametrize("name", sorted(db.VOCABULARY_PARAMS))
def test_every_bound_value_is_a_vocabulary_value(name):
    value = db.VOCABULARY_PARAMS[name]
    values = value if isinstance(value, list) else [value]
    assert values and set(values) <= set(BELONGS[name]), name


def test_every_name_the_code_binds_exists():
    used = set()
    for path in (PROJECT_ROOT / "dashboard").rglob("*.py"):
        # a name followed by `{` is an f-string making numbered names (v_path_0, ...)
        used |= set(re.findall(r"(?<!:):(v_\w+)\b(?!\{)", path.read_text(encoding="utf-8")))
    assert used, "the code names no vocabulary parameter: the scan is broken"
    assert used <= set(db.VOCABULARY_PARAMS), sorted(used - set(db.VOCABULARY_PARAMS))


def test_a_statement_gets_exactly_the_values_it_names():
    clause, params = db.bind("SELECT 1 FROM persons p WHERE p.status IN :v_person_statuses "
                             "AND p.id = :id", {"id": 3})
    assert params == {"id": 3, "v_person_statuses": list(vocab.PERSON_STATUSES)}
    assert "located" not in str(clause)  # bound, not pasted
