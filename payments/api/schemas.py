"""What goes in and out of the API (camelCase, like the VCC Payment API it sits beside)."""

from typing import Annotated, Literal

from ninja import Field, Schema

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


ERRORS = {
    401: ErrorOut,
    403: ErrorOut,
    422: ValidationErrorOut,
}
