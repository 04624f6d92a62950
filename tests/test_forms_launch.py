import json

import pytest
from django.contrib.auth.models import User
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.forms.launch import LaunchForm
from payments.models import AccountConfiguration, ApiCredential, SessionKind, VccAccount

pytestmark = pytest.mark.django_db


def link(account: str, configuration_id: int) -> AccountConfiguration:
    return AccountConfiguration.objects.get(
        account__name=account, configuration_id=configuration_id
    )


def form_for(username: str, **data) -> LaunchForm:
    values = {
        "link": str(link("Sandbox", 1).pk),
        "kind": SessionKind.AGENT_ASSIST,
        "amount": "12.40",
        "currency": "GBP",
        "skip_call_transfer": "on",
    }
    values.update(data)
    return LaunchForm(values, user=User.objects.get(username=username))


def option_values(form: LaunchForm, field: str) -> set[str]:
    values = set()
    for value, label in form.fields[field].choices:
        if isinstance(label, list | tuple):
            values.update(str(inner) for inner, _ in label)
        elif value:
            values.add(str(value))
    return values


def test_agent_id_defaults_to_the_agent_profile(demo):
    form = LaunchForm(user=User.objects.get(username="agent"))
    assert form.initial["agent_id"] == "agent1234"


def test_skip_call_transfer_is_on_by_default(demo):
    form = LaunchForm(user=User.objects.get(username="agent"))
    assert form["skip_call_transfer"].value() is True


def test_agent_is_offered_only_staging_links(demo):
    form = LaunchForm(user=User.objects.get(username="agent"))
    offered = {form.links[pk].flow.environment.stage for pk in option_values(form, "link")}
    assert offered == {"staging"}
    assert len(option_values(form, "link")) == 6  # ids 1, 2 and 3 on Sandbox and Contact Centre


def test_production_launcher_is_offered_production_links_too(demo):
    form = LaunchForm(user=User.objects.get(username="launcher"))
    assert str(link("Production", 1).pk) in option_values(form, "link")


def test_only_credentials_invariant_2_allows_are_offered(demo):
    form = LaunchForm(user=User.objects.get(username="agent"))
    production_only = ApiCredential.objects.get(client_id="contact-centre-client-b")
    assert str(production_only.pk) not in option_values(form, "credential")
    assert form.allowed[str(link("Contact Centre", 1).pk)][0].label == "A"


def test_link_options_carry_what_will_run_for_the_summary(demo):
    form = LaunchForm(user=User.objects.get(username="agent"))
    html = str(form["link"])
    assert 'data-account="Sandbox"' in html
    assert 'data-flow-number="695"' in html
    assert 'data-stage="staging"' in html


def test_valid_form_builds_payment_data_from_the_typed_fields(demo):
    form = form_for("agent", amount="12.4", currency="gbp", first_name="John", country="gb")
    assert form.is_valid(), form.errors
    assert form.cleaned_data["payment_data"] == {
        "FirstName": "John",
        "Country": "GB",
        "Amount": "12.40",
        "Currency": "GBP",
    }
    assert form.cleaned_data["link"] == link("Sandbox", 1)


def test_advanced_payment_data_is_merged_over_the_typed_fields(demo):
    extra = json.dumps({"Amount": "99.99", "BillingCountry": "GB"})
    form = form_for("agent", payment_data_json=extra)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["payment_data"]["Amount"] == "99.99"
    assert form.cleaned_data["payment_data"]["BillingCountry"] == "GB"


@pytest.mark.parametrize("amount", ["0", "-5", "12.345", "twelve", ""])
def test_amount_must_be_positive_with_at_most_two_decimals(demo, amount):
    form = form_for("agent", amount=amount)
    assert not form.is_valid()
    assert form.errors["amount"]


def test_currency_must_be_iso_4217(demo):
    form = form_for("agent", currency="ABC")
    assert not form.is_valid()
    assert "ISO 4217" in form.errors["currency"][0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a", "b"]', "JSON object"),
        ('{"Amount": 12.4}', "text in quotes"),
    ],
)
def test_advanced_payment_data_must_be_a_string_map(demo, text, message):
    form = form_for("agent", payment_data_json=text)
    assert not form.is_valid()
    assert message in " ".join(form.errors["payment_data_json"])


def test_digital_phone_must_be_e164(demo):
    form = form_for("agent", kind=SessionKind.DIGITAL, customer_phone="07700 900123")
    assert not form.is_valid()
    assert "E.164" in form.errors["customer_phone"][0]


