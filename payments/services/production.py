"""What counts as a production change, and who may make one: the rule every registry write passes.

Production flows, links to production flows, a PCI environment's stage, a flow's environment,
an account's kind (and where a production account's launches go), and a credential's permission
to launch production change only by applying an approved promotion (four eyes). Three narrow
exceptions, each explicit at the call: a write that is part of applying promotion #N
(`via_promotion`), a restore of the registry (a whole-file import into an empty registry by a
superuser, the demo seed), and break-glass (a separate permission, a reason, its own audit
event). Taking a credential's production permission away (disabling it, narrowing it to
staging) stays direct: a leaked secret must be stoppable by one person at once.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.urls import reverse

from payments.models import (
    AccountConfiguration,
    AccountKind,
    ApiCredential,
    AuditEvent,
    AuditOutcome,
    PaymentFlow,
    PciEnvironment,
    Promotion,
    PromotionState,
    Stage,
    VccAccount,
)
from payments.models.choices import STAGES_FOR_ALLOWED
from payments.services.audit import audit_record

BREAK_GLASS_PERMISSION = "payments.break_glass"
BREAK_GLASS = "break_glass"
PRODUCTION_KINDS = {AccountKind.PRODUCTION, AccountKind.COMBINED}
# Where an account's launches (and its client secret) go: production's business once it has any.
ACCOUNT_ENDPOINT_FIELDS = ["region", "auth_base_url", "payment_base_url"]


class ProductionWriteRefused(PermissionDenied):
    """A direct production write: refused and audited as denied (the event kept by front doors)."""

    def __init__(self, message: str, *, audit: dict):
        super().__init__(message)
        self.message = message
        self.audit = audit
        self.event_id: int | None = None


def production_write_refusal(instance: models.Model, before: dict) -> str | None:
    """Return what makes writing `instance` (stored as `before`) a production change, or None."""
    rule = _RULES.get(type(instance))
    return rule(instance, before) if rule else None


def _environment_stage(environment_id) -> str | None:
    if environment_id is None:
        return None
    return PciEnvironment.objects.filter(pk=environment_id).values_list("stage", flat=True).first()


def _flow_stage(flow_id) -> str | None:
    if flow_id is None:
        return None
    stages = PaymentFlow.objects.filter(pk=flow_id).values_list("environment__stage", flat=True)
    return stages.first()


def _related(instance: models.Model, name: str):
    """The related object, also when it is not saved yet (an import's planned flow), or None."""
    field = instance._meta.get_field(name)
    if getattr(instance, field.attname) is None and not field.is_cached(instance):
        return None
    return getattr(instance, name)


def _flow_rule(flow: PaymentFlow, before: dict) -> str | None:
    environment = _related(flow, "environment")
    now = environment.stage if environment else None
    if Stage.PRODUCTION not in {now, _environment_stage(before.get("environment_id"))}:
        return None
    if before and before.get("environment_id") != flow.environment_id:
        return f"Moving flow {flow.number} between staging and production"
    return f"Flow {flow.number} “{flow.name}” is a production flow"


def _link_rule(link: AccountConfiguration, before: dict) -> str | None:
    flow = _related(link, "flow")
    now = flow.environment.stage if flow else None
    if Stage.PRODUCTION not in {now, _flow_stage(before.get("flow_id"))}:
        return None
    account = _related(link, "account")
    return (
        f"Link {account.name if account else ''} id {link.configuration_id} → flow "
        f"{flow.number if flow else before.get('flow_id')} is a link to a production flow"
    )


def _environment_rule(environment: PciEnvironment, before: dict) -> str | None:
    if before and before.get("stage") != environment.stage:
        return (
            f"Changing the stage of PCI environment {environment.name} from "
            f"{before.get('stage')} to {environment.stage}"
        )
    return None


def _account_rule(account: VccAccount, before: dict) -> str | None:
    if not before:
        return None
    if before.get("kind") != account.kind:
        return f"Changing account {account.name} from {before['kind']} to {account.kind}"
    moved = [name for name in ACCOUNT_ENDPOINT_FIELDS if before.get(name) != getattr(account, name)]
    if moved and account.kind in PRODUCTION_KINDS:
        return f"Changing where the {account.kind} account {account.name} sends launches"
    return None


def _launches_production(allowed: str | None) -> bool:
    return Stage.PRODUCTION in STAGES_FOR_ALLOWED.get(allowed, set())


def _credential_rule(credential: ApiCredential, before: dict) -> str | None:
    now = _launches_production(credential.allowed_environments)
    was = _launches_production(before.get("allowed_environments"))
    what = f"Credentials {credential.label} on {credential.account.name}"
    if not before:
        return f"{what} would be allowed to launch production" if now else None
    if now and not was:
        return f"Allowing {what} to launch production"
    if now and credential.is_enabled and not before.get("is_enabled"):
        return f"Enabling {what}, allowed to launch production"
    if now and before.get("account_id") != credential.account_id:
        return f"Moving {what}, allowed to launch production, to another account"
    return None


_RULES = {
    PaymentFlow: _flow_rule,
    AccountConfiguration: _link_rule,
    PciEnvironment: _environment_rule,
    VccAccount: _account_rule,
    ApiCredential: _credential_rule,
}


def refusal_message(what: str) -> str:
    """The refusal of a direct production change: what it is, and how to make it properly."""
    return (
        f"{what}: production changes only by applying an approved promotion (four eyes). "
        f"Request one from the comparison page ({reverse('payments:environments')}) or "
        f"{reverse('payments:promotion_new')}; an approver then approves and applies it. "
        "In an emergency, someone with the break-glass permission may make the change "
        "directly, with a reason."
    )


def production_write_action(
    *,
    instance: models.Model,
    before: dict,
    actor,
    operation: str,
    origin: str = "",
    reason: str = "",
    via_promotion: Promotion | None = None,
    break_glass: bool = False,
    restore: bool = False,
) -> str:
    """Return the audit action of a registry write, or raise if it is a refused production change.

    `operation` is created, changed or deleted; a break-glass write is `<model>.break_glass`.
    """
    model_name = instance._meta.model_name
    action = f"{model_name}.{operation}"
    what = production_write_refusal(instance, before)
    if what is None:
        return action
    if restore and (actor is None or getattr(actor, "is_superuser", False)):
        return action
    if via_promotion is not None and _applying(via_promotion):
        return action
    if break_glass and getattr(actor, "is_authenticated", False):
        if actor.has_perm(BREAK_GLASS_PERMISSION):
            if not (reason or "").strip():
                raise ValidationError(
                    {"reason": "A break-glass change needs a reason: say what emergency it meets."}
                )
            return f"{model_name}.{BREAK_GLASS}"
    message = refusal_message(what)
    raise ProductionWriteRefused(
        message,
        audit={
            "action": action,
            "actor": actor,
            "outcome": AuditOutcome.DENIED,
            "origin": origin,
            "object_type": model_name,
            "object_id": str(instance.pk or ""),
            "object_repr": str(instance),
            "reason": message,
        },
    )


def _applying(promotion: Promotion) -> bool:
    """The promotion is approved by a second person and being applied (or rolled back)."""
    if promotion.pk is None:
        return False
    states = [PromotionState.APPROVED, PromotionState.APPLIED]
    stored = Promotion.objects.filter(pk=promotion.pk, state__in=states, approved_by__isnull=False)
    return stored.exists()


def production_refusal_record(*, refusal: ProductionWriteRefused) -> None:
    """Record a refused production write as denied, unless its event is stored already.

    The service records it at once; a front door whose own transaction then rolled back (the
    admin's) calls this again afterwards so the refusal stays in the trail.
    """
    if refusal.event_id and AuditEvent.objects.filter(pk=refusal.event_id).exists():
        return
    if transaction.get_connection().needs_rollback:
        return  # the caller's transaction failed: the front door records it after the rollback
    refusal.event_id = audit_record(**refusal.audit).pk
