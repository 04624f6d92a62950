"""Which failures are retried, how long to wait, and what a person is told when it gives up."""

import logging
import time
from urllib.parse import urlsplit

import requests
from django.views.decorators.debug import sensitive_variables

from payments.vcc.config import VccClientConfig
from payments.vcc.errors import VccOutcomeUnknown, VccRateLimited, VccUnavailable
from payments.vcc.messages import is_documented_error, status_text
from payments.vcc.transport import (
    Deadline,
    Reply,
    TransportFailure,
    backoff,
    parse_retry_after,
    send,
)

logger = logging.getLogger("payments.vcc")


@sensitive_variables("headers", "data", "json")
def send_with_retries(
    session: requests.Session,
    method: str,
    url: str,
    *,
    config: VccClientConfig,
    deadline: Deadline,
    what: str,
    creates: bool,
    account: str,
    headers: dict | None = None,
    data: dict | None = None,
    json: dict | None = None,
) -> Reply:
    """Send, retrying only what is safe; return the first answer that is not transient.

    Reads retry connection failures, timeouts, 5xx and 429. A Retry-After (seconds or HTTP
    date) is waited for when it is within retry_after_cap and the deadline; a longer one ends
    the retries at once, so the person is told how long to wait instead.
    A create retries only when the connection provably never opened; once it may have reached
    VCC, any failure is VccOutcomeUnknown, and 429 fails fast with VccRateLimited.
    """
    headers = {"Accept": "application/json", **(headers or {})}
    host = urlsplit(url).netloc or url
    attempt = 0
    while True:
        attempt += 1
        retry_after, status = None, None
        try:
            reply = send(
                session,
                method,
                url,
                deadline=deadline,
                headers=headers,
                data=data,
                json=json,
                connect_timeout=config.connect_timeout,
                read_timeout=config.read_timeout,
            )
        except TransportFailure as failure:
            if creates and failure.sent:
                raise _outcome_unknown(what, f"was sent to {host} but {failure.reason}") from None
            if failure.deadline or failure.permanent:
                raise _unreachable(what, host, failure.reason, attempt, creates=creates) from None
            problem = failure.reason
        else:
            status = reply.status
            if not (status == 429 or (status >= 500 and not is_documented_error(reply))):
                return reply
            retry_after = parse_retry_after(reply.headers.get("Retry-After"))
            if creates and status == 429:
                raise _rate_limited(what, account, retry_after, creates=True)
            if creates:
                raise _outcome_unknown(what, f"got {status_text(status)}", status=status)
            problem = status_text(status)
        if retry_after is not None:
            delay = retry_after
        else:
            delay = backoff(attempt, base=config.backoff_base, cap=config.backoff_cap)
        waits_too_long = delay >= deadline.remaining() or (
            retry_after is not None and retry_after > config.retry_after_cap
        )
        if attempt > config.max_retries or waits_too_long:
            if status == 429:
                raise _rate_limited(what, account, retry_after, creates=False, attempts=attempt)
            if status is not None:
                raise VccUnavailable(
                    f"VCC answered {problem} to {attempt} attempts of {what}. Nothing was "
                    "changed; try again in a minute.",
                    status=status,
                )
            raise _unreachable(what, host, problem, attempt, creates=creates)
        logger.warning(
            "VCC: %s to %s failed (%s); retrying in %.2f s (attempt %d of %d)",
            what,
            host,
            problem,
            delay,
            attempt + 1,
            config.max_retries + 1,
        )
        time.sleep(delay)


def _outcome_unknown(what: str, happened: str, *, status: int | None = None) -> VccOutcomeUnknown:
    return VccOutcomeUnknown(
        f"VCC may have created the session: {what} {happened}. Do not launch again yet: check "
        "the session's status or the sessions list first.",
        status=status,
    )


def _unreachable(
    what: str, host: str, reason: str, attempts: int, *, creates: bool
) -> VccUnavailable:
    tries = f" ({attempts} attempts)" if attempts > 1 else ""
    created = " The request never reached VCC, so no session was created." if creates else ""
    return VccUnavailable(
        f"VCC did not answer {what} at {host}: {reason}{tries}.{created} Try again in a "
        "minute; if it keeps failing, check the account's base URL and VCC's service status."
    )


def _rate_limited(
    what: str, account: str, retry_after: float | None, *, creates: bool, attempts: int = 1
) -> VccRateLimited:
    wait = f"{retry_after:.0f} seconds" if retry_after is not None else "a minute"
    if creates:
        text = (
            f"VCC is rate-limiting requests for {account} (429 Too Many Requests): nothing was "
            f"created. Wait {wait} and launch again."
        )
    else:
        text = (
            f"VCC is rate-limiting requests for {account}: {attempts} attempts of {what} got "
            f"429 Too Many Requests. Wait {wait} and try again."
        )
    return VccRateLimited(text, retry_after=retry_after)
