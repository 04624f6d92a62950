from django.contrib import admin

from payments.admin.base import ReadOnlyAdmin
from payments.models import AuditEvent, PaymentSession


@admin.register(PaymentSession)
class PaymentSessionAdmin(ReadOnlyAdmin):
    list_display = ["launched_at", "launched_by", "kind", "account_name", "configuration_id"]
    list_display += ["flow_number", "stage", "outcome", "session_state", "decision", "latency_ms"]
    list_filter = ["outcome", "kind", "stage", "account"]
    list_select_related = ["launched_by"]
    search_fields = ["session_guid", "agent_id", "account_name", "=configuration_id"]
    date_hierarchy = "launched_at"

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_name", "action", "outcome", "object_repr", "origin"]
    list_filter = ["outcome", "action"]
    search_fields = ["actor_name", "action", "object_repr", "reason"]
    date_hierarchy = "created_at"
