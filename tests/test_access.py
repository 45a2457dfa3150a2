"""The visibility rules of docs/design.md §2–§3 as truth tables."""

from __future__ import annotations

import itertools

import pytest

from dashboard.contract import vocab
from dashboard.rules import access
from dashboard.rules.access import AccessError, Viewer

ETH = Viewer("liaison", "consular", 1, ("ETH",))
ETH_KEN = Viewer("liaison2", "consular", 1, ("KEN", "ETH"))


@pytest.mark.parametrize(
    "viewer, nationality, second, consent, protected, expected",
    [
        # own national, consenting, not protected: the only visible case
        (ETH, "ETH", None, True, False, True),
        (ETH, "ETH", None, False, False, False),   # no consent
        (ETH, "ETH", None, True, True, False),     # under international protection
        (ETH, "ETH", None, False, True, False),
        (ETH, "KEN", None, True, False, False),    # another State's national
        (ETH, "KEN", "ETH", True, False, True),    # dual national: second nationality counts
        (ETH, "KEN", "ETH", True, True, False),
        (ETH, "KEN", "ETH", False, False, False),
        (ETH, None, None, True, False, False),
        (ETH_KEN, "KEN", None, True, False, True),  # a liaison serving two States
        (ETH_KEN, "SDN", "ERI", True, False, False),
    ],
)
def test_consular_person_visibility(viewer, nationality, second, consent, protected, expected):
    assert access.person_visible(viewer, nationality, second, consent, protected) is expected


@pytest.mark.parametrize("role", ["committee", "coordinator", "admin"])
def test_aggregate_roles_never_see_a_person(role):
    viewer = Viewer("someone", role, 1)
    for consent, protected in itertools.product([True, False], repeat=2):
        assert not access.person_visible(viewer, "ETH", None, consent, protected)
    assert not access.sees_person_level(role)
    assert access.suppresses_small_counts(role)


def test_consular_referral_services_exclude_sensitive_ones():
    services = access.referral_services(ETH)
    assert set(services) == {"consular", "documentation", "evacuation", "family_tracing"}
    assert not set(services) & set(vocab.SENSITIVE_SERVICES)
    for service in vocab.REFERRAL_SERVICES:
        assert access.referral_visible(ETH, service, True) is (service in services)
        assert access.referral_visible(ETH, service, False) is False


@pytest.mark.parametrize("role", ["committee", "coordinator", "admin"])
def test_aggregate_roles_count_every_service_but_see_no_referral_row(role):
    viewer = Viewer("someone", role, 1)
    assert set(access.referral_services(viewer)) == set(vocab.REFERRAL_SERVICES)
    assert not any(access.referral_visible(viewer, s, True) for s in vocab.REFERRAL_SERVICES)


@pytest.mark.parametrize("role, expected", [("committee", True), ("admin", True),
                                            ("coordinator", False), ("consular", False)])
def test_only_roles_shown_counts_alone_may_have_figures_kept_on_disk(role, expected):
    """The coordinator's referral queue rows are de-identified rows of persons all the
    same, and a liaison's are persons: neither is written to the server's disk."""
    assert access.counts_only(role) is expected
    nationalities = ("ETH",) if role == "consular" else ()
    assert Viewer("x", role, 1, nationalities).sees_counts_only() is expected


def test_confidential_facilities_are_never_drawn():
    assert access.facility_drawn(False) is True
    assert access.facility_drawn(True) is False


@pytest.mark.parametrize(
    "role, page, expected",
    [
        ("committee", "overview", True), ("consular", "overview", True),
        ("coordinator", "overview", True), ("admin", "overview", True),
        ("committee", "data_quality", True), ("coordinator", "data_quality", True),
        ("admin", "data_quality", True), ("consular", "data_quality", False),
        ("committee", "no_such_page", False), ("intruder", "overview", False),
        ("committee", "shelters", True), ("consular", "shelters", True),
        ("coordinator", "shelters", True), ("admin", "shelters", False),
        ("committee", "referrals", True), ("consular", "referrals", True),
        ("coordinator", "referrals", True), ("admin", "referrals", False),
        ("committee", "evacuation", True), ("consular", "evacuation", True),
        ("coordinator", "evacuation", True), ("admin", "evacuation", False),
        ("consular", "my_nationals", True), ("committee", "my_nationals", False),
        ("coordinator", "my_nationals", False), ("admin", "my_nationals", False),
        ("coordinator", "drill", True), ("committee", "drill", False),
        ("consular", "drill", False), ("admin", "drill", False),
    ],
)
def test_page_access(role, page, expected):
    assert access.may_open(role, page) is expected


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(role="superuser"), "Unknown role 'superuser'"),
        (dict(role="consular"), "at least one nationality"),
        (dict(role="consular", nationalities=("eth",)), "'eth' is not an ISO 3166-1 alpha-3"),
        (dict(role="consular", nationalities=("ETHI",)), "'ETHI' is not an ISO"),
        (dict(role="committee", nationalities=("ETH",)), "not scoped by nationality"),
    ],
)
def test_impossible_viewers_are_refused_with_a_reason(kwargs, message):
    with pytest.raises(AccessError, match=message):
        Viewer(user="x", scenario_id=1, **kwargs)


def test_viewer_scope_is_canonical_so_cache_keys_match():
    assert Viewer("a", "consular", 1, ("KEN", "ETH", "KEN")).nationalities == ("ETH", "KEN")
    assert hash(Viewer("a", "consular", 1, ("KEN", "ETH"))) == hash(
        Viewer("a", "consular", 1, ("ETH", "KEN")))
