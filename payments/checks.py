"""System checks: `manage.py check --database default` fails while a stored secret is unreadable."""

from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError

from payments.selectors.secrets import UNDECRYPTABLE, secrets_verify

RUNBOOK = "See docs/runbooks/key-rotation.md."
ERROR_HINT = (
    "Add the key it was written with to FIELD_ENCRYPTION_KEY, or set the secret again in the "
    "admin. " + RUNBOOK
)
WARNING_HINT = (
    "Run `manage.py reencrypt_secrets`, then `manage.py verify_secrets --require-primary`; a "
    "double-encrypted secret must be set again in the admin. " + RUNBOOK
)


@register(Tags.database)
def check_stored_secrets(app_configs=None, databases=None, **kwargs):
    """E6: every stored secret decrypts, under the first key, exactly once."""
    messages = []
    for alias in databases or []:
        try:
            problems = list(secrets_verify(using=alias))
        except DatabaseError:  # not migrated yet: nothing stored to check
            continue
        for problem in problems:
            if problem.problem == UNDECRYPTABLE:
                messages.append(
                    Error(
                        f"{problem.location} {problem.problem}.",
                        hint=ERROR_HINT,
                        obj=problem.location,
                        id="payments.E001",
                    )
                )
            else:
                messages.append(
                    Warning(
                        f"{problem.location} {problem.problem}.",
                        hint=WARNING_HINT,
                        obj=problem.location,
                        id="payments.W001",
                    )
                )
    return messages
