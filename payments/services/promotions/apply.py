"""Applying an approved change set to production, and rolling the whole set back."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils import timezone

from payments.models import (
    AccountConfiguration,
    ChangeKind,
    PaymentFlow,
    Promotion,
    PromotionChange,
    PromotionState,
)
from payments.services.freezes import freeze_check
from payments.services.promotions import _transition as step
from payments.services.promotions import changeset, rules
from payments.services.promotions.verify import promotion_verification_enqueue
from payments.services.registry import registry_save


def promotion_apply(*, promotion: Promotion, actor, origin: str = "") -> Promotion:
    """Apply every change of the set in one transaction; applying again changes nothing."""

    def change(promotion: Promotion, reason: str) -> None:
        changes = changeset.stored_changes(promotion)
        for account in changeset.touched_accounts(changes):
            freeze_check(account=account)
        step.raise_errors(rules.promotion_problems(promotion=promotion))
        write = _Writer(promotion, actor, origin, f"Promotion #{promotion.pk}: {promotion.reason}")
        for each in changes:
            write.apply(each)
        PromotionChange.objects.bulk_update(changes, ["flow", "link", "flow_reactivated"])
        first_link = next(each for each in changes if each.kind == ChangeKind.LINK)
        promotion.state = PromotionState.APPLIED
        promotion.applied_by = actor
        promotion.applied_at = timezone.now()
        promotion.production_flow = first_link.flow
        promotion.production_link = first_link.link
        if promotion.verify_after_apply:
            promotion_verification_enqueue(promotion=promotion)

    return step.transition(
        "apply",
        promotion=promotion,
        actor=actor,
        origin=origin,
        change=change,
        integrity_error=_taken_meanwhile,
    )


def promotion_rollback(*, promotion: Promotion, actor, reason: str, origin: str = "") -> Promotion:
    """Reverse the whole set: switch off what it linked, on what it switched off; say why.

    A flow the set created (or switched back on) stays, switched off once no active link
    uses it, so the history and any sessions launched on it keep pointing at it.
    """

    def change(promotion: Promotion, reason: str) -> None:
        write = _Writer(
            promotion, actor, origin, f"Rollback of promotion #{promotion.pk}: {reason}"
        )
        for each in reversed(changeset.stored_changes(promotion)):
            write.reverse(each)
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


class _Writer:
    """Writes one set's rows through registry_save (each audited), remembering the new flow."""

    def __init__(self, promotion: Promotion, actor, origin: str, reason: str):
        self.promotion, self.actor, self.origin, self.reason = promotion, actor, origin, reason
        self.new_flow: PaymentFlow | None = None

    def save(self, instance):
        return registry_save(
            instance=instance,
            actor=self.actor,
            origin=self.origin,
            reason=self.reason,
            via_promotion=self.promotion,
            # The step locked the source flow, the accounts, flows and links the set touches;
            # the target node is protected from deletion while a promotion names it.
            relations_locked=True,
        )

    def apply(self, change: PromotionChange) -> None:
        source = self.promotion.source_flow
        if change.kind == ChangeKind.CREATE_FLOW:
            self.new_flow = change.flow = self.save(
                PaymentFlow(
                    environment=self.promotion.target_environment,
                    number=change.flow_number,
                    name=source.name,
                    promoted_from=source,
                )
            )
        elif change.kind == ChangeKind.LINK:
            flow = PaymentFlow.objects.get(pk=change.flow_id) if change.flow_id else self.new_flow
            if not flow.is_active:
                flow.is_active = True
                self.save(flow)
                change.flow_reactivated = True
            change.flow = flow
            change.link = self.save(
                AccountConfiguration(
                    account=change.account,
                    configuration_id=change.configuration_id,
                    flow=flow,
                    notes=f"Promoted from flow {source.number} (promotion #{self.promotion.pk})",
                )
            )
        else:
            self._set_active(change.link_id, False)

    def reverse(self, change: PromotionChange) -> None:
        if change.kind == ChangeKind.LINK:
            self._set_active(change.link_id, False)
            if change.flow_reactivated:
                self._switch_off_if_unused(change.flow_id)
        elif change.kind == ChangeKind.DEACTIVATE:
            self._set_active(change.link_id, True)
        else:
            self._switch_off_if_unused(change.flow_id)

    def _set_active(self, link_id: int, active: bool) -> None:
        link = AccountConfiguration.objects.get(pk=link_id)
        if link.is_active != active:
            link.is_active = active
            self.save(link)

    def _switch_off_if_unused(self, flow_id: int) -> None:
        flow = PaymentFlow.objects.get(pk=flow_id)
        if flow.is_active and not flow.configurations.filter(is_active=True).exists():
            flow.is_active = False
            self.save(flow)


def _taken_meanwhile(promotion: Promotion, error: IntegrityError) -> Exception:
    """A flow number or id taken by a concurrent writer the checks could not see yet."""
    found = rules.promotion_problems(promotion=promotion)
    taken = [
        message
        for field in ("production_flow_number", "configuration_id", "links")
        for message in found.get(field, [])
    ]
    if not taken:
        return error
    return ValidationError(
        [f"{message} (It was created by someone else a moment ago.)" for message in taken]
    )
