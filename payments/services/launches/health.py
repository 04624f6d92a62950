"""What a launch learns about its credential's health (VCC refused it, or it cannot decrypt)."""

import logging

from django.db import DatabaseError

from payments.services.credentials import credential_refused
from payments.vcc.errors import VccError

logger = logging.getLogger(__name__)


def undecryptable_message(label: str, account_name: str) -> str:
    return (
        f"The stored secret of credentials {label} on {account_name} cannot be decrypted with "
        "the configured keys: ask a registry admin to check FIELD_ENCRYPTION_KEY or re-enter it "
        "(docs/runbooks/key-rotation.md)."
    )


def record_refused_credential(credential, error: VccError, *, launched_by, origin: str) -> None:
    """Mark the credential failing after VCC refused it in a launch (credential.refused)."""
    # The launch is recorded already; its credential's health flag is advisory, so a failure to
    # write it is logged, not shown to the agent in place of VCC's answer.
    try:
        credential_refused(
            credential=credential, problem=error.message, actor=launched_by, origin=origin
        )
    except DatabaseError:
        logger.exception("Could not record that VCC refused credentials %s", credential.label)
