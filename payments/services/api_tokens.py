"""Bearer tokens for the JSON API: issued once in plaintext, stored only as a SHA-256 hash."""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from payments.models import ApiToken
from payments.services.audit import audit_record

TOKEN_PREFIX = "vcc_"
# The first characters are kept in clear so people can tell their tokens apart.
SHOWN_CHARACTERS = 12
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_hash(raw_token: str) -> str:
    """Return the stored form of a token."""
    # A plain hash is enough: tokens carry 256 random bits, so there is nothing to brute-force.
    return hashlib.sha256(raw_token.encode()).hexdigest()


def api_token_issue(*, user, name: str = "", actor=None, origin: str = "") -> tuple[ApiToken, str]:
    """Create a token for the user; return it with the plaintext, which is never stored."""
    raw_token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name,
        prefix=raw_token[:SHOWN_CHARACTERS],
        token_hash=token_hash(raw_token),
    )
    with transaction.atomic():
        token.full_clean()
        token.save()
        audit_record(
            action="apitoken.issued",
            actor=actor,
            origin=origin,
            obj=token,
            after={"user": user.get_username(), "name": name, "prefix": token.prefix},
        )
    return token, raw_token


def api_token_revoke(*, token: ApiToken, actor, origin: str = "") -> ApiToken:
    """Revoke a token for good; revoking a revoked token changes nothing."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is not None:
            return token
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            action="apitoken.revoked",
            actor=actor,
            origin=origin,
            obj=token,
            before={"revoked_at": None},
            after={"revoked_at": token.revoked_at},
        )
    return token


def api_token_authenticate(*, raw_token: str) -> ApiToken | None:
    """Return the active token with an active user for a presented token, or None."""
    if not raw_token.startswith(TOKEN_PREFIX) or len(raw_token) > 200:
        return None
    try:
        # The agent profile comes along: a launch reads the agentId from it.
        token = (
            ApiToken.objects.active()
            .select_related("user__agent_profile")
            .get(token_hash=token_hash(raw_token), user__is_active=True)
        )
    except ApiToken.DoesNotExist:
        return None
    _api_token_touch(token=token)
    return token


def _api_token_touch(*, token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    # Conditional, so concurrent requests in the same minute write the row once.
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
    token.last_used_at = now
