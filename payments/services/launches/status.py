"""Following a launched session's status: VCC's webhooks and the polling fallback."""

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from payments.crypto import SecretDecryptionError
from payments.models import ApiCredential, LaunchOutcome, PaymentSession
from payments.services.launches.health import undecryptable_message
from payments.services.vcc_clients import vcc_client_for
from payments.vcc.client import SessionStatus
from payments.vcc.errors import VccError, VccSessionNotFound

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
# The related rows were just read, so their existence checks (one query each) are skipped.
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
        raise VccError(
            undecryptable_message(session.credential_label, session.account_name)
        ) from None
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
