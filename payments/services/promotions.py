"""Promotion of a staging flow to production: request, four-eyes approval, apply, roll back.

Every step locks the source flow first (then the promotion, then the audit chain head), so
steps on one flow run one at a time and concurrent callers all see the same result. Unique
constraints are the backstop; an IntegrityError becomes a clear "already exists" message.
"""

import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from payments.models import (
    AccountConfiguration,
    AccountKind,
    AuditOutcome,
    PaymentFlow,
    PciEnvironment,
    Promotion,
    PromotionState,
    Stage,
    VccAccount,
)
from payments.models.promotions import OPEN_PROMOTION_STATES
from payments.services.audit import audit_record
from payments.services.freezes import freeze_check
from payments.services.registry import registry_save

REASON_MAX_LENGTH = 2000
NUMBER_MAX = 2_147_483_647  # the largest value every database stores in a PositiveIntegerField
PERMISSION_REQUEST = "payments.add_promotion"
PERMISSION_EDIT = "payments.change_promotion"
PERMISSION_APPROVE = "payments.approve_promotion"
# Rolling back touches production exactly like applying does, so it takes the same permission.
PERMISSION_APPLY = "payments.apply_promotion"
PERMISSION_ROLLBACK = PERMISSION_APPLY

PERMISSION_GROUPS = {
    PERMISSION_REQUEST: "Registry admins",
    PERMISSION_EDIT: "Registry admins",
    PERMISSION_APPROVE: "Approvers",
    PERMISSION_APPLY: "Approvers",
}

TARGET_KINDS = {AccountKind.PRODUCTION, AccountKind.COMBINED}
EDITABLE_STATES = {PromotionState.REQUESTED, PromotionState.APPROVED}


# --- Public services -----------------------------------------------------------------


def promotion_request(
    *,
    source_flow: PaymentFlow,
    target_account: VccAccount,
    production_flow_number: int,
    configuration_id: int,
    reason: str,
    requested_by,
    target_environment: PciEnvironment | None = None,
    idempotency_key: uuid.UUID | str | None = None,
    origin: str = "",
) -> Promotion:
    """Request a promotion; a replay with the same idempotency key returns the first result."""
    fields = {
        "source_flow": str(source_flow),
        "target_account": target_account.name,
        "production_flow_number": production_flow_number,
        "configuration_id": configuration_id,
    }
    with _refusals_audited(
        "promotion.requested", requested_by, source_flow, origin, failures=False, attempted=fields
    ):
        _require(requested_by, PERMISSION_REQUEST, "request")
    key = _parse_key(idempotency_key)
    reason = _clean_reason(reason)
    _check_numbers(production_flow_number, configuration_id)
    request_values = {
        "source_flow_id": source_flow.pk,
        "target_account_id": target_account.pk,
        "production_flow_number": production_flow_number,
        "configuration_id": configuration_id,
    }
    try:
        with transaction.atomic():
            source_flow = _lock_flow(source_flow.pk)
            if key is not None:
                replayed = Promotion.objects.filter(idempotency_key=key).first()
                if replayed is not None:
                    return _same_request_or_error(replayed, requested_by, **request_values)
            target_account = VccAccount.objects.get(pk=target_account.pk)
            target_environment = target_environment or _default_target_environment(source_flow)
            _raise_errors(
                promotion_problems(
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
                requested_by=requested_by,
            )
            if key is not None:
                promotion.idempotency_key = key
            _full_clean(promotion)
            promotion._history_user = requested_by
            promotion.save()
            audit_record(
                action="promotion.requested",
                actor=requested_by,
                origin=origin,
                obj=promotion,
                reason=reason,
                after=promotion_snapshot(promotion),
            )
    except IntegrityError as exc:
        replayed = Promotion.objects.filter(idempotency_key=key).first() if key else None
        if replayed is not None:
            return _same_request_or_error(replayed, requested_by, **request_values)
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
    edited_by,
    production_flow_number: int,
    configuration_id: int,
    reason: str,
    target_environment: PciEnvironment | None = None,
    origin: str = "",
) -> Promotion:
    """Change a pending request (requester only); any approval it had is reset."""
    with _refusals_audited("promotion.edited", edited_by, promotion, origin):
        _require(edited_by, PERMISSION_EDIT, "edit")
        reason = _clean_reason(reason)
        _check_numbers(production_flow_number, configuration_id)
        with transaction.atomic():
            promotion = _lock_promotion(promotion)
            if promotion.requested_by_id != edited_by.pk:
                raise PermissionDenied(
                    f"Only {promotion.requested_by} (who requested it) may edit this promotion; "
                    "reject it and request a new one instead."
                )
            _require_state(promotion, EDITABLE_STATES, "edited")
            before = promotion_snapshot(promotion)
            target_environment = target_environment or promotion.target_environment
            _raise_errors(
                promotion_problems(
                    source_flow=promotion.source_flow,
                    target_account=promotion.target_account,
                    target_environment=target_environment,
                    production_flow_number=production_flow_number,
                    configuration_id=configuration_id,
                    promotion=promotion,
                )
            )
            promotion.production_flow_number = production_flow_number
            promotion.configuration_id = configuration_id
            promotion.target_environment = target_environment
            promotion.reason = reason
            promotion.state = PromotionState.REQUESTED
            promotion.approved_by = None
            promotion.approved_at = None
            _save(promotion, edited_by)
            _audit_step("promotion.edited", edited_by, promotion, origin, reason, before)
    return promotion


