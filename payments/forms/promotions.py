"""Forms of the promotion pages: request, edit (with further links), and a step's reason."""

import uuid

from django import forms

from payments.models import AccountKind, PaymentFlow, PciEnvironment, Stage, VccAccount
from payments.services.promotions import NUMBER_MAX, REASON_MAX_LENGTH


class FlowChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, flow):
        return f"{flow.number} “{flow.name}” · {flow.environment.name}"


class AccountChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, account):
        return f"{account.name} · {account.kind} account"


def _number_field(label: str, help_text: str) -> forms.IntegerField:
    return forms.IntegerField(label=label, min_value=1, max_value=NUMBER_MAX, help_text=help_text)


def _reason_field(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=help_text,
    )


def _target_accounts():
    return VccAccount.objects.active().filter(
        kind__in=[AccountKind.PRODUCTION, AccountKind.COMBINED]
    )


class PromotionEditForm(forms.Form):
    """The parts of a request its requester may change (an approval is then reset)."""

    production_flow_number = _number_field(
        "Production flow number",
        "The number the PCI provider gave the flow on its production node.",
    )
    configuration_id = _number_field(
        "Production accountConfigurationId",
        "Provisioned by Vonage on the target account for this flow.",
    )
    target_environment = forms.ModelChoiceField(
        queryset=PciEnvironment.objects.filter(stage=Stage.PRODUCTION),
        required=False,
        empty_label="The provider's production node",
        label="Production node",
    )
    reason = _reason_field("Reason", "Why this flow goes to production: kept in the audit trail.")


class PromotionRequestForm(PromotionEditForm):
    source_flow = FlowChoiceField(
        queryset=PaymentFlow.objects.for_stage(Stage.STAGING)
        .active()
        .select_related("environment"),
        label="Staging flow",
        empty_label="Choose the tested staging flow",
    )
    target_account = AccountChoiceField(
        queryset=_target_accounts(),
        label="Target VCC account",
        empty_label="Choose the production (or combined) account",
    )
    # Rendered once per form: a double click or a replayed POST carries the same key.
    idempotency_key = forms.UUIDField(
        widget=forms.HiddenInput,
        initial=uuid.uuid4,
        error_messages={
            "invalid": "This form is damaged: reload the page and fill it in again.",
            "required": "This form is damaged: reload the page and fill it in again.",
        },
    )

    verify_after_apply = forms.BooleanField(
        required=False,
        label="Probe the new links after apply",
        help_text="VCC is asked to start a test session on each new production link; a link it "
        "refuses switches the set's new links off until a probe succeeds. Needs the production "
        "probe permission (Production launchers).",
    )
    confirm_account_name = forms.CharField(
        required=False,
        max_length=200,
        label="Type the target account's name to confirm the production probes",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    field_order = [
        "source_flow",
        "target_account",
        "production_flow_number",
        "configuration_id",
        "target_environment",
        "reason",
        "verify_after_apply",
        "confirm_account_name",
        "idempotency_key",
    ]


class LinkForm(forms.Form):
    """One further link of the same production flow: another account and its id."""

    account = AccountChoiceField(
        queryset=_target_accounts(),
        required=False,
        label="Also link on account",
        empty_label="(no further link)",
    )
    configuration_id = forms.IntegerField(
        label="accountConfigurationId there",
        min_value=1,
        max_value=NUMBER_MAX,
        required=False,
    )

    def clean(self):
        data = super().clean()
        if bool(data.get("account")) != (data.get("configuration_id") is not None):
            if not self.errors:
                raise forms.ValidationError(
                    "Choose the account and the id Vonage provisioned on it, or leave both empty."
                )
        return data


LinkFormSet = forms.formset_factory(LinkForm, extra=2, max_num=20, absolute_max=20)
LINKS_PREFIX = "links"


def links_formset(data=None, initial=None, *, add_row: bool = False):
    """The further-links rows; a POST without them (an older form, a script) has none."""
    if data is None:
        return LinkFormSet(prefix=LINKS_PREFIX, initial=initial)
    data = data.copy()
    total = f"{LINKS_PREFIX}-TOTAL_FORMS"
    data.setdefault(total, "0")
    data.setdefault(f"{LINKS_PREFIX}-INITIAL_FORMS", "0")
    if add_row and data[total].isdigit():
        data[total] = str(int(data[total]) + 1)
    return LinkFormSet(data, prefix=LINKS_PREFIX)


def formset_links(formset) -> list[tuple[VccAccount, int]]:
    """The filled rows of a valid formset as (account, configuration id) pairs."""
    return [
        (row["account"], row["configuration_id"])
        for row in formset.cleaned_data
        if row.get("account") and row.get("configuration_id") is not None
    ]


class StepReasonForm(forms.Form):
    reason = _reason_field("Reason", "Kept with the promotion and in the audit trail.")


class OptionalReasonForm(forms.Form):
    reason = forms.CharField(required=False, max_length=REASON_MAX_LENGTH)


class ApproveForm(forms.Form):
    # When the approver opened the page: an approval of a since-edited request is refused, and
    # so is one without it. Not required here: the service refuses it after its permission
    # and four-eyes checks, so a forged POST is recorded for what it is.
    seen = forms.DateTimeField(widget=forms.HiddenInput, required=False)
