from django.contrib import admin

from payments.admin.base import ReadOnlyAdmin
from payments.models import AuditEvent, PaymentSession
from payments.services import audit_record, origin_of


@admin.register(PaymentSession)
class PaymentSessionAdmin(ReadOnlyAdmin):
    # What happened first, then where: at 1280 px the outcome must not scroll out of sight.
    list_display = ["launched_at", "launched_by", "outcome", "session_state", "decision"]
    list_display += ["account_name", "link_summary", "stage", "kind"]
    # A date filter rather than date_hierarchy: its year/month links scan every row.
    list_filter = [("launched_at", admin.DateFieldListFilter), "outcome", "kind", "stage"]
    list_filter += ["account"]
    list_select_related = ["launched_by"]
    search_fields = ["session_guid", "agent_id", "account_name", "=configuration_id"]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    @admin.display(description="Link", ordering="configuration_id")
    def link_summary(self, session):
        return f"id {session.configuration_id} → flow {session.flow_number}"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_name", "action", "outcome", "object_repr", "origin"]
    list_filter = [("created_at", admin.DateFieldListFilter), "outcome", "action"]
    search_fields = ["actor_name", "action", "object_repr", "reason"]

    # Looking at the trail is itself recorded, here as on the audit review pages.
    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        if response.status_code == 200:
            self._record_view(request, "audit trail (admin list)", dict(request.GET.items()))
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if response.status_code == 200:
            self._record_view(request, f"audit event #{object_id} (admin)", {})
        return response

    def _record_view(self, request, what, filters):
        audit_record(
            action="audit.viewed",
            actor=request.user,
            origin=origin_of(request),
            object_type="auditevent",
            object_repr=what,
            after={"filters": filters} if filters else {},
        )
