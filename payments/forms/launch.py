"""The launch form: what to run where, and the paymentData to send."""

from django import forms
from django.core.exceptions import ValidationError

from payments.models import AccountConfiguration, ApiCredential, SessionKind, Stage
from payments.models.credentials import NO_SECRET
from payments.payment_data import payment_data_from_input, payment_data_parse
from payments.roles import ROLES
from payments.validators import amount_normalise, currency_normalise, phone_normalise

MAX_PAYMENT_DATA_JSON = 8000

# Where the launch service's refusals show on this form, where its names differ.
REFUSAL_FIELDS = {
    "payment_data": "payment_data_json",
    "payment_data:phone_required": "customer_phone",
}


def flow_key(link: AccountConfiguration) -> str:
    """Return the flow filter value of a link: its stage and flow name."""
    return f"{link.flow.environment.stage}|{link.flow.name}"


class DataSelect(forms.Select):
    """A select whose options carry data-* attributes (read by launch.js)."""

    def __init__(self, *args, option_data=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.option_data = option_data or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        for key, data in self.option_data.get(str(value), {}).items():
            option["attrs"][f"data-{key}"] = data
        return option


class AnyChoiceField(forms.ChoiceField):
    """Offers some choices but accepts any value: the form's clean_<field> looks it up."""

    def valid_value(self, value):
        return True


class LaunchForm(forms.Form):
    """Parses and presents a launch; what may be launched is the launch service's to say."""

    no_secret = NO_SECRET

    flow = forms.ChoiceField(
        label="Flow",
        required=False,
        help_text="By name and stage; then pick the account it runs on.",
    )
    # Any link and credential parse; the service refuses those the user may not use, with the
    # same message and audit row as through the API or the command line.
    link = AnyChoiceField(
        label="Account configuration link",
        required=False,
        help_text="The VCC account and accountConfigurationId that start the flow.",
    )
    credential = AnyChoiceField(
        label="API credentials",
        required=False,
        help_text="Only credentials allowed to launch this flow are offered.",
    )
    kind = forms.ChoiceField(
        label="Kind",
        choices=SessionKind.choices,
        initial=SessionKind.AGENT_ASSIST,
        widget=forms.RadioSelect,
    )
    agent_id = forms.CharField(
        label="agentId",
        max_length=100,
        required=False,
        help_text="Defaults to the agentId on your profile.",
    )
    amount = forms.CharField(
        label="Amount",
        max_length=20,
        initial="12.40",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    currency = forms.CharField(
        label="Currency",
        max_length=10,
        initial="GBP",
        widget=forms.TextInput(attrs={"list": "currency-codes", "autocomplete": "off"}),
        help_text="ISO 4217, e.g. GBP.",
    )
    merchant_reference = forms.CharField(
        label="Merchant reference",
        max_length=100,
        required=False,
        help_text="Up to 100 characters.",
    )
    first_name = forms.CharField(label="First name", max_length=100, required=False)
    surname = forms.CharField(label="Surname", max_length=100, required=False)
    email = forms.EmailField(label="Email", max_length=200, required=False)
    street1 = forms.CharField(label="Street", max_length=200, required=False)
    city = forms.CharField(label="City", max_length=100, required=False)
    postcode = forms.CharField(label="Postcode", max_length=20, required=False)
    country = forms.CharField(
        label="Country", max_length=2, required=False, help_text="Two letters, e.g. GB."
    )
    customer_phone = forms.CharField(
        label="Customer phone",
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "placeholder": "+447700900123"}),
        help_text="E.164; the payment link is sent to it.",
    )
    skip_call_transfer = forms.BooleanField(
        label="skipCallTransfer",
        required=False,
        initial=True,
        help_text="Don't transfer a live call to the PCI provider (test sessions have none).",
    )
    payment_data_json = forms.CharField(
        label="paymentData (advanced)",
        required=False,
        max_length=MAX_PAYMENT_DATA_JSON,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="A JSON object of text values, merged over the fields above, e.g. "
        '{"BillingCountry": "GB"}.',
    )
    confirm_account_name = forms.CharField(
        label="Type the account name to confirm",
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.links = {
            str(link.pk): link
            for link in AccountConfiguration.objects.launchable_by(user)
            .with_related()
            .order_by("-flow__environment__stage", "flow__name", "account__name")
        }
        enabled = (
            ApiCredential.objects.enabled()
            .filter(account__in={link.account_id for link in self.links.values()})
            .select_related("account")
            .defer("client_secret")
        )
        credentials = [c for c in enabled if c.has_secret]
        # Not offered but named, so a link that cannot launch says why (issue 15, item 2).
        self.secretless = [c for c in enabled if not c.has_secret]
        self.allowed = {
            pk: [c for c in credentials if c.refusal_for(link) is None]
            for pk, link in self.links.items()
        }
        # Offered: credentials that may launch at least one of the links (invariant 2).
        offered = {c.pk for allowed in self.allowed.values() for c in allowed}
        self.credentials = {str(c.pk): c for c in credentials if c.pk in offered}
        self._set_choices()
        # The browser must not cut a pasted value at maxlength and launch the rest: every limit
        # is checked here, refused with the field's error, and shown in the field's help.
        for field in self.fields.values():
            field.widget.attrs.pop("maxlength", None)
        if "agent_id" not in self.initial:
            self.initial["agent_id"] = getattr(getattr(user, "agent_profile", None), "agent_id", "")

    def _set_choices(self):
        flows = {}
        groups: dict[str, list] = {}
        link_data = {}
        for pk, link in self.links.items():
            flow = link.flow
            stage = flow.environment.stage
            flows[flow_key(link)] = f"{flow.name} · {stage}"
            group = f"{flow.name} · {stage} · flow {flow.number}"
            groups.setdefault(group, []).append(
                (pk, f"{link.account.name} ({link.account.kind}) · id {link.configuration_id}")
            )
            allowed = self.allowed[pk]
            secretless = [
                c.label
                for c in self.secretless
                if c.account_id == link.account_id and stage in c.stages
            ]
            link_data[pk] = {
                "secretless": ", ".join(secretless),
                "flow": flow_key(link),
                "account": link.account.name,
                "kind": link.account.kind,
                "region": link.account.get_region_display(),
                "configuration-id": link.configuration_id,
                "flow-number": flow.number,
                "flow-name": flow.name,
                "stage": stage,
                "environment": flow.environment.name,
                "credentials": " ".join(str(c.pk) for c in allowed),
            }
        self.fields["flow"].choices = [("", "Any flow")] + sorted(
            flows.items(), key=lambda item: (item[0].split("|")[0] != Stage.STAGING, item[1])
        )
        # The widget first: setting a field's choices passes them on to its widget.
        self.fields["link"].widget = DataSelect(option_data=link_data)
        self.fields["link"].choices = [("", "Choose where to run it")] + list(groups.items())
        self.fields["credential"].widget = DataSelect(
            option_data={pk: {"label": c.label} for pk, c in self.credentials.items()}
        )
        self.fields["credential"].choices = [("", "First allowed")] + [
            (pk, f"{c.label} · {c.account.name} ({c.get_allowed_environments_display().lower()})")
            for pk, c in self.credentials.items()
        ]

    def clean_amount(self):
        return amount_normalise(self.cleaned_data["amount"])

    def clean_currency(self):
        return currency_normalise(self.cleaned_data["currency"])

    def clean_country(self):
        country = self.cleaned_data["country"].strip().upper()
        if country and not (len(country) == 2 and country.isascii() and country.isalpha()):
            raise ValidationError("Use the two-letter ISO 3166 country code, e.g. GB.")
        return country

    def clean_customer_phone(self):
        phone = self.cleaned_data["customer_phone"].strip()
        return phone_normalise(phone) if phone else ""

    def clean_payment_data_json(self):
        return payment_data_parse(self.cleaned_data["payment_data_json"])

    def clean_link(self):
        pk = self.cleaned_data["link"]
        if not pk:
            return None
        link = self.links.get(pk) or _by_pk(AccountConfiguration.objects.with_related(), pk)
        if link is None:
            raise ValidationError("This configuration link no longer exists: choose another.")
        return link

    def clean_credential(self):
        pk = self.cleaned_data["credential"]
        if not pk:
            return None
        queryset = ApiCredential.objects.select_related("account")
        credential = self.credentials.get(pk) or _by_pk(queryset, pk)
        if credential is None:
            raise ValidationError("These credentials no longer exist: choose others.")
        return credential

    def clean(self):
        cleaned = super().clean()
        cleaned["link"] = cleaned.get("link") or self._link_from_flow(cleaned.get("flow"))
        if not self.errors:
            cleaned["payment_data"] = payment_data_from_input(
                cleaned,
                kind=cleaned.get("kind", ""),
                extra=cleaned.get("payment_data_json") or {},
            )
        return cleaned

    def _link_from_flow(self, flow: str | None):
        if not flow:
            if "link" not in self.errors:
                self.add_error("link", "Choose the flow and where to run it.")
            return None
        matches = [link for link in self.links.values() if flow_key(link) == flow]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            self.add_error("flow", "No configuration link you may launch starts this flow.")
        else:
            accounts = ", ".join(link.account.name for link in matches)
            self.add_error(
                "link", f"This flow runs on several accounts ({accounts}): pick one of them."
            )
        return None

    @property
    def selected_link(self) -> AccountConfiguration | None:
        """The link the page summarises: the chosen one, or the only one left."""
        if self.is_bound:
            # Only a link the user may launch is summarised: a posted one may be any.
            cleaned = getattr(self, "cleaned_data", {})
            pk = str(cleaned["link"].pk) if cleaned.get("link") else self.data.get("link") or ""
        else:
            pk = str(self.initial.get("link") or "")
        if pk in self.links:
            return self.links[pk]
        if len(self.links) == 1:
            return next(iter(self.links.values()))
        return None

    @property
    def link_notice(self) -> str:
        """Why a link asked for by address (?link=) is not offered, so the page is not blank."""
        pk = "" if self.is_bound else str(self.initial.get("link") or "")
        if not pk or pk in self.links:
            return ""
        link = _by_pk(AccountConfiguration.objects.with_related(), pk)
        if link is None:
            return f"There is no configuration link {pk}: choose a flow below."
        if not AccountConfiguration.objects.launchable().filter(pk=link.pk).exists():
            return f"{link} is not active, so nobody can launch it now: choose a flow below."
        if link.flow.environment.stage == Stage.PRODUCTION:
            groups = " or ".join(
                name for name, perms in ROLES.items() if "launch_production" in perms
            )
            return (
                f"{link} is a production link: only members of {groups} may launch it, because "
                "it runs on the production PCI node. Ask a registry admin if your work needs "
                "it; staging flows you may launch are below."
            )
        return f"You may not launch {link}: choose a flow below."

    def allowed_credentials(self, link: AccountConfiguration | None) -> list[ApiCredential]:
        return self.allowed.get(str(link.pk), []) if link else []


def _by_pk(queryset, pk: str):
    # isdigit() alone accepts "¹" and other digits int() refuses.
    is_number = pk.isascii() and pk.isdigit() and len(pk) <= 18
    return queryset.filter(pk=int(pk)).first() if is_number else None