def promotion_approve(
    *,
    promotion: Promotion,
    approved_by,
    origin: str = "",
    seen_updated_at: datetime | None = None,
) -> Promotion:
    """Approve someone else's request; approving it again changes nothing."""
    with _refusals_audited("promotion.approved", approved_by, promotion, origin):
        _require(approved_by, PERMISSION_APPROVE, "approve")
        with transaction.atomic():
            promotion = _lock_promotion(promotion)
            if promotion.requested_by_id == approved_by.pk:
                raise PermissionDenied(
                    "You requested this promotion, so someone else must approve it (four eyes)."
                )
            if promotion.state == PromotionState.APPROVED:
                return promotion
            _require_state(promotion, {PromotionState.REQUESTED}, "approved")
            _require_unchanged(promotion, seen_updated_at)
            before = promotion_snapshot(promotion)
            promotion.state = PromotionState.APPROVED
            promotion.approved_by = approved_by
            promotion.approved_at = timezone.now()
            _save(promotion, approved_by)
            _audit_step("promotion.approved", approved_by, promotion, origin, "", before)
    return promotion


def promotion_reject(
    *, promotion: Promotion, rejected_by, reason: str, origin: str = ""
) -> Promotion:
    """Reject a pending request, saying why."""
    with _refusals_audited("promotion.rejected", rejected_by, promotion, origin):
        _require(rejected_by, PERMISSION_APPROVE, "reject")
        reason = _clean_reason(reason, what="Say why the promotion is rejected.")
        with transaction.atomic():
            promotion = _lock_promotion(promotion)
            if promotion.state == PromotionState.REJECTED:
                return promotion
            _require_state(promotion, EDITABLE_STATES, "rejected")
            before = promotion_snapshot(promotion)
            promotion.state = PromotionState.REJECTED
            promotion.rejected_by = rejected_by
            promotion.rejected_at = timezone.now()
            promotion.rejection_reason = reason
            _save(promotion, rejected_by)
            _audit_step("promotion.rejected", rejected_by, promotion, origin, reason, before)
    return promotion


def promotion_cancel(
    *, promotion: Promotion, cancelled_by, reason: str = "", origin: str = ""
) -> Promotion:
    """Withdraw one's own pending request."""
    with _refusals_audited("promotion.cancelled", cancelled_by, promotion, origin):
        _require(cancelled_by, PERMISSION_EDIT, "cancel")
        with transaction.atomic():
            promotion = _lock_promotion(promotion)
            if promotion.requested_by_id != cancelled_by.pk:
                raise PermissionDenied(
                    f"Only {promotion.requested_by} (who requested it) may cancel this "
                    "promotion; an approver can reject it."
                )
            if promotion.state == PromotionState.CANCELLED:
                return promotion
            _require_state(promotion, EDITABLE_STATES, "cancelled")
            before = promotion_snapshot(promotion)
            promotion.state = PromotionState.CANCELLED
            _save(promotion, cancelled_by)
            _audit_step("promotion.cancelled", cancelled_by, promotion, origin, reason, before)
    return promotion


