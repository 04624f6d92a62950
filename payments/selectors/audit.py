"""Reads behind the audit review pages: filters, a promotion's story, and the exports."""

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast

from payments.models import (
    AccountConfiguration,
    ApiCredential,
    AuditEvent,
    ChangeKind,
    PaymentFlow,
    PaymentSession,
    Promotion,
    VccAccount,
)
from payments.redaction import redact_data

EXPORT_COLUMNS = [
    "id",
    "created_at_utc",
    "actor",
    "action",
    "outcome",
    "origin",
    "object_type",
    "object_id",
    "object",
    "reason",
    "before",
    "after",
    "prev_hash",
    "row_hash",
]
SYSTEM = "system"
BREAK_GLASS_SUFFIX = ".break_glass"


def _ids(queryset: QuerySet) -> QuerySet:
    """The primary keys of a queryset as text, to match AuditEvent.object_id in a subquery."""
    return queryset.annotate(text_id=Cast("pk", output_field=CharField())).values("text_id")


def _about(object_type: str, queryset: QuerySet) -> Q:
    return Q(object_type=object_type, object_id__in=_ids(queryset))


def events_about_account(account: VccAccount) -> Q:
    """Events on the account, its credentials, links, promotions and sessions."""
    return (
        Q(object_type="vccaccount", object_id=str(account.pk))
        | _about("apicredential", ApiCredential.objects.filter(account=account))
        | _about("accountconfiguration", AccountConfiguration.objects.filter(account=account))
        | _about(
            "promotion",
            Promotion.objects.filter(
                Q(target_account=account)
                | Q(changes__account=account)
                | Q(changes__link__account=account)
            ),
        )
        | _about("paymentsession", PaymentSession.objects.filter(account=account))
    )


def events_about_flow(flow: PaymentFlow) -> Q:
    """Events on the flow, links to it, promotions from or to it, and sessions on it."""
    return (
        Q(object_type="paymentflow", object_id=str(flow.pk))
        | _about("accountconfiguration", AccountConfiguration.objects.filter(flow=flow))
        | _about(
            "promotion",
            Promotion.objects.filter(
                Q(source_flow=flow)
                | Q(production_flow=flow)
                | Q(changes__flow=flow)
                | Q(changes__link__flow=flow)
            ),
        )
        | _about("paymentsession", PaymentSession.objects.filter(flow=flow))
    )


# Successful sign-ins and sign-outs: the review page hides them unless asked (issue 15).
SIGN_IN_ACTIONS = ("auth.login", "auth.logout")


def audit_events_filtered(
    *,
    date_from=None,
    date_to=None,
    account: VccAccount | None = None,
    flow: PaymentFlow | None = None,
    person: str = "",
    action: str = "",
    outcome: str = "",
    break_glass: bool = False,
    sign_ins: bool = True,
) -> QuerySet:
    """Return the audit events matching the review page's filters, newest first."""
    events = AuditEvent.objects.select_related(None).order_by("-id")
    if not sign_ins and not action.startswith("auth."):
        events = events.exclude(action__in=SIGN_IN_ACTIONS)
    if date_from:
        events = events.filter(created_at__gte=datetime.combine(date_from, time.min, tzinfo=UTC))
    if date_to:
        end = datetime.combine(date_to, time.min, tzinfo=UTC) + timedelta(days=1)
        events = events.filter(created_at__lt=end)
    if account is not None:
        events = events.filter(events_about_account(account))
    if flow is not None:
        events = events.filter(events_about_flow(flow))
    if person == SYSTEM:
        events = events.filter(actor_name="")
    elif person:
        events = events.filter(actor_name=person)
    if action.endswith(".*"):
        events = events.filter(action__startswith=action[:-1])
    elif action:
        events = events.filter(action=action)
    if outcome:
        events = events.filter(outcome=outcome)
    if break_glass:
        events = events.filter(action__endswith=BREAK_GLASS_SUFFIX)
    return events


