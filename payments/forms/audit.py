"""The filters of the audit review pages (the same ones drive the exports)."""

from django import forms
from django.core.exceptions import ValidationError

from payments.models import AuditEvent, AuditOutcome, PaymentFlow, VccAccount

SYSTEM = "system"


class FlowChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, flow):
        return f"{flow.number} “{flow.name}” · {flow.environment.stage}"


class DateInput(forms.DateInput):
    input_type = "date"


class AuditFilterForm(forms.Form):
    date_from = forms.DateField(label="From (UTC)", required=False, widget=DateInput)
    date_to = forms.DateField(label="To (UTC, inclusive)", required=False, widget=DateInput)
    account = forms.ModelChoiceField(
        queryset=VccAccount.objects.all(), required=False, empty_label="Any account"
    )
    flow = FlowChoiceField(
        queryset=PaymentFlow.objects.select_related("environment"),
        required=False,
        empty_label="Any flow",
    )
    person = forms.CharField(
        required=False,
        max_length=150,
        help_text="A username, or “system” for events without a signed-in user.",
        widget=forms.TextInput(attrs={"list": "audit-people", "placeholder": "anyone"}),
    )
    action = forms.ChoiceField(required=False)
    outcome = forms.ChoiceField(
        choices=[("", "Any outcome"), *AuditOutcome.choices], required=False
    )
    break_glass = forms.BooleanField(
        label="Break-glass changes only",
        required=False,
        help_text="Production changes made without a promotion.",
    )
    # Sign-ins outnumber everything else: hidden unless asked for (failed sign-ins and lockouts
    # always show).
    sign_ins = forms.BooleanField(label="Show sign-ins and sign-outs", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = AuditEvent.objects.order_by("actor_name").values_list("actor_name", flat=True)
        self.people = [name for name in names.distinct() if name] + [SYSTEM]
        actions = list(
            AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct()
        )
        prefixes = sorted({action.split(".")[0] for action in actions if "." in action})
        self.fields["action"].choices = [
            ("", "Any action"),
            ("Every step of", [(f"{prefix}.*", f"{prefix}.*") for prefix in prefixes]),
            ("Exactly", [(action, action) for action in actions]),
        ]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            raise ValidationError("The “to” date is before the “from” date: swap them.")
        return cleaned

    def active_filters(self) -> dict[str, str]:
        """Return the filters in use, as text (for the audit event and the export header)."""
        if not self.is_valid():
            return {}
        shown = {}
        for name, value in self.cleaned_data.items():
            if value in (None, "", False):
                continue
            shown[name] = value.isoformat() if hasattr(value, "isoformat") else str(value)
        return shown
