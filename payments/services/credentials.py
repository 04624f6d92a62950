"""The health of API credentials: whether VCC grants them a token, recorded with when and why."""

from django.db import transaction
from django.utils import timezone

from payments.crypto import SecretDecryptionError
from payments.models import ApiCredential, AuditOutcome
from payments.services.audit import audit_record
from payments.services.vcc_clients import vcc_client_for
from payments.vcc.errors import VccError

VERIFICATION_FIELDS = ["last_verified_at", "last_verification_ok", "last_verification_error"]


def credential_verify(*, credential: ApiCredential, actor, origin: str = "") -> bool:
    """Ask VCC for a fresh token with the credential; record the result and an audit event."""
    problem = _token_grant_problem(credential)
    # VCC is asked first, with no row locked; then the result is written in one transaction.
    _record_health(credential, problem, actor=actor, origin=origin, action="credential.verified")
    return not problem


def credential_refused(*, credential: ApiCredential, problem: str, actor, origin: str = "") -> None:
    """Record that VCC refused the credential during a launch, as a failed check would be.

    The admin then shows it as failing before anyone runs a check.
    """
    _record_health(credential, problem, actor=actor, origin=origin, action="credential.refused")


def _record_health(credential: ApiCredential, problem: str, *, actor, origin: str, action: str):
    ok = not problem
    with transaction.atomic():
        locked = (
            ApiCredential.objects.select_for_update()
            .select_related("account")
            .defer("client_secret")
            .get(pk=credential.pk)
        )
        before = {name: getattr(locked, name) for name in VERIFICATION_FIELDS}
        locked.last_verified_at = timezone.now()
        locked.last_verification_ok = ok
        locked.last_verification_error = problem[:500]
        locked.full_clean(exclude=["client_secret"])
        # A health check is not a configuration change: the audit trail records it, the
        # object's history would only fill up with checks.
        locked.skip_history_when_saving = True
        locked.save(update_fields=VERIFICATION_FIELDS)
        audit_record(
            action=action,
            actor=actor,
            origin=origin,
            obj=locked,
            outcome=AuditOutcome.SUCCESS if ok else AuditOutcome.FAILURE,
            reason=problem,
            before=before,
            after={name: getattr(locked, name) for name in VERIFICATION_FIELDS},
        )
    for name in VERIFICATION_FIELDS:
        setattr(credential, name, getattr(locked, name))


def _token_grant_problem(credential: ApiCredential) -> str:
    """Return why VCC did not grant a token to the credential, or "" when it did."""
    describe = f"Credentials {credential.label} on {credential.account.name}"
    if not credential.has_secret:
        return (
            f"{describe} have no client secret stored: type it on the credential's page, then "
            "check again."
        )
    try:
        client = vcc_client_for(credential)
    except SecretDecryptionError:
        return (
            f"The stored secret of {describe[0].lower()}{describe[1:]} cannot be decrypted with "
            "the configured keys: check FIELD_ENCRYPTION_KEY or type the secret again."
        )
    try:
        client.verify_credentials()
    except VccError as exc:
        return exc.message
    return ""


def credentials_verify_all() -> list[int]:
    """Check every enabled credential of active accounts (the daily job); return failing ids."""
    failed = []
    credentials = ApiCredential.objects.filter(is_enabled=True, account__is_active=True)
    for credential in credentials.select_related("account").order_by("pk"):
        if not credential_verify(credential=credential, actor=None, origin="registry_worker"):
            failed.append(credential.pk)
    return failed
