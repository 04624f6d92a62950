"""Deciding on a pending request: approve (four eyes), reject, or its requester cancels it."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from payments.models import AuditEvent, AuditOutcome, Promotion, PromotionState
from payments.services.promotions._transition import transition


class _VersionNotTracked:
    def __repr__(self) -> str:
        return "VERSION_NOT_TRACKED"


# For callers that show no version to approve against (the admin's bulk action, scripts).
VERSION_NOT_TRACKED = _VersionNotTracked()


def promotion_approve(
    *,
    promotion: Promotion,
    actor,
    origin: str = "",
    seen_updated_at: datetime | None | _VersionNotTracked = VERSION_NOT_TRACKED,
) -> Promotion:
    """Approve someone else's request as last seen (updated_at); approving again changes nothing.

    A page or API approval passes the version its person saw: None (missing) or an older one
    is refused, so nobody approves a request they did not see.
    """

    def change(promotion: Promotion, reason: str) -> None:
        _require_unchanged(promotion, seen_updated_at)
        promotion.state = PromotionState.APPROVED
        promotion.approved_by = actor
        promotion.approved_at = timezone.now()

    return transition("approve", promotion=promotion, actor=actor, origin=origin, change=change)


def promotion_reject(*, promotion: Promotion, actor, reason: str, origin: str = "") -> Promotion:
    """Reject a pending request, saying why."""

    def change(promotion: Promotion, reason: str) -> None:
        promotion.state = PromotionState.REJECTED
        promotion.rejected_by = actor
        promotion.rejected_at = timezone.now()
        promotion.rejection_reason = reason

    return transition(
        "reject",
        promotion=promotion,
        actor=actor,
        origin=origin,
        reason=reason,
        reason_hint="Say why the promotion is rejected.",
        change=change,
    )


def promotion_cancel(
    *, promotion: Promotion, actor, reason: str = "", origin: str = ""
) -> Promotion:
    """Withdraw one's own pending request."""

    def change(promotion: Promotion, reason: str) -> None:
        promotion.state = PromotionState.CANCELLED

    return transition(
        "cancel", promotion=promotion, actor=actor, origin=origin, reason=reason, change=change
    )


def _require_unchanged(promotion: Promotion, seen_updated_at) -> None:
    if seen_updated_at is VERSION_NOT_TRACKED:
        return
    if seen_updated_at is None:
        raise ValidationError(
            f"Promotion #{promotion.pk} may have changed after you opened it (the approval did "
            "not say which version you saw): review it again, then approve."
        )
    if promotion.updated_at != seen_updated_at:
        raise ValidationError(
            f"Promotion #{promotion.pk} changed after you opened it"
            f"{_edits_since(promotion, seen_updated_at)}: review it again, then approve."
        )


def _edits_since(promotion: Promotion, seen_updated_at) -> str:
    """What the edits since the approver's version changed, from the audit trail."""
    edits = AuditEvent.objects.filter(
        action="promotion.edited",
        outcome=AuditOutcome.SUCCESS,
        object_type="promotion",
        object_id=str(promotion.pk),
        created_at__gt=seen_updated_at,
    ).order_by("id")
    changed = {}
    for edit in edits:
        for field, after in (edit.after or {}).items():
            first_before = changed.get(field, ((edit.before or {}).get(field), None))[0]
            changed[field] = (first_before, after)
    parts = [
        f"{field.replace('_', ' ')} {before} → {after}"
        for field, (before, after) in changed.items()
        if before != after and not isinstance(after, (dict, list))
    ]
    return f" ({'; '.join(parts)})" if parts else ""
