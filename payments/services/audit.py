"""The audit trail: append-only, keyed hash-chained events, appended one at a time."""

import hashlib
import json
import logging
from dataclasses import dataclass, field

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from payments.audit_keys import UnknownAuditKey, keyed_hash, signing_key_id
from payments.models import AuditChainHead, AuditEvent, AuditOutcome
from payments.services.notifications import notifications_for_event

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
ROW_HASH_PURPOSE = b"vccregistry.audit-row-hash"
# Audit actions after whose commit a signed digest is written (besides the scheduled ones).
DIGEST_AFTER_ACTIONS = {"promotion.applied"}
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
    """Return the row hash: keyed with the AUDIT_KEY named by key_id ("" = legacy, unkeyed)."""
    fields = {name: getattr(event, name) for name in HASHED_FIELDS}
    fields["created_at"] = event.created_at.isoformat()
    if not event.key_id:
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
        return hashlib.sha256((canonical + prev_hash).encode()).hexdigest()
    fields["key_id"] = event.key_id
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return keyed_hash(event.key_id, ROW_HASH_PURPOSE, (canonical + prev_hash).encode())


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
    # No savepoint inside a caller's transaction: an event that cannot be written fails the
    # whole write it records, which can then not be committed without it.
    with transaction.atomic(savepoint=False):
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
            key_id=signing_key_id(),
        )
        event.row_hash = event_hash(event, head.last_hash)
        event.save()
        head.last_hash = event.row_hash
        head.last_event_id = event.pk
        head.save(update_fields=["last_hash", "last_event_id"])
        if action in DIGEST_AFTER_ACTIONS and outcome == AuditOutcome.SUCCESS:
            transaction.on_commit(_write_digest_after_commit)
        notifications_for_event(event)
    return event


def _write_digest_after_commit() -> None:
    """Write a signed digest; a failure is logged and never undoes what was committed."""
    from payments.services.audit_digest import audit_digest_write

    try:
        audit_digest_write()
    except Exception:
        logger.exception("Could not write the audit digest after a promotion was applied.")


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


@dataclass
class ChainWalk:
    """What one pass over the chain found: the first break, counts and hashes at checkpoints."""

    broken: ChainBreak | None = None
    checked: int = 0
    last_event_id: int = 0
    unkeyed: int = 0
    last_unkeyed_id: int = 0
    # event id -> (row hash, number of events up to and including it), for the asked ids.
    checkpoints: dict[int, tuple[str, int]] = field(default_factory=dict)


def audit_walk_chain(*, checkpoints: frozenset[int] = frozenset()) -> ChainWalk:
    """Check every row and the head; note the hash and running count at the given event ids."""
    walk = ChainWalk()
    expected_prev = GENESIS_HASH
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        walk.checked += 1
        walk.last_event_id = event.id
        if event.id in checkpoints:
            walk.checkpoints[event.id] = (event.row_hash, walk.checked)
        if walk.broken:
            continue
        walk.broken = _row_problem(event, expected_prev, walk)
        expected_prev = event.row_hash
    if walk.broken:
        return walk
    head = AuditChainHead.objects.filter(pk=1).first()
    if (head.last_hash if head else GENESIS_HASH) != expected_prev:
        walk.broken = ChainBreak(
            None, "the newest rows were deleted (the chain head names a missing row)"
        )
    elif head and head.last_event_id not in (0, walk.last_event_id):
        walk.broken = ChainBreak(
            None, f"the chain head names event #{head.last_event_id}, not the newest row"
        )
    return walk


def _row_problem(event: AuditEvent, expected_prev: str, walk: ChainWalk) -> ChainBreak | None:
    if event.prev_hash != expected_prev:
        return ChainBreak(
            event.id, "does not follow the row before it (a row was deleted or reordered)"
        )
    if not event.key_id:
        if walk.checked - 1 > walk.unkeyed:
            # Legacy rows only ever come first: an unkeyed row after keyed ones was rewritten
            # by someone without the key.
            return ChainBreak(event.id, "is unkeyed after keyed rows (rewritten without the key)")
        walk.unkeyed += 1
        walk.last_unkeyed_id = event.id
    try:
        expected = event_hash(event, event.prev_hash)
    except UnknownAuditKey:
        return ChainBreak(
            event.id,
            f"is keyed with AUDIT_KEY id {event.key_id}, which is not configured "
            "(add that key to AUDIT_KEY to check it)",
        )
    if expected != event.row_hash:
        return ChainBreak(event.id, "was edited after it was written (its hash does not match)")
    return None


def audit_verify_chain() -> ChainBreak | None:
    """Return the first place the chain is broken, or None when every row checks out."""
    return audit_walk_chain().broken
