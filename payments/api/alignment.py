from typing import Literal

from django.core.exceptions import PermissionDenied
from ninja import Field, Router, Schema

from payments.api.schemas import ERRORS, StageName
from payments.selectors.alignment import alignment_report

router = Router(tags=["alignment"])

NO_VIEW = (
    "You may not see configuration links: the alignment report needs the view permission on "
    "configuration links (e.g. the Auditors or Approvers role)."
)


class AlignmentUseOut(Schema):
    account: str
    flow: int = Field(description="The flow number this account's link with the id starts.")
    flowName: str
    stage: StageName
    idsElsewhere: dict[str, list[int]] = Field(
        description="For each other account of this id, the ids it uses for the same flow "
        "lineage (empty: that account does not link it at all)."
    )


class AlignmentFindingOut(Schema):
    configurationId: int
    status: Literal["aligned", "renumbered", "collision"] = Field(
        description="aligned: the same flow lineage everywhere; renumbered: the same flows "
        "under different ids; collision: the id starts unrelated flows."
    )
    detail: str
    accounts: list[AlignmentUseOut]


class AlignmentOut(Schema):
    ids: list[AlignmentFindingOut] = Field(
        description="Each configuration id that active links use on more than one account."
    )


@router.get(
    "/alignment",
    response={200: AlignmentOut, **ERRORS},
    summary="Configuration ids shared by accounts: aligned, renumbered or colliding",
)
def alignment(request):
    """Report, for each accountConfigurationId used on more than one account, whether it starts
    the same flow lineage on each (aligned), the same flows under other ids (renumbered) or
    unrelated flows (collision: never copy that id between those accounts)."""
    if not request.user.has_perm("payments.view_accountconfiguration"):
        raise PermissionDenied(NO_VIEW)
    return {"ids": [finding.as_json() for finding in alignment_report()]}
