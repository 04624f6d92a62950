"""Change-freeze windows: no promotion is applied to a covered account while one is in force."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from payments.models import AccountKind, ChangeFreeze, VccAccount
from payments.services.audit import audit_record

BANNER_LEAD = timedelta(hours=24)
PRODUCTION_KINDS = [AccountKind.PRODUCTION, AccountKind.COMBINED]


def freezes_covering(*, account: VccAccount, now=None):
    """The freezes in force now that cover the account."""
    covers = Q(accounts=account)
    if account.kind in PRODUCTION_KINDS:
        covers |= Q(all_production_accounts=True)
    return ChangeFreeze.objects.in_force(now or timezone.now()).filter(covers).distinct()


def freeze_check(*, account: VccAccount, now=None) -> None:
    """Refuse (ValidationError) while a freeze covers the account, saying why and until when."""
    freeze = freezes_covering(account=account, now=now).order_by("-ends_at").first()
    if freeze is not None:
        raise ValidationError(
            f"{account.name} is in a change freeze until "
            f"{timezone.localtime(freeze.ends_at):%Y-%m-%d %H:%M %Z}: {freeze.reason}. "
            "Promotions to it are not applied until the freeze ends; schedule it for later."
        )


def freezes_for_banner(*, now=None) -> list[ChangeFreeze]:
    """The freezes in force now or starting within the next 24 hours."""
    now = now or timezone.now()
    return list(
        ChangeFreeze.objects.in_force_or_starting(now, BANNER_LEAD).prefetch_related("accounts")
    )


def freeze_save(*, freeze: ChangeFreeze, accounts=None, actor, origin: str = "") -> ChangeFreeze:
    """Create or change a freeze window (registry admins, from the admin), audited."""
    created = freeze.pk is None
    freeze.full_clean()
    with transaction.atomic():
        if created:
            freeze.created_by = actor if getattr(actor, "is_authenticated", False) else None
        freeze.save()
        if accounts is not None:
            freeze.accounts.set(accounts)
        audit_record(
            action="freeze.created" if created else "freeze.changed",
            actor=actor,
            origin=origin,
            obj=freeze,
            reason=freeze.reason,
            after=freeze_snapshot(freeze),
        )
    return freeze


def freeze_delete(*, freeze: ChangeFreeze, actor, origin: str = "") -> None:
    """Remove a freeze window, audited."""
    with transaction.atomic():
        before = freeze_snapshot(freeze)
        audit_record(action="freeze.deleted", actor=actor, origin=origin, obj=freeze, before=before)
        freeze.delete()


def freeze_snapshot(freeze: ChangeFreeze) -> dict:
    """The audited state of a freeze."""
    return {
        "starts_at": freeze.starts_at,
        "ends_at": freeze.ends_at,
        "reason": freeze.reason,
        "all_production_accounts": freeze.all_production_accounts,
        "accounts": sorted(freeze.accounts.values_list("name", flat=True)) if freeze.pk else [],
    }
