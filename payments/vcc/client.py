"""The VCC client: the only code that speaks HTTP to Vonage Contact Center.

Reads (the token grant, a session's status) are retried with capped, jittered backoff on
connection errors, 5xx and 429. A create is never retried once it may have reached VCC: VCC has
no idempotency key, so a second POST would start a second payment session.
"""

import logging
import weakref
from urllib.parse import quote

from django.views.decorators.debug import sensitive_variables

from payments.vcc.config import VccClientConfig
from payments.vcc.errors import (
    VccAuthenticationError,
    VccProtocolError,
    VccRequestRejected,
    VccTokenProtocolError,
)
from payments.vcc.messages import SCOPE, parse_json, payment_error, token_error
from payments.vcc.results import AgentAssistSession, DigitalSession, SessionStatus
from payments.vcc.retries import send_with_retries
from payments.vcc.tokens import Token, TokenCache
from payments.vcc.transport import Deadline, Reply, new_session

__all__ = [
    "AgentAssistSession",
    "DigitalSession",
    "SessionStatus",
    "VccClient",
    "VccClientConfig",
]

logger = logging.getLogger("payments.vcc")

TOKEN_PATH = "/Auth/connect/token"


class VccClient:
    @sensitive_variables("client_secret")
    def __init__(
        self,
        *,
        auth_base_url: str,
        payment_base_url: str,
        client_id: str,
        client_secret: str,
        account_name: str = "",
        credential_label: str = "",
        config: VccClientConfig | None = None,
    ) -> None:
        self.auth_base_url = auth_base_url.rstrip("/")
        self.payment_base_url = payment_base_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret or ""
        self.account_name = account_name
        self.credential_label = credential_label
        self.config = config or VccClientConfig.from_settings()
        self._session = new_session()
        weakref.finalize(self, self._session.close)
        self._tokens = TokenCache(
            auth_url=self.auth_base_url,
            client_id=client_id,
            refresh_margin=self.config.token_refresh_margin,
            describe=self.describe,
            failure_cache=self.config.token_failure_cache,
        )

    def __repr__(self) -> str:
        return f"<VccClient {self.describe}>"

    @property
    def describe(self) -> str:
        if self.credential_label and self.account_name:
            return f"credentials {self.credential_label} on {self.account_name}"
        return f"API client {self.client_id}"

    # --- The remote operations --------------------------------------------------------------

    def create_agent_assist_session(
        self,
        *,
        payment_data: dict[str, str],
        agent_id: str | None = None,
        account_configuration_id: int | None = None,
        skip_call_transfer: bool = False,
    ) -> AgentAssistSession:
        """Start an agent assist session (POST /v1/session); never retried once sent."""
        body = _session_body(payment_data, agent_id, account_configuration_id)
        body["skipCallTransfer"] = bool(skip_call_transfer)
        payload = self._payment(
            "POST",
            "/v1/session",
            what="the agent assist session request",
            creates=True,
            body=body,
            configuration_id=account_configuration_id,
        )
        return _created(AgentAssistSession, payload)

    def create_digital_session(
        self,
        *,
        payment_data: dict[str, str],
        agent_id: str | None = None,
        account_configuration_id: int | None = None,
    ) -> DigitalSession:
        """Start a digital session, a payment link for the customer (POST /v1/digitalsession)."""
        body = _session_body(payment_data, agent_id, account_configuration_id)
        payload = self._payment(
            "POST",
            "/v1/digitalsession",
            what="the digital session request",
            creates=True,
            body=body,
            configuration_id=account_configuration_id,
        )
        return _created(DigitalSession, payload)

    def get_session(self, session_guid: str) -> SessionStatus:
        """Read a session's status (GET /v1/session/{sessionGuid})."""
        if not isinstance(session_guid, str) or not 0 < len(session_guid.strip()) <= 100:
            raise VccRequestRejected(f"{session_guid!r} is not a sessionGuid: copy it again.")
        session_guid = session_guid.strip()
        payload = self._payment(
            "GET",
            f"/v1/session/{quote(session_guid, safe='')}",
            what=f"the status request for session {session_guid}",
            creates=False,
            session_guid=session_guid,
        )
        return SessionStatus.from_payload(payload)

    def verify_credentials(self) -> None:
        """Ask VCC for a fresh token, bypassing the cache; raise VccError when it refuses."""
        self._fetch_token(Deadline(self.config.deadline))

    # --- Internals --------------------------------------------------------------------------

    def _send(self, method: str, url: str, *, deadline: Deadline, **kwargs) -> Reply:
        return send_with_retries(
            self._session,
            method,
            url,
            config=self.config,
            deadline=deadline,
            account=self.account_name or self.describe,
            **kwargs,
        )

    @sensitive_variables("form", "payload", "value")
    def _fetch_token(self, deadline: Deadline) -> Token:
        if not self._client_secret:
            raise VccAuthenticationError(
                f"{self.describe[:1].upper()}{self.describe[1:]} have no client secret stored: "
                "type it on the credential's page in the registry, then try again."
            )
        form = {
            "grant_type": "client_credentials",
            "scope": SCOPE,
            "client_id": self.client_id,
            "client_secret": self._client_secret,
        }
        what = "the access token request"
        url = self.auth_base_url + TOKEN_PATH
        reply = self._send("POST", url, deadline=deadline, what=what, creates=False, data=form)
        try:
            return self._token_from(reply, what=what)
        except VccProtocolError as exc:
            # Told apart from a malformed answer to a create: here nothing else was sent, so a
            # launch that stops here certainly failed (never "outcome unknown").
            raise VccTokenProtocolError(
                f"{exc.message} No session was requested.", status=exc.status
            ) from None

    @sensitive_variables("payload", "value")
    def _token_from(self, reply: Reply, *, what: str) -> Token:
        if reply.status != 200:
            raise token_error(reply, describe=self.describe, secrets=(self._client_secret,))
        payload = parse_json(reply, what=what)
        value = payload.get("access_token")
        token_type = payload.get("token_type")
        lifetime = payload.get("expires_in")
        if isinstance(lifetime, str) and lifetime.strip().isdigit():
            lifetime = int(lifetime)
        problem = None
        if not isinstance(value, str) or not value:
            problem = "has no access_token"
        elif not isinstance(token_type, str) or token_type.lower() != "bearer":
            problem = "is not a bearer token"
        elif isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime < 0:
            problem = "has no valid expires_in"
        if problem:
            raise VccProtocolError(
                f"VCC's answer to {what} {problem}: it is not the documented shape. Check the "
                "account's authentication API base URL points at VCC.",
                status=reply.status,
            )
        return Token(value=value, lifetime=float(lifetime))

    @sensitive_variables("token", "headers")
    def _payment(
        self,
        method: str,
        path: str,
        *,
        what: str,
        creates: bool,
        body: dict | None = None,
        configuration_id: int | None = None,
        session_guid: str | None = None,
    ) -> dict:
        deadline = Deadline(self.config.deadline)
        url = self.payment_base_url + path
        for refreshed in (False, True):
            token = self._tokens.get(self._fetch_token, deadline)
            headers = {"Authorization": f"Bearer {token}"}
            reply = self._send(
                method,
                url,
                deadline=deadline,
                what=what,
                creates=creates,
                headers=headers,
                json=body,
            )
            if reply.status != 401:
                break
            self._tokens.invalidate(token)
            if refreshed:
                raise VccAuthenticationError(
                    f"VCC refused a freshly issued access token for {self.describe} (401 twice "
                    f"for {what}). Check with Vonage that this API client may use the Payment "
                    f"API ({SCOPE}), then check the credentials again.",
                    status=401,
                )
            logger.info("VCC refused the token for %s (401): fetching another", self.describe)
        if 200 <= reply.status < 300:
            try:
                return parse_json(reply, what=what)
            except VccProtocolError as exc:
                raise _maybe_created(exc) if creates else exc from None
        raise payment_error(
            reply,
            what=what,
            describe=self.describe,
            account_name=self.account_name,
            payment_base_url=self.payment_base_url,
            configuration_id=configuration_id,
            session_guid=session_guid,
            secrets=(self._client_secret, token),
        )


def _session_body(payment_data, agent_id, configuration_id) -> dict:
    # Only the wire contract (a JSON object of strings, an integer id) is checked here, to build
    # a body VCC can read; what the values may be is the launch service's rule
    # (payments.validators.payment_data_validate), not the client's.
    if not isinstance(payment_data, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in payment_data.items()
    ):
        raise VccRequestRejected(
            "paymentData must be a JSON object of text values; nothing was sent."
        )
    body: dict = {"paymentData": payment_data}
    if agent_id:
        body["agentId"] = str(agent_id)
    if configuration_id is not None:
        if isinstance(configuration_id, bool) or not isinstance(configuration_id, int):
            raise VccRequestRejected(
                f"accountConfigurationId must be a whole number, not {configuration_id!r}; "
                "nothing was sent."
            )
        body["accountConfigurationId"] = configuration_id
    return body


def _created(result_class, payload: dict):
    try:
        return result_class.from_payload(payload)
    except VccProtocolError as exc:
        raise _maybe_created(exc) from None


def _maybe_created(exc: VccProtocolError) -> VccProtocolError:
    return VccProtocolError(
        f"{exc.message} VCC may have created a session anyway: check the sessions list before "
        "launching again.",
        status=exc.status,
    )
