"""What the promotion services check and record: the rules a promotion must meet, its snapshot."""

from django.core.exceptions import ValidationError

from payments.models import (
    AccountConfiguration,
    AccountKind,
    PaymentFlow,
    PciEnvironment,
    Promotion,
    Stage,
    VccAccount,
)
from payments.models.promotions import OPEN_PROMOTION_STATES

TARGET_KINDS = {AccountKind.PRODUCTION, AccountKind.COMBINED}


def promotion_problems(
    *,
    promotion: Promotion | None = None,
    source_flow: PaymentFlow | None = None,
    target_account: VccAccount | None = None,
    target_environment: PciEnvironment | None = None,
    production_flow_number: int | None = None,
    configuration_id: int | None = None,
) -> dict[str, list[str]]:
    """Return what stops a promotion from being requested or applied now, by form field."""
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
    if target_account.kind not in TARGET_KINDS:
        add(
            "target_account",
            f"{target_account.name} is a {target_account.kind} account: promote to a "
            "production or combined account.",
        )
    elif not target_account.is_active:
        add("target_account", f"{target_account.name} is inactive.")
    elif not _has_production_credential(target_account):
        add(
            "target_account",
            f"{target_account.name} has no enabled credential allowed for production (with a "
            "stored secret). Add or enable one in the admin: secrets are never copied from "
            "another account.",
        )
    if target_environment.stage != Stage.PRODUCTION:
        add("target_environment", f"{target_environment} is not a production node.")
    taken_flow = PaymentFlow.objects.filter(
        environment=target_environment, number=production_flow_number
    ).first()
    if taken_flow is not None:
        add(
            "production_flow_number",
            f"Flow {production_flow_number} already exists on {target_environment} "
            f"(“{taken_flow.name}”): use the number the provider gave the new flow.",
        )
    taken_link = (
        AccountConfiguration.objects.filter(
            account=target_account, configuration_id=configuration_id
        )
        .select_related("flow")
        .first()
    )
    if taken_link is not None:
        add(
            "configuration_id",
            f"{target_account.name} already uses id {configuration_id} (→ flow "
            f"{taken_link.flow.number}): use the id Vonage provisioned for this flow.",
        )
    promoted = (
        AccountConfiguration.objects.filter(
            account=target_account, is_active=True, flow__promoted_from=source_flow
        )
        .select_related("flow")
        .first()
    )
    if promoted is not None and (promotion is None or promoted.pk != promotion.production_link_id):
        add(
            "source_flow",
            f"Flow {source_flow.number} is already promoted to {target_account.name}: "
            f"id {promoted.configuration_id} → flow {promoted.flow.number}.",
        )
    open_promotion = (
        Promotion.objects.filter(
            source_flow=source_flow, target_account=target_account, state__in=OPEN_PROMOTION_STATES
        )
        .exclude(pk=promotion.pk if promotion else None)
        .first()
    )
    if open_promotion is not None:
        add(
            "source_flow",
            f"A promotion of flow {source_flow.number} to {target_account.name} already exists "
            f"(#{open_promotion.pk}, {open_promotion.get_state_display().lower()}).",
        )
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


def _has_production_credential(account: VccAccount) -> bool:
    credentials = account.credentials.enabled().for_stage(Stage.PRODUCTION)
    return credentials.exclude(secret_fingerprint="").exists()
