"""Who may launch what, and the checks a launch request passes before anything reaches VCC.

The only place these rules are made: the launch page, the API and the command line all call
session_launch, which calls these, so a refusal reads and is audited the same whichever door.
"""

import json

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.crypto import salted_hmac

from payments.crypto import SecretDecryptionError
from payments.models import (
    AccountConfiguration,
    ApiCredential,
    AuditOutcome,
    SessionKind,
    Stage,
)
from payments.services.audit import audit_record
from payments.services.launches.health import undecryptable_message
from payments.validators import CONTROL_CHARACTERS, payment_data_validate

NO_LAUNCH_PERMISSION = (
    "You may not launch payment sessions: ask a registry admin to add you to the Agents group."
)
# Refusals of the gate itself (where, with what, confirmed) are audited like a missing
# permission; a mistyped amount or agentId is the caller's to fix and is not.
AUDITED_FIELDS = ("link", "credential", "confirm_account_name")
MAX_IDEMPOTENCY_KEY = 100


def launch_permission_refusal(user, link: AccountConfiguration | None = None) -> str | None:
    """Return why the user may not launch (on this link), or None."""
    if not user.has_perm("payments.add_paymentsession"):
        return NO_LAUNCH_PERMISSION
    if (
        link is not None
        and link.flow.environment.stage == Stage.PRODUCTION
        and not user.has_perm("payments.launch_production")
    ):
        return (
            f"Flow {link.flow.number} “{link.flow.name}” is a production flow: launching it needs "
            "the production launch permission (the Production launchers group)."
        )
    return None


def check_permission(*, user, link: AccountConfiguration, origin: str) -> None:
    """Raise PermissionDenied, audited as a denied session.launch, unless the user may launch."""
    reason = launch_permission_refusal(user, link)
    if reason:
        _audit_refusal(user=user, link=link, origin=origin, reason=reason)
        raise PermissionDenied(reason)


def check_request(
    *,
    link: AccountConfiguration,
    launched_by,
    kind: str,
    payment_data,
    agent_id: str,
    credential: ApiCredential | None,
    confirm_account_name: str,
    idempotency_key: str,
    origin: str,
) -> tuple[ApiCredential, str, dict[str, str]]:
    """Return the credential, agentId and paymentData to send, or raise ValidationError."""
    errors: dict[str, list[ValidationError]] = {}

    def refuse(field: str, message: str, code: str) -> None:
        errors.setdefault(field, []).append(ValidationError(message, code=code))

    account, flow = link.account, link.flow
    stopped = [
        what
        for what, active in [
            (f"the configuration link {link}", link.is_active),
            (f"the VCC account {account.name}", account.is_active),
            (f"flow {flow.number} “{flow.name}”", flow.is_active),
        ]
        if not active
    ]
    if stopped:
        refuse(
            "link",
            f"Nothing can be launched here: {' and '.join(stopped)} is disabled. Pick another "
            "flow, or ask a registry admin.",
            "link_disabled",
        )
    if kind not in SessionKind.values:
        refuse("kind", "Choose an agent assist or a digital session.", "invalid_kind")
    if flow.environment.stage == Stage.PRODUCTION and confirm_account_name.strip() != account.name:
        refuse(
            "confirm_account_name",
            f"This is a production flow: type the account name “{account.name}” exactly to "
            "confirm.",
            "confirmation_required",
        )

    agent_id = (agent_id or "").strip() or _profile_agent_id(launched_by)
    if not agent_id:
        refuse(
            "agent_id",
            "Enter the agentId to launch as (VCC needs one when the registry launches for you), "
            "or ask a registry admin to set it on your agent profile.",
            "agent_id_required",
        )
    elif len(agent_id) > 100 or CONTROL_CHARACTERS.search(agent_id):
        refuse(
            "agent_id",
            "agentId must be at most 100 characters, with no control characters.",
            "invalid",
        )

    try:
        payment_data = payment_data_validate(payment_data, kind=kind)
    except ValidationError as exc:
        errors["payment_data"] = [
            ValidationError(item.message, code=item.code or "invalid", params=item.params)
            for item in exc.error_list
        ]

    try:
        credential = _launch_credential(link, credential)
    except ValidationError as exc:
        errors["credential"] = exc.error_list

    if idempotency_key and (
        len(idempotency_key) > MAX_IDEMPOTENCY_KEY
        or not idempotency_key.isascii()
        or not idempotency_key.isprintable()
        or idempotency_key != idempotency_key.strip()
    ):
        refuse(
            "idempotency_key",
            f"The idempotency key must be at most {MAX_IDEMPOTENCY_KEY} printable ASCII "
            "characters (a UUID is a good one), with no surrounding spaces.",
            "invalid",
        )

    if errors:
        audited = [
            message
            for field in AUDITED_FIELDS
            for item in errors.get(field, [])
            for message in item.messages
        ]
        if audited:
            _audit_refusal(user=launched_by, link=link, origin=origin, reason=" ".join(audited))
        raise ValidationError(errors)
    return credential, agent_id, payment_data


def request_fingerprint(
    *,
    link: AccountConfiguration,
    kind: str,
    credential: ApiCredential,
    agent_id: str,
    payment_data: dict[str, str],
    skip_call_transfer: bool,
) -> str:
    """A keyed hash of what a launch sends: a replayed key must come with the same request."""
    # Keyed, so the stored value tells nothing about the customer data it was made from.
    request = [link.pk, kind, credential.pk, agent_id, payment_data, bool(skip_call_transfer)]
    return salted_hmac(
        "payments.launch-idempotency", json.dumps(request, sort_keys=True), algorithm="sha256"
    ).hexdigest()


def _audit_refusal(*, user, link: AccountConfiguration, origin: str, reason: str) -> None:
    audit_record(
        action="session.launch",
        actor=user,
        outcome=AuditOutcome.DENIED,
        origin=origin,
        obj=link,
        reason=reason,
    )


def _profile_agent_id(user) -> str:
    try:
        return user.agent_profile.agent_id
    except AttributeError:  # no profile: RelatedObjectDoesNotExist is an AttributeError too
        return ""


def _launch_credential(link: AccountConfiguration, credential: ApiCredential | None):
    if credential is None:
        # A launch needs the secret: read it with the row (one query, not a second one for the
        # deferred field); a secret that does not decrypt is named from the row without it.
        try:
            credential = link.launch_credentials().defer(None).first()
        except SecretDecryptionError:
            credential = link.launch_credentials().first()
    try:
        if credential is None:
            raise ValidationError(
                f"No enabled credentials on {link.account.name} may launch "
                f"{link.flow.environment.stage} flows: ask a registry admin to add or enable "
                "one.",
                code="no_credential",
            )
        refusal = credential.refusal_for(link)
        if refusal:
            raise ValidationError(f"{refusal} Pick another credential.", code="credential_refused")
        credential.client_secret  # noqa: B018 - a secret that does not decrypt stops us here
    except SecretDecryptionError:
        label = credential.label if credential is not None else "?"
        raise ValidationError(
            undecryptable_message(label, link.account.name), code="undecryptable"
        ) from None
    return credential
