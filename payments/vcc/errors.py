"""One exception family for everything that can go wrong talking to VCC.

Every message is a sentence a person can act on: what happened and what to do next. None of
them ever holds a secret (client secret, access token, agent tokens) or a verbatim response body.
"""


class VccError(Exception):
    """Base of every VCC client error."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, retryable: bool | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        if retryable is not None:
            self.retryable = retryable

    def __str__(self) -> str:
        return self.message


class VccUnavailable(VccError):
    """Nothing reached VCC, or reads used up their retries on connection errors or 5xx."""

    retryable = True


class VccOutcomeUnknown(VccError):
    """A create may have reached VCC: never retried, to be reconciled by reading its status."""


class VccRateLimited(VccError):
    """VCC answered 429 Too Many Requests."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        kwargs.setdefault("status", 429)
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class VccAuthenticationError(VccError):
    """VCC refused the API credentials (invalid_client, scope) or the tokens issued to them."""


class VccConfigurationNotProvisioned(VccError):
    """The accountConfigurationId is not provisioned on that VCC account."""


class VccProviderError(VccError):
    """The PCI provider refused the VCC account's provider credentials or the flow."""


class VccSessionNotFound(VccError):
    """No such session on VCC: never created there, or purged after it completed."""


class VccRequestRejected(VccError):
    """Any other refusal (4xx) of a request."""


class VccProtocolError(VccError):
    """VCC answered something that is not the documented shape (bad JSON, HTML, missing fields)."""


class VccTokenProtocolError(VccProtocolError):
    """The token endpoint answered something that is not a token: nothing else was sent."""


def error_record(error: VccError) -> dict:
    """What a shared cache keeps of an error to give it again (its message holds no secret)."""
    return {"type": type(error).__name__, "message": error.message, "status": error.status}


def error_from_record(record: dict, *, note: str = "") -> VccError:
    """The error an error_record() describes, of the same class (VccError when unknown)."""
    error_class = globals().get(str(record.get("type")))
    if not (isinstance(error_class, type) and issubclass(error_class, VccError)):
        error_class = VccError
    message = str(record.get("message") or "VCC failed just now; try again in a moment.")
    status = record.get("status")
    return error_class(f"{message}{note}", status=status if isinstance(status, int) else None)