def event_record(event: AuditEvent) -> dict:
    """Return one event as exported: every audited field, times in UTC, nothing secret."""
    return {
        "id": event.pk,
        "created_at_utc": event.created_at.astimezone(UTC).isoformat(),
        "actor": event.actor_name or SYSTEM,
        "action": event.action,
        "outcome": event.outcome,
        "origin": event.origin,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object": redact_data(event.object_repr),
        "reason": redact_data(event.reason),
        "before": redact_data(event.before),
        "after": redact_data(event.after),
        "prev_hash": event.prev_hash,
        "row_hash": event.row_hash,
    }


def _spreadsheet_safe(value: str) -> str:
    # A cell starting with = + - @ (or a tab/CR) is run as a formula by spreadsheet programs.
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_rows(events: QuerySet) -> Iterator[str]:
    """Yield the CSV export line by line (for a streaming response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        writer.writerow(values)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(EXPORT_COLUMNS)
    for event in events.iterator(chunk_size=1000):
        record = event_record(event)
        record["before"] = json.dumps(record["before"], ensure_ascii=False, sort_keys=True)
        record["after"] = json.dumps(record["after"], ensure_ascii=False, sort_keys=True)
        yield line(_spreadsheet_safe(str(record[column])) for column in EXPORT_COLUMNS)


def json_chunks(events: QuerySet, header: dict) -> Iterator[str]:
    """Yield the JSON export: a header object whose "events" list streams row by row."""
    opening = json.dumps(header, cls=DjangoJSONEncoder, ensure_ascii=False)[:-1]
    yield f'{opening}, "events": ['
    for index, event in enumerate(events.iterator(chunk_size=1000)):
        separator = "," if index else ""
        record = json.dumps(event_record(event), cls=DjangoJSONEncoder, ensure_ascii=False)
        yield f"{separator}\n  {record}"
    yield "\n]}\n"


def promotion_story(promotion: Promotion) -> list[AuditEvent]:
    """Every audit event of a promotion, with those of the flows and links of its change set.

    A flow or link the set created is the promotion's own: all its events count. One the set
    only touched (an existing flow it linked, a link it switched off) has a history of its
    own, so only the events naming this promotion in their reason count.
    """
    about = Q(object_type="promotion", object_id=str(promotion.pk))
    changes = list(promotion.changes.all())
    created_flows = {c.flow_id for c in changes if c.kind == ChangeKind.CREATE_FLOW}
    created_links = {c.link_id for c in changes if c.kind == ChangeKind.LINK}
    if promotion.production_flow_id and not changes:
        created_flows.add(promotion.production_flow_id)
    created_links.add(promotion.production_link_id)
    touched_flows = {c.flow_id for c in changes} - created_flows
    touched_links = {c.link_id for c in changes} - created_links
    mine = Q(reason__startswith=f"Promotion #{promotion.pk}:") | Q(
        reason__startswith=f"Rollback of promotion #{promotion.pk}:"
    )
    for object_type, created, touched in [
        ("paymentflow", created_flows, touched_flows),
        ("accountconfiguration", created_links, touched_links),
    ]:
        created = sorted(str(key) for key in created if key)
        touched = sorted(str(key) for key in touched if key)
        if created:
            about |= Q(object_type=object_type, object_id__in=created)
        if touched:
            about |= Q(object_type=object_type, object_id__in=touched) & mine
    return list(AuditEvent.objects.filter(about).order_by("id"))


def sessions_since_promotion(promotion: Promotion) -> QuerySet:
    """Sessions launched on the production flow since the promotion was applied."""
    if not (promotion.production_flow_id and promotion.applied_at):
        return PaymentSession.objects.none()
    return PaymentSession.objects.filter(
        flow_id=promotion.production_flow_id, launched_at__gte=promotion.applied_at
    ).order_by("-launched_at")


def event_changes(event: AuditEvent) -> list[tuple[str, object, object]]:
    """Return an event's before/after as (field, before, after) rows, secrets scrubbed."""
    before, after = (
        redact_data(data if isinstance(data, dict) else {"value": data})
        for data in (event.before or {}, event.after or {})
    )
    keys = list(dict.fromkeys([*before, *after]))
    return [(key.replace("_", " "), before.get(key, ""), after.get(key, "")) for key in keys]
