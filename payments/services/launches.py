"""Launching test payment sessions on VCC and following their status."""

import logging
import time
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.debug import sensitive_variables

from payments.crypto import SecretDecryptionError
from payments.models import (
    AccountConfiguration,
    ApiCredential,
    AuditOutcome,
    LaunchOutcome,
    PaymentSession,
    SessionKind,
    Stage,
)
from payments.services.audit import audit_record
from payments.services.credentials import credential_refused
from payments.services.vcc_clients import vcc_client_for
from payments.validators import CONTROL_CHARACTERS, payment_data_validate
from payments.vcc.client import AgentAssistSession, DigitalSession, SessionStatus
from payments.vcc.errors import (
    VccAuthenticationError,
    VccError,
    VccOutcomeUnknown,
    VccProtocolError,
    VccSessionNotFound,
)

logger = logging.getLogger(__name__)

# What of a gateway's free-form paymentResultData the registry keeps: never card data.
RESULT_SUMMARY_KEYS = [
    "decision",
    "reasonCode",
    "Amount",
    "Currency",
    "MerchantReferenceCode",
    "transactionType",
    "requestID",
]
RELATED_FIELDS = ["launched_by", "account", "credential", "link", "flow"]
STATUS_FIELDS = [
    "session_state",
    "decision",
    "reason_code",
    "provider_session_guid",
    "result_summary",
    "status_updated_at",
    "status_source",
]
STATUS_SOURCE_NOT_FOUND = "not_found"
NOT_FOUND_MESSAGE = (
    "VCC no longer knows this session: results are purged 15 minutes after a session "
    "completes. The outcome shown is the last one the registry received."
)
UNEXPECTED_MESSAGE = (
    "Something unexpected went wrong while VCC was creating the session, so it may or may not "
    "exist. Check this session with the PCI provider before launching again."
)


@dataclass
class LaunchResult:
    """What a launch produced: the stored record, and the agent page's tokens in memory only."""

    session: PaymentSession
    agent_session: AgentAssistSession | None = None
    error: VccError | None = None
    digital_session: DigitalSession | None = None  # VCC's answer, shown once, not stored

    @property
    def ok(self) -> bool:
        return self.error is None


@sensitive_variables("client", "created", "credential")
def session_launch(
    *,
    link: AccountConfiguration,
    launched_by,
    kind: str,
    payment_data: dict[str, str],
    agent_id: str = "",
    credential: ApiCredential | None = None,
    skip_call_transfer: bool = True,
    confirm_account_name: str = "",
    origin: str = "",
) -> LaunchResult:
    """Start a payment session on the link's flow and record what ran where.

    Raises PermissionDenied or ValidationError before anything is sent to VCC; a VCC failure
    is recorded (outcome failed, or unknown when the session may exist) and returned, not raised.
    """
    stage = link.flow.environment.stage
    _check_permission(user=launched_by, link=link, stage=stage, origin=origin)
    credential, agent_id, payment_data = _check_request(
        link=link,
        launched_by=launched_by,
        kind=kind,
        payment_data=payment_data,
        agent_id=agent_id,
        credential=credential,
        confirm_account_name=confirm_account_name,
    )

    # No transaction is open here: the HTTP call never holds a database lock.
    created = error = None
    started = time.monotonic()
    try:
        client = vcc_client_for(credential)
        if kind == SessionKind.DIGITAL:
            created = client.create_digital_session(
                payment_data=payment_data,
                agent_id=agent_id,
                account_configuration_id=link.configuration_id,
            )
        else:
            created = client.create_agent_assist_session(
                payment_data=payment_data,
                agent_id=agent_id,
                account_configuration_id=link.configuration_id,
                skip_call_transfer=skip_call_transfer,
            )
    except VccError as exc:
        error = exc
    except Exception:
        # A bug or an unmapped fault after the request may have left: never guess "failed".
        logger.exception("Unexpected error creating a session on %s", link)
        error = VccOutcomeUnknown(UNEXPECTED_MESSAGE)
    latency_ms = round((time.monotonic() - started) * 1000)

    session = _record_launch(
        link=link,
        stage=stage,
        launched_by=launched_by,
        kind=kind,
        credential=credential,
        agent_id=agent_id,
        payment_data=payment_data,
        created=created,
        error=error,
        latency_ms=latency_ms,
        origin=origin,
    )
    if isinstance(error, VccAuthenticationError):
        _record_refused_credential(credential, error, launched_by=launched_by, origin=origin)
    agent_session = created if isinstance(created, AgentAssistSession) else None
    digital_session = created if isinstance(created, DigitalSession) else None
    return LaunchResult(
        session=session,
        agent_session=agent_session,
        digital_session=digital_session,
        error=error,
    )


