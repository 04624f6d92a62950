"""The audit trail: append-only, hash-chained events, appended one at a time."""

import hashlib
import json
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from payments.models import AuditChainHead, AuditEvent, AuditOutcome
from payments.services.notifications import notifications_for_event

GENESIS_HASH = "0" * 64
HASHED_FIELDS = [
    "created_at",
    "actor_id",
    "actor_name",
    "action",
    "outcome",
    "origin",
    "object_type",
    "object_id",
    "object_repr",
    "reason",
    "before",
    "after",
]


def origin_of(request) -> str:
    """Return the client address of a request (or its request id header)."""
    if request is None:
        return ""
    request_id = request.headers.get("X-Request-Id", "")
    address = request.META.get("REMOTE_ADDR", "")
    return f"{address} {request_id}".strip()[:100]


def _json_safe(data: dict | None) -> dict:
    return json.loads(json.dumps(data or {}, cls=DjangoJSONEncoder))


def event_hash(event: AuditEvent, prev_hash: str) -> str:
    fields = {name: getattr(event, name) for name in HASHED_FIELDS}
    fields["created_at"] = event.created_at.isoformat()
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256((canonical + prev_hash).encode()).hexdigest()


def audit_record(
    *,
    action: str,
    actor=None,
    outcome: str = AuditOutcome.SUCCESS,
    origin: str = "",
    obj=None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    reason: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction if there is one."""
    if obj is not None:
        object_type = object_type or obj._meta.model_name
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)
    actor = actor if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        head = _locked_chain_head()
        event = AuditEvent(
            created_at=timezone.now(),
            actor=actor,
            actor_name=actor.get_username() if actor else "",
            action=action,
            outcome=outcome,
            origin=origin[:100],
            object_type=object_type,
            object_id=str(object_id)[:64],
            object_repr=object_repr[:300],
            reason=reason,
            before=_json_safe(before),
            after=_json_safe(after),
            prev_hash=head.last_hash,
        )
        event.row_hash = event_hash(event, head.last_hash)
        event.save()
        head.last_hash = event.row_hash
        head.save(update_fields=["last_hash"])
        notifications_for_event(event)
    return event


def _locked_chain_head() -> AuditChainHead:
    try:
        return AuditChainHead.objects.select_for_update().get(pk=1)
    except AuditChainHead.DoesNotExist:
        # Only on an empty database (a test flush): safe under concurrent first appends.
        AuditChainHead.objects.bulk_create(
            [AuditChainHead(pk=1, last_hash=GENESIS_HASH)], ignore_conflicts=True
        )
        return AuditChainHead.objects.select_for_update().get(pk=1)


@dataclass
class ChainBreak:
    event_id: int | None
    problem: str


def audit_verify_chain() -> ChainBreak | None:
    """Return the first place the chain is broken, or None when every row checks out."""
    expected_prev = GENESIS_HASH
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != expected_prev:
            return ChainBreak(
                event.id, "does not follow the row before it (a row was deleted or reordered)"
            )
        if event_hash(event, event.prev_hash) != event.row_hash:
            return ChainBreak(event.id, "was edited after it was written (its hash does not match)")
        expected_prev = event.row_hash
    head = AuditChainHead.objects.filter(pk=1).first()
    if (head.last_hash if head else GENESIS_HASH) != expected_prev:
        return ChainBreak(None, "the newest rows were deleted (the chain head names a missing row)")
    return None
