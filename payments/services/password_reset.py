"""The audit event of an anonymous "forgot your password" request (never the reset token)."""

from django.utils.crypto import salted_hmac

from payments.models import AuditOutcome
from payments.services.audit import audit_record

ACTION = "auth.password_reset_requested"
NOT_SENT = "the reset e-mail could not be sent (mail backend failed)"


def address_digest(email: str) -> str:
    """A keyed digest of an address: repeated requests match, the address cannot be read back."""
    # Keyed with SECRET_KEY: a plain hash of a guessable address would be reversible by trying.
    return salted_hmac("payments.password_reset", email.strip().lower()).hexdigest()[:16]


def password_reset_record(*, email: str, users: list, sent: bool, origin: str) -> None:
    """Audit a reset request: one event per account it reached, else one for the address."""
    outcome = AuditOutcome.SUCCESS if sent else AuditOutcome.FAILURE
    reason = "" if sent else NOT_SENT
    if not users:
        # No account has this address: record the digest, never the address someone typed.
        audit_record(
            action=ACTION,
            outcome=AuditOutcome.SUCCESS,
            origin=origin,
            object_type="user",
            object_repr=f"unknown address {address_digest(email)}",
            reason="no active account with this address; nothing sent",
        )
        return
    for user in users:
        audit_record(action=ACTION, outcome=outcome, origin=origin, obj=user, reason=reason)
