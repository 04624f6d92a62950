"""What the registry's commands share: who acts (--as) and how a refusal ends the command."""

import sys

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


def one_line_errors(parser) -> None:
    """A mistyped command line ends in one line and exit 2, not argparse's whole usage."""

    def error(message):
        message = f"{message} (see --help)"
        if parser.called_from_command_line:
            sys.stderr.write(f"CommandError: {message}\n")
            sys.exit(EXIT_REFUSED)
        raise CommandError(message, returncode=EXIT_REFUSED)

    parser.error = error
