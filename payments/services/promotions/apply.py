"""Applying an approved promotion to production, and rolling it back."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils import timezone

from payments.models import AccountConfiguration, PaymentFlow, Promotion, PromotionState
from payments.services.freezes import freeze_check
from payments.services.promotions import _transition as step
from payments.services.promotions import rules
from payments.services.registry import registry_save


def promotion_apply(*, promotion: Promotion, actor, origin: str = "") -> Promotion:
    """Create the production flow and its configuration link; applying again changes nothing."""

    def change(promotion: Promotion, reason: str) -> None:
        freeze_check(account=promotion.target_account)
        step.raise_errors(rules.promotion_problems(promotion=promotion))
        change_reason = f"Promotion #{promotion.pk}: {promotion.reason}"
        source = promotion.source_flow
        flow = registry_save(
            instance=PaymentFlow(
                environment=promotion.target_environment,
                number=promotion.production_flow_number,
                name=source.name,
                promoted_from=source,
            ),
            actor=actor,
            origin=origin,
            reason=change_reason,
            via_promotion=promotion,
        )
        link = registry_save(
            instance=AccountConfiguration(
                account=promotion.target_account,
                configuration_id=promotion.configuration_id,
                flow=flow,
                notes=f"Promoted from flow {source.number} (promotion #{promotion.pk})",
            ),
            actor=actor,
            origin=origin,
            reason=change_reason,
            via_promotion=promotion,
        )
        promotion.state = PromotionState.APPLIED
        promotion.applied_by = actor
        promotion.applied_at = timezone.now()
        promotion.production_flow = flow
        promotion.production_link = link

    return step.transition(
        "apply",
        promotion=promotion,
        actor=actor,
        origin=origin,
        change=change,
        integrity_error=_taken_meanwhile,
    )


def promotion_rollback(*, promotion: Promotion, actor, reason: str, origin: str = "") -> Promotion:
    """Deactivate the production link an applied promotion created, recording why."""

    def change(promotion: Promotion, reason: str) -> None:
        link = AccountConfiguration.objects.select_for_update().get(pk=promotion.production_link_id)
        if link.is_active:
            link.is_active = False
            registry_save(
                instance=link,
                actor=actor,
                origin=origin,
                reason=f"Rollback of promotion #{promotion.pk}: {reason}",
                via_promotion=promotion,
            )
        promotion.state = PromotionState.ROLLED_BACK
        promotion.rolled_back_by = actor
        promotion.rolled_back_at = timezone.now()
        promotion.rollback_reason = reason

    return step.transition(
        "rollback",
        promotion=promotion,
        actor=actor,
        origin=origin,
        reason=reason,
        reason_hint="Say why the promotion is rolled back.",
        change=change,
    )


def _taken_meanwhile(promotion: Promotion, error: IntegrityError) -> Exception:
    """A flow number or id taken by a concurrent writer the checks could not see yet."""
    taken = rules.promotion_problems(promotion=promotion)
    taken = taken.get("production_flow_number", []) + taken.get("configuration_id", [])
    if not taken:
        return error
    return ValidationError(
        [f"{message} (It was created by someone else a moment ago.)" for message in taken]
    )
