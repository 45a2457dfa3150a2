"""HXL hashtags of the columns a reader can download, for the hashtag row that every
exported table carries under its header (docs/data-contract.md, Conventions).

A column that comes straight from the contract carries the contract's own hashtag
(models.py); a figure the dashboard works out (a count, a share, hours) carries the
nearest core hashtag with attributes that say what it is, so that a partner's HXL
tools can join and filter the file. Labels written beside codes carry the code's
hashtag with `+name`, as HXL distinguishes `#adm1+code` from `#adm1+name`."""

from __future__ import annotations

import re

from dashboard.contract import vocab

# A column name that is not below gets `#meta+<name>`: valid HXL, but a partner cannot
# tell what it is. tests/test_exports.py fails when a shown table has one.
HASHTAGS: dict[str, str] = {
    # people (persons, vulnerabilities, evacuation cases)
    "ref": "#affected+id", "name": "#affected+name", "sex": "#affected+sex",
    "age": "#affected+age", "age_band": "#affected+age+band",
    "nationality": "#affected+nationality+code",
    "second_nationality": "#affected+nationality+code+second", "phone": "#contact+phone",
    "documents": "#affected+document", "vulnerabilities": "#affected+vulnerability",
    "needs_travel_document": "#indicator+travel_document+needed",
    "open_referrals": "#service+type+open", "overdue_referral": "#indicator+referral+overdue",
    "evacuation_stage": "#status+evacuation", "stage": "#status+evacuation",
    "status": "#status", "updated_at": "#date+updated", "as_of": "#date+as_of",
    "country": "#country+name",
    "band": "#affected+age+band", "f": "#affected+f", "m": "#affected+m", "x": "#affected+x",
    "tag": "#affected+vulnerability", "persons": "#affected+num",
    # places
    "area": "#adm1+name", "pcode": "#adm1+code", "area_pcode": "#adm1+code",
    "facility": "#loc+name", "kind": "#loc+type", "facilities": "#loc+num",
    "capacity": "#capacity", "occupants": "#affected+inshelter", "free": "#capacity+free",
    "full_pct": "#capacity+pct_full", "change_24h": "#affected+inshelter+change_24h",
    "hours_to_full": "#indicator+hours_to_full", "time_to_full": "#indicator+time_to_full",
    "trend": "#indicator+trend", "confirmation": "#meta+confirmation",
    "last_confirmed": "#date+reported",
    # referrals
    "service": "#service+type", "priority": "#priority", "case_number": "#activity+id",
    "deadline": "#date+due", "deadline_h": "#indicator+deadline_hours",
    "overdue_by": "#indicator+overdue_by", "receiving_organisation": "#org+receiving",
    "open": "#activity+num+open", "accepted": "#activity+num+accepted",
    "in_service": "#activity+num+in_service", "active": "#activity+num+active",
    "overdue": "#activity+num+overdue",
    "under 1 day": "#activity+num+age_under_1d", "1–3 days": "#activity+num+age_1_3d",
    "3–7 days": "#activity+num+age_3_7d", "7 days or more": "#activity+num+age_7d_plus",
    # evacuation and movements
    "total": "#affected+num+total", "movement": "#transport+id",
    "movement_departs": "#date+departure", "departs_at": "#date+departure",
    "destination": "#country+code+destination", "mode": "#transport+type",
    "seats": "#capacity+seats", "on_it": "#affected+num+on_board",
    "arrived": "#affected+num+arrived",
    # drill review
    "seq": "#event+id+seq", "at": "#date", "detail": "#description",
    "registered": "#affected+num+registered", "cases": "#activity+num",
    "median_h": "#indicator+hours+median", "p90_h": "#indicator+hours+p90",
    "sent": "#activity+num+sent", "accepted_in_time": "#activity+num+accepted_in_time",
    "accepted_late": "#activity+num+accepted_late",
    "not_accepted": "#activity+num+not_accepted",
    "median_h_to_accept": "#indicator+hours_to_accept+median",
    "within_deadline_pct": "#indicator+pct_within_deadline",
    "open_past_deadline": "#activity+num+open_past_deadline",
    "peak_occupants": "#affected+inshelter+peak",
    "hours_at_or_over_capacity": "#indicator+hours_over_capacity",
    "reports_above_capacity": "#indicator+num+reports_over_capacity",
    "last_report": "#date+reported", "hours_since_report": "#indicator+hours_since_report",
    "longest_gap_h": "#indicator+hours_longest_gap",
    # the dashboard's own records: audit log, accounts, data quality
    "at_utc": "#date", "user": "#meta+user", "role": "#meta+role",
    "nationalities": "#meta+nationality", "scenario_id": "#event+id", "page": "#meta+page",
    "action": "#meta+action", "filters": "#meta+filters", "rows_shown": "#meta+rows",
    "check": "#meta+check", "left out of": "#meta+scope", "rows": "#meta+num",
}
# A count of persons at each evacuation stage, as the evacuation tables name them.
HASHTAGS.update({stage: f"#affected+num+{stage}" for stage in vocab.ALL_EVACUATION_STAGES
                 if stage not in HASHTAGS})

LABEL_SUFFIX = "_label"  # the column of labels written beside a column of codes
_NOT_ATTRIBUTE = re.compile(r"[^a-z0-9_]+")


def known(column: str) -> bool:
    """Whether `column` has a hashtag of its own (its codes' if it is a label column)."""
    return str(column).removesuffix(LABEL_SUFFIX) in HASHTAGS


def hashtag(column: str, overrides: dict[str, str] | None = None) -> str:
    """The hashtag of `column`: `overrides`' (a table whose column means something
    else there, such as an inject's `name`), else HASHTAGS', else `#meta+<column>`."""
    column = str(column)
    if column.endswith(LABEL_SUFFIX):
        code = hashtag(column.removesuffix(LABEL_SUFFIX), overrides)
        return code.replace("+code", "+name") if "+code" in code else f"{code}+name"
    found = (overrides or {}).get(column) or HASHTAGS.get(column)
    if found:
        return found
    attribute = _NOT_ATTRIBUTE.sub("_", column.lower()).strip("_")
    return "#meta+" + (attribute if attribute[:1].isalpha() else f"c_{attribute}")


def row(columns, overrides: dict[str, str] | None = None) -> list[str]:
    return [hashtag(c, overrides) for c in columns]