def promotion_apply(*, promotion: Promotion, applied_by, origin: str = "") -> Promotion:
    """Create the production flow and its configuration link; applying again changes nothing."""
    with _refusals_audited("promotion.applied", applied_by, promotion, origin):
        _require(applied_by, PERMISSION_APPLY, "apply")
        freeze_check(account=promotion.target_account)
        try:
            with transaction.atomic():
                promotion = _lock_promotion(promotion)
                if promotion.state == PromotionState.APPLIED:
                    return promotion
                _require_state(promotion, {PromotionState.APPROVED}, "applied")
                _raise_errors(promotion_problems(promotion=promotion))
                before = promotion_snapshot(promotion)
                change_reason = f"Promotion #{promotion.pk}: {promotion.reason}"
                source = promotion.source_flow
                flow = registry_save(
                    instance=PaymentFlow(
                        environment=promotion.target_environment,
                        number=promotion.production_flow_number,
                        name=source.name,
                        promoted_from=source,
                    ),
                    actor=applied_by,
                    origin=origin,
                    reason=change_reason,
                )
                link = registry_save(
                    instance=AccountConfiguration(
                        account=promotion.target_account,
                        configuration_id=promotion.configuration_id,
                        flow=flow,
                        notes=f"Promoted from flow {source.number} (promotion #{promotion.pk})",
                    ),
                    actor=applied_by,
                    origin=origin,
                    reason=change_reason,
                )
                promotion.state = PromotionState.APPLIED
                promotion.applied_by = applied_by
                promotion.applied_at = timezone.now()
                promotion.production_flow = flow
                promotion.production_link = link
                _save(promotion, applied_by)
                _audit_step("promotion.applied", applied_by, promotion, origin, "", before)
        except IntegrityError as exc:
            taken = promotion_problems(promotion=promotion)
            taken = taken.get("production_flow_number", []) + taken.get("configuration_id", [])
            if not taken:
                raise
            raise ValidationError(
                [f"{message} (It was created by someone else a moment ago.)" for message in taken]
            ) from exc
    return promotion


def promotion_rollback(
    *, promotion: Promotion, rolled_back_by, reason: str, origin: str = ""
) -> Promotion:
    """Deactivate the production link an applied promotion created, recording why."""
    with _refusals_audited("promotion.rolled_back", rolled_back_by, promotion, origin):
        _require(rolled_back_by, PERMISSION_ROLLBACK, "roll back")
        reason = _clean_reason(reason, what="Say why the promotion is rolled back.")
        with transaction.atomic():
            promotion = _lock_promotion(promotion)
            if promotion.state == PromotionState.ROLLED_BACK:
                return promotion
            _require_state(promotion, {PromotionState.APPLIED}, "rolled back")
            before = promotion_snapshot(promotion)
            link = AccountConfiguration.objects.select_for_update().get(
                pk=promotion.production_link_id
            )
            if link.is_active:
                link.is_active = False
                registry_save(
                    instance=link,
                    actor=rolled_back_by,
                    origin=origin,
                    reason=f"Rollback of promotion #{promotion.pk}: {reason}",
                )
            promotion.state = PromotionState.ROLLED_BACK
            promotion.rolled_back_by = rolled_back_by
            promotion.rolled_back_at = timezone.now()
            promotion.rollback_reason = reason
            _save(promotion, rolled_back_by)
            _audit_step("promotion.rolled_back", rolled_back_by, promotion, origin, reason, before)
    return promotion


# --- Reads used by the services and the pages ------------------------------------------


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


# --- Helpers -----------------------------------------------------------------------------


def _require(user, permission: str, verb: str) -> None:
    if not (getattr(user, "is_authenticated", False) and user.has_perm(permission)):
        raise PermissionDenied(
            f"You may not {verb} promotions: that needs the {PERMISSION_GROUPS[permission]} "
            f"group (permission {permission})."
        )


