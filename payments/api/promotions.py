"""Promotions through the API: request one, read it, approve it; the same services as the page."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.http import Http404
from ninja import Field, Header, Router, Schema, Status
from ninja.errors import HttpError

from payments.api.schemas import ERRORS, NO_NUL, ErrorOut
from payments.models import PaymentFlow, PciEnvironment, Promotion, Stage, VccAccount
from payments.services import origin_of, promotion_approve, promotion_request
from payments.services.promotions import NUMBER_MAX, REASON_MAX_LENGTH

router = Router(tags=["promotions"])

VIEW_PERMISSION = "payments.view_promotion"
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


def promotion_json(promotion: Promotion, user) -> dict:
    return {
        "id": promotion.pk,
        "state": promotion.state,
        "sourceFlow": promotion.source_flow.number,
        "sourceEnvironment": promotion.source_flow.environment.name,
        "targetAccount": promotion.target_account.name,
        "targetEnvironment": promotion.target_environment.name,
        "productionFlowNumber": promotion.production_flow_number,
        "configurationId": promotion.configuration_id,
        "reason": promotion.reason,
        "requestedBy": promotion.requested_by.get_username(),
        "requestedAt": promotion.requested_at,
        "approvedBy": promotion.approved_by.get_username() if promotion.approved_by else None,
        "approvedAt": promotion.approved_at,
        "changes": [
            change.describe(promotion.production_flow_number)
            for change in promotion.changes.select_related(
                "account", "flow", "link__account", "link__flow"
            ).order_by("position")
        ],
        # A string: the JSON encoder would cut a datetime to milliseconds, and then no
        # approval could ever match it.
        "version": promotion.updated_at.isoformat(),
        "steps": promotion.steps_for(user),
    }


def _source_flow(body: PromotionIn) -> PaymentFlow:
    flows = PaymentFlow.objects.for_stage(Stage.STAGING).filter(number=body.sourceFlow)
    if body.sourceEnvironment:
        flows = flows.filter(environment__name=body.sourceEnvironment)
    flows = list(flows.select_related("environment")[:2])
    if not flows:
        raise Http404(f"There is no staging flow {body.sourceFlow}{_on(body.sourceEnvironment)}.")
    if len(flows) > 1:
        raise HttpError(
            422,
            f"Several staging nodes have flow {body.sourceFlow}: name one in sourceEnvironment.",
        )
    return flows[0]


def _account(name: str) -> VccAccount:
    account = VccAccount.objects.filter(name=name).first()
    if account is None:
        raise Http404(f"There is no VCC account named {name!r}.")
    return account


def _on(environment: str) -> str:
    return f" on {environment}" if environment else ""


def _target_environment(name: str) -> PciEnvironment | None:
    if not name:
        return None
    environment = PciEnvironment.objects.filter(stage=Stage.PRODUCTION, name=name).first()
    if environment is None:
        raise Http404(f"There is no production node named {name!r}.")
    return environment


def _promotion(promotion_id: int) -> Promotion:
    promotion = Promotion.objects.filter(pk=promotion_id).first()
    if promotion is None:
        raise Http404(f"There is no promotion #{promotion_id}.")
    return promotion


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
        source_flow=_source_flow(body),
        target_account=_account(body.targetAccount),
        production_flow_number=body.productionFlowNumber,
        configuration_id=body.configurationId,
        reason=body.reason,
        target_environment=_target_environment(body.targetEnvironment),
        actor=request.user,
        idempotency_key=idempotency_key,
        origin=origin_of(request),
        links=[(_account(link.targetAccount), link.configurationId) for link in body.links],
    )
    return Status(201, promotion_json(promotion, request.user))


@router.get(
    "/promotions/{promotion_id}",
    response={200: PromotionOut, 404: ErrorOut, **ERRORS},
    summary="Read a promotion, with the version to approve it by",
)
def read_promotion(request, promotion_id: int):
    """Return a promotion, its `version` and the steps this token's user may take on it."""
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied(
            "This token's user may not see promotions: that needs the Approvers, Registry "
            "admins or Auditors group."
        )
    return promotion_json(_promotion(promotion_id), request.user)


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
        promotion=_promotion(promotion_id),
        actor=request.user,
        origin=origin_of(request),
        seen_updated_at=body.seen,
    )
    return promotion_json(promotion, request.user)
