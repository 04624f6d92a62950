"""What the registry's commands share: who acts (--as) and how a refusal ends the command."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

EXIT_REFUSED = 2  # refused or not understood: nothing was written or sent


def acting_user(username: str | None, *, doing: str):
    """The active registry user named by --as; the audit trail records them."""
    if not username:
        raise CommandError(
            f"Say who is {doing} with --as USERNAME: the audit trail records that registry "
            "user, and their permissions apply.",
            returncode=EXIT_REFUSED,
        )
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(
            f"No active registry user {username[:150]!r}: check the name given to --as.",
            returncode=EXIT_REFUSED,
        )
    return user