@contextmanager
def _refusals_audited(
    action: str, actor, obj, origin: str, *, failures: bool = True, attempted: dict | None = None
) -> Iterator[None]:
    """Record a refused step once its own writes are rolled back: denied, or failed on a rule."""
    try:
        yield
    except PermissionDenied as exc:
        _audit_refusal(action, actor, obj, origin, AuditOutcome.DENIED, str(exc), attempted)
        raise
    except ValidationError as exc:
        if failures:
            message = " ".join(exc.messages)
            _audit_refusal(action, actor, obj, origin, AuditOutcome.FAILURE, message, attempted)
        raise


def _audit_refusal(action, actor, obj, origin, outcome, message, attempted) -> None:
    if transaction.get_connection().needs_rollback:
        return  # the caller's own transaction failed: nothing can be written in it
    audit_record(
        action=action,
        actor=actor,
        outcome=outcome,
        origin=origin,
        obj=obj,
        reason=message,
        after=attempted,
    )


def _lock_flow(flow_id: int) -> PaymentFlow:
    return PaymentFlow.objects.select_for_update().get(pk=flow_id)


def _lock_promotion(promotion: Promotion) -> Promotion:
    """Lock the source flow, then the promotion (always in this order: no deadlocks)."""
    _lock_flow(promotion.source_flow_id)
    return Promotion.objects.select_for_update().get(pk=promotion.pk)


def _default_target_environment(source_flow: PaymentFlow) -> PciEnvironment:
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


def _same_request_or_error(promotion: Promotion, requested_by, **values) -> Promotion:
    same = promotion.requested_by_id == requested_by.pk and all(
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


def _clean_reason(reason: str | None, what: str = "Say why this promotion is needed.") -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": f"A reason is required. {what}"})
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationError(
            {"reason": f"Keep the reason under {REASON_MAX_LENGTH} characters ({len(reason)})."}
        )
    if any(unicodedata.category(char) == "Cc" and char not in "\n\r\t" for char in reason):
        raise ValidationError(
            {"reason": "The reason contains control characters: retype it as plain text."}
        )
    return reason


def _check_numbers(production_flow_number, configuration_id) -> None:
    errors = {}
    for field, value in [
        ("production_flow_number", production_flow_number),
        ("configuration_id", configuration_id),
    ]:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= NUMBER_MAX:
            errors[field] = f"Enter a whole number from 1 to {NUMBER_MAX}."
    _raise_errors(errors)


def _require_state(promotion: Promotion, allowed: set, verb: str) -> None:
    if promotion.state not in allowed:
        states = " or ".join(sorted(PromotionState(state).label.lower() for state in allowed))
        article = "an" if states[0] in "aeiou" else "a"
        raise ValidationError(
            f"Promotion #{promotion.pk} is {promotion.get_state_display().lower()}: only "
            f"{article} {states} promotion can be {verb}."
        )


def _require_unchanged(promotion: Promotion, seen_updated_at: datetime | None) -> None:
    if seen_updated_at is not None and promotion.updated_at != seen_updated_at:
        raise ValidationError(
            f"Promotion #{promotion.pk} changed after you opened it: review it again, then approve."
        )


def _raise_errors(problems: dict[str, list[str]]) -> None:
    if problems:
        raise ValidationError(problems)


def _full_clean(promotion: Promotion) -> None:
    # Our own checks give the messages; the model's constraints are validated by the database.
    promotion.full_clean(validate_constraints=False, validate_unique=False)


def _save(promotion: Promotion, actor) -> None:
    _full_clean(promotion)
    promotion._history_user = actor
    promotion.save()


def _audit_step(action, actor, promotion, origin, reason, before) -> None:
    after = promotion_snapshot(promotion)
    changed = [key for key in {**before, **after} if before.get(key) != after.get(key)]
    audit_record(
        action=action,
        actor=actor,
        origin=origin,
        obj=promotion,
        reason=reason,
        before={key: before.get(key, "") for key in changed},
        after={key: after.get(key, "") for key in changed},
    )
