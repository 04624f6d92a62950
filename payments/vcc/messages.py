"""VCC's error answers turned into messages a person can act on (never a verbatim body)."""

import json
import re
from http import HTTPStatus
from urllib.parse import urlsplit

from payments.redaction import REDACTED
from payments.vcc.errors import (
    VccAuthenticationError,
    VccConfigurationNotProvisioned,
    VccError,
    VccProtocolError,
    VccProviderError,
    VccRequestRejected,
    VccSessionNotFound,
)
from payments.vcc.transport import Reply

NOT_PROVISIONED = re.compile(
    r"Account configuration does not exists? for account:\s*(?P<account>.*?),\s*"
    r"configuration Id:\s*(?P<id>\d+)",
    re.IGNORECASE,
)
PROVIDER_KEY = re.compile(
    r"Provider's authorization endpoint returned error message 'invalid_client_key'"
)
PROVIDER_CLIENT = re.compile(
    r"Provider's authorization endpoint returned error message 'invalid_client'"
    r"(?:.*?for account name:\s*(?P<account>.*?),\s*configuration id:\s*(?P<id>\d+))?",
    re.IGNORECASE | re.DOTALL,
)
SCOPE = "globalpci"
MESSAGE_KEYS = ("error_description", "message", "Message", "error", "title", "detail")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]+")


