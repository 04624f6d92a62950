"""The one way a promotion changes: lock, check the step is the actor's now, save, audit.

Every step locks the source flow first, then the promotion, then every account, production
flow and link its change set touches (each kind in ascending primary key), then the audit
chain head (which audit_record locks). Steps on one flow run one at a time and concurrent
callers all see the same result; two sets sharing an account or link wait for each other in
the same order, so they never deadlock. A refusal, PermissionDenied or ValidationError, is
audited here once the step's own writes are rolled back, whichever front door (page, admin,
API) called.
"""

import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from payments.models import AccountConfiguration, AuditOutcome, PaymentFlow, Promotion, VccAccount
from payments.models.promotions import STEPS
from payments.selectors.promotions import promotions_with_related
from payments.services.audit import audit_record
from payments.services.promotions import changeset
from payments.services.promotions.rules import promotion_snapshot

REASON_MAX_LENGTH = 2000
NUMBER_MAX = 2_147_483_647  # the largest value every database stores in a PositiveIntegerField


def transition(
    step: str,
    *,
    promotion: Promotion,
    actor,
    origin: str,
    change: Callable[[Promotion, str], None],
    reason: str = "",
    reason_hint: str | None = None,
    integrity_error: Callable[[Promotion, IntegrityError], Exception] | None = None,
) -> Promotion:
    """Take `step` on `promotion` as `actor`: `change` mutates the locked row, given the reason.

    A reason_hint makes the reason required (the hint says what to write); a step already
    taken returns the promotion unchanged; integrity_error turns a lost race into a refusal.
    """
    action = STEPS[step].action
    with refusals_audited(action, actor, promotion, origin):
        require_permission(step, actor)
        try:
            with transaction.atomic():
                promotion = lock_promotion(promotion)
                refusal = promotion.step_refusal(step, actor)
                if isinstance(refusal, PermissionDenied):
                    raise refusal
                if promotion.step_taken(step):
                    return promotion
                if refusal is not None:
                    raise refusal
                reason = clean_reason(reason, hint=reason_hint)
                before = promotion_snapshot(promotion)
                change(promotion, reason)
                save(promotion, actor)
                audit_step(action, actor, promotion, origin, reason, before)
        except IntegrityError as exc:
            replacement = integrity_error(promotion, exc) if integrity_error else exc
            if replacement is exc:
                raise
            raise replacement from exc
    return promotion


def require_permission(step: str, actor) -> None:
    refusal = Promotion.permission_refusal(step, actor)
    if refusal is not None:
        raise refusal


@contextmanager
def refusals_audited(
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


def lock_flow(flow_id: int) -> PaymentFlow:
    return PaymentFlow.objects.select_for_update().get(pk=flow_id)


def lock_promotion(promotion: Promotion) -> Promotion:
    """Lock the source flow, the promotion, then what its set touches (always in this order).

    The promotion comes with what its checks and its audit snapshot read, and with its change
    set read once (changeset.stored_changes returns it until the step writes a new set).
    """
    lock_flow(promotion.source_flow_id)
    promotion = promotions_with_related().select_for_update(of=("self",)).get(pk=promotion.pk)
    changeset.keep_stored_changes(promotion)
    accounts, flows, links = changeset.touched(changeset.stored_changes(promotion))
    touched = [(VccAccount, accounts), (PaymentFlow, flows), (AccountConfiguration, links)]
    for model, keys in touched:
        # list(): a locking query only runs when it is read.
        list(model.objects.select_for_update().filter(pk__in=keys).order_by("pk").values("pk"))
    return promotion


def clean_reason(reason: str | None, *, hint: str | None) -> str:
    """Return the reason stripped; required (saying `hint`) unless hint is None."""
    reason = (reason or "").strip()
    if not reason and hint is not None:
        raise ValidationError({"reason": f"A reason is required. {hint}"})
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationError(
            {"reason": f"Keep the reason under {REASON_MAX_LENGTH} characters ({len(reason)})."}
        )
    if any(unicodedata.category(char) == "Cc" and char not in "\n\r\t" for char in reason):
        raise ValidationError(
            {"reason": "The reason contains control characters: retype it as plain text."}
        )
    return reason


def check_numbers(production_flow_number, configuration_id) -> None:
    errors = {}
    for field, value in [
        ("production_flow_number", production_flow_number),
        ("configuration_id", configuration_id),
    ]:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= NUMBER_MAX:
            errors[field] = f"Enter a whole number from 1 to {NUMBER_MAX}."
    raise_errors(errors)


def raise_errors(problems: dict[str, list[str]]) -> None:
    if problems:
        raise ValidationError(problems)


def full_clean(promotion: Promotion) -> None:
    # Our own checks give the messages; the model's constraints are validated by the database,
    # and so are its foreign keys (each row they name is locked or protected from deletion, so
    # asking whether it exists would be one query per key, eight on every step).
    relations = [field.name for field in promotion._meta.concrete_fields if field.is_relation]
    promotion.full_clean(exclude=relations, validate_constraints=False, validate_unique=False)


def save(promotion: Promotion, actor) -> None:
    full_clean(promotion)
    promotion._history_user = actor
    promotion.save()


def audit_step(action, actor, promotion, origin, reason, before) -> None:
    """Record a step with the fields it changed (a new promotion: all of them, as after)."""
    after = promotion_snapshot(promotion)
    if before is None:
        audit_record(
            action=action, actor=actor, origin=origin, obj=promotion, reason=reason, after=after
        )
        return
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
