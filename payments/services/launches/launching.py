"""session_launch: start a payment session on VCC once, and record what ran where."""

import logging
import time
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.views.decorators.debug import sensitive_variables

from payments.models import (
    AccountConfiguration,
    ApiCredential,
    AuditOutcome,
    LaunchOutcome,
    PaymentSession,
    SessionKind,
    Stage,
)
from payments.serialisers import session_json
from payments.services.audit import audit_record
from payments.services.launches.gate import check_permission, check_request, request_fingerprint
from payments.services.launches.health import record_refused_credential
from payments.services.launches.outcomes import (
    UNEXPECTED_MESSAGE,
    launch_outcome,
    provider_session_guid,
)
from payments.services.launches.status import RELATED_FIELDS
from payments.services.vcc_clients import vcc_client_for
from payments.vcc.agent_pages import agent_page_refusal
from payments.vcc.client import AgentAssistSession, DigitalSession
from payments.vcc.errors import VccAuthenticationError, VccError, VccOutcomeUnknown

logger = logging.getLogger(__name__)

# A claimed launch whose VCC call has not returned: outcome unknown until it does (and for
# good, should the process stop meanwhile, which is the truth: it may exist on VCC).
IN_FLIGHT_MESSAGE = (
    "The registry is asking VCC to create this session; if this stays, the process stopped "
    "before VCC answered: check this session with the PCI provider before launching again."
)
OUTCOME_FIELDS = ["session_guid", "provider_session_guid", "outcome", "latency_ms", "error"]
AUDIT_SUMMARY = [
    "account",
    "credential",
    "configurationId",
    "flowNumber",
    "stage",
    "kind",
    "agentId",
    "sessionGuid",
    "outcome",
]


@dataclass
class LaunchResult:
    """What a launch produced: the stored record, and the agent page's tokens in memory only.

    replayed: the idempotency key was used before with the same request, so nothing was sent
    and session is that first launch (its tokens were shown once and are gone).
    """

    session: PaymentSession
    agent_session: AgentAssistSession | None = None
    error: VccError | None = None
    digital_session: DigitalSession | None = None  # VCC's answer, shown once, not stored
    replayed: bool = False

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
    idempotency_key: str = "",
) -> LaunchResult:
    """Start a payment session on the link's flow and record what ran where.

    Raises PermissionDenied or ValidationError before anything is sent to VCC; a VCC failure
    is recorded (outcome failed, or unknown when the session may exist) and returned, not raised.
    With an idempotency_key, the launcher's first launch with that key is the only one: the
    same request again returns it (replayed), another request with it is refused.
    """
    stage = link.flow.environment.stage
    check_permission(user=launched_by, link=link, origin=origin)
    credential, agent_id, payment_data = check_request(
        link=link,
        launched_by=launched_by,
        kind=kind,
        payment_data=payment_data,
        agent_id=agent_id,
        credential=credential,
        confirm_account_name=confirm_account_name,
        idempotency_key=idempotency_key,
        origin=origin,
    )
    session = _new_session(
        link=link,
        launched_by=launched_by,
        kind=kind,
        credential=credential,
        agent_id=agent_id,
        payment_data=payment_data,
    )
    if idempotency_key:
        session.idempotency_key = idempotency_key
        session.idempotency_fingerprint = request_fingerprint(
            link=link,
            kind=kind,
            credential=credential,
            agent_id=agent_id,
            payment_data=payment_data,
            skip_call_transfer=skip_call_transfer,
        )
        first = _claim(session)
        if first is not None:
            return LaunchResult(session=first, replayed=True)

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

    outcome, error, session_guid = launch_outcome(created, error)
    session.outcome = outcome
    session.session_guid = session_guid or None
    session.provider_session_guid = provider_session_guid(created)[:64]
    session.latency_ms = latency_ms
    session.error = error.message if error else ""
    agent_session = created if isinstance(created, AgentAssistSession) and not error else None
    page_refusal = None
    if agent_session is not None:
        page_refusal = agent_page_refusal(
            region=link.account.region, iframe_url=agent_session.iframe_url
        )
    if page_refusal:
        # The tokens never leave this process for a host nobody allowed; the session is kept.
        session.error, agent_session = page_refusal, None
    _record_launch(session, stage=stage, origin=origin, failed=error is not None)
    if page_refusal:
        _record_agent_page_refused(session, origin=origin)
    if isinstance(error, VccAuthenticationError):
        record_refused_credential(credential, error, launched_by=launched_by, origin=origin)
    return LaunchResult(
        session=session,
        agent_session=agent_session,
        digital_session=created if isinstance(created, DigitalSession) else None,
        error=error,
    )


