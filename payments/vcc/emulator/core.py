"""The emulated VCC: token grants, payment sessions and their completion, all in memory.

Answers are (status, body) pairs in the documented shapes; the HTTP layer (server.py) adds
faults, latency and framing. Field names, status codes and error strings follow the VCC
documentation; where it is silent, the choice made here is the one the client must survive.
"""

import base64
import collections
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qs, unquote

from payments.vcc.emulator.faults import Faults, Stats
from payments.vcc.emulator.world import Account, Configuration, World

DECISIONS = {"ACCEPT": "100", "DECLINE": "481"}
NOT_PROVISIONED = (
    "Account configuration does not exists for account: {account}, configuration Id: {id}."
)
PROVIDER_ERRORS = {
    "invalid_client_key": "Provider's authorization endpoint returned error message "
    "'invalid_client_key'",
    "invalid_client": "Provider's authorization endpoint returned error message "
    "'invalid_client'/'invalid_client' for account name: {account}, configuration id: {id}",
}


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _oauth_error(error: str, description: str) -> dict:
    return {"error": error, "error_description": description}


def minor_units(amount: str) -> str:
    """Return "12.40" as "1240", the way the documented paymentResultData shows it."""
    try:
        return str(int((Decimal(amount) * 100).to_integral_value()))
    except (InvalidOperation, ValueError):
        return amount


@dataclass
class IssuedToken:
    account: Account
    expires_at: float


@dataclass
class EmulatedSession:
    guid: str
    kind: str
    account: Account
    configuration: Configuration
    agent_id: str
    payment_data: dict
    skip_call_transfer: bool
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    page_key: str = field(repr=False)
    provider_session_guid: str = field(default_factory=lambda: str(uuid.uuid4()))
    call_guid: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_on: str = field(default_factory=_now_text)
    last_updated_on: str = field(default_factory=_now_text)
    state: str = "Created"
    result: dict | None = None
    finished_at: float | None = None
    webhook: str = ""

    def status(self) -> dict:
        """The documented status response (also the webhook body)."""
        payload = {
            "lastUpdatedOn": self.last_updated_on,
            "callGuid": self.call_guid,
            "createdOn": self.created_on,
            "sessionGuid": self.guid,
            "sessionState": self.state,
            "providerSessionGuid": self.provider_session_guid,
        }
        if self.result is not None:
            payload["paymentResultData"] = self.result
        return payload

    @property
    def finished(self) -> bool:
        return self.state == "Finished"


