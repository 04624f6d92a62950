"""The audit event of a VCC status webhook the registry refused, at most one a minute per origin."""

import hashlib

from django.core.cache import cache

from payments.models import AuditEvent, AuditOutcome
from payments.services.audit import audit_record

ACTION = "webhook.refused"
# A flood of refused webhooks (a scanner, a VCC misconfigured with an old token) records one
# event per sending address per window; the rest are counted only in the web server's log.
WINDOW_SECONDS = 60


def _window_key(origin: str) -> str:
    # The address alone: origin_of() appends the X-Request-Id the sender chooses, which would
    # otherwise open a new window on every request.
    address = origin.split(" ", 1)[0] or "unknown"
    return "webhook-refused:" + hashlib.sha256(address.encode()).hexdigest()[:32]


def webhook_refusal_record(*, reason: str, origin: str) -> AuditEvent | None:
    """Audit a refused webhook (admins are told); None while its origin's window is open."""
    # cache.add is atomic on every backend: of concurrent refusals one opens the window.
    if not cache.add(_window_key(origin), 1, timeout=WINDOW_SECONDS):
        return None
    return audit_record(
        action=ACTION,
        outcome=AuditOutcome.DENIED,
        origin=origin,
        object_type="webhook",
        object_repr="VCC status webhook /vcc/webhook/",
        reason=reason[:500],
    )
