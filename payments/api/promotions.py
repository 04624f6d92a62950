"""Promotions through the API: request one, read it, approve it; the same services as the page."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from ninja import Field, Header, Router, Schema, Status

from payments.api.schemas import ERRORS, NO_NUL, ErrorOut
from payments.selectors.promotions import (
    account_named,
    production_node_named,
    promotion_for_reader,
    promotion_numbered,
    staging_flow_numbered,
)
from payments.serialisers import promotion_json
from payments.services import origin_of, promotion_approve, promotion_request
from payments.services.promotions import NUMBER_MAX, REASON_MAX_LENGTH

router = Router(tags=["promotions"])

Text = Annotated[str, Field(max_length=100, pattern=NO_NUL)]
Number = Annotated[int, Field(ge=1, le=NUMBER_MAX)]


class LinkIn(Schema):
    targetAccount: Text = Field(description="Another production (or combined) account's name.")
    configurationId: Number = Field(
        description="The accountConfigurationId Vonage provisioned on that account."
    )


class PromotionIn(Schema):
    sourceFlow: Number = Field(description="The number of the tested staging flow.")
    sourceEnvironment: Text = Field(
        "", description="The staging node's name; needed when several have that flow number."
    )
    targetAccount: Text = Field(description="The production (or combined) VCC account's name.")
    productionFlowNumber: Number = Field(
        description="The number the PCI provider gave the flow on its production node."
    )
    configurationId: Number = Field(
        description="The accountConfigurationId Vonage provisioned on the target account."
    )
    targetEnvironment: Text = Field(
        "", description="The production node's name; default: the provider's only one."
    )
    reason: Annotated[str, Field(max_length=REASON_MAX_LENGTH, pattern=NO_NUL)] = Field(
        description="Why this flow goes to production: kept in the audit trail."
    )
    links: list[LinkIn] = Field(
        [],
        max_length=20,
        description="Further links of the same production flow, in the same request (one "
        "approval for the whole set).",
    )


class ApproveIn(Schema):
    seen: datetime | None = Field(
        None,
        description="The promotion's `version` you reviewed (from GET /promotions/{id}): an "
        "approval without it, or of a since-changed request, is refused.",
    )


class PromotionOut(Schema):
    id: int
    state: str
    sourceFlow: int
    sourceEnvironment: str
    targetAccount: str
    targetEnvironment: str
    productionFlowNumber: int
    configurationId: int
    reason: str
    requestedBy: str
    requestedAt: datetime
    approvedBy: str | None
    approvedAt: datetime | None
    changes: list[str] = Field(description="Every change of the set, in the order it applies.")
    version: str = Field(
        description="When it last changed, to the microsecond: send it back as `seen` to "
        "approve what you read."
    )
    steps: list[str] = Field(description="The steps this token's user may take on it now.")


@router.post(
    "/promotions",
    response={201: PromotionOut, 400: ErrorOut, 404: ErrorOut, **ERRORS},
    summary="Request a promotion of a staging flow to production",
)
def request_promotion(
    request,
    body: PromotionIn,
    idempotency_key: Annotated[UUID | None, Header(alias="Idempotency-Key")] = None,
):
    """Request a promotion; someone else (four eyes) approves it before it can be applied.

    `links` adds further (account, id) links of the same production flow to the request. A
    `productionFlowNumber` already promoted from the staging flow is linked, not created again.

    Send an `Idempotency-Key` (a UUID) to make a retry safe: the same key and body return the
    first promotion. Refusals are recorded in the audit trail as on the page.
    """
    promotion = promotion_request(
        source_flow=staging_flow_numbered(body.sourceFlow, body.sourceEnvironment),
        target_account=account_named(body.targetAccount),
        production_flow_number=body.productionFlowNumber,
        configuration_id=body.configurationId,
        reason=body.reason,
        target_environment=production_node_named(body.targetEnvironment),
        actor=request.user,
        idempotency_key=idempotency_key,
        origin=origin_of(request),
        links=[(account_named(link.targetAccount), link.configurationId) for link in body.links],
    )
    return Status(201, promotion_json(promotion, request.user))


@router.get(
    "/promotions/{promotion_id}",
    response={200: PromotionOut, 404: ErrorOut, **ERRORS},
    summary="Read a promotion, with the version to approve it by",
)
def read_promotion(request, promotion_id: int):
    """Return a promotion, its `version` and the steps this token's user may take on it."""
    return promotion_json(promotion_for_reader(promotion_id, request.user), request.user)


@router.post(
    "/promotions/{promotion_id}/approve",
    response={200: PromotionOut, 400: ErrorOut, 404: ErrorOut, **ERRORS},
    summary="Approve someone else's promotion request (four eyes)",
)
def approve_promotion(request, promotion_id: int, body: ApproveIn):
    """Approve the request as last read: send its `version` as `seen`.

    Refused (and recorded) for its requester, without the approve permission, or when the
    request changed since that version (or none is sent): read it again, then approve.
    """
    promotion = promotion_approve(
        promotion=promotion_numbered(promotion_id),
        actor=request.user,
        origin=origin_of(request),
        seen_updated_at=body.seen,
    )
    return promotion_json(promotion, request.user)
