from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from payments.admin.base import CountOnceAdmin
from payments.models import Promotion
from payments.selectors.audit import event_changes, promotion_story
from payments.services import (
    origin_of,
    promotion_apply,
    promotion_approve,
    promotion_reject,
    promotion_rollback,
)
from payments.services.promotions import REASON_MAX_LENGTH


class StepReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept with each promotion and in the audit trail.",
    )


@admin.register(Promotion)
class PromotionAdmin(CountOnceAdmin, SimpleHistoryAdmin):
    """Pending requests and their steps; requests and edits happen on the promotion page."""

    # Short headers and one link column, so the list fits 1280 px (tests/browser).
    list_display = ["number", "source", "production_number", "target_link", "state"]
    list_display += ["requested_by", "requested_at", "approved_by"]
    list_display_links = ["number", "source"]
    list_filter = ["state", "target_account", "source_flow__environment"]
    list_select_related = ["source_flow", "target_account", "requested_by", "approved_by"]
    search_fields = ["=source_flow__number", "=production_flow_number", "=configuration_id"]
    search_fields += ["target_account__name", "reason", "requested_by__username"]
    date_hierarchy = "requested_at"
    actions = ["approve_selected", "apply_selected", "reject_selected", "rollback_selected"]
    fields = ["page", "state", "source_flow", "target_account", "target_environment"]
    fields += ["production_flow_number", "configuration_id", "reason", "requested_by"]
    fields += ["requested_at", "approved_by", "approved_at", "rejected_by", "rejected_at"]
    fields += ["rejection_reason", "applied_by", "applied_at", "production_flow"]
    fields += ["production_link", "rolled_back_by", "rolled_back_at", "rollback_reason", "steps"]
    readonly_fields = fields

    @admin.display(description="#", ordering="pk")
    def number(self, promotion):
        return f"#{promotion.pk}"

    @admin.display(description="Staging flow", ordering="source_flow__number")
    def source(self, promotion):
        return f"{promotion.source_flow.number} “{promotion.source_flow.name}”"

    @admin.display(description="Production flow", ordering="production_flow_number")
    def production_number(self, promotion):
        return promotion.production_flow_number

    @admin.display(description="Production link", ordering="target_account__name")
    def target_link(self, promotion):
        return f"{promotion.target_account.name} · id {promotion.configuration_id}"

    @admin.display(description="Promotion page")
    def page(self, promotion):
        return format_html(
            '<a href="{}">Open promotion #{}</a>: request, approve, apply, reject or roll back '
            "there, with the before and after of each step.",
            reverse("payments:promotion", args=[promotion.pk]),
            promotion.pk,
        )

    @admin.display(description="Steps (before → after)")
    def steps(self, promotion):
        rows = []
        for event in promotion_story(promotion):
            changes = "; ".join(
                f"{field}: {before or '–'} → {after or '–'}"
                for field, before, after in event_changes(event)
            )
            rows.append(
                (
                    f"{event.created_at:%Y-%m-%d %H:%M:%S} UTC",
                    event.action,
                    event.outcome,
                    event.actor_name or "system",
                    changes or event.reason or "",
                )
            )
        if not rows:
            return "–"
        return format_html(
            "<ol>{}</ol>",
            format_html_join("", "<li>{} <b>{}</b> ({}) by {}<br>{}</li>", rows),
        )

    def has_add_permission(self, request):
        return request.user.has_perm("payments.add_promotion")

    def has_change_permission(self, request, obj=None):
        return False  # every change is a step with its own service and audit event

    def has_delete_permission(self, request, obj=None):
        return False

    # Which actions are listed; the services decide each promotion (and audit refusals).
    def has_approve_permission(self, request):
        return Promotion.permission_refusal("approve", request.user) is None

    def has_apply_permission(self, request):
        return Promotion.permission_refusal("apply", request.user) is None

    def add_view(self, request, form_url="", extra_context=None):
        return redirect("payments:promotion_new")

    def _run(self, request, queryset, service, verb, **arguments):
        """Take one step on each selected promotion through its service, as this user."""
        done = 0
        for promotion in queryset:
            try:
                service(
                    promotion=promotion,
                    actor=request.user,
                    origin=origin_of(request),
                    **arguments,
                )
            except (PermissionDenied, ValidationError) as exc:
                text = " ".join(getattr(exc, "messages", [str(exc)]))
                self.message_user(request, f"#{promotion.pk}: {text}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} promotion(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Approve selected promotions", permissions=["approve"])
    def approve_selected(self, request, queryset):
        self._run(request, queryset, promotion_approve, "approved")

    @admin.action(description="Apply selected approved promotions", permissions=["apply"])
    def apply_selected(self, request, queryset):
        self._run(request, queryset, promotion_apply, "applied")

    @admin.action(description="Reject selected promotions…", permissions=["approve"])
    def reject_selected(self, request, queryset):
        return self._with_reason(
            request, queryset, "reject_selected", "Reject", promotion_reject, "rejected"
        )

    @admin.action(description="Roll back selected applied promotions…", permissions=["apply"])
    def rollback_selected(self, request, queryset):
        return self._with_reason(
            request, queryset, "rollback_selected", "Roll back", promotion_rollback, "rolled back"
        )

    def _with_reason(self, request, queryset, action, title, service, verb):
        """Ask for the reason first (like the delete confirmation), then run the step."""
        form = StepReasonForm(request.POST if "reason" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._run(request, queryset, service, verb, reason=form.cleaned_data["reason"])
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{title}: give a reason",
            "verb": title,
            "queryset": queryset,
            "form": form,
            "action": action,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "payments/promotions/admin_reason.html", context)
