"""Nothing leaves the server that the role may not see (docs/design.md §2.2, §2.4, §2.6).

Everything the server sends during a tour of every page of the role (websocket
frames, which are protobuf bytes, and HTTP bodies other than Streamlit's static
bundle) is searched for registration refs, phone numbers and full names. The
sets to look for are computed here with our own SQL, not by the code under test.

Consular liaisons: every nationality of the live scenario with at least one
person a liaison may see, one liaison each.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import create_engine, text

from tests.browser.conftest import (
    LEAK_PASSWORD,
    account_for,
    leak_nationalities,
    page_problems,
    take_tour,
    take_tours,
)
from tests.signin import ACCOUNTS

REF = re.compile(rb"\b(?:LB|EX)-\d+")
PHONE = re.compile(rb"\+\d[\d ]{6,}\d")


def _persons(url: str) -> list:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT scenario_id, ref, full_name, phone, nationality, second_nationality, "
            "consent_consular, protection_confidential FROM persons")).all()
        # Words that are not about people but could spell a person's name.
        other = " ".join(str(v) for q in (
            "SELECT name FROM facilities", "SELECT operator FROM facilities",
            "SELECT from_org FROM referrals", "SELECT to_org FROM referrals",
            "SELECT name FROM areas", "SELECT name FROM countries",
            "SELECT name FROM consular_posts", "SELECT name FROM scenarios",
        ) for (v,) in conn.execute(text(q)) if v)
    engine.dispose()
    return rows, other


@pytest.fixture(scope="module")
def people(server):
    return _persons(server.db_url)


def _phone_key(raw: bytes | str) -> str:
    value = raw.decode() if isinstance(raw, bytes) else raw
    return re.sub(r"\D", "", value)


def found(received: bytes) -> tuple[set[str], set[str], str]:
    refs = {m.decode() for m in REF.findall(received)}
    phones = {_phone_key(m) for m in PHONE.findall(received)}
    return refs, phones, received.decode("utf-8", errors="replace")


def names_in(textual: str, names: set[str]) -> set[str]:
    return {n for n in names if n in textual}


def _tours(browser, server, nationalities: list[str]) -> dict:
    """A tour of one liaison for each nationality: the page tours' liaison where it
    covers one, and a liaison of its own for each other, all in one browser tab. What
    is searched is what the server sent: the maps need not be drawn (the page tours
    of tests/browser/test_pages.py draw them)."""
    name, password, nats = ACCOUNTS["consular"]
    tours = {nat: take_tour(browser, server, name, password, "consular")
             for nat in nationalities if nats == (nat,)}
    others = [nat for nat in nationalities if nat not in tours]
    taken = take_tours(browser, server, [(f"liaison-{nat.lower()}", LEAK_PASSWORD)
                                         for nat in others], "consular", draw_maps=False)
    return {**tours, **dict(zip(others, taken, strict=True))}


def test_each_liaison_receives_nobody_outside_its_visible_set(browser, server, people):
    rows, other = people
    nationalities = leak_nationalities(server.db_url)
    assert len(nationalities) >= 15  # the generated scenario's nationalities, every one
    tours = _tours(browser, server, nationalities)
    problems = []
    for nat in nationalities:
        def visible(r, nat=nat) -> bool:  # docs/design.md §2.2, in the live scenario shown
            return (r.scenario_id == 1 and nat in (r.nationality, r.second_nationality)
                    and bool(r.consent_consular) and not r.protection_confidential)

        inside = [r for r in rows if visible(r)]
        outside = [r for r in rows if not visible(r)]
        tour = tours[nat]
        # A page that failed sends nothing to leak: the search below needs working pages.
        problems += page_problems(tour)
        refs, phones, textual = found(tour.received)

        leaked_refs = refs & {r.ref for r in outside}
        leaked_phones = phones & {_phone_key(r.phone) for r in outside if r.phone}
        # A name shared with a visible person, or spelt by a facility, cannot tell a leak.
        names = ({r.full_name for r in outside} - {r.full_name for r in inside}
                 - names_in(other, {r.full_name for r in outside}))
        leaked_names = names_in(textual, names)
        if leaked_refs:
            problems.append(f"{nat}: refs of people outside the liaison's set: {leaked_refs}")
        if leaked_phones:
            problems.append(f"{nat}: phones outside the set: {leaked_phones}")
        if leaked_names:
            problems.append(f"{nat}: names outside the set: {sorted(leaked_names)[:10]}")
        # The capture is real: the liaison's own nationals do reach the browser.
        if not refs & {r.ref for r in inside}:
            problems.append(f"{nat}: no visible ref was received: is the capture empty?")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", ["committee", "coordinator"])
def test_aggregate_roles_receive_no_ref_name_or_phone_at_all(browser, server, people, role):
    rows, other = people
    tour = take_tour(browser, server, *account_for(role), role)
    assert not page_problems(tour), "\n".join(page_problems(tour))
    assert len(tour.received) > 10_000, "the capture is empty"
    refs, phones, textual = found(tour.received)
    assert not refs & {r.ref for r in rows}
    assert not phones & {_phone_key(r.phone) for r in rows if r.phone}
    names = {r.full_name for r in rows} - names_in(other, {r.full_name for r in rows})
    assert not names_in(textual, names)
