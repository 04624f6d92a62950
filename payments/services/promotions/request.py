"""Requesting a promotion, and its requester changing it while it waits."""

import uuid

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from payments.models import PaymentFlow, PciEnvironment, Promotion, PromotionState, VccAccount
from payments.models.promotions import OPEN_PROMOTION_STATES, STEPS
from payments.services.promotions import _transition as step
from payments.services.promotions import rules

REQUESTED = STEPS["request"].action


def promotion_request(
    *,
    source_flow: PaymentFlow,
    target_account: VccAccount,
    production_flow_number: int,
    configuration_id: int,
    reason: str,
    actor,
    target_environment: PciEnvironment | None = None,
    idempotency_key: uuid.UUID | str | None = None,
    origin: str = "",
) -> Promotion:
    """Request a promotion; a replay with the same idempotency key returns the first result."""
    attempted = {
        "source_flow": str(source_flow),
        "target_account": target_account.name,
        "production_flow_number": production_flow_number,
        "configuration_id": configuration_id,
    }
    # Only refusals by permission are recorded: a mistyped request is answered, not audited.
    with step.refusals_audited(
        REQUESTED, actor, source_flow, origin, failures=False, attempted=attempted
    ):
        step.require_permission("request", actor)
    key = _parse_key(idempotency_key)
    reason = step.clean_reason(reason, hint="Say why this promotion is needed.")
    step.check_numbers(production_flow_number, configuration_id)
    request_values = {
        "source_flow_id": source_flow.pk,
        "target_account_id": target_account.pk,
        "production_flow_number": production_flow_number,
        "configuration_id": configuration_id,
    }
    try:
        with transaction.atomic():
            source_flow = step.lock_flow(source_flow.pk)
            if key is not None:
                replayed = Promotion.objects.filter(idempotency_key=key).first()
                if replayed is not None:
                    return _same_request_or_error(replayed, actor, **request_values)
            target_account = VccAccount.objects.get(pk=target_account.pk)
            target_environment = target_environment or rules.default_target_environment(source_flow)
            step.raise_errors(
                rules.promotion_problems(
                    source_flow=source_flow,
                    target_account=target_account,
                    target_environment=target_environment,
                    production_flow_number=production_flow_number,
                    configuration_id=configuration_id,
                )
            )
            promotion = Promotion(
                source_flow=source_flow,
                target_account=target_account,
                target_environment=target_environment,
                production_flow_number=production_flow_number,
                configuration_id=configuration_id,
                reason=reason,
                requested_by=actor,
            )
            if key is not None:
                promotion.idempotency_key = key
            step.save(promotion, actor)
            step.audit_step(REQUESTED, actor, promotion, origin, reason, before=None)
    except IntegrityError as exc:
        replayed = Promotion.objects.filter(idempotency_key=key).first() if key else None
        if replayed is not None:
            return _same_request_or_error(replayed, actor, **request_values)
        existing = Promotion.objects.filter(
            source_flow=source_flow, target_account=target_account, state__in=OPEN_PROMOTION_STATES
        ).first()
        if existing is None:
            raise
        raise ValidationError(
            f"A promotion of flow {source_flow.number} to {target_account.name} already exists "
            f"(#{existing.pk}): open it from the promotions page instead of requesting it again."
        ) from exc
    return promotion


def promotion_edit(
    *,
    promotion: Promotion,
    actor,
    production_flow_number: int,
    configuration_id: int,
    reason: str,
    target_environment: PciEnvironment | None = None,
    origin: str = "",
) -> Promotion:
    """Change a pending request (requester only); any approval it had is reset."""

    def change(promotion: Promotion, reason: str) -> None:
        step.check_numbers(production_flow_number, configuration_id)
        environment = target_environment or promotion.target_environment
        step.raise_errors(
            rules.promotion_problems(
                source_flow=promotion.source_flow,
                target_account=promotion.target_account,
                target_environment=environment,
                production_flow_number=production_flow_number,
                configuration_id=configuration_id,
                promotion=promotion,
            )
        )
        promotion.production_flow_number = production_flow_number
        promotion.configuration_id = configuration_id
        promotion.target_environment = environment
        promotion.reason = reason
        promotion.state = PromotionState.REQUESTED
        promotion.approved_by = None
        promotion.approved_at = None

    return step.transition(
        "edit",
        promotion=promotion,
        actor=actor,
        origin=origin,
        reason=reason,
        reason_hint="Say why this promotion is needed.",
        change=change,
    )


def _same_request_or_error(promotion: Promotion, actor, **values) -> Promotion:
    same = promotion.requested_by_id == actor.pk and all(
        getattr(promotion, name) == value for name, value in values.items()
    )
    if not same:
        raise ValidationError(
            "This form was already used for another request: reload the page and fill it in again."
        )
    return promotion


def _parse_key(value) -> uuid.UUID | None:
    if value in (None, ""):
        return None
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError as exc:
        raise ValidationError("The form's request key is malformed: reload the page.") from exc
