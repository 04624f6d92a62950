"""Admin for change freezes, outgoing webhooks and the notification outbox."""

from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from payments.admin.base import CountOnceAdmin, ReadOnlyAdmin
from payments.models import ChangeFreeze, Delivery, DeliveryState, Notification, WebhookEndpoint
from payments.services import origin_of
from payments.services.deliveries import delivery_retry
from payments.services.freezes import freeze_delete, freeze_save
from payments.services.notifications import webhook_endpoint_save


@admin.register(ChangeFreeze)
class ChangeFreezeAdmin(CountOnceAdmin, admin.ModelAdmin):
    list_display = ["reason", "starts_at", "ends_at", "covers", "created_by"]
    list_select_related = ["created_by"]
    fields = ["starts_at", "ends_at", "reason", "all_production_accounts", "accounts"]
    filter_horizontal = ["accounts"]

    @admin.display(description="Covers")
    def covers(self, freeze):
        if freeze.all_production_accounts:
            return "every production account"
        return ", ".join(freeze.accounts.values_list("name", flat=True)) or "no account"

    def save_model(self, request, obj, form, change):
        # The accounts are set by the service, in the same transaction and audit row.
        self._accounts = form.cleaned_data.get("accounts")

    def save_related(self, request, form, formsets, change):
        freeze_save(
            freeze=form.instance,
            accounts=form.cleaned_data.get("accounts"),
            actor=request.user,
            origin=origin_of(request),
        )

    def delete_model(self, request, obj):
        freeze_delete(freeze=obj, actor=request.user, origin=origin_of(request))

    def delete_queryset(self, request, queryset):
        for freeze in queryset:
            freeze_delete(freeze=freeze, actor=request.user, origin=origin_of(request))


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    secret = forms.CharField(
        required=False,
        max_length=200,
        strip=True,
        help_text="The HMAC-SHA256 key receivers verify X-Registry-Signature with. "
        "Leave blank to keep the stored one.",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "format", "actions", "is_active"]


@method_decorator(sensitive_post_parameters("secret", "url"), name="changeform_view")
@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(CountOnceAdmin, admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["name", "host", "format", "actions", "is_active"]
    fields = ["name", "url", "format", "secret", "actions", "is_active"]

    @admin.display(description="Host")
    def host(self, endpoint):
        # Only the host: a Slack webhook's path is its token.
        return urlsplit(endpoint.url).hostname or ""

    def save_model(self, request, obj, form, change):
        webhook_endpoint_save(
            endpoint=obj,
            new_secret=form.cleaned_data.get("secret") or None,
            actor=request.user,
            origin=origin_of(request),
        )


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = [
        "channel",
        "recipient",
        "webhook",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "subject"]
    list_filter = ["action"]
    search_fields = ["subject"]
    fields = ["created_at", "action", "subject", "body", "link", "event"]
    readonly_fields = fields
    inlines = [DeliveryInline]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    """Each delivery's state and last error; failed ones can be put back in the queue."""

    list_display = [
        "pk",
        "subject",
        "channel",
        "target",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
    ]
    list_filter = ["state", "channel"]
    list_select_related = ["notification", "recipient", "webhook"]
    fields = [
        "notification",
        "channel",
        "recipient",
        "webhook",
        "state",
        "attempts",
        "last_attempt_at",
        "next_attempt_at",
        "sent_at",
        "last_error",
    ]
    readonly_fields = fields
    actions = ["retry_now"]

    # Not the notification field itself: the admin never wraps a foreign key's text, and a long
    # subject then pushed the list past 1280 px (tests/browser).
    @admin.display(description="Notification", ordering="notification__subject")
    def subject(self, delivery):
        return str(delivery.notification)

    @admin.display(description="To")
    def target(self, delivery):
        return str(delivery.recipient or delivery.webhook)

    @admin.action(description="Retry the selected deliveries now", permissions=["retry"])
    def retry_now(self, request, queryset):
        retried = 0
        for delivery in queryset.filter(state__in=[DeliveryState.FAILED, DeliveryState.PENDING]):
            delivery_retry(delivery=delivery)
            retried += 1
        self.message_user(
            request,
            f"{retried} delivery(ies) queued again; the worker sends them.",
            messages.SUCCESS,
        )

    def has_retry_permission(self, request):
        return request.user.has_perm("payments.change_delivery")
