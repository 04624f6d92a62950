"""What the promotion services check and record: the rules a promotion must meet, its snapshot."""

from django.core.exceptions import ValidationError

from payments.models import (
    AccountConfiguration,
    PaymentFlow,
    PciEnvironment,
    Promotion,
    Stage,
    VccAccount,
)
from payments.services.promotions import changeset


def promotion_problems(
    *,
    promotion: Promotion | None = None,
    source_flow: PaymentFlow | None = None,
    target_account: VccAccount | None = None,
    target_environment: PciEnvironment | None = None,
    production_flow_number: int | None = None,
    configuration_id: int | None = None,
    links: list[tuple[VccAccount, int]] | None = None,
    deactivate: list[AccountConfiguration] | None = None,
) -> dict[str, list[str]]:
    """Return what stops a promotion from being requested or applied now, by form field.

    Given only a promotion, its stored change set is checked (what was approved); given
    numbers or links too, the set they plan (a request, or an edit of one).
    """
    replanned = any(
        value is not None for value in (production_flow_number, configuration_id, links, deactivate)
    )
    if promotion is not None:
        source_flow = source_flow or promotion.source_flow
        target_account = target_account or promotion.target_account
        target_environment = target_environment or promotion.target_environment
        if production_flow_number is None:
            production_flow_number = promotion.production_flow_number
        if configuration_id is None:
            configuration_id = promotion.configuration_id
    problems: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    if source_flow.environment.stage != Stage.STAGING:
        add("source_flow", f"{source_flow} is not on a staging node: promote a staging flow.")
    elif not source_flow.is_active:
        add("source_flow", f"{source_flow} is inactive: activate it before promoting it.")
    if target_environment.stage != Stage.PRODUCTION:
        add("target_environment", f"{target_environment} is not a production node.")
    if promotion is not None and not replanned:
        changes = changeset.stored_changes(promotion)
    else:
        stored = changeset.stored_changes(promotion) if promotion is not None else []
        changes = changeset.plan_changes(
            source_flow=source_flow,
            target_account=target_account,
            target_environment=target_environment,
            production_flow_number=production_flow_number,
            configuration_id=configuration_id,
            links=changeset.extra_links(stored) if links is None else links,
            deactivate=changeset.deactivations(stored) if deactivate is None else deactivate,
        )
    found = changeset.change_problems(
        source_flow=source_flow,
        target_environment=target_environment,
        changes=changes,
        promotion=promotion,
    )
    for field, messages in found.items():
        for message in messages:
            add(field, message)
    return problems


def promotion_snapshot(promotion: Promotion) -> dict:
    """Return the audited, human-readable state of a promotion (no secrets: none are held)."""
    people = {
        "requested_by": promotion.requested_by,
        "approved_by": promotion.approved_by,
        "rejected_by": promotion.rejected_by,
        "applied_by": promotion.applied_by,
        "rolled_back_by": promotion.rolled_back_by,
    }
    snapshot = {
        "state": promotion.state,
        "source_flow": f"{promotion.source_flow.number} “{promotion.source_flow.name}” on "
        f"{promotion.source_flow.environment.name}",
        "target_account": promotion.target_account.name,
        "target_environment": promotion.target_environment.name,
        "production_flow_number": promotion.production_flow_number,
        "configuration_id": promotion.configuration_id,
        "reason": promotion.reason,
        "rejection_reason": promotion.rejection_reason,
        "rollback_reason": promotion.rollback_reason,
        "production_flow": str(promotion.production_flow) if promotion.production_flow else "",
        "production_link": str(promotion.production_link) if promotion.production_link else "",
        # Blank unless asked for, so promotions without verification keep their snapshot.
        "verify_after_apply": "yes" if promotion.verify_after_apply else "",
        "verification": promotion.verification,
        "changes": "; ".join(
            change.describe(promotion.production_flow_number)
            for change in changeset.stored_changes(promotion)
        ),
    }
    snapshot.update({key: user.get_username() if user else "" for key, user in people.items()})
    return {key: value for key, value in snapshot.items() if value != ""}


def default_target_environment(source_flow: PaymentFlow) -> PciEnvironment:
    provider = source_flow.environment.provider
    candidates = list(PciEnvironment.objects.filter(stage=Stage.PRODUCTION, provider=provider))
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ValidationError(
            {
                "target_environment": f"There is no production node for {provider}: add one "
                "(PCI environments in the admin) first."
            }
        )
    raise ValidationError(
        {"target_environment": f"{provider} has several production nodes: choose one."}
    )
