"""Referrals: open referrals against their deadlines, receiving organisations' load,
the flow from open to closed, and the coordinator's de-identified queue."""

import streamlit as st

from components import charts
from components.page import live, page_start
from components.session import Context, audited
from components.status import rounding_note
from components.tables import export, person_table, table
from dashboard.contract import labels
from dashboard.figures import palette, referrals
from dashboard.rules import access


def content(context: Context, as_of) -> None:
    data = referrals.referrals(context.database, context.viewer, as_of)
    if data.worked_back:
        st.caption("Each referral as its history stood then: sent by then, not yet closed, "
                   "and its status and deadline judged at that moment.")
    if access.sees_person_level(context.viewer.role):
        st.caption("Your consenting nationals' consular, documentation, evacuation and family-"
                   f"tracing referrals only: {', '.join(context.viewer.nationalities)}")

    columns = st.columns(3)
    for column, label, value in zip(columns, ("Open referrals", "Overdue", "Services"),
                                    (data.open_total, data.overdue_total, len(data.by_service)),
                                    strict=True):
        column.metric(label, charts.number(value), border=True)
    rounding_note(context.viewer)
    if access.sees_person_level(context.viewer.role) and data.overdue_total:
        # a liaison's desk: from the count to the people behind it
        st.markdown(f"[The {data.overdue_total:,} overdue referrals of your nationals, person by "
                    "person, on My nationals →](my-nationals?overdue=1)")

    left, right = st.columns(2)
    with left:
        charts.show(charts.stacked_bars(
            data.by_service, "service", list(referrals.ACTIVE), palette.REFERRAL_STATUS,
            title="Open referrals by service and status", labels=labels.REFERRAL_STATUS),
            key="referrals-by-service")
    with right:
        charts.show(charts.stacked_bars(
            data.by_service, "service", ["overdue"], palette.REFERRAL_STATUS,
            title="Overdue by service"), key="referrals-overdue")
        st.caption("Overdue: not accepted by the service's deadline (Deadline column below).")

    st.subheader("By service")
    by_service = data.by_service.merge(data.by_age, on="service")
    table(by_service, column_config={
                     "deadline_h": st.column_config.NumberColumn(
                         "Deadline (h)", help="Hours from sending to acceptance "
                                              "(vocab.REFERRAL_DEADLINE_HOURS)"),
                     "active": st.column_config.TextColumn("Open, all", help="Not closed, "
                                                           "rejected or revoked"),
                     "open": st.column_config.TextColumn("Awaiting receiver"),
                 })
    st.caption("Age: time since the referral was sent. Overdue: still awaiting acceptance "
               "after the service's deadline.")
    export(context, by_service, "referrals-by-service")

    left, right = st.columns(2)
    with left:
        charts.show(charts.stacked_bars(
            data.by_org.head(12), "receiving_organisation", ["on_time", "overdue"],
            {"on_time": palette.REFERRAL_STATUS["in_service"],
             "overdue": palette.REFERRAL_STATUS["overdue"]},
            title="Load by receiving organisation (open)", labels={"on_time": "Open, on time"}),
            key="referrals-by-org")
    with right:
        charts.show(charts.time_chart(
            data.flow, "day",
            bars={"opened": ("Sent", palette.REFERRAL_STATUS["open"]),
                  "ended": ("Closed, rejected or revoked", palette.REFERRAL_STATUS["closed"])},
            lines={"active": ("Open at end of day", palette.REFERRAL_STATUS["in_service"])},
            title="Flow from open to closed, per day"), key="referrals-flow")

    if data.queue is not None:
        st.subheader("Queue")
        # the total is the shown (rounded) one: the rows are all there only below the limit
        shown = (f"The {len(data.queue):,} most pressing of {charts.number(data.queue_total)} "
                 "open referrals" if len(data.queue) >= referrals.QUEUE_LIMIT
                 else "Every open referral")
        st.caption(f"{shown}: overdue first, then by priority and deadline. De-identified: "
                   "case number only.")
        person_table(data.queue, {"status": labels.REFERRAL_STATUS}, height=480, column_config={
            "case_number": st.column_config.NumberColumn("Case", format="%d"),
            "deadline": st.column_config.DatetimeColumn("Deadline", format="D MMM, HH:mm"),
        })
        export(context, data.queue, "referral-queue", "Download the queue",
               codes={"status": labels.REFERRAL_STATUS})


def body(context: Context, as_of) -> None:
    """The page's body, one audited view each time it runs (page_start's full run, or
    its fragment's refresh and widgets, which Streamlit runs alone)."""
    with audited(context):
        content(context, as_of)


def render() -> None:
    live(page_start("referrals", "Referrals"), body, as_of_control=True)
