from ninja import Query, Router

from payments.api.schemas import ERRORS, AmbiguousOut, ErrorOut, ResolveOut, ResolveQuery
from payments.selectors.alignment import alignment_warnings
from payments.selectors.resolve import link_resolve

router = Router(tags=["resolve"])


@router.get(
    "/resolve",
    response={200: ResolveOut, 404: ErrorOut, 409: AmbiguousOut, **ERRORS},
    summary="Which account, credentials and configuration id start a flow",
)
def resolve(request, query: Query[ResolveQuery]):
    """Answer which VCC account, credentials and accountConfigurationId start a flow.

    404 when no active link matches; 409 (with the candidate accounts) when several accounts
    link the flow: repeat with `account`. Never returns a secret.
    """
    link = link_resolve(
        user=request.user, flow=query.flow, stage=query.stage, account=query.account
    )
    credential = link.launch_credentials().first()
    return {
        "account": link.account.name,
        "region": link.account.region,
        "authBaseUrl": link.account.auth_base_url,
        "paymentBaseUrl": link.account.payment_base_url,
        "configurationId": link.configuration_id,
        "flowNumber": link.flow.number,
        "flowName": link.flow.name,
        "stage": link.flow.environment.stage,
        "environment": link.flow.environment.name,
        "credential": credential.label if credential else None,
        "warnings": alignment_warnings(link),
    }
