"""The documented shapes of VCC's successful answers, read strictly."""

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from payments.vcc.errors import VccProtocolError


def require_str(payload: dict, name: str, *, what: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise VccProtocolError(
            f"VCC's answer to {what} has no {name}: it is not the documented shape. "
            "Check the account's base URLs point at VCC."
        )
    return value


def require_web_url(payload: dict, name: str, *, what: str) -> str:
    value = require_str(payload, name, what=what)
    if urlsplit(value).scheme not in ("https", "http"):
        raise VccProtocolError(
            f"VCC's answer to {what} has a {name} that is not a web address; it was not used."
        )
    return value


def optional_str(payload: dict, name: str) -> str:
    value = payload.get(name)
    return value if isinstance(value, str) else ""


@dataclass
class SessionStatus:
    session_guid: str
    session_state: str
    payment_result_data: dict
    provider_session_guid: str
    call_guid: str
    created_on: str
    last_updated_on: str
    raw: dict = field(repr=False)

    @classmethod
    def from_payload(cls, payload: dict) -> "SessionStatus":
        """Read a status answer or webhook body; raise VccProtocolError when malformed."""
        what = "a session status request"
        if not isinstance(payload, dict):
            raise VccProtocolError("A VCC session status is not a JSON object.")
        result = payload.get("paymentResultData") or {}
        if not isinstance(result, dict):
            raise VccProtocolError(
                "A VCC session status has a paymentResultData that is not an object."
            )
        state = payload.get("sessionState", "")
        if not isinstance(state, str):
            raise VccProtocolError("A VCC session status has a sessionState that is not text.")
        return cls(
            session_guid=require_str(payload, "sessionGuid", what=what),
            session_state=state,
            payment_result_data=result,
            provider_session_guid=optional_str(payload, "providerSessionGuid"),
            call_guid=optional_str(payload, "callGuid"),
            created_on=optional_str(payload, "createdOn"),
            last_updated_on=optional_str(payload, "lastUpdatedOn"),
            raw=payload,
        )


@dataclass
class AgentAssistSession:
    session_guid: str
    iframe_url: str
    agent_access_token: str = field(repr=False)
    agent_refresh_token: str = field(repr=False)
    provider_session_guid: str = ""
    payment_form_url: str = ""

    @classmethod
    def from_payload(cls, payload: dict) -> "AgentAssistSession":
        what = "the agent assist session request"
        return cls(
            session_guid=require_str(payload, "sessionGuid", what=what),
            iframe_url=require_web_url(payload, "iframeUrl", what=what),
            agent_access_token=require_str(payload, "agentAccessToken", what=what),
            agent_refresh_token=require_str(payload, "agentRefreshToken", what=what),
            provider_session_guid=optional_str(payload, "providerSessionGuid"),
            payment_form_url=optional_str(payload, "paymentFormUrl"),
        )


@dataclass
class DigitalSession:
    session_guid: str
    details: dict

    @classmethod
    def from_payload(cls, payload: dict) -> "DigitalSession":
        session_guid = require_str(payload, "sessionGuid", what="the digital session request")
        details = {
            key: value
            for key, value in payload.items()
            if key != "sessionGuid" and "token" not in key.lower()
        }
        return cls(session_guid=session_guid, details=details)