def session_refresh(*, session: PaymentSession) -> PaymentSession:
    """Read the session's status from VCC (the polling fallback) and store it.

    A session VCC no longer knows (purged 15 minutes after completion) is recorded as such;
    other VCC faults are raised as VccError for the caller to show.
    """
    if not session.session_guid or session.credential_id is None:
        return session
    try:
        credential = ApiCredential.objects.select_related("account").get(pk=session.credential_id)
    except SecretDecryptionError:
        raise VccError(_undecryptable(session.credential_label, session.account_name)) from None
    client = vcc_client_for(credential)
    try:
        status = client.get_session(session.session_guid)
    except VccSessionNotFound:
        return _record_not_found(session)
    return session_apply_status(status=status, source="poll") or session


def session_apply_status(*, status: SessionStatus, source: str) -> PaymentSession | None:
    """Store a status (from a webhook or a poll) on the session with its sessionGuid.

    Idempotent: the same status twice stores the same thing; an older status never replaces a
    newer one, nor an unfinished one a finished one. Returns None for an unknown sessionGuid.
    """
    result = status.payment_result_data or {}
    summary = {key: str(result[key])[:100] for key in RESULT_SUMMARY_KEYS if key in result}
    summary["lastUpdatedOn"] = status.last_updated_on or ""
    with transaction.atomic():
        session = (
            PaymentSession.objects.select_for_update()
            .filter(session_guid=status.session_guid)
            .first()
        )
        if session is None:
            return None
        if _is_stale(session, status):
            return session
        session.session_state = status.session_state or ""
        session.decision = str(result.get("decision", ""))
        session.reason_code = str(result.get("reasonCode", ""))
        session.provider_session_guid = (
            status.provider_session_guid or session.provider_session_guid
        )
        session.result_summary = summary
        session.status_updated_at = timezone.now()
        session.status_source = source
        session.full_clean(exclude=RELATED_FIELDS, validate_unique=False)
        session.save(update_fields=STATUS_FIELDS)
    return session


def session_is_settled(session: PaymentSession) -> bool:
    """Whether the session's status can no longer change (polling may stop)."""
    return (
        session.outcome != LaunchOutcome.CREATED
        or session.is_finished
        or session.status_source == STATUS_SOURCE_NOT_FOUND
    )


def _check_permission(*, user, link: AccountConfiguration, stage: str, origin: str) -> None:
    if not user.has_perm("payments.add_paymentsession"):
        reason = (
            "You may not launch payment sessions: ask a registry admin to add you to the "
            "Agents group."
        )
    elif stage == Stage.PRODUCTION and not user.has_perm("payments.launch_production"):
        reason = (
            f"Flow {link.flow.number} “{link.flow.name}” is a production flow: launching it needs "
            "the production launch permission (the Production launchers group)."
        )
    else:
        return
    audit_record(
        action="session.launch",
        actor=user,
        outcome=AuditOutcome.DENIED,
        origin=origin,
        obj=link,
        reason=reason,
    )
    raise PermissionDenied(reason)


def _check_request(
    *,
    link: AccountConfiguration,
    launched_by,
    kind: str,
    payment_data,
    agent_id: str,
    credential: ApiCredential | None,
    confirm_account_name: str,
) -> tuple[ApiCredential, str, dict[str, str]]:
    """Return the credential, agentId and paymentData to send, or raise ValidationError."""
    errors: dict[str, list[str]] = {}
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
        errors["link"] = [
            f"Nothing can be launched here: {' and '.join(stopped)} is disabled. Pick another "
            "flow, or ask a registry admin."
        ]
    if kind not in SessionKind.values:
        errors["kind"] = ["Choose an agent assist or a digital session."]
    if flow.environment.stage == Stage.PRODUCTION and confirm_account_name.strip() != account.name:
        errors["confirm_account_name"] = [
            f"This is a production flow: type the account name “{account.name}” exactly to confirm."
        ]

    agent_id = (agent_id or "").strip() or _profile_agent_id(launched_by)
    if not agent_id:
        errors["agent_id"] = [
            "Enter the agentId to launch as (VCC needs one when the registry launches for you), "
            "or ask a registry admin to set it on your agent profile."
        ]
    elif len(agent_id) > 100 or CONTROL_CHARACTERS.search(agent_id):
        errors["agent_id"] = ["agentId must be at most 100 characters, with no control characters."]

    try:
        payment_data = payment_data_validate(payment_data, kind=kind)
    except ValidationError as exc:
        errors["payment_data"] = exc.messages

    try:
        credential = _launch_credential(link, credential)
    except ValidationError as exc:
        errors["credential"] = exc.messages

    if errors:
        raise ValidationError(errors)
    return credential, agent_id, payment_data


def _profile_agent_id(user) -> str:
    try:
        return user.agent_profile.agent_id
    except AttributeError:  # no profile: RelatedObjectDoesNotExist is an AttributeError too
        return ""


def _launch_credential(link: AccountConfiguration, credential: ApiCredential | None):
    try:
        if credential is None:
            credential = link.launch_credentials().first()
            if credential is None:
                raise ValidationError(
                    f"No enabled credentials on {link.account.name} may launch "
                    f"{link.flow.environment.stage} flows: ask a registry admin to add or enable "
                    "one."
                )
        refusal = credential.refusal_for(link)
        if refusal:
            raise ValidationError(f"{refusal} Pick another credential.")
        credential.client_secret  # noqa: B018 - a secret that does not decrypt stops us here
    except SecretDecryptionError:
        label = credential.label if credential is not None else "?"
        raise ValidationError(_undecryptable(label, link.account.name)) from None
    return credential


