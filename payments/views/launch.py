"""The launch page, the sessions pages, and the status endpoint their pages poll."""

import logging
import re
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import DatabaseError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from payments.forms.launch import REFUSAL_FIELDS, LaunchForm, flow_key
from payments.models import LaunchOutcome, PaymentSession, SessionKind, Stage
from payments.refusals import form_add_refusal, refusal_status
from payments.serialisers import session_json
from payments.services import origin_of, session_launch, session_refresh
from payments.services.launches import (
    STATUS_SOURCE_NOT_FOUND,
    launch_permission_refusal,
    session_is_settled,
)
from payments.validators import COMMON_CURRENCIES, ISO_4217_CODES
from payments.vcc.errors import VccError

logger = logging.getLogger(__name__)

# Each rendered form carries a fresh key: the launch service launches a key at most once.
LAUNCH_KEY = re.compile(r"^[0-9a-f]{32}$")
# The status endpoint asks VCC at most this often per session; webhooks arrive in between.
REFRESH_INTERVAL = timedelta(seconds=5)
SESSIONS_PER_PAGE = 50
STATUS_FIELDS = [
    "id",
    "sessionGuid",
    "outcome",
    "sessionState",
    "decision",
    "reasonCode",
    "statusSource",
    "statusUpdatedAt",
]


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
@sensitive_variables("result", "agent_session", "context", "response")
def launch(request):
    """Show what will run where, then start the session and open the PCI provider's page."""
    if request.method == "GET":
        # Nothing to show to whom the launch service would refuse anything; a POST still goes
        # to the service, which refuses and audits it.
        refusal = launch_permission_refusal(request.user)
        if refusal:
            raise PermissionDenied(refusal)
        return _render_form(request, LaunchForm(user=request.user, initial=_initial(request)))

    form = LaunchForm(request.POST, user=request.user)
    if not form.is_valid():
        return _render_form(request, form)
    launch_key = request.POST.get("launch_key", "")
    if not LAUNCH_KEY.match(launch_key):
        form.add_error(None, "This launch form is out of date: reload the page and launch again.")
        return _render_form(request, form, status=409)
    data = form.cleaned_data
    try:
        result = session_launch(
            link=data["link"],
            launched_by=request.user,
            kind=data["kind"],
            payment_data=data["payment_data"],
            agent_id=data["agent_id"],
            credential=data["credential"],
            skip_call_transfer=data["skip_call_transfer"],
            confirm_account_name=data["confirm_account_name"],
            origin=origin_of(request),
            idempotency_key=launch_key,
        )
    except (PermissionDenied, ValidationError) as exc:
        form_add_refusal(form, exc, REFUSAL_FIELDS, denied_field="link")
        return _render_form(request, form, status=refusal_status(exc, invalid=200))
    if result.replayed:
        form.add_error(
            None,
            "This launch form was already sent (a second click, or a reload of the page): it "
            f"launched session #{result.session.pk}. Check My sessions before launching again.",
        )
        return _render_form(request, form, status=409)
    if not result.ok:
        return _render_form(request, form, failed=result.session)

    context = _session_context(request, result.session)
    agent_session = result.agent_session
    response_origin = None
    if agent_session is not None:
        response_origin = _web_origin(agent_session.iframe_url)
        if response_origin is None:
            context["agent_page_error"] = (
                "VCC returned an agent page address that is not a web address, so it was not "
                "opened. Tell a registry admin; the session itself was created."
            )
        else:
            context["agent_session"] = agent_session
    elif result.session.kind == SessionKind.AGENT_ASSIST and result.session.error:
        # The launch service refused to hand the agent's tokens to the page VCC named.
        context["agent_page_error"] = result.session.error
    if result.digital_session is not None:
        context["digital_details"] = _answer_fields(result.digital_session.details)
    response = render(request, "payments/launch/session.html", context)
    if response_origin:
        # Read by django-csp when it is installed: the PCI page is framed and posted to.
        response._csp_update = {"frame-src": [response_origin], "form-action": [response_origin]}
    return response


@login_required
@permission_required("payments.view_paymentsession", raise_exception=True)
@require_GET
def sessions(request):
    """List recent sessions: the user's own, or everyone's for those allowed to see them."""
    sees_all = request.user.has_perm("payments.view_all_sessions")
    only_mine = not sees_all or request.GET.get("mine") == "1"
    queryset = PaymentSession.objects.visible_to(request.user).select_related("launched_by")
    if only_mine:
        queryset = queryset.filter(launched_by=request.user)
    page = Paginator(queryset, SESSIONS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "payments/launch/sessions.html",
        {"page": page, "sees_all": sees_all, "only_mine": only_mine},
    )


@login_required
@permission_required("payments.view_paymentsession", raise_exception=True)
@require_GET
def session_detail(request, pk: int):
    session = get_object_or_404(PaymentSession.objects.visible_to(request.user), pk=pk)
    return render(request, "payments/launch/session.html", _session_context(request, session))