def _new_session(
    *,
    link: AccountConfiguration,
    launched_by,
    kind: str,
    credential: ApiCredential,
    agent_id: str,
    payment_data: dict[str, str],
) -> PaymentSession:
    """The record of what runs where, as it is now, before VCC is asked."""
    flow = link.flow
    return PaymentSession(
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
        stage=flow.environment.stage,
        environment_name=flow.environment.name,
        agent_id=agent_id,
        amount=payment_data.get("Amount", ""),
        currency=payment_data.get("Currency", ""),
        merchant_reference=payment_data.get("MerchantReferenceCode", "")[:100],
        outcome=LaunchOutcome.UNKNOWN,
        error=IN_FLIGHT_MESSAGE,
    )


def _claim(session: PaymentSession) -> PaymentSession | None:
    """Store the session under its key before VCC is asked; return the key's first launch.

    Two requests with one key race for the unique (launcher, key) row: one inserts it and
    launches, the other finds it and never reaches VCC.
    """
    session.full_clean(exclude=RELATED_FIELDS, validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            session.save()
        return None
    except IntegrityError:
        first = PaymentSession.objects.filter(
            launched_by=session.launched_by, idempotency_key=session.idempotency_key
        ).first()
        if first is None:
            raise  # another constraint: not a replay
    if first.idempotency_fingerprint != session.idempotency_fingerprint:
        raise ValidationError(
            {
                "idempotency_key": ValidationError(
                    f"This idempotency key was already used for another launch (session "
                    f"#{first.pk}) with a different request: use a new key for a new launch.",
                    code="idempotency_conflict",
                )
            }
        )
    if first.latency_ms is None:
        raise ValidationError(
            {
                "idempotency_key": ValidationError(
                    f"The launch with this idempotency key (session #{first.pk}) has not had "
                    "VCC's answer yet: ask again in a few seconds, or check the session before "
                    "launching again.",
                    code="idempotency_in_progress",
                )
            }
        )
    return first


def _record_launch(session: PaymentSession, *, stage: str, origin: str, failed: bool) -> None:
    # sessionGuid is VCC's and the idempotency key was claimed: the table's unique constraints
    # guard both, so only the fields are validated here (the constraint check cost 0.12 ms).
    session.full_clean(exclude=RELATED_FIELDS, validate_unique=False, validate_constraints=False)
    claimed = session.pk is not None
    if stage != Stage.PRODUCTION:
        # One INSERT or UPDATE is its own transaction.
        session.save(update_fields=OUTCOME_FIELDS if claimed else None)
        return
    with transaction.atomic():
        session.save(update_fields=OUTCOME_FIELDS if claimed else None)
        audit_record(
            action="session.launched_production",
            actor=session.launched_by,
            outcome=AuditOutcome.FAILURE if failed else AuditOutcome.SUCCESS,
            origin=origin,
            obj=session,
            reason=session.error,
            after=session_json(session, only=AUDIT_SUMMARY),
        )


def _record_agent_page_refused(session: PaymentSession, *, origin: str) -> None:
    logger.warning("Agent page of session %s not opened: %s", session.pk, session.error)
    audit_record(
        action="session.agent_page_refused",
        actor=session.launched_by,
        outcome=AuditOutcome.DENIED,
        origin=origin,
        obj=session,
        reason=session.error,
    )
