"""The promotion pages: the requests, and one promotion with its steps."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from payments.forms.promotions import (
    ApproveForm,
    PromotionEditForm,
    PromotionRequestForm,
    formset_links,
    links_formset,
)
from payments.models import (
    AccountKind,
    PaymentFlow,
    Promotion,
    PromotionState,
    Stage,
    VccAccount,
    VerificationState,
)
from payments.models.promotions import StepRefused
from payments.refusals import form_add_refusal
from payments.selectors.probes import flow_evidence
from payments.selectors.promotions import (
    may_see_promotions,
    promotion_extra_links,
    promotions_with_related,
)
from payments.services import (
    origin_of,
    promotion_apply,
    promotion_approve,
    promotion_cancel,
    promotion_edit,
    promotion_reject,
    promotion_request,
    promotion_rollback,
    promotion_verify,
)
from payments.views.common import denied, promotion_context

RECENT_LIMIT = 50


def _refused(request, refusal: PermissionDenied, *, recorded: bool) -> HttpResponse:
    # A refusal for who one is on this promotion (four eyes, not the requester) is not
    # something a group fixes, so the page does not suggest asking for one.
    group_can_help = not isinstance(refusal, StepRefused)
    return denied(request, str(refusal), recorded=recorded, group_can_help=group_can_help)


@require_GET
def promotions(request):
    if not may_see_promotions(request.user):
        return denied(
            request,
            "You may not see promotions: ask for the Approvers, Registry admins or Auditors group.",
        )
    pending = promotions_with_related().pending().order_by("requested_at")
    recent = promotions_with_related().exclude(pk__in=pending.values("pk"))[:RECENT_LIMIT]
    return render(
        request,
        "payments/promotions/list.html",
        {
            "pending": pending,
            "recent": recent,
            "can_request": Promotion.permission_refusal("request", request.user) is None,
        },
    )


def _number_hints(target_account: VccAccount | None = None) -> dict:
    production_numbers = PaymentFlow.objects.for_stage(Stage.PRODUCTION).order_by("number")
    accounts = VccAccount.objects.filter(kind__in=[AccountKind.PRODUCTION, AccountKind.COMBINED])
    ids_in_use = {
        account.name: [link.configuration_id for link in account.configurations.all()]
        for account in accounts.prefetch_related("configurations").order_by("name")
    }
    return {
        "production_numbers": list(production_numbers.values_list("number", flat=True)),
        "ids_in_use": ids_in_use,
    }


# What the comparison page's links may fill in (a "production link missing" row names the
# staging flow, the account and the production flow; the id comes from Vonage).
PREFILLED = ("source_flow", "target_account", "production_flow_number", "configuration_id")


@login_required
@require_http_methods(["GET", "POST"])
def promotion_new(request):
    if request.method == "GET":
        refusal = Promotion.permission_refusal("request", request.user)
        if refusal is not None:
            return _refused(request, refusal, recorded=False)
        initial = {
            name: request.GET[name] for name in PREFILLED if request.GET.get(name, "").isdigit()
        }
        form = PromotionRequestForm(initial=initial)
        return _render_request_form(request, form, links_formset())
    form = PromotionRequestForm(request.POST)
    add_row = "add_link" in request.POST
    links = links_formset(request.POST, add_row=add_row)
    if add_row:
        # Another empty row, nothing requested yet: the browser needs no script for it.
        return _render_request_form(request, PromotionRequestForm(request.POST), links)
    if form.is_valid() and links.is_valid():
        data = form.cleaned_data
        try:
            promotion = promotion_request(
                source_flow=data["source_flow"],
                target_account=data["target_account"],
                production_flow_number=data["production_flow_number"],
                configuration_id=data["configuration_id"],
                reason=data["reason"],
                target_environment=data["target_environment"],
                actor=request.user,
                idempotency_key=data["idempotency_key"],
                origin=origin_of(request),
                links=formset_links(links),
                verify_after_apply=data["verify_after_apply"],
                confirm_account_name=data["confirm_account_name"],
            )
        except PermissionDenied as exc:
            return _refused(request, exc, recorded=True)
        except ValidationError as exc:
            form_add_refusal(form, exc)
        else:
            messages.success(
                request,
                f"Promotion #{promotion.pk} is requested. Someone in the Approvers group must "
                "approve it before it can be applied.",
            )
            return redirect("payments:promotion", pk=promotion.pk)
    return _render_request_form(request, form, links, status=400)


def _render_request_form(request, form, links, promotion=None, status=200):
    context = {"form": form, "links": links, "promotion": promotion, **_number_hints()}
    return render(request, "payments/promotions/request.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def promotion_change(request, pk: int):
    promotion = get_object_or_404(promotions_with_related(), pk=pk)
    if request.method == "GET":
        # Opening the form is not an attempt; a POST goes to the service, which refuses and
        # records it.
        refusal = promotion.step_refusal("edit", request.user)
        if isinstance(refusal, PermissionDenied):
            return _refused(request, refusal, recorded=False)
        if refusal is not None:
            messages.error(request, " ".join(refusal.messages))
            return redirect("payments:promotion", pk=promotion.pk)
        form = PromotionEditForm(
            initial={
                "production_flow_number": promotion.production_flow_number,
                "configuration_id": promotion.configuration_id,
                "target_environment": promotion.target_environment_id,
                "reason": promotion.reason,
            }
        )
        initial = [
            {"account": account.pk, "configuration_id": configuration_id}
            for account, configuration_id in promotion_extra_links(promotion)
        ]
        return _render_request_form(request, form, links_formset(initial=initial), promotion)
    form = PromotionEditForm(request.POST)
    add_row = "add_link" in request.POST
    links = links_formset(request.POST, add_row=add_row)
    if add_row:
        return _render_request_form(request, form, links, promotion)
    if form.is_valid() and links.is_valid():
        data = form.cleaned_data
        was_approved = promotion.state == PromotionState.APPROVED
        try:
            promotion_edit(
                promotion=promotion,
                actor=request.user,
                production_flow_number=data["production_flow_number"],
                configuration_id=data["configuration_id"],
                target_environment=data["target_environment"],
                reason=data["reason"],
                origin=origin_of(request),
                links=formset_links(links),
            )
        except PermissionDenied as exc:
            return _refused(request, exc, recorded=True)
        except ValidationError as exc:
            form_add_refusal(form, exc)
        else:
            messages.success(
                request,
                f"Promotion #{promotion.pk} is changed"
                + (
                    ": its approval was reset, so it needs approving again."
                    if was_approved
                    else "."
                ),
            )
            return redirect("payments:promotion", pk=promotion.pk)
    return _render_request_form(request, form, links, promotion, status=400)


@login_required
@require_GET
def promotion_detail(request, pk: int):
    if not may_see_promotions(request.user):
        return denied(request, "You may not see promotions.")
    promotion = get_object_or_404(promotions_with_related(), pk=pk)
    context = promotion_context(request, promotion)
    context["steps"] = promotion.steps_for(request.user)
    context["awaits_another_approver"] = promotion.awaits_another_approver(request.user)
    context["approve_form"] = ApproveForm(initial={"seen": promotion.updated_at.isoformat()})
    if promotion.is_pending:
        # What an approver weighs: was the source flow proved on staging lately?
        context["evidence"] = flow_evidence(flow=promotion.source_flow)
    return render(request, "payments/promotions/detail.html", context)


STEP_MESSAGES = {
    "approve": "Promotion #{pk} is approved: it can be applied now.",
    "reject": "Promotion #{pk} is rejected.",
    "apply": "Promotion #{pk} is applied: flow {number} and id {id} on {account} are live.",
    "rollback": "Promotion #{pk} is rolled back: every change of its set is reversed.",
    "cancel": "Promotion #{pk} is cancelled.",
    "verify": "Promotion #{pk} is verified: VCC started a session on every new link, now on.",
}


# The steps whose only input is an optional or required reason.
REASON_STEP_SERVICES = {
    "reject": promotion_reject,
    "rollback": promotion_rollback,
    "cancel": promotion_cancel,
}


def _take_step(request, promotion: Promotion, step: str) -> Promotion:
    user, origin = request.user, origin_of(request)
    if step == "approve":
        form = ApproveForm(request.POST)
        # A missing or damaged version is passed on as None: the service refuses it.
        seen = form.cleaned_data["seen"] if form.is_valid() else None
        return promotion_approve(
            promotion=promotion, actor=user, origin=origin, seen_updated_at=seen
        )
    if step == "apply":
        return promotion_apply(promotion=promotion, actor=user, origin=origin)
    if step == "verify":
        return promotion_verify(
            promotion=promotion,
            actor=user,
            origin=origin,
            confirm_account_name=request.POST.get("confirm_account_name", ""),
            retry=True,
        )
    return REASON_STEP_SERVICES[step](
        promotion=promotion, actor=user, origin=origin, reason=request.POST.get("reason", "")
    )


@login_required
@require_POST
def promotion_step(request, pk: int, step: str):
    if step not in STEP_MESSAGES:
        raise Http404("No such step.")
    promotion = get_object_or_404(Promotion, pk=pk)
    try:
        promotion = _take_step(request, promotion, step)
    except PermissionDenied as exc:
        return _refused(request, exc, recorded=True)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if step == "verify" and promotion.verification != VerificationState.VERIFIED:
            messages.error(request, f"Promotion #{pk}: VCC still refuses a new link; all stay off.")
            return redirect("payments:promotion", pk=pk)
        messages.success(
            request,
            STEP_MESSAGES[step].format(
                pk=promotion.pk,
                number=promotion.production_flow_number,
                id=promotion.configuration_id,
                account=promotion.target_account.name,
            ),
        )
    return redirect("payments:promotion", pk=pk)