@login_required
@permission_required("payments.view_paymentsession", raise_exception=True)
@never_cache
@require_GET
def session_status(request, pk: int):
    """Return the session's status as JSON, asking VCC when no webhook has brought it."""
    session = get_object_or_404(PaymentSession.objects.visible_to(request.user), pk=pk)
    problem = ""
    if _should_refresh(session):
        try:
            session = session_refresh(session=session)
        except VccError as exc:
            problem = exc.message
        except (DatabaseError, ValidationError):
            logger.exception("Could not store the status of session %s", session.pk)
            problem = "The status could not be stored just now; it will be checked again."
    return JsonResponse(_status_payload(session, problem))


def _should_refresh(session: PaymentSession) -> bool:
    if session_is_settled(session) or not session.session_guid:
        return False
    last = session.status_updated_at
    return last is None or timezone.now() - last >= REFRESH_INTERVAL


def _status_payload(session: PaymentSession, problem: str = "") -> dict:
    settled = session_is_settled(session)
    status = session_json(session, only=STATUS_FIELDS)
    # The names launch.js and the status endpoint's callers read.
    status["source"] = status.pop("statusSource")
    status["updatedAt"] = status.pop("statusUpdatedAt")
    return {
        **status,
        "outcomeLabel": session.get_outcome_display(),
        "finished": settled,
        "headline": _headline(session),
        "note": _status_note(session, settled),
        # A failed or unknown launch explains itself above the panel; not twice.
        "message": problem or (session.error if session.outcome == LaunchOutcome.CREATED else ""),
    }


def _headline(session: PaymentSession) -> str:
    if session.outcome == LaunchOutcome.FAILED:
        return "Not started: VCC refused or could not be reached"
    if session.outcome == LaunchOutcome.UNKNOWN:
        return "Outcome unknown: check before launching again"
    decision = session.decision.upper()
    if session.is_finished and decision == "ACCEPT":
        return "Payment accepted"
    if session.is_finished and decision:
        return f"Payment not accepted ({session.decision.lower()})"
    if session.is_finished:
        return "Session finished with no payment"
    if session.status_source == STATUS_SOURCE_NOT_FOUND:
        return "VCC no longer knows this session"
    if session.kind == SessionKind.DIGITAL:
        return "Waiting for the customer to pay"
    return "Waiting for the payment in the PCI provider's page"


STATUS_SOURCES = {
    "webhook": "VCC's notification",
    "poll": "a status check with VCC",
    STATUS_SOURCE_NOT_FOUND: "a status check with VCC",
}


def _status_note(session: PaymentSession, settled: bool) -> str:
    if session.status_updated_at:
        when = timezone.localtime(session.status_updated_at).strftime("%H:%M:%S")
        source = STATUS_SOURCES.get(session.status_source, "VCC")
        return f"Last update at {when} from {source}."
    if settled:
        return ""
    return "Waiting for VCC's notification; checking every few seconds."


def _session_context(request, session: PaymentSession) -> dict:
    return {
        "session": session,
        "status": _status_payload(session),
        "status_url": reverse("payments:session_status", args=[session.pk]),
        "session_url": reverse("payments:session", args=[session.pk]),
        "relaunch_url": _relaunch_url(session),
    }


def _relaunch_url(session: PaymentSession) -> str:
    if session.link_id is None:
        return ""
    return f"{reverse('payments:launch')}?from={session.pk}"


def _initial(request) -> dict:
    """Prefill the form from ?link=, ?flow=, or ?from= (another session of the user's)."""
    initial: dict = {}
    source = request.GET.get("from", "")
    if source.isdigit():
        session = (
            PaymentSession.objects.visible_to(request.user).filter(pk=int(source[:18])).first()
        )
        if session is not None and session.link_id:
            initial.update(
                link=str(session.link_id),
                credential=str(session.credential_id or ""),
                kind=session.kind,
                agent_id=session.agent_id,
                amount=session.amount or "12.40",
                currency=session.currency or "GBP",
                merchant_reference=session.merchant_reference,
            )
    for name in ("link", "flow", "kind"):
        if request.GET.get(name):
            initial[name] = request.GET[name][:200]
    return initial


def _render_form(request, form: LaunchForm, *, failed: PaymentSession | None = None, status=200):
    link = form.selected_link
    credentials = form.allowed_credentials(link)
    chosen = form.data.get("credential") if form.is_bound else form.initial.get("credential")
    credential = next((c for c in credentials if str(c.pk) == str(chosen)), None)
    context = {
        "form": form,
        "link": link,
        "credential": credential or (credentials[0] if credentials else None),
        "credential_is_default": credential is None,
        "is_production": bool(link and link.flow.environment.stage == Stage.PRODUCTION),
        "flow_value": flow_key(link) if link else "",
        "failed": failed,
        "failed_url": reverse("payments:session", args=[failed.pk]) if failed else "",
        "launch_key": secrets.token_hex(16),
        "currencies": COMMON_CURRENCIES + sorted(ISO_4217_CODES - set(COMMON_CURRENCIES)),
        "no_links": not form.links,
    }
    return render(request, "payments/launch/launch.html", context, status=status)


def _answer_fields(details: dict) -> list[tuple[str, str, bool]]:
    """The text fields of VCC's digital session answer (its shape is not documented)."""
    return [
        (key, value, _web_origin(value) is not None)
        for key, value in details.items()
        if isinstance(key, str) and isinstance(value, str) and value
    ][:20]


def _web_origin(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"
