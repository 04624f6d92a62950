from django import forms
from django.contrib import admin, messages
from django.core.exceptions import NON_FIELD_ERRORS
from django.db.models import Count
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from payments.admin.base import (
    BoundedInline,
    BreakGlassForm,
    ChangeReasonForm,
    CountOnceAdmin,
    RegistryAdmin,
    SafeAutocompleteMixin,
    ServiceSavedMixin,
    without_secrets_unless_editable,
)
from payments.fields import validate_not_placeholder
from payments.models import (
    AccountConfiguration,
    AgentProfile,
    ApiCredential,
    PaymentFlow,
    PciEnvironment,
    VccAccount,
)
from payments.selectors.secrets import UNREADABLE_SECRET, secret_unreadable
from payments.services import credential_save, credential_verify, origin_of

DEFAULT_ALLOWED_LABEL = (
    "The account's default (production only on a production account, else staging only)"
)
SECRET_HELP = (
    "Write-only: the stored secret is never shown. Leave blank to keep it; type a new one to "
    "replace it."
)


class ApiCredentialForm(BreakGlassForm):
    client_secret = forms.CharField(
        label="Client secret",
        required=False,
        max_length=500,
        validators=[validate_not_placeholder],
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=SECRET_HELP,
    )

    def clean_client_secret(self):
        secret = self.cleaned_data["client_secret"]
        if not secret and self.instance._state.adding:
            raise forms.ValidationError(
                "A new credential needs its client secret: without one it cannot launch."
            )
        return secret

    class Meta:
        model = ApiCredential
        fields = ["account", "label", "client_id", "allowed_environments", "is_enabled"]
        # The declared field above is not the model's: never copied onto the instance.
        exclude = ["client_secret"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = self.fields.get("allowed_environments")
        if allowed is not None:
            # Left blank, the model fills in what the account's kind allows (item 8).
            allowed.choices = [(value, label) for value, label in allowed.choices if value]
            allowed.choices = [("", DEFAULT_ALLOWED_LABEL), *allowed.choices]


def _save_credential(request, credential, form, reason, break_glass=False):
    credential_save(
        credential=credential,
        new_secret=form.cleaned_data.get("client_secret") or None,
        actor=request.user,
        origin=origin_of(request),
        reason=reason,
        break_glass=break_glass,
    )


class ApiCredentialInline(BoundedInline):
    model = ApiCredential
    form = ApiCredentialForm
    fields = ["label", "client_id", "client_secret", "secret_status", "allowed_environments"]
    fields += ["is_enabled"]
    readonly_fields = ["secret_status"]
    extra = 0

    def get_fields(self, request, obj=None):
        return without_secrets_unless_editable(self, request, obj, super().get_fields(request, obj))

    @admin.display(description="Stored secret")
    def secret_status(self, credential):
        return stored_secret_state(credential)


def stored_secret_state(credential: ApiCredential) -> str:
    """The fingerprint, or why the stored secret cannot be used (never the secret)."""
    if credential.pk is not None and secret_unreadable(credential):
        return UNREADABLE_SECRET
    return credential.secret_status


class ConfigurationIdAtFieldMixin:
    """A taken configuration id is refused at its field, naming the flow it already starts."""

    def _post_clean(self):
        super()._post_clean()
        link = self.instance
        if not link.account_id or link.configuration_id is None:
            return
        taken = (
            AccountConfiguration.objects.filter(
                account_id=link.account_id, configuration_id=link.configuration_id
            )
            .exclude(pk=link.pk)
            .select_related("flow__environment", "account")
            .first()
        )
        if taken is None:
            return
        # Django's own line ("… with this Account and AccountConfigurationId already exists.")
        # names the constraint, at the top of the form: this one names the flow, at the field.
        others = [e for e in self.non_field_errors().as_data() if e.code != "unique_together"]
        self._errors.pop(NON_FIELD_ERRORS, None)
        for error in others:
            self.add_error(None, error)
        flow = taken.flow
        self.add_error(
            "configuration_id",
            f"Id {taken.configuration_id} on {taken.account.name} already starts flow "
            f"{flow.number} “{flow.name}” ({flow.environment.stage}). Each id starts one flow: "
            "use the id Vonage provisioned for this one.",
        )


class AccountConfigurationForm(ConfigurationIdAtFieldMixin, ChangeReasonForm):
    pass


class AccountConfigurationInline(SafeAutocompleteMixin, BoundedInline):
    model = AccountConfiguration
    fields = ["configuration_id", "flow", "is_active", "notes"]
    autocomplete_fields = ["flow"]
    extra = 0


@admin.register(VccAccount)
@method_decorator(sensitive_post_parameters(), name="changeform_view")
class VccAccountAdmin(RegistryAdmin):
    list_display = ["name", "kind", "region", "auth_base_url", "link_count", "is_active"]
    list_filter = ["kind", "region", "is_active"]
    search_fields = ["name", "credentials__client_id"]
    inlines = [ApiCredentialInline, AccountConfigurationInline]
    fields = ["name", "kind", "region", "auth_base_url", "payment_base_url", "is_active", "notes"]
    fields += ["change_reason"]

    def get_queryset(self, request):
        # GROUP BY drops Meta.ordering; autocomplete paginates, so order explicitly.
        links = super().get_queryset(request).annotate(link_count=Count("configurations"))
        return links.order_by(*VccAccount._meta.ordering)

    @admin.display(description="Configuration links", ordering="link_count")
    def link_count(self, account):
        return account.link_count

    def save_inline(self, request, instance, formset, reason):
        if isinstance(instance, ApiCredential):
            form = next(f for f in formset.forms if f.instance is instance)
            _save_credential(request, instance, form, reason, request.break_glass)
        else:
            super().save_inline(request, instance, formset, reason)


@admin.register(ApiCredential)
@method_decorator(sensitive_post_parameters("client_secret"), name="changeform_view")
class ApiCredentialAdmin(RegistryAdmin):
    form = ApiCredentialForm
    # The last check comes second: at a laptop's width the last columns scroll out of sight.
    list_display = ["__str__", "verification", "is_enabled", "allowed_environments"]
    list_display += ["client_id", "stored_secret"]
    list_filter = ["account", "account__kind", "allowed_environments", "is_enabled"]
    list_select_related = ["account"]
    search_fields = ["label", "client_id", "account__name"]
    autocomplete_fields = ["account"]
    fields = ["account", "label", "client_id", "client_secret", "stored_secret"]
    fields += ["allowed_environments", "is_enabled", "last_rotated_at", "last_verified_at"]
    fields += ["last_verification_ok", "last_verification_error", "change_reason"]
    readonly_fields = ["stored_secret", "last_rotated_at", "last_verified_at"]
    readonly_fields += ["last_verification_ok", "last_verification_error"]
    actions = ["check_with_vcc"]

    @admin.display(description="Stored secret", ordering="secret_fingerprint")
    def stored_secret(self, credential):
        return stored_secret_state(credential)

    @admin.display(description="Last check")
    def verification(self, credential):
        if credential.last_verified_at is None:
            return "never checked"
        result = "worked" if credential.last_verification_ok else "failed"
        return f"{result} {credential.last_verified_at:%Y-%m-%d %H:%M}"

    @admin.action(description="Check credentials with VCC", permissions=["change"])
    def check_with_vcc(self, request, queryset):
        # Each check waits for VCC (up to VCC_DEADLINE): keep one request short.
        limit = 10
        credentials = list(queryset.select_related("account").defer("client_secret")[: limit + 1])
        if len(credentials) > limit:
            self.message_user(
                request, f"Select at most {limit} credentials per check.", messages.WARNING
            )
            return
        for credential in credentials:
            if credential_verify(
                credential=credential, actor=request.user, origin=origin_of(request)
            ):
                self.message_user(request, f"{credential}: VCC granted a token.", messages.SUCCESS)
            else:
                text = f"{credential}: {credential.last_verification_error}"
                self.message_user(request, text, messages.ERROR)

    def save_model(self, request, obj, form, change):
        reason = form.cleaned_data.get("change_reason", "")
        _save_credential(request, obj, form, reason, form.cleaned_data.get("break_glass", False))


@admin.register(PciEnvironment)
class PciEnvironmentAdmin(RegistryAdmin):
    list_display = ["name", "provider", "stage", "flow_count"]
    list_filter = ["provider", "stage"]
    search_fields = ["name", "provider"]

    def get_queryset(self, request):
        flows = super().get_queryset(request).annotate(flow_count=Count("flows"))
        return flows.order_by(*PciEnvironment._meta.ordering)

    @admin.display(description="Flows", ordering="flow_count")
    def flow_count(self, environment):
        return environment.flow_count


@admin.register(PaymentFlow)
class PaymentFlowAdmin(RegistryAdmin):
    list_display = ["number", "name", "environment", "stage", "promoted_from", "is_active"]
    list_display_links = ["number", "name"]
    list_filter = ["environment__stage", "environment", "is_active"]
    list_select_related = ["environment", "promoted_from__environment"]
    search_fields = ["=number", "name", "environment__name"]
    autocomplete_fields = ["environment", "promoted_from"]

    @admin.display(description="Stage", ordering="environment__stage")
    def stage(self, flow):
        return flow.environment.get_stage_display()


@admin.register(AccountConfiguration)
class AccountConfigurationAdmin(RegistryAdmin):
    form = AccountConfigurationForm
    list_display = ["summary", "flow_name", "environment", "is_active"]
    list_filter = ["account", "account__kind", "account__region", "flow__environment__stage"]
    list_filter += ["is_active"]
    list_select_related = ["account", "flow__environment"]
    search_fields = ["=configuration_id", "=flow__number", "flow__name", "account__name"]
    search_fields += ["account__credentials__client_id"]
    autocomplete_fields = ["account", "flow"]

    @admin.display(description="What starts what", ordering="account__name")
    def summary(self, link):
        return str(link)

    @admin.display(description="Flow name", ordering="flow__name")
    def flow_name(self, link):
        return link.flow.name

    @admin.display(description="PCI environment", ordering="flow__environment__name")
    def environment(self, link):
        return link.flow.environment.name


@admin.register(AgentProfile)
class AgentProfileAdmin(CountOnceAdmin, SafeAutocompleteMixin, ServiceSavedMixin, admin.ModelAdmin):
    # Not a SimpleHistoryAdmin: agent profiles keep no history rows (its page would fail).
    list_display = ["user", "agent_id"]
    search_fields = ["user__username", "agent_id"]
    autocomplete_fields = ["user"]
