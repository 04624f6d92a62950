from django.contrib import admin, messages

from payments.admin.base import ReadOnlyAdmin
from payments.models import ApiToken
from payments.services import origin_of
from payments.services.api_tokens import api_token_revoke


class TokenStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.active()
        if self.value() == "revoked":
            return queryset.exclude(revoked_at=None)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Tokens are issued with `manage.py issue_api_token`; here they are reviewed and revoked."""

    list_display = ["prefix", "user", "name", "created_at", "last_used_at", "status"]
    list_filter = [TokenStatusFilter]
    list_select_related = ["user"]
    search_fields = ["prefix", "name", "user__username"]
    fields = ["prefix", "user", "name", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description="Status", ordering="revoked_at")
    def status(self, token):
        return "active" if token.is_active else f"revoked {token.revoked_at:%Y-%m-%d %H:%M}"

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        active = list(queryset.active())
        for token in active:
            api_token_revoke(token=token, actor=request.user, origin=origin_of(request))
        self.message_user(
            request,
            f"{len(active)} token(s) revoked; integrations using them now get 401.",
            messages.SUCCESS,
        )

    def has_revoke_permission(self, request):
        return request.user.has_perm("payments.change_apitoken")
