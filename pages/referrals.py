"""Referrals: open referrals against their deadlines, receiving organisations' load,
the flow from open to closed, and the coordinator's de-identified queue."""

from numbers import Integral

import streamlit as st

from components import charts
from components.page import live, opened_as_a_script, page_start
from components.session import Context, audited
from components.status import rounding_note
from components.tables import export, moment_format, person_table, table
from dashboard import language
from dashboard.contract import labels
from dashboard.figures import palette, referrals
from dashboard.language import _, ngettext
from dashboard.rules import access


def _said(value) -> str:
    """A shown count in a sentence: a number in the reader's convention, or as shown ("<5")."""
    return language.number(value) if isinstance(value, Integral) else str(value)


def content(context: Context, as_of) -> None:
    data = referrals.referrals(context.database, context.viewer, as_of)
    if data.worked_back:
        st.caption(_("Each referral as its history stood then: sent by then, not yet closed, "
                     "and its status and deadline judged at that moment."))
    if access.sees_person_level(context.viewer.role):
        # Translators: {nationalities} is a list of country codes, such as "ETH, KEN"
        st.caption(_("Your consenting nationals' consular, documentation, evacuation and family-"
                     "tracing referrals only: {nationalities}").format(
            nationalities=", ".join(context.viewer.nationalities)))

    columns = st.columns(3)
    for column, label, value in zip(columns, (_("Open referrals"), _("Overdue"), _("Services")),
                                    (data.open_total, data.overdue_total, len(data.by_service)),
                                    strict=True):
        column.metric(label, charts.number(value), border=True)
    rounding_note(context.viewer)
    if access.sees_person_level(context.viewer.role) and data.overdue_total:
        # a liaison's desk: from the count to the people behind it
        count = data.overdue_total
        st.markdown(ngettext(
            "[The {count} overdue referral of your nationals, person by person, on My "
            "nationals →](my-nationals?overdue=1)",
            "[The {count} overdue referrals of your nationals, person by person, on My "
            "nationals →](my-nationals?overdue=1)",
            count if isinstance(count, Integral) else 2).format(count=_said(count)))

    left, right = st.columns(2)
    with left:
        charts.show(charts.stacked_bars(
            data.by_service, "service", list(referrals.ACTIVE), palette.REFERRAL_STATUS,
            title=_("Open referrals by service and status"), labels=labels.REFERRAL_STATUS),
            key="referrals-by-service")
    with right:
        charts.show(charts.stacked_bars(
            data.by_service, "service", ["overdue"], palette.REFERRAL_STATUS,
            title=_("Overdue by service")), key="referrals-overdue")
        st.caption(_("Overdue: not accepted by the service's deadline (Deadline column below)."))

    st.subheader(_("By service"))
    by_service = data.by_service.merge(data.by_age, on="service")
    table(by_service, column_config={
                     "deadline_h": st.column_config.NumberColumn(
                         _("Deadline (h)"), help=_("Hours from sending to acceptance "
                                                   "(vocab.REFERRAL_DEADLINE_HOURS)")),
                     "active": st.column_config.TextColumn(
                         _("Open, all"), help=_("Not closed, rejected or revoked")),
                     "open": st.column_config.TextColumn(_("Awaiting receiver")),
                 })
    st.caption(_("Age: time since the referral was sent. Overdue: still awaiting acceptance "
                 "after the service's deadline."))
    export(context, by_service, "referrals-by-service")

    left, right = st.columns(2)
    with left:
        charts.show(charts.stacked_bars(
            data.by_org.head(12), "receiving_organisation", ["on_time", "overdue"],
            {"on_time": palette.REFERRAL_STATUS["in_service"],
             "overdue": palette.REFERRAL_STATUS["overdue"]},
            title=_("Load by receiving organisation (open)"),
            labels={"on_time": _("Open, on time")}),
            key="referrals-by-org")
    with right:
        charts.show(charts.time_chart(
            data.flow, "day",
            bars={"opened": (_("Sent"), palette.REFERRAL_STATUS["open"]),
                  "ended": (_("Closed, rejected or revoked"), palette.REFERRAL_STATUS["closed"])},
            lines={"active": (_("Open at end of day"), palette.REFERRAL_STATUS["in_service"])},
            title=_("Flow from open to closed, per day")), key="referrals-flow")

    if data.queue is not None:
        st.subheader(_("Queue"))
        # the total is the shown (rounded) one: the rows are all there only below the limit
        if len(data.queue) >= referrals.QUEUE_LIMIT:
            st.caption(_("The {shown} most pressing of {total} open referrals: overdue first, "
                         "then by priority and deadline. De-identified: case number only.").format(
                shown=language.number(len(data.queue)), total=_said(data.queue_total)))
        else:
            st.caption(_("Every open referral: overdue first, then by priority and deadline. "
                         "De-identified: case number only."))
        queue = referrals.said_queue(data.queue)
        person_table(queue, {"status": labels.REFERRAL_STATUS}, height=480, column_config={
            "case_number": st.column_config.NumberColumn(_("Case"), format="%d"),
            "deadline": st.column_config.DatetimeColumn(_("Deadline"), format=moment_format()),
        })
        export(context, queue, "referral-queue", _("Download the queue"),
               codes={"status": labels.REFERRAL_STATUS})


def body(context: Context, as_of) -> None:
    """The page's body, one audited view each time it runs (page_start's full run, or
    its fragment's refresh and widgets, which Streamlit runs alone)."""
    with audited(context):
        content(context, as_of)


def render() -> None:
    live(page_start("referrals", _("Referrals")), body, as_of_control=True)


if __name__ == "__main__":  # its address opened first after a start (components.page)
    opened_as_a_script()