def _undecryptable(label: str, account_name: str) -> str:
    return (
        f"The stored secret of credentials {label} on {account_name} cannot be decrypted with "
        "the configured keys: ask a registry admin to check FIELD_ENCRYPTION_KEY or re-enter it."
    )


def _record_launch(
    *,
    link: AccountConfiguration,
    stage: str,
    launched_by,
    kind: str,
    credential: ApiCredential,
    agent_id: str,
    payment_data: dict[str, str],
    created,
    error: VccError | None,
    latency_ms: int,
    origin: str,
) -> PaymentSession:
    session_guid = getattr(created, "session_guid", "") or ""
    if created is not None and not 0 < len(session_guid) <= 64:
        error = VccOutcomeUnknown(
            "VCC answered without a usable sessionGuid, so the session may exist but cannot be "
            "followed. Check with the PCI provider before launching again."
        )
    if error is None:
        outcome = LaunchOutcome.CREATED
    elif isinstance(error, VccOutcomeUnknown | VccProtocolError):
        # A malformed answer to a create may follow a created session: never call it failed.
        outcome = LaunchOutcome.UNKNOWN
    else:
        outcome = LaunchOutcome.FAILED
    flow = link.flow
    session = PaymentSession(
        launched_by=launched_by,
        kind=kind,
        account=link.account,
        account_name=link.account.name,
        credential=credential,
        credential_label=credential.label,
        link=link,
        configuration_id=link.configuration_id,
        flow=flow,
        flow_number=flow.number,
        flow_name=flow.name,
        stage=stage,
        environment_name=flow.environment.name,
        agent_id=agent_id,
        amount=payment_data.get("Amount", ""),
        currency=payment_data.get("Currency", ""),
        merchant_reference=payment_data.get("MerchantReferenceCode", "")[:100],
        session_guid=session_guid if outcome == LaunchOutcome.CREATED else None,
        provider_session_guid=_provider_session_guid(created)[:64],
        outcome=outcome,
        latency_ms=latency_ms,
        error=error.message if error else "",
    )
    # The related rows were just read, so their existence checks (one query each) are
    # skipped; sessionGuid is VCC's, and the table's unique constraint guards it.
    session.full_clean(exclude=RELATED_FIELDS, validate_unique=False)
    if stage != Stage.PRODUCTION:
        session.save()  # one INSERT is its own transaction
        return session
    with transaction.atomic():
        session.save()
        audit_record(
            action="session.launched_production",
            actor=launched_by,
            outcome=AuditOutcome.SUCCESS if error is None else AuditOutcome.FAILURE,
            origin=origin,
            obj=session,
            reason=session.error,
            after=_launch_summary(session),
        )
    return session


def _record_refused_credential(credential, error: VccError, *, launched_by, origin: str) -> None:
    # The launch is recorded already; its credential's health flag is advisory, so a failure to
    # write it is logged, not shown to the agent in place of VCC's answer.
    try:
        credential_refused(
            credential=credential, problem=error.message, actor=launched_by, origin=origin
        )
    except DatabaseError:
        logger.exception("Could not record that VCC refused credentials %s", credential.label)


def _provider_session_guid(created) -> str:
    guid = getattr(created, "provider_session_guid", None)
    if guid is None:  # a digital session: its answer's shape is not documented
        guid = getattr(created, "details", {}).get("providerSessionGuid")
    return guid if isinstance(guid, str) else ""


def _launch_summary(session: PaymentSession) -> dict:
    return {
        "account": session.account_name,
        "credential": session.credential_label,
        "configurationId": session.configuration_id,
        "flowNumber": session.flow_number,
        "stage": session.stage,
        "kind": session.kind,
        "agentId": session.agent_id,
        "sessionGuid": session.session_guid,
        "outcome": session.outcome,
    }


def _is_stale(session: PaymentSession, status: SessionStatus) -> bool:
    if session.is_finished and (status.session_state or "").lower() != "finished":
        return True
    stored = _parse_time(session.result_summary.get("lastUpdatedOn"))
    incoming = _parse_time(status.last_updated_on)
    if stored is None or incoming is None or stored.tzinfo is None or incoming.tzinfo is None:
        return False  # cannot tell which is newer: apply it
    return incoming < stored


def _parse_time(value):
    try:
        return parse_datetime(value or "")
    except (TypeError, ValueError):
        return None


def _record_not_found(session: PaymentSession) -> PaymentSession:
    with transaction.atomic():
        session = PaymentSession.objects.select_for_update().get(pk=session.pk)
        if session.is_finished:
            return session
        session.status_source = STATUS_SOURCE_NOT_FOUND
        session.status_updated_at = timezone.now()
        session.error = NOT_FOUND_MESSAGE
        session.save(update_fields=["status_source", "status_updated_at", "error"])
    return session
