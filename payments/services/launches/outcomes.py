"""What a VCC answer to a create means for the launch record: created, failed or unknown."""

from payments.models import LaunchOutcome
from payments.vcc.errors import (
    VccError,
    VccOutcomeUnknown,
    VccProtocolError,
    VccTokenProtocolError,
)

UNEXPECTED_MESSAGE = (
    "Something unexpected went wrong while VCC was creating the session, so it may or may not "
    "exist. Check this session with the PCI provider before launching again."
)
NO_GUID_MESSAGE = (
    "VCC answered without a usable sessionGuid, so the session may exist but cannot be "
    "followed. Check with the PCI provider before launching again."
)


def launch_outcome(created, error: VccError | None) -> tuple[str, VccError | None, str]:
    """Return the outcome, the error to record and the sessionGuid to keep for an answer."""
    session_guid = getattr(created, "session_guid", "") or ""
    if created is not None and not 0 < len(session_guid) <= 64:
        error = VccOutcomeUnknown(NO_GUID_MESSAGE)
    if error is None:
        return LaunchOutcome.CREATED, None, session_guid
    if isinstance(error, VccTokenProtocolError):
        # The token step answered nonsense: no create was sent, so no session can exist.
        return LaunchOutcome.FAILED, error, ""
    if isinstance(error, VccOutcomeUnknown | VccProtocolError):
        # A malformed answer to a create may follow a created session: never call it failed.
        return LaunchOutcome.UNKNOWN, error, ""
    return LaunchOutcome.FAILED, error, ""


def provider_session_guid(created) -> str:
    """The PCI provider's id in VCC's answer, or ""."""
    guid = getattr(created, "provider_session_guid", None)
    if guid is None:  # a digital session: its answer's shape is not documented
        guid = getattr(created, "details", {}).get("providerSessionGuid")
    return guid if isinstance(guid, str) else ""