class EmulatedVcc:
    def __init__(self, world: World, *, faults: Faults, stats: Stats):
        self.world = world
        self.faults = faults
        self.stats = stats
        self.base_url = ""
        self.on_finished = None
        self._tokens: dict[str, IssuedToken] = {}
        self._sessions: dict[str, EmulatedSession] = {}
        # Finished sessions in the order they finished, so a purge looks only at the oldest.
        self._finished: collections.deque[EmulatedSession] = collections.deque()
        self._lock = threading.Lock()

    # --- Authentication API ---------------------------------------------------------------

    def token(self, body: bytes, content_type: str, authorization: str) -> tuple[int, dict]:
        """POST /Auth/connect/token."""
        if "application/x-www-form-urlencoded" not in content_type.lower():
            return 400, {
                "error": "invalid_request",
                "error_description": "The body must be application/x-www-form-urlencoded",
            }
        form = {
            key: values[0]
            for key, values in parse_qs(body.decode("utf-8", "replace"), True).items()
        }
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if authorization[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(authorization[6:].strip()).decode()
                client_id, _, client_secret = decoded.partition(":")
                client_id, client_secret = unquote(client_id), unquote(client_secret)
            except (ValueError, UnicodeDecodeError):
                client_id = client_secret = ""
        account = self.world.authenticate(client_id, client_secret)
        if account is None or self.faults.invalid_client:
            return self.faults.invalid_client_status, {"error": "invalid_client"}
        if form.get("grant_type") != "client_credentials":
            return 400, _oauth_error("unsupported_grant_type", "Invalid grant_type")
        scopes = form.get("scope", "").split()
        if not scopes:
            return 400, _oauth_error("invalid_scope", "You must specify a scope")
        granted = self.faults.granted_scopes.split()
        for scope in scopes:
            if scope not in granted:
                return 400, _oauth_error("invalid_scope", f'"{scope}" is an invalid scope')
        value = secrets.token_urlsafe(32)
        lifetime = self.faults.token_lifetime
        with self._lock:
            self._tokens[value] = IssuedToken(account, time.monotonic() + lifetime)
        self.stats.count("tokens_issued")
        return 200, {
            "access_token": value,
            "token_type": self.faults.token_type,
            "expires_in": lifetime,
        }

    def bearer(self, authorization: str) -> Account | None:
        """Return the account a valid, unexpired bearer token was issued to."""
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        with self._lock:
            issued = self._tokens.get(value.strip())
            if issued is None or issued.expires_at <= time.monotonic():
                self._tokens.pop(value.strip(), None)
                return None
            return issued.account

    def expire_tokens(self) -> None:
        """Make every issued token expire now, as if its lifetime ran out."""
        with self._lock:
            self._tokens.clear()

    # --- Payment API ---------------------------------------------------------------------

    def create(self, account: Account, payload, *, kind: str) -> tuple[int, dict | str]:
        """POST /v1/session (kind agent_assist) or /v1/digitalsession (kind digital)."""
        problem = self._invalid_body(payload, kind=kind)
        if problem:
            return 400, problem
        configuration_id = payload.get("accountConfigurationId")
        if configuration_id is None:
            configuration = self.world.default_configuration(account)
        else:
            configuration = self.world.configuration(account, configuration_id)
        if configuration is None:
            shown = "default" if configuration_id is None else configuration_id
            return 400, NOT_PROVISIONED.format(account=account.name, id=shown)
        if self.faults.provider_error in PROVIDER_ERRORS:
            text = PROVIDER_ERRORS[self.faults.provider_error]
            return 400, text.format(account=account.name, id=configuration.configuration_id)
        session = EmulatedSession(
            guid=str(uuid.uuid4()),
            kind=kind,
            account=account,
            configuration=configuration,
            agent_id=payload.get("agentId") or "",
            payment_data=dict(payload["paymentData"]),
            skip_call_transfer=bool(payload.get("skipCallTransfer", False)),
            access_token=secrets.token_urlsafe(24),
            refresh_token=secrets.token_urlsafe(24),
            page_key=secrets.token_urlsafe(16),
        )
        with self._lock:
            self._purge()
            self._sessions[session.guid] = session
        self.stats.count("sessions_created")
        emulator = {"account": account.name, **configuration.describe()}
        if kind == "digital":
            return 200, {
                "sessionGuid": session.guid,
                "providerSessionGuid": session.provider_session_guid,
                "paymentLinkUrl": f"{self.base_url}/pci/pay/{session.guid}",
                "emulator": emulator,
            }
        iframe_url = f"{self.base_url}/pci/agent/{session.guid}"
        return 200, {
            "sessionGuid": session.guid,
            "iframeUrl": iframe_url,
            "agentAccessToken": session.access_token,
            "agentRefreshToken": session.refresh_token,
            "providerSessionGuid": session.provider_session_guid,
            "paymentFormUrl": iframe_url,
            "emulator": emulator,
        }

    @staticmethod
    def _invalid_body(payload, *, kind: str) -> str:
        if not isinstance(payload, dict):
            return "The request body must be a JSON object."
        payment_data = payload.get("paymentData")
        if not isinstance(payment_data, dict):
            return "The paymentData field is required."
        if not all(isinstance(value, str) for value in payment_data.values()):
            return "Every paymentData value must be a string."
        if payload.get("agentId") is not None and not isinstance(payload["agentId"], str):
            return "The agentId field must be a string."
        configuration_id = payload.get("accountConfigurationId")
        if configuration_id is not None and (
            isinstance(configuration_id, bool) or not isinstance(configuration_id, int)
        ):
            return "The accountConfigurationId field must be an integer."
        skip = payload.get("skipCallTransfer")
        if kind == "agent_assist" and skip is not None and not isinstance(skip, bool):
            return "The skipCallTransfer field must be true or false."
        return ""

    def read(self, account: Account, guid: str) -> tuple[int, dict | str]:
        """GET /v1/session/{sessionGuid}: 404 for unknown, another account's, or purged."""
        session = self.session(guid)
        if session is None or session.account != account:
            return 404, "Session not found."
        return 200, session.status()

    # --- Sessions ------------------------------------------------------------------------

    def session(self, guid: str) -> EmulatedSession | None:
        with self._lock:
            self._purge()
            return self._sessions.get(guid)

    def sessions(self) -> list[EmulatedSession]:
        with self._lock:
            self._purge()
            return sorted(self._sessions.values(), key=lambda s: s.created_on, reverse=True)

    def start(self, session: EmulatedSession) -> None:
        """The payment page was opened: the session is in progress."""
        with self._lock:
            if session.state == "Created":
                session.state = "InProgress"
                session.last_updated_on = _now_text()

    def complete(self, guid: str, decision: str) -> EmulatedSession | None:
        """Finish a session as accepted or declined; the webhook follows. None if unknown."""
        decision = decision.upper()
        if decision not in DECISIONS:
            raise ValueError("decision must be ACCEPT or DECLINE")
        with self._lock:
            self._purge()
            session = self._sessions.get(guid)
            if session is None:
                return None
            if session.finished:
                return session
            data = session.payment_data
            session.result = {
                "decision": decision,
                "reasonCode": DECISIONS[decision],
                "Amount": minor_units(data.get("Amount", "")),
                "Currency": data.get("Currency", ""),
                "MerchantReferenceCode": data.get("MerchantReferenceCode", ""),
                "transactionType": "Capture",
                "requestID": "".join(secrets.choice("0123456789") for _ in range(22)),
            }
            session.state = "Finished"
            session.last_updated_on = _now_text()
            session.finished_at = time.monotonic()
            self._finished.append(session)
        self.stats.count("payments_completed")
        if self.on_finished is not None:
            self.on_finished(session)
        return session

    def reset(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._finished.clear()
            self._tokens.clear()

    def _purge(self) -> None:
        limit = time.monotonic() - self.faults.purge_after
        while self._finished and self._finished[0].finished_at <= limit:
            del self._sessions[self._finished.popleft().guid]