def status_text(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def parse_json(reply: Reply, *, what: str) -> dict:
    """Return the JSON object of a successful answer, or raise VccProtocolError."""
    content_type = reply.headers.get("Content-Type", "")
    try:
        payload = json.loads(reply.body)
    except (ValueError, UnicodeDecodeError):
        kind = "an HTML page" if "html" in content_type.lower() else "something that is not JSON"
        raise VccProtocolError(
            f"VCC answered {what} with {kind} instead of the documented JSON "
            f"({status_text(reply.status)}). Check the account's base URLs point at VCC "
            "rather than a proxy or login page.",
            status=reply.status,
        ) from None
    if not isinstance(payload, dict):
        raise VccProtocolError(
            f"VCC answered {what} with JSON that is not an object. Check the account's base URLs.",
            status=reply.status,
        )
    return payload


def error_fields(reply: Reply) -> tuple[str, str]:
    """Return (OAuth error code, human text) found in an error answer, either may be empty."""
    try:
        payload = json.loads(reply.body)
    except (ValueError, UnicodeDecodeError):
        payload = reply.body.decode("utf-8", "replace")
    if isinstance(payload, str):
        return "", payload
    if not isinstance(payload, dict):
        return "", ""
    code = payload.get("error") if isinstance(payload.get("error"), str) else ""
    texts = [str(payload[key]) for key in MESSAGE_KEYS if isinstance(payload.get(key), str)]
    return code, " ".join(dict.fromkeys(texts))


def sanitised(text: str, *, secrets: tuple[str, ...], limit: int = 200) -> str:
    """Return error text safe to show: no secrets we hold, no control characters, short."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = CONTROL_CHARACTERS.sub(" ", text).strip()
    if "<html" in text.lower() or "<!doctype" in text.lower():
        return "(an HTML page)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def documented_error(
    text: str, *, account_name: str, configuration_id: int | None
) -> VccError | None:
    """Map the Payment API's documented error strings to errors a person can act on."""
    if match := NOT_PROVISIONED.search(text):
        shown_id = configuration_id if configuration_id is not None else match["id"]
        return VccConfigurationNotProvisioned(
            f"Configuration id {shown_id} is not provisioned on VCC account "
            f"{account_name or match['account']}. Check the configuration link in the registry "
            "(account and id), or ask Vonage to provision that id on the account."
        )
    if PROVIDER_KEY.search(text):
        return VccProviderError(
            f"The PCI provider rejected the provider credentials stored in VCC account "
            f"{account_name or 'of these credentials'} ('invalid_client_key'). Vonage must fix "
            "the account's payment provider settings; nothing in the registry needs changing."
        )
    if match := PROVIDER_CLIENT.search(text):
        shown_id = configuration_id if configuration_id is not None else match["id"]
        flow = f"configuration id {shown_id}" if shown_id is not None else "this flow"
        return VccProviderError(
            f"The PCI provider's API user for VCC account "
            f"{account_name or match['account'] or 'of these credentials'} may not start "
            f"sessions for {flow} ('invalid_client'). Ask "
            "Vonage or the PCI provider to grant that flow to the account's API user."
        )
    return None


def is_documented_error(reply: Reply) -> bool:
    _, text = error_fields(reply)
    return documented_error(text, account_name="", configuration_id=None) is not None


def authentication_error(describe: str, *, status: int) -> VccAuthenticationError:
    return VccAuthenticationError(
        f"VCC rejected {describe} (invalid_client): the client ID or secret is wrong, or the "
        "API client was removed. Store the current secret on the credential's page in the "
        "registry, then check the credentials again.",
        status=status,
    )


def redirect_error(reply: Reply, what: str) -> VccProtocolError:
    target = urlsplit(reply.headers.get("Location", "")).netloc or "another address"
    return VccProtocolError(
        f"VCC answered {what} with a redirect to {target} ({status_text(reply.status)}); it "
        "was not followed, so nothing was sent there. Check the account's base URLs.",
        status=reply.status,
    )


def token_error(reply: Reply, *, describe: str, secrets: tuple[str, ...]) -> VccError:
    """Return the error for a token endpoint answer other than 200."""
    code, text = error_fields(reply)
    status = reply.status
    if 300 <= status < 400:
        return redirect_error(reply, "the access token request")
    if code == "invalid_client":
        return authentication_error(describe, status=status)
    if code == "invalid_scope":
        return VccAuthenticationError(
            f"VCC does not grant the Payment API scope ({SCOPE}) to {describe} "
            "(invalid_scope). Ask Vonage to enable the Payment API for this API client.",
            status=status,
        )
    if code == "unsupported_grant_type":
        return VccRequestRejected(
            "VCC refused the client_credentials grant (unsupported_grant_type). Check the "
            "account's authentication API base URL is VCC's token endpoint.",
            status=status,
        )
    if status in (401, 403):
        return VccAuthenticationError(
            f"VCC refused {describe} ({status_text(status)}). Check the client ID and the "
            "stored secret, then check the credentials again.",
            status=status,
        )
    detail = sanitised(text, secrets=secrets) or "no reason given"
    return VccRequestRejected(
        f"VCC refused the access token request for {describe} ({status_text(status)}): {detail}.",
        status=status,
    )


def payment_error(
    reply: Reply,
    *,
    what: str,
    describe: str,
    account_name: str,
    payment_base_url: str,
    configuration_id: int | None,
    session_guid: str | None,
    secrets: tuple[str, ...],
) -> VccError:
    """Return the error for a Payment API answer other than 2xx (after the 401 retry)."""
    status = reply.status
    code, text = error_fields(reply)
    mapped = documented_error(text, account_name=account_name, configuration_id=configuration_id)
    if mapped is not None:
        mapped.status = status
        return mapped
    if 300 <= status < 400:
        return redirect_error(reply, what)
    if code == "invalid_client":
        return authentication_error(describe, status=status)
    if status == 403:
        return VccAuthenticationError(
            f"VCC refused {describe} permission for {what} (403 Forbidden). Ask Vonage to "
            f"grant the Payment API ({SCOPE}) to this API client.",
            status=status,
        )
    if status == 404 and session_guid is not None:
        return VccSessionNotFound(
            f"VCC has no session {session_guid} for {account_name or describe}: it was never "
            "created on that account, or its result was purged 15 minutes after it completed.",
            status=status,
        )
    if status == 404:
        return VccRequestRejected(
            f"VCC answered 404 Not Found to {what}. Check the account's Payment API base URL "
            f"({payment_base_url}).",
            status=status,
        )
    detail = sanitised(text, secrets=secrets) or "no reason given"
    return VccRequestRejected(
        f"VCC rejected {what} ({status_text(status)}): {detail}. Check the payment data and "
        "the configuration id.",
        status=status,
    )
