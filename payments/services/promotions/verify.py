"""Verified promotions: after apply, VCC must start a session on each new production link.

A request may ask for it (`verify_after_apply`, off by default). Asking for it on production
takes what a production probe from the Link health page takes: the requester's production
probe permission and the target account's name typed to confirm; the second person's approval
covers it too, so the probes after apply run as the applier without asking them again.

Apply enqueues the probes on commit (payments/tasks.py promotion_verify_task): no VCC call
while apply's locks are held, and the page does not wait on VCC. A link VCC refuses marks the
promotion "verification failed" and switches every new link of the set off (through
registry_save with via_promotion, so the production rule allows it) until a verification
succeeds — "Verify again" on the promotion page, which needs the permission and the typed name
again — or the promotion is rolled back. Both outcomes are audited and so told to the requester
and the approver (services/notifications.py).
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from payments.models import (
    AccountConfiguration,
    AuditOutcome,
    ChangeKind,
    Promotion,
    PromotionState,
    Stage,
    VerificationState,
)
from payments.services.audit import audit_record
from payments.services.promotions import _transition as step
from payments.services.registry import registry_save

PERMISSION_VERIFY = "payments.probe_production"
VERIFIED = "promotion.verified"
VERIFICATION_FAILED = "promotion.verification_failed"
WORKER_ORIGIN = "registry_worker verification"


def verification_refusal(
    *, actor, target_account, target_environment, confirm_account_name: str
) -> ValidationError | PermissionDenied | None:
    """Why `actor` may not ask for (or retry) the probes of a production promotion, or None."""
    if target_environment is None or target_environment.stage != Stage.PRODUCTION:
        return None
    if not getattr(actor, "is_authenticated", False) or not actor.has_perm(PERMISSION_VERIFY):
        return PermissionDenied(
            "Probing production links needs the production probe permission (the Production "
            f"launchers group, {PERMISSION_VERIFY})."
        )
    if (confirm_account_name or "").strip() != target_account.name:
        return ValidationError(
            {
                "confirm_account_name": f"Type the account name “{target_account.name}” exactly "
                "to confirm probing its production links."
            },
            code="confirm",
        )
    return None


def new_links(promotion: Promotion) -> list[AccountConfiguration]:
    """The links applying the set created, in the set's order."""
    changes = promotion.changes.filter(kind=ChangeKind.LINK, link__isnull=False)
    changes = changes.select_related("link__account", "link__flow__environment")
    return [change.link for change in changes.order_by("position")]


def promotion_verification_enqueue(*, promotion: Promotion) -> None:
    """Mark an applying promotion's verification pending and enqueue it once apply commits."""
    promotion.verification = VerificationState.PENDING
    promotion.verification_message = ""
    promotion_id = promotion.pk

    def enqueue() -> None:
        from payments.tasks import promotion_verify_task  # the tasks import the services

        promotion_verify_task.enqueue(promotion_id)

    # A lost enqueue leaves the badge at "pending": "Verify again" on the page retries it.
    transaction.on_commit(enqueue, robust=True)


def promotion_verify(
    *, promotion: Promotion, actor, origin: str = "", confirm_account_name: str = "", retry=False
) -> Promotion:
    """Probe every new link of an applied promotion; switch them off or on by the outcome.

    retry=True is a person's "Verify again" (their permission and typed name are checked);
    otherwise it is the probe the request asked for, run after apply as the applier.
    """
    from payments.services.probes import link_probe  # probes import the launch services

    promotion = Promotion.objects.select_related("target_account", "target_environment").get(
        pk=promotion.pk
    )
    if promotion.state != PromotionState.APPLIED or not promotion.verification:
        return promotion  # rolled back meanwhile, or never asked for: nothing to prove
    if retry:
        refusal = verification_refusal(
            actor=actor,
            target_account=promotion.target_account,
            target_environment=promotion.target_environment,
            confirm_account_name=confirm_account_name,
        )
        if refusal is not None:
            audit_record(
                action=VERIFIED,
                actor=actor,
                outcome=AuditOutcome.DENIED,
                origin=origin,
                obj=promotion,
                reason=" ".join(getattr(refusal, "messages", [str(refusal)])),
            )
            raise refusal
    elif promotion.verification != VerificationState.PENDING:
        return promotion  # the task ran already (a retried job): verify once
    # No transaction here: each probe is one VCC call and holds no lock while it waits.
    results = [
        link_probe(
            link=link,
            actor=actor,
            origin=origin,
            include_production=True,
            confirm_account_name=link.account.name,
            via_promotion=promotion,
        )
        for link in new_links(promotion)
    ]
    refused = [result for result in results if not result.ok]
    with transaction.atomic():
        promotion = step.lock_promotion(promotion)
        if promotion.state != PromotionState.APPLIED:
            return promotion  # rolled back while VCC answered: the rollback switched them off
        before = {
            "verification": promotion.verification,
            "verification_message": promotion.verification_message,
        }
        reason = f"Promotion #{promotion.pk}: verification with VCC"
        for link in new_links(promotion):
            if link.is_active == (not refused):
                continue
            link.is_active = not refused
            registry_save(
                instance=link, actor=actor, origin=origin, reason=reason, via_promotion=promotion
            )
        promotion.verification = VerificationState.FAILED if refused else VerificationState.VERIFIED
        promotion.verification_checked_at = timezone.now()
        promotion.verification_message = " ".join(
            f"{result.probe.link}: {result.probe.message} {result.probe.advice}".strip()
            for result in refused
        )[:2000]
        step.save(promotion, actor)
        after = {
            "verification": promotion.verification,
            "verification_message": promotion.verification_message,
        }
        audit_record(
            action=VERIFICATION_FAILED if refused else VERIFIED,
            actor=actor,
            outcome=AuditOutcome.FAILURE if refused else AuditOutcome.SUCCESS,
            origin=origin,
            obj=promotion,
            reason=promotion.verification_message,
            before=before,
            after=after,
        )
    return promotion
