"""What goes in and out of the API (camelCase, like the VCC Payment API it sits beside)."""

from datetime import datetime
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import ConfigDict, StrictBool, StrictInt

# PostgreSQL refuses NUL characters in text; saying so in the schema rejects them up front.
NO_NUL = r"^[^\u0000]*$"
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)]
StageName = Literal["staging", "production"]


class ErrorOut(Schema):
    detail: str = Field(description="What went wrong and what to do next.")


class FieldError(Schema):
    loc: list[str] = Field(description="Where: e.g. ['query', 'stage'].")
    msg: str


class ValidationErrorOut(ErrorOut):
    errors: list[FieldError]


class Candidate(Schema):
    account: str
    configurationId: int
    flowNumber: int


class AmbiguousOut(ErrorOut):
    candidates: list[Candidate] = Field(description="The links that match; pick by account.")


class ResolveQuery(Schema):
    flow: Name = Field(
        description='The flow name (e.g. "Card payment") or its number.',
        examples=["Card payment", "695"],
    )
    stage: StageName
    account: Annotated[str, Field(max_length=100, pattern=NO_NUL)] = Field(
        "",
        description="The VCC account name; needed when several accounts link the flow.",
        examples=["Sandbox"],
    )


class ResolveOut(Schema):
    account: str = Field(description="The VCC account name.")
    region: str
    authBaseUrl: str
    paymentBaseUrl: str
    configurationId: int = Field(description="The accountConfigurationId to send to VCC.")
    flowNumber: int
    flowName: str
    stage: StageName
    environment: str = Field(description="The PCI provider's environment.")
    credential: str | None = Field(
        description="Label of the credentials that would launch it (never the secret); null "
        "when no enabled credential with a stored secret may launch this flow."
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="Set when this configuration id starts other flows on other accounts.",
    )


ERRORS = {
    401: ErrorOut,
    403: ErrorOut,
    422: ValidationErrorOut,
}


GuidText = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
PaymentValue = Annotated[str, Field(max_length=500, pattern=NO_NUL)]


class LaunchIn(Schema):
    """Which link to launch on: account + configurationId, or flow + stage (+ account)."""

    # Strict: a field the registry does not know (a client_secret pasted in by mistake) or a
    # value of the wrong JSON type (configurationId: true) is refused by name, never ignored
    # or coerced into something the caller did not mean.
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "account": "Sandbox",
                    "configurationId": 1,
                    "paymentData": {"Amount": "12.40", "Currency": "GBP"},
                },
                {
                    "flow": "Card payment",
                    "stage": "production",
                    "account": "Production",
                    "confirmAccountName": "Production",
                    "paymentData": {"Amount": "12.40", "Currency": "GBP"},
                },
            ]
        },
    )

    account: Annotated[str, Field(max_length=100, pattern=NO_NUL)] = Field(
        "", description="The VCC account name.", examples=["Sandbox"]
    )
    configurationId: StrictInt | None = Field(
        None,
        ge=0,
        le=2_147_483_647,
        description="With account: the link to launch on.",
        examples=[1],
    )
    flow: Annotated[str, Field(max_length=100, pattern=NO_NUL)] = Field(
        "", description="Instead of configurationId: the flow name or number (with stage)."
    )
    stage: StageName | None = Field(None, description="With flow: staging or production.")
    kind: Literal["agent_assist", "digital"] = "agent_assist"
    agentId: Annotated[str, Field(max_length=100, pattern=NO_NUL)] = Field(
        "", description="The agent to launch as; default: the token user's agent profile."
    )
    paymentData: dict[Annotated[str, Field(max_length=64, pattern=NO_NUL)], PaymentValue] = Field(
        min_length=1,
        description="Sent to VCC as paymentData (Amount, Currency, ...; CustomerPhoneNumber for "
        "digital sessions).",
        examples=[{"Amount": "12.40", "Currency": "GBP", "MerchantReferenceCode": "order-1"}],
    )
    credential: Annotated[str, Field(max_length=40, pattern=NO_NUL)] = Field(
        "", description="Credential label; default: the first one allowed to launch the flow."
    )
    skipCallTransfer: StrictBool = True
    confirmAccountName: Annotated[str, Field(max_length=100, pattern=NO_NUL)] = Field(
        "", description="Production flows only: the account name, typed to confirm."
    )


class SessionOut(Schema):
    sessionGuid: str | None = Field(description="VCC's id; null when the launch failed.")
    outcome: Literal["created", "failed", "unknown"]
    kind: str
    account: str
    credential: str = Field(description="The credential label (never the secret).")
    configurationId: int
    flowNumber: int
    flowName: str
    stage: str
    environment: str
    agentId: str
    launchedBy: str
    launchedAt: datetime
    providerSessionGuid: str
    sessionState: str = Field(description='VCC\'s sessionState, e.g. "Finished"; "" until known.')
    decision: str
    reasonCode: str
    result: dict[str, str] = Field(description="Non-secret summary of paymentResultData.")
    statusUpdatedAt: datetime | None
    latencyMs: int | None
    error: str


class AgentPage(Schema):
    iframeUrl: str
    agentAccessToken: str = Field(description="Returned in this response only; never stored.")
    agentRefreshToken: str = Field(description="Returned in this response only; never stored.")


class LaunchOut(SessionOut):
    agentPage: AgentPage | None = Field(
        description="Agent assist sessions: what the agent page needs (POST the tokens as form "
        "fields X-BEARER-TOKEN and X-REFRESH-TOKEN to iframeUrl). Only in this response: the "
        "registry never stores or logs the tokens, so keep them only as long as the page is open."
    )


class LaunchFailedOut(ErrorOut):
    outcome: Literal["failed", "unknown"]
    session: SessionOut


class SessionReadOut(SessionOut):
    refreshError: str | None = Field(
        None, description="With refresh=true: why VCC could not be asked (the state is stored)."
    )
