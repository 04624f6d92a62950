"""Scheduled promotions: an approved promotion applied by the worker at or after a set time."""

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from payments.models import AuditOutcome, PaymentFlow, Promotion, PromotionSchedule, PromotionState
from payments.services.audit import audit_record
from payments.services.freezes import freezes_covering
from payments.services.notifications import SCHEDULE_ORIGIN
from payments.services.promotions import promotion_apply, promotion_problems

PERMISSION_SCHEDULE = "payments.apply_promotion"


def apply_promotion_as(*, promotion: Promotion, actor, origin: str) -> Promotion:
    """The one call of promotion_apply here (its acting-person keyword is being renamed)."""
    return promotion_apply(promotion=promotion, actor=actor, origin=origin)


def promotion_schedule(
    *, promotion: Promotion, apply_at: datetime, actor, origin: str = ""
) -> PromotionSchedule:
    """Schedule an approved promotion to be applied by the worker at or after apply_at."""
    if not (getattr(actor, "is_authenticated", False) and actor.has_perm(PERMISSION_SCHEDULE)):
        audit_record(
            action="promotion.scheduled",
            actor=actor,
            outcome=AuditOutcome.DENIED,
            origin=origin,
            obj=promotion,
            reason="Scheduling needs the Approvers group (permission payments.apply_promotion).",
        )
        raise PermissionDenied(
            "You may not schedule promotions: that needs the Approvers group "
            f"(permission {PERMISSION_SCHEDULE})."
        )
    if timezone.is_naive(apply_at):
        apply_at = timezone.make_aware(apply_at)
    if apply_at <= timezone.now():
        raise ValidationError({"apply_at": "Choose a time in the future (or apply it now)."})
    with transaction.atomic():
        PaymentFlow.objects.select_for_update().get(pk=promotion.source_flow_id)
        promotion = Promotion.objects.select_for_update().get(pk=promotion.pk)
        if promotion.state != PromotionState.APPROVED:
            raise ValidationError(
                f"Promotion #{promotion.pk} is {promotion.get_state_display().lower()}: only an "
                "approved promotion can be scheduled."
            )
        frozen = freezes_covering(account=promotion.target_account, now=apply_at).first()
        if frozen is not None:
            raise ValidationError(
                {
                    "apply_at": f"{promotion.target_account.name} is in a change freeze then "
                    f"(until {timezone.localtime(frozen.ends_at):%Y-%m-%d %H:%M %Z}: "
                    f"{frozen.reason}): choose a time after it."
                }
            )
        schedule, _ = PromotionSchedule.objects.update_or_create(
            promotion=promotion,
            defaults={
                "apply_at": apply_at,
                "scheduled_by": actor,
                "attempted_at": None,
                "applied": False,
                "outcome": "",
            },
        )
        audit_record(
            action="promotion.scheduled",
            actor=actor,
            origin=origin,
            obj=promotion,
            reason=f"To be applied at {timezone.localtime(apply_at):%Y-%m-%d %H:%M %Z}.",
            after={"apply_at": apply_at, "scheduled_by": actor.get_username()},
        )
    return schedule


def promotion_unschedule(*, promotion: Promotion, actor, origin: str = "") -> None:
    """Remove a pending schedule (it is then applied by hand, or scheduled again)."""
    if not (getattr(actor, "is_authenticated", False) and actor.has_perm(PERMISSION_SCHEDULE)):
        raise PermissionDenied("You may not change schedules: that needs the Approvers group.")
    with transaction.atomic():
        schedule = (
            PromotionSchedule.objects.select_for_update()
            .filter(promotion=promotion, attempted_at__isnull=True)
            .first()
        )
        if schedule is None:
            return
        before = {
            "apply_at": schedule.apply_at,
            "scheduled_by": schedule.scheduled_by.get_username(),
        }
        schedule.delete()
        audit_record(
            action="promotion.unscheduled", actor=actor, origin=origin, obj=promotion, before=before
        )


def schedules_apply_due(*, now=None) -> list[PromotionSchedule]:
    """Apply every scheduled promotion that is due (the worker's periodic job); return them."""
    now = now or timezone.now()
    done = []
    while True:
        schedule = _claim_due(now)
        if schedule is None:
            return done
        schedule_run(schedule=schedule)
        done.append(schedule)


def _claim_due(now) -> PromotionSchedule | None:
    """Claim one due schedule (two workers never both take it): mark it attempted."""
    with transaction.atomic():
        schedule = (
            PromotionSchedule.objects.filter(attempted_at__isnull=True, apply_at__lte=now)
            .select_for_update(skip_locked=True)
            .order_by("apply_at", "pk")
            .first()
        )
        if schedule is not None:
            schedule.attempted_at = timezone.now()
            schedule.save(update_fields=["attempted_at"])
    return schedule


def schedule_run(*, schedule: PromotionSchedule) -> bool:
    """Apply one claimed schedule if the promotion is still approved, sound and not frozen."""
    promotion = Promotion.objects.select_related("approved_by", "target_account").get(
        pk=schedule.promotion_id
    )
    scheduled_by = schedule.scheduled_by
    problem = ""
    if promotion.state != PromotionState.APPROVED:
        problem = (
            f"It is {promotion.get_state_display().lower()} now, no longer approved: "
            "it was not applied."
        )
    else:
        problems = promotion_problems(promotion=promotion)
        if problems:
            problem = " ".join(message for messages in problems.values() for message in messages)
    if not problem:
        try:
            apply_promotion_as(
                promotion=promotion,
                actor=scheduled_by,
                origin=f"{SCHEDULE_ORIGIN} #{schedule.pk}",
            )
        except (ValidationError, PermissionDenied) as exc:
            problem = " ".join(getattr(exc, "messages", [str(exc)]))
    with transaction.atomic():
        schedule.applied = not problem
        schedule.outcome = problem or "Applied."
        schedule.save(update_fields=["applied", "outcome"])
        approved_by = promotion.approved_by.get_username() if promotion.approved_by else "nobody"
        audit_record(
            action="promotion.schedule_held" if problem else "promotion.schedule_applied",
            actor=None,
            outcome=AuditOutcome.FAILURE if problem else AuditOutcome.SUCCESS,
            origin=f"{SCHEDULE_ORIGIN} #{schedule.pk}",
            obj=promotion,
            reason=problem
            or f"Applied by the worker as scheduled by {scheduled_by.get_username()} "
            f"(approved by {approved_by}).",
            after={
                "scheduled_by": scheduled_by.get_username(),
                "approved_by": approved_by,
                "apply_at": schedule.apply_at,
            },
        )
    return not problem
