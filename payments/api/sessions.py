from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.debug import sensitive_variables
from ninja import Path, Query, Router, Schema, Status
from ninja.errors import HttpError

from payments.api.errors import problem
from payments.api.schemas import (
    ERRORS,
    AmbiguousOut,
    ErrorOut,
    GuidText,
    LaunchFailedOut,
    LaunchIn,
    LaunchOut,
    SessionReadOut,
)
from payments.models import AccountConfiguration, PaymentSession
from payments.selectors.resolve import link_resolve
from payments.serialisers import session_json
from payments.services import origin_of
from payments.services.launches import session_is_settled, session_launch, session_refresh
from payments.vcc.errors import (
    VccError,
    VccOutcomeUnknown,
    VccRateLimited,
    VccUnavailable,
)

router = Router(tags=["sessions"])


class SessionPath(Schema):
    sessionGuid: GuidText


class RefreshQuery(Schema):
    refresh: bool = False


def _link_for(request, body: LaunchIn) -> AccountConfiguration:
    if body.configurationId is not None:
        if body.flow or body.stage:
            raise HttpError(
                422,
                "Name the link either by account + configurationId or by flow + stage, not both.",
            )
        if not body.account:
            raise HttpError(422, "configurationId needs account: the same id differs by account.")
        link = AccountConfiguration.objects.find(body.account, body.configurationId)
        if link is None:
            raise Http404(
                f"Account {body.account!r} has no configuration link with id "
                f"{body.configurationId}: check both, or use GET /api/v1/resolve."
            )
        return link
    if not (body.flow and body.stage):
        raise HttpError(
            422, "Name the link: account + configurationId, or flow + stage (+ account)."
        )
    return link_resolve(user=request.user, flow=body.flow, stage=body.stage, account=body.account)


def _failure_status(error: VccError) -> int:
    if isinstance(error, VccOutcomeUnknown):
        return 504
    if isinstance(error, VccUnavailable | VccRateLimited):
        return 503
    return 502


@router.post(
    "/sessions",
    response={
        200: LaunchOut,
        201: LaunchOut,
        400: ErrorOut,
        404: ErrorOut,
        409: AmbiguousOut,
        502: LaunchFailedOut,
        503: LaunchFailedOut,
        504: LaunchFailedOut,
        **ERRORS,
    },
    summary="Launch a payment session through the registry",
)
@sensitive_variables("result")
def launch(request, response: HttpResponse, body: LaunchIn):
    """Launch an agent assist or digital session with the registry's credentials.

    The answer to an agent assist launch carries `agentPage` (iframeUrl and the agent's
    access and refresh tokens) in this one response only; they are never stored or logged.
    A failed launch is recorded and answered with 502 (VCC refused), 503 (VCC unreachable or
    rate-limited: try again) or 504 (`outcome` unknown: the session may exist, so check it
    before launching again), each with a message saying what to do.

    With an `Idempotency-Key` header (e.g. a UUID), a retry of the same request never launches
    twice: it is answered 200 with the first launch (`Idempotent-Replayed: true`, no
    `agentPage`); the same key with another request is refused with 409, as is a retry while
    the first launch still waits for VCC's answer.
    """
    link = _link_for(request, body)
    credential = None
    if body.credential:
        credential = link.account.credentials.filter(label=body.credential).first()
        if credential is None:
            raise HttpError(
                422, f"Account {link.account.name} has no credentials labelled {body.credential!r}."
            )
    result = session_launch(
        link=link,
        launched_by=request.user,
        kind=body.kind,
        payment_data=body.paymentData,
        agent_id=body.agentId,
        credential=credential,
        skip_call_transfer=body.skipCallTransfer,
        confirm_account_name=body.confirmAccountName,
        origin=origin_of(request),
        idempotency_key=_idempotency_key(request),
    )
    response["Cache-Control"] = "no-store"
    if result.replayed:
        response["Idempotent-Replayed"] = "true"
        return Status(200, {**session_json(result.session), "agentPage": None})
    if result.error is not None:
        failed = problem(
            result.error.message,
            _failure_status(result.error),
            outcome=result.session.outcome,
            session=session_json(result.session),
        )
        if isinstance(result.error, VccRateLimited) and result.error.retry_after:
            failed["Retry-After"] = str(round(result.error.retry_after))
        return failed
    agent_page = None
    if result.agent_session is not None:
        agent_page = {
            "iframeUrl": result.agent_session.iframe_url,
            "agentAccessToken": result.agent_session.agent_access_token,
            "agentRefreshToken": result.agent_session.agent_refresh_token,
        }
    return Status(201, {**session_json(result.session), "agentPage": agent_page})


def _idempotency_key(request: HttpRequest) -> str:
    # Checked by the launch service, which refuses a malformed one by the header's name.
    return request.headers.get("Idempotency-Key", "")


@router.get(
    "/sessions/{sessionGuid}",
    response={200: SessionReadOut, 404: ErrorOut, **ERRORS},
    summary="Read a launched session's state",
)
def read_session(request, path: Path[SessionPath], query: Query[RefreshQuery]):
    """Return a session this token's user launched (or any, with permission to see all).

    The state arrives by VCC's webhook; `refresh=true` also asks VCC now (the polling
    fallback) while the session is not settled. Never returns the agent tokens.
    """
    session = (
        PaymentSession.objects.visible_to(request.user)
        .select_related("launched_by")
        .filter(session_guid=path.sessionGuid)
        .first()
    )
    if session is None:
        raise Http404(
            f"No session {path.sessionGuid} that this token's user may see: sessions are "
            "visible to whoever launched them and to those who may see all sessions."
        )
    refresh_error = None
    if query.refresh and not session_is_settled(session):
        try:
            session = session_refresh(session=session)
        except VccError as exc:
            refresh_error = exc.message
    return {**session_json(session), "refreshError": refresh_error}
