"""Following a launched session's status: VCC's webhooks and the polling fallback."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from payments.crypto import SecretDecryptionError
from payments.models import ApiCredential, LaunchOutcome, PaymentSession
from payments.services.launches.health import undecryptable_message
from payments.services.launches.single_flight import ALREADY_READING, status_read_once
from payments.services.vcc_clients import vcc_client_for
from payments.vcc.client import SessionStatus
from payments.vcc.errors import VccError, VccProtocolError, VccSessionNotFound

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
    other VCC faults are raised as VccError for the caller to show. One read per session at a
    time (a concurrent caller gets the stored state) and a failure is remembered for
    VCC_STATUS_FAILURE_CACHE seconds (see single_flight.py).
    """
    if not session.session_guid or session.credential_id is None:
        return session
    guid = session.session_guid
    credential = ApiCredential.objects.select_related("account").get(pk=session.credential_id)
    try:
        client = vcc_client_for(credential)  # the secret is read (and decrypted) here
    except SecretDecryptionError:
        raise VccError(
            undecryptable_message(session.credential_label, session.account_name)
        ) from None
    try:
        status = status_read_once(session.session_guid, lambda: client.get_session(guid))
    except VccSessionNotFound:
        return _record_not_found(session)
    if status is ALREADY_READING:
        # Another request is asking VCC right now: its answer is stored for everyone.
        return PaymentSession.objects.get(pk=session.pk)
    try:
        return session_apply_status(status=status, source="poll") or session
    except ValidationError as exc:
        # VCC's own answer cannot be stored: say so as a VCC fault, like any other bad answer.
        raise VccProtocolError(
            f"VCC's status of session {session.session_guid} was not stored: "
            f"{' '.join(exc.messages)}"
        ) from None


def session_apply_status(*, status: SessionStatus, source: str) -> PaymentSession | None:
    """Store a status (from a webhook or a poll) on the session with its sessionGuid.

    Idempotent: the same status twice stores the same thing; an older status never replaces a
    newer one, and once a session is finished its status is final. A status with characters
    no database stores, or stamped further in the future than VCC_STATUS_MAX_CLOCK_SKEW allows,
    is refused (ValidationError). Returns None for an unknown sessionGuid.
    """
    _check_storable(status)
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
    # A finished session's decision is final: VCC sends one result per session, so anything
    # later (a replay, a forged or confused webhook, whatever its lastUpdatedOn) changes nothing.
    if session.is_finished:
        return True
    stored = _parse_time(session.result_summary.get("lastUpdatedOn"))
    incoming = _parse_time(status.last_updated_on)
    if stored is None or incoming is None or stored.tzinfo is None or incoming.tzinfo is None:
        return False  # cannot tell which is newer: apply it
    return incoming < stored


def _check_storable(status: SessionStatus) -> None:
    bad = _first_bad_text(status.raw if status.raw is not None else {})
    if bad is not None:
        raise ValidationError(
            f"The session status holds characters that cannot be stored ({bad}): "
            "send text without NUL, control characters or unpaired surrogates.",
            code="bad_characters",
        )
    when = _parse_time(status.last_updated_on)
    if when is None or when.tzinfo is None:
        return
    skew = timedelta(seconds=settings.VCC_STATUS_MAX_CLOCK_SKEW)
    if when > timezone.now() + skew:
        # Stored, it would make every genuine later status look older and be ignored.
        raise ValidationError(
            f"The session status's lastUpdatedOn ({status.last_updated_on[:40]}) is more than "
            f"{skew.total_seconds():g} s in the future: check the sender's clock.",
            code="future_timestamp",
        )


def _first_bad_text(payload) -> str | None:
    """Describe the first unstorable character in any key or text of a JSON value, or None."""
    pending = [payload]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            for char in value:
                code = ord(char)
                if (code < 0x20 and char not in "\t\n\r") or 0xD800 <= code <= 0xDFFF:
                    return f"U+{code:04X}"
    return None


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
