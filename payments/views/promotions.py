"""The promotion pages: the requests, and one promotion with its steps."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from payments.forms.promotions import ApproveForm, PromotionEditForm, PromotionRequestForm
from payments.models import (
    AccountKind,
    PaymentFlow,
    Promotion,
    PromotionState,
    Stage,
    VccAccount,
)
from payments.selectors.promotions import promotions_with_related
from payments.services import (
    origin_of,
    promotion_apply,
    promotion_approve,
    promotion_cancel,
    promotion_edit,
    promotion_reject,
    promotion_request,
    promotion_rollback,
)
from payments.services.promotions import (
    EDITABLE_STATES,
    PERMISSION_APPLY,
    PERMISSION_APPROVE,
    PERMISSION_EDIT,
    PERMISSION_REQUEST,
)
from payments.views.common import denied, promotion_context

VIEW_PERMISSION = "payments.view_promotion"
RECENT_LIMIT = 50


def _can_view(request) -> bool:
    return request.user.has_perm(VIEW_PERMISSION)


@login_required
@require_GET
def promotions(request):
    if not _can_view(request):
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
            "can_request": request.user.has_perm(PERMISSION_REQUEST),
        },
    )


def _apply_service_errors(form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)


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


@login_required
@require_http_methods(["GET", "POST"])
def promotion_new(request):
    if not request.user.has_perm(PERMISSION_REQUEST):
        return denied(
            request, "You may not request promotions: that needs the Registry admins group."
        )
    if request.method == "GET":
        initial = {
            name: request.GET[name]
            for name in ("source_flow", "target_account")
            if request.GET.get(name, "").isdigit()
        }
        form = PromotionRequestForm(initial=initial)
        return _render_request_form(request, form)
    form = PromotionRequestForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            promotion = promotion_request(
                source_flow=data["source_flow"],
                target_account=data["target_account"],
                production_flow_number=data["production_flow_number"],
                configuration_id=data["configuration_id"],
                reason=data["reason"],
                target_environment=data["target_environment"],
                requested_by=request.user,
                idempotency_key=data["idempotency_key"],
                origin=origin_of(request),
            )
        except PermissionDenied as exc:
            return denied(request, str(exc), recorded=True)
        except ValidationError as exc:
            _apply_service_errors(form, exc)
        else:
            messages.success(
                request,
                f"Promotion #{promotion.pk} is requested. Someone in the Approvers group must "
                "approve it before it can be applied.",
            )
            return redirect("payments:promotion", pk=promotion.pk)
    return _render_request_form(request, form, status=400)


def _render_request_form(request, form, promotion=None, status=200):
    context = {"form": form, "promotion": promotion, **_number_hints()}
    return render(request, "payments/promotions/request.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def promotion_change(request, pk: int):
    promotion = get_object_or_404(promotions_with_related(), pk=pk)
    if not request.user.has_perm(PERMISSION_EDIT) or promotion.requested_by != request.user:
        return denied(
            request,
            f"Only {promotion.requested_by} (who requested it) may edit promotion #{promotion.pk}.",
        )
    if promotion.state not in EDITABLE_STATES:
        messages.error(
            request,
            f"Promotion #{promotion.pk} is "
            f"{promotion.get_state_display().lower()}: it can no longer be edited.",
        )
        return redirect("payments:promotion", pk=promotion.pk)
    if request.method == "GET":
        form = PromotionEditForm(
            initial={
                "production_flow_number": promotion.production_flow_number,
                "configuration_id": promotion.configuration_id,
                "target_environment": promotion.target_environment_id,
                "reason": promotion.reason,
            }
        )
        return _render_request_form(request, form, promotion)
    form = PromotionEditForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            promotion_edit(
                promotion=promotion,
                edited_by=request.user,
                production_flow_number=data["production_flow_number"],
                configuration_id=data["configuration_id"],
                target_environment=data["target_environment"],
                reason=data["reason"],
                origin=origin_of(request),
            )
        except PermissionDenied as exc:
            return denied(request, str(exc), recorded=True)
        except ValidationError as exc:
            _apply_service_errors(form, exc)
        else:
            was_approved = promotion.state == PromotionState.APPROVED
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
    return _render_request_form(request, form, promotion, status=400)


def _actions(user, promotion: Promotion) -> dict[str, bool]:
    state = promotion.state
    is_requester = promotion.requested_by_id == user.pk
    return {
        "approve": user.has_perm(PERMISSION_APPROVE)
        and state == PromotionState.REQUESTED
        and not is_requester,
        "reject": user.has_perm(PERMISSION_APPROVE) and state in EDITABLE_STATES,
        "apply": user.has_perm(PERMISSION_APPLY) and state == PromotionState.APPROVED,
        "rollback": user.has_perm(PERMISSION_APPLY) and state == PromotionState.APPLIED,
        "edit": user.has_perm(PERMISSION_EDIT) and is_requester and state in EDITABLE_STATES,
    }


@login_required
@require_GET
def promotion_detail(request, pk: int):
    if not _can_view(request):
        return denied(request, "You may not see promotions.")
    promotion = get_object_or_404(promotions_with_related(), pk=pk)
    context = promotion_context(request, promotion)
    context["can"] = _actions(request.user, promotion)
    context["is_requester"] = promotion.requested_by_id == request.user.pk
    context["approve_form"] = ApproveForm(initial={"seen": promotion.updated_at.isoformat()})
    return render(request, "payments/promotions/detail.html", context)


STEP_MESSAGES = {
    "approve": "Promotion #{pk} is approved: it can be applied now.",
    "reject": "Promotion #{pk} is rejected.",
    "apply": "Promotion #{pk} is applied: flow {number} and id {id} on {account} are live.",
    "rollback": "Promotion #{pk} is rolled back: the production link is switched off.",
    "cancel": "Promotion #{pk} is cancelled.",
}


@login_required
@require_POST
def promotion_step(request, pk: int, step: str):
    if step not in STEP_MESSAGES:
        raise Http404("No such step.")
    promotion = get_object_or_404(Promotion, pk=pk)
    user, origin = request.user, origin_of(request)
    reason = request.POST.get("reason", "")
    try:
        if step == "approve":
            form = ApproveForm(request.POST)
            if not form.is_valid():
                raise ValidationError("The page was incomplete: reload it and approve again.")
            promotion = promotion_approve(
                promotion=promotion,
                approved_by=user,
                origin=origin,
                seen_updated_at=form.cleaned_data["seen"],
            )
        elif step == "reject":
            promotion = promotion_reject(
                promotion=promotion, rejected_by=user, reason=reason, origin=origin
            )
        elif step == "apply":
            promotion = promotion_apply(promotion=promotion, applied_by=user, origin=origin)
        elif step == "rollback":
            promotion = promotion_rollback(
                promotion=promotion, rolled_back_by=user, reason=reason, origin=origin
            )
        else:
            promotion = promotion_cancel(
                promotion=promotion, cancelled_by=user, reason=reason, origin=origin
            )
    except PermissionDenied as exc:
        return denied(request, str(exc), recorded=True)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
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
