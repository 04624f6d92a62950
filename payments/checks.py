"""System checks: `manage.py check --database default` fails while a stored secret is unreadable."""

from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError

from payments.models import ApiCredential
from payments.models.choices import STAGES_FOR_KIND, allowed_fits_kind
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


CREDENTIAL_FIT_HINT = (
    "Narrow each to the stages its account has (Staging only on a sandbox account, Production "
    "only on a production account) in the admin; taking a permission away applies directly."
)


@register(Tags.database)
def check_credentials_fit_their_accounts(app_configs=None, databases=None, **kwargs):
    """W002: a credential may launch only the stages its account's kind has (issue 13, item 8)."""
    messages = []
    for alias in databases or []:
        try:
            credentials = list(
                ApiCredential.objects.using(alias)
                .select_related("account")
                .defer("client_secret")
                .order_by("account__name", "label")
            )
        except DatabaseError:  # not migrated yet
            continue
        for credential in credentials:
            kind = credential.account.kind
            if allowed_fits_kind(credential.allowed_environments, kind):
                continue
            stages = " or ".join(sorted(STAGES_FOR_KIND.get(kind, set()))) or "nothing"
            messages.append(
                Warning(
                    f"{credential} may launch “{credential.get_allowed_environments_display()}” "
                    f"but {credential.account.name} is a {kind} account ({stages} only).",
                    hint=CREDENTIAL_FIT_HINT,
                    obj=str(credential),
                    id="payments.W002",
                )
            )
    return messages
