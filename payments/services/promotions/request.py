"""Requesting a promotion, and its requester changing it while it waits."""

import uuid

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from payments.models import (
    AccountConfiguration,
    PaymentFlow,
    PciEnvironment,
    Promotion,
    PromotionChange,
    PromotionState,
    VccAccount,
)
from payments.models.promotions import OPEN_PROMOTION_STATES, STEPS
from payments.services.promotions import _transition as step
from payments.services.promotions import changeset, rules
from payments.services.promotions.verify import verification_refusal

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
    links: list[tuple[VccAccount, int]] | None = None,
    deactivate: list[AccountConfiguration] | None = None,
    verify_after_apply: bool = False,
    confirm_account_name: str = "",
) -> Promotion:
    """Request a change set; a replay with the same idempotency key returns the first result.

    It links production flow `production_flow_number` as `configuration_id` on the target
    account, creating that flow unless it was already promoted from `source_flow`; `links`
    adds (account, id) links of the same flow, `deactivate` production links to switch off.
    verify_after_apply asks for the new links to be probed after apply; on production it needs
    the production probe permission and the account name typed (services/promotions/verify.py).
    """
    links, deactivate = list(links or []), list(deactivate or [])
    attempted = {
        "source_flow": str(source_flow),
        "target_account": target_account.name,
        "production_flow_number": production_flow_number,
        "configuration_id": configuration_id,
    }
    if links:
        attempted["links"] = [f"{account.name} id {link_id}" for account, link_id in links]
    if deactivate:
        attempted["deactivate"] = [str(link) for link in deactivate]
    # Only refusals by permission are recorded: a mistyped request is answered, not audited.
    with step.refusals_audited(
        REQUESTED, actor, source_flow, origin, failures=False, attempted=attempted
    ):
        step.require_permission("request", actor)
        verify_refusal = verify_after_apply and verification_refusal(
            actor=actor,
            target_account=target_account,
            target_environment=target_environment or rules.default_target_environment(source_flow),
            confirm_account_name=confirm_account_name,
        )
        if verify_refusal:
            raise verify_refusal
    key = _parse_key(idempotency_key)
    reason = step.clean_reason(reason, hint="Say why this promotion is needed.")
    step.check_numbers(production_flow_number, configuration_id)
    _check_links(links)
    request_values = {
        "source_flow_id": source_flow.pk,
        "target_account_id": target_account.pk,
        "production_flow_number": production_flow_number,
        "configuration_id": configuration_id,
        "verify_after_apply": bool(verify_after_apply),
    }
    set_values = (links, deactivate)
    try:
        with transaction.atomic():
            source_flow = step.lock_flow(source_flow.pk)
            if key is not None:
                replayed = Promotion.objects.filter(idempotency_key=key).first()
                if replayed is not None:
                    return _same_request_or_error(replayed, actor, set_values, **request_values)
            target_account = VccAccount.objects.get(pk=target_account.pk)
            target_environment = target_environment or rules.default_target_environment(source_flow)
            step.raise_errors(
                rules.promotion_problems(
                    source_flow=source_flow,
                    target_account=target_account,
                    target_environment=target_environment,
                    production_flow_number=production_flow_number,
                    configuration_id=configuration_id,
                    links=links,
                    deactivate=deactivate,
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
                verify_after_apply=bool(verify_after_apply),
            )
            if key is not None:
                promotion.idempotency_key = key
            step.save(promotion, actor)
            _save_changes(promotion, links=links, deactivate=deactivate)
            step.audit_step(REQUESTED, actor, promotion, origin, reason, before=None)
    except IntegrityError as exc:
        replayed = Promotion.objects.filter(idempotency_key=key).first() if key else None
        if replayed is not None:
            return _same_request_or_error(replayed, actor, set_values, **request_values)
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
    links: list[tuple[VccAccount, int]] | None = None,
    deactivate: list[AccountConfiguration] | None = None,
) -> Promotion:
    """Change a pending request (requester only); any approval it had is reset.

    links and deactivate replace the set's further links and switch-offs; None keeps them.
    """

    def change(promotion: Promotion, reason: str) -> None:
        nonlocal links, deactivate
        step.check_numbers(production_flow_number, configuration_id)
        _check_links(links or [])
        environment = target_environment or promotion.target_environment
        stored = changeset.stored_changes(promotion)
        links = changeset.extra_links(stored) if links is None else list(links)
        deactivate = changeset.deactivations(stored) if deactivate is None else list(deactivate)
        step.raise_errors(
            rules.promotion_problems(
                source_flow=promotion.source_flow,
                target_account=promotion.target_account,
                target_environment=environment,
                production_flow_number=production_flow_number,
                configuration_id=configuration_id,
                links=links,
                deactivate=deactivate,
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
        promotion.changes.all().delete()
        _save_changes(promotion, links=links, deactivate=deactivate)

    return step.transition(
        "edit",
        promotion=promotion,
        actor=actor,
        origin=origin,
        reason=reason,
        reason_hint="Say why this promotion is needed.",
        change=change,
    )


def _save_changes(promotion: Promotion, *, links, deactivate) -> None:
    """Store the set a request plans (after the promotion itself is saved)."""
    changes = changeset.plan_changes(
        source_flow=promotion.source_flow,
        target_account=promotion.target_account,
        target_environment=promotion.target_environment,
        production_flow_number=promotion.production_flow_number,
        configuration_id=promotion.configuration_id,
        links=links,
        deactivate=deactivate,
    )
    for change in changes:
        change.promotion = promotion
        change.full_clean(validate_constraints=False, validate_unique=False)
    PromotionChange.objects.bulk_create(changes)
    changeset.forget_stored_changes(promotion)  # a set read before this one is gone now


def _check_links(links) -> None:
    for account, link_id in links:
        if not isinstance(account, VccAccount):
            raise ValidationError({"links": "Name each further link's account."})
        try:
            step.check_numbers(1, link_id)
        except ValidationError as exc:
            raise ValidationError({"links": f"{account.name}: {' '.join(exc.messages)}"}) from exc


def _same_request_or_error(promotion: Promotion, actor, set_values, **values) -> Promotion:
    links, deactivate = set_values
    stored = changeset.stored_changes(promotion)
    same = (
        promotion.requested_by_id == actor.pk
        and all(getattr(promotion, name) == value for name, value in values.items())
        and _keys(changeset.extra_links(stored)) == _keys(links)
        and _keys(changeset.deactivations(stored)) == _keys(deactivate)
    )
    if not same:
        raise ValidationError(
            "This form was already used for another request: reload the page and fill it in again."
        )
    return promotion


def _keys(items) -> list:
    return [(item[0].pk, item[1]) if isinstance(item, tuple) else item.pk for item in items]


def _parse_key(value) -> uuid.UUID | None:
    if value in (None, ""):
        return None
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError as exc:
        raise ValidationError("The form's request key is malformed: reload the page.") from exc