def test_digital_phone_is_sent_as_customer_phone_number(demo):
    form = form_for("agent", kind=SessionKind.DIGITAL, customer_phone="+44 7700 900123")
    assert form.is_valid(), form.errors
    assert form.cleaned_data["payment_data"]["CustomerPhoneNumber"] == "+447700900123"


def test_phone_is_not_sent_for_an_agent_assist_session(demo):
    form = form_for("agent", customer_phone="+447700900123")
    assert form.is_valid(), form.errors
    assert "CustomerPhoneNumber" not in form.cleaned_data["payment_data"]


def test_any_link_and_credential_parse_for_the_service_to_judge(demo):
    # Who may launch what is the launch service's rule (audited); the form only parses.
    production_only = ApiCredential.objects.get(client_id="contact-centre-client-b")
    form = form_for("agent", link=str(link("Production", 1).pk), credential=str(production_only.pk))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["link"] == link("Production", 1)
    assert form.cleaned_data["credential"] == production_only


def test_an_unknown_link_is_an_error_on_the_link(demo):
    form = form_for("agent", link="999999")
    assert not form.is_valid()
    assert "no longer exists" in form.errors["link"][0]


def test_a_posted_link_the_user_may_not_launch_is_not_summarised(demo):
    form = form_for("agent", link=str(link("Production", 1).pk))
    assert form.is_valid(), form.errors
    assert form.selected_link is None


def test_production_link_with_the_typed_account_name_is_valid(demo):
    form = form_for(
        "launcher", link=str(link("Production", 1).pk), confirm_account_name="Production"
    )
    assert form.is_valid(), form.errors


def test_flow_by_name_and_stage_picks_its_only_link(demo):
    VccAccount.objects.filter(name="Contact Centre").update(is_active=False)
    form = form_for("agent", link="", flow="staging|Card payment")
    assert form.is_valid(), form.errors
    assert form.cleaned_data["link"] == link("Sandbox", 1)


def test_flow_on_several_accounts_asks_which_account(demo):
    form = form_for("agent", link="", flow="staging|Card payment")
    assert not form.is_valid()
    assert "Contact Centre, Sandbox" in form.errors["link"][0]


def test_nothing_chosen_asks_for_the_flow(demo):
    form = form_for("agent", link="")
    assert not form.is_valid()
    assert "Choose the flow" in form.errors["link"][0]


FIELDS = [
    "flow",
    "link",
    "credential",
    "kind",
    "agent_id",
    "amount",
    "currency",
    "merchant_reference",
    "first_name",
    "email",
    "country",
    "customer_phone",
    "skip_call_transfer",
    "payment_data_json",
    "confirm_account_name",
]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.dictionaries(
        st.sampled_from(FIELDS),
        st.one_of(
            st.text(max_size=300),
            st.sampled_from(["1", "5", "12.40", "GBP", "digital", "agent_assist", '{"A": "b"}']),
            st.from_regex(r"\{\"[A-Za-z]{1,8}\": \"[^\"\\]{0,20}\"\}", fullmatch=True),
        ),
    )
)
def test_any_input_is_valid_or_answered_with_messages(demo, data):
    # Examples without a link start from a valid form, so the fuzz reaches the later checks.
    if "link" not in data:
        data = {"link": str(link("Production", 1).pk), "amount": "1", "currency": "GBP", **data}
    form = LaunchForm(data, user=User.objects.get(username="launcher"))
    if not form.is_valid():
        for messages in form.errors.values():
            assert messages and all(str(message).strip() for message in messages)
        return
    assert form.cleaned_data["link"] is not None
    # Whether it may be sent is the launch service's to say (the launch page's fuzz test
    # checks that only valid paymentData ever reaches VCC); the form's part is text values.
    payment_data = form.cleaned_data["payment_data"]
    assert all(isinstance(value, str) for value in payment_data.values())


@pytest.mark.parametrize("value", ["¹", "²3", "٣"])
def test_a_link_or_credential_id_in_other_digits_is_a_field_error(demo, value):
    """Digits int() refuses ("¹", Arabic-Indic) are an unknown choice, never a crash."""
    form = LaunchForm({"link": value, "credential": value}, user=User.objects.get(username="agent"))
    assert not form.is_valid()
    assert "link" in form.errors and "credential" in form.errors
