"""The launch page, sessions pages and status endpoint, against the VCC emulator."""

import html
import logging
import re
import socket
import uuid

import pytest
import requests
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.models import (
    ApiCredential,
    AuditEvent,
    LaunchOutcome,
    PaymentSession,
    SessionKind,
    VccAccount,
)
from payments.validators import payment_data_validate
from payments.vcc.client import VccClient
from tests.conftest import point_accounts_at, provision_from_registry
from tests.launch_support import demo_link, recorded_session, status_body

pytestmark = pytest.mark.django_db

LAUNCH = reverse("payments:launch")
SESSIONS = reverse("payments:sessions")


@pytest.fixture
def emulator(demo, vcc_emulator, settings):
    settings.VCC_MAX_RETRIES = 1
    settings.VCC_BACKOFF_BASE = 0.01
    settings.VCC_BACKOFF_CAP = 0.02
    point_accounts_at(vcc_emulator)
    provision_from_registry(vcc_emulator)
    return vcc_emulator


def logged_in(username: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def launch_data(account="Sandbox", configuration_id=1, **fields) -> dict:
    data = {
        "link": str(demo_link(account, configuration_id).pk),
        "kind": SessionKind.AGENT_ASSIST,
        "agent_id": "",
        "amount": "12.40",
        "currency": "GBP",
        "merchant_reference": "REF-7",
        "skip_call_transfer": "on",
        "launch_key": uuid.uuid4().hex,
    }
    data.update(fields)
    return data


def post_launch(client: Client, **fields):
    return client.post(LAUNCH, launch_data(**fields))


def status(client: Client, session: PaymentSession) -> dict:
    response = client.get(reverse("payments:session_status", args=[session.pk]))
    assert response.status_code == 200
    return response.json()


# --- The launch page ---------------------------------------------------------------------


def test_launch_page_needs_a_login(client):
    response = client.get(LAUNCH)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_launch_page_is_403_without_the_add_permission(demo):
    assert logged_in("auditor").get(LAUNCH).status_code == 403


def test_launch_page_shows_the_summary_of_a_chosen_link(demo):
    link = demo_link("Sandbox", 1)
    html = logged_in("agent").get(f"{LAUNCH}?link={link.pk}").content.decode()
    for shown in ["This will run", "Sandbox", "EMEA", "695", "Card payment", "PCI Pal staging"]:
        assert shown in html
    assert 'data-summary="configuration-id">1<' in html
    assert 'data-summary="credential">A<' in html


def test_launch_page_offers_an_agent_only_staging_flows(demo):
    html = logged_in("agent").get(LAUNCH).content.decode()
    assert "Card payment · staging" in html
    assert "production" not in html.split('id="id_link"')[1].split("</select>")[0]


def test_launch_page_has_no_inline_script_or_style(demo):
    html = logged_in("agent").get(LAUNCH).content.decode()
    assert "<script>" not in html
    assert "<script src=" in html
    assert " style=" not in html
    assert " onclick=" not in html


def test_launch_page_prefills_from_an_earlier_session(emulator):
    session = recorded_session(amount="5.00", currency="EUR", agent_id="agent-x")
    html = logged_in("agent").get(f"{LAUNCH}?from={session.pk}").content.decode()
    assert 'value="5.00"' in html
    assert 'value="EUR"' in html
    assert 'value="agent-x"' in html


# --- Launching -----------------------------------------------------------------------------


def test_launch_opens_the_pci_agent_page_with_the_tokens_once(emulator):
    client = logged_in("agent")
    response = post_launch(client)
    assert response.status_code == 200
    agent_session = response.context["agent_session"]
    html = response.content.decode()
    assert f'action="{agent_session.iframe_url}"' in html
    assert 'target="pci-agent-frame"' in html
    assert f'name="X-BEARER-TOKEN" value="{agent_session.agent_access_token}"' in html
    assert f'name="X-REFRESH-TOKEN" value="{agent_session.agent_refresh_token}"' in html
    assert "no-store" in response["Cache-Control"]


def test_launch_lets_the_page_frame_and_post_to_the_pci_origin(emulator):
    response = post_launch(logged_in("agent"))
    policy = response["Content-Security-Policy"]
    frame_src = next(part for part in policy.split(";") if "frame-src" in part)
    form_action = next(part for part in policy.split(";") if "form-action" in part)
    assert emulator.url in frame_src
    assert emulator.url in form_action


def test_agent_tokens_are_not_kept_in_the_session_messages_or_pages(emulator, caplog):
    client = logged_in("agent")
    with caplog.at_level(logging.DEBUG):
        response = post_launch(client)
    agent_session = response.context["agent_session"]
    tokens = [agent_session.agent_access_token, agent_session.agent_refresh_token]
    session = PaymentSession.objects.get()
    later = [
        client.get(reverse("payments:session", args=[session.pk])).content.decode(),
        client.get(SESSIONS).content.decode(),
        str(status(client, session)),
        str(dict(client.session)),
        str([str(message) for message in get_messages(response.wsgi_request)]),
        caplog.text,
    ]
    assert all(token not in text for token in tokens for text in later)


def test_digital_launch_shows_vccs_answer_once(emulator):
    client = logged_in("agent")
    response = post_launch(client, kind=SessionKind.DIGITAL, customer_phone="+447700900123")
    session = PaymentSession.objects.get()
    html = response.content.decode()
    assert 'id="pci-agent-form"' not in html
    assert f"{emulator.url}/pci/pay/{session.session_guid}" in html
    later = client.get(reverse("payments:session", args=[session.pk])).content.decode()
    assert "/pci/pay/" not in later


def test_launch_records_one_session_with_the_profile_agent_id(emulator):
    post_launch(logged_in("agent"))
    session = PaymentSession.objects.get()
    assert session.outcome == LaunchOutcome.CREATED
    assert session.agent_id == "agent1234"
    assert session.merchant_reference == "REF-7"


def test_invalid_input_keeps_it_and_sends_nothing(emulator):
    response = post_launch(logged_in("agent"), amount="12.345", merchant_reference="KEEP-ME")
    assert response.status_code == 200
    html = response.content.decode()
    assert "at most 2 decimal places" in html
    assert 'value="KEEP-ME"' in html
    assert 'value="12.345"' in html
    assert not PaymentSession.objects.exists()
    assert emulator.stats.session_creates == 0


def test_the_error_summary_names_each_field_once(emulator):
    response = post_launch(logged_in("agent"), amount="abc", currency="ABC")
    summary = re.search(r'<div class="error-summary".*?</div>', response.content.decode(), re.S)
    items = [html.unescape(i) for i in re.findall(r"<a [^>]*>(.*?)</a>", summary.group(0))]
    # The amount's message begins with its label; the currency's does not, so it is added.
    assert items[0].startswith("Amount 'abc' is not a number")
    assert not any(item.startswith("Amount: Amount") for item in items)
    assert items[1].startswith("Currency: ") and "ISO 4217" in items[1]
    # What was typed is shown escaped, label or not.
    typed = post_launch(logged_in("agent"), amount="<b>1</b>").content.decode()
    assert "<b>1</b>" not in typed and "&#x27;&lt;b&gt;1&lt;/b&gt;&#x27;" in typed


def test_the_same_launch_form_sent_twice_launches_once(emulator):
    client = logged_in("agent")
    data = launch_data()
    first = client.post(LAUNCH, data)
    second = client.post(LAUNCH, data)
    assert first.status_code == 200
    assert second.status_code == 409
    assert "already sent" in second.content.decode()
    assert PaymentSession.objects.count() == 1
    assert emulator.stats.session_creates == 1
    session = PaymentSession.objects.get()
    assert f"session #{session.pk}" in second.content.decode()


def test_a_refused_launch_does_not_use_up_its_form_key(emulator):
    client = logged_in("agent")
    data = launch_data(kind=SessionKind.DIGITAL)
    refused = client.post(LAUNCH, data)
    assert refused.context["form"].errors
    data.update(customer_phone="+447700900123")
    assert client.post(LAUNCH, data).status_code == 200
    assert PaymentSession.objects.count() == 1


def test_a_launch_form_without_its_key_asks_for_a_reload(emulator):
    response = post_launch(logged_in("agent"), launch_key="")
    assert response.status_code == 409
    assert "reload the page" in response.content.decode()
    assert not PaymentSession.objects.exists()


@pytest.mark.parametrize(
    ("fault", "shown", "outcome"),
    [
        ({"inject": {"status": 503}}, "Do not launch again yet", LaunchOutcome.UNKNOWN),
        ({"inject": {"status": 429, "retry_after": "3"}}, "", LaunchOutcome.FAILED),
        ({"invalid_client": True}, "credentials A on Sandbox", LaunchOutcome.FAILED),
        ({"provider_error": "invalid_client_key"}, "", LaunchOutcome.FAILED),
        ({"inject": {"status": 400}}, "", LaunchOutcome.FAILED),
        ({"inject": {"body": "html"}}, "", LaunchOutcome.UNKNOWN),
        ({"inject": {"drop": True}}, "", LaunchOutcome.UNKNOWN),
    ],
)
def test_vcc_errors_are_explained_and_the_input_kept(emulator, fault, shown, outcome):
    if "inject" in fault:
        emulator.faults.inject("create", times=1, **fault["inject"])
    else:
        for name, value in fault.items():
            setattr(emulator.faults, name, value)
    response = post_launch(logged_in("agent"), merchant_reference="KEEP-ME")
    html = response.content.decode()
    session = PaymentSession.objects.get()
    assert session.outcome == outcome
    assert session.error and escape(session.error) in html
    assert shown in html
    assert 'value="KEEP-ME"' in html
    assert reverse("payments:session", args=[session.pk]) in html


def test_vcc_unreachable_says_to_try_again(emulator):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    VccAccount.objects.update(auth_base_url=closed, payment_base_url=f"{closed}/globalpci")
    html = post_launch(logged_in("agent"), merchant_reference="KEEP-ME").content.decode()
    session = PaymentSession.objects.get()
    assert session.outcome == LaunchOutcome.FAILED
    assert "The session was not started." in html
    assert escape(session.error) in html
    assert 'value="KEEP-ME"' in html


def test_unknown_outcome_tells_to_check_the_session_first(emulator):
    emulator.faults.inject("create", status=502, times=1)
    html = post_launch(logged_in("agent")).content.decode()
    session = PaymentSession.objects.get()
    assert "may or may not have created this session" in html
    assert f"Check session #{session.pk}</a> before launching again" in html


# --- Permission matrix -----------------------------------------------------------------------


def test_agent_cannot_launch_a_production_link(emulator):
    response = post_launch(
        logged_in("agent"), account="Production", confirm_account_name="Production"
    )
    assert "link" in response.context["form"].errors
    assert not PaymentSession.objects.exists()
    assert response.status_code == 403
    assert "production launch permission" in response.context["form"].errors["link"][0]
    event = AuditEvent.objects.get(action="session.launch")
    assert (event.outcome, event.actor_name) == ("denied", "agent")


def test_staff_registry_admin_launches_staging(emulator):
    post_launch(logged_in("registry"))
    assert PaymentSession.objects.get().launched_by.username == "registry"


def test_staff_registry_admin_cannot_launch_production(emulator):
    response = post_launch(
        logged_in("registry"),
        account="Contact Centre",
        configuration_id=4,
        confirm_account_name="Contact Centre",
    )
    assert "link" in response.context["form"].errors
    assert not PaymentSession.objects.exists()


def test_production_launcher_needs_the_typed_account_name(emulator):
    response = post_launch(logged_in("launcher"), account="Production")
    assert "confirm_account_name" in response.context["form"].errors
    assert not PaymentSession.objects.exists()
    # Moved from the form tests: the launch service makes this check now.
    assert "Production" in response.context["form"].errors["confirm_account_name"][0]


def test_production_confirmation_is_exact(emulator):
    response = post_launch(
        logged_in("launcher"), account="Production", confirm_account_name="production"
    )
    assert response.context["form"].errors["confirm_account_name"]
    assert not PaymentSession.objects.exists()
    assert emulator.stats.session_creates == 0


def test_credential_refused_by_invariant_2_is_an_error_on_the_credential(emulator):
    production_only = ApiCredential.objects.get(client_id="contact-centre-client-b")
    response = post_launch(
        logged_in("launcher"), account="Contact Centre", credential=str(production_only.pk)
    )
    errors = response.context["form"].errors
    assert "not allowed to launch staging flows" in errors["credential"][0]
    assert not PaymentSession.objects.exists()


def test_digital_session_needs_the_customer_phone(emulator):
    response = post_launch(logged_in("agent"), kind=SessionKind.DIGITAL)
    assert "phone number" in response.context["form"].errors["customer_phone"][0]
    assert not PaymentSession.objects.exists()
    assert emulator.stats.session_creates == 0


def test_advanced_payment_data_is_checked_like_the_typed_fields(emulator):
    response = post_launch(logged_in("agent"), payment_data_json='{"Amount": "lots"}')
    assert "not a number" in " ".join(response.context["form"].errors["payment_data_json"])
    assert not PaymentSession.objects.exists()


def test_production_launcher_launches_production_with_the_typed_name(emulator):
    response = post_launch(
        logged_in("launcher"), account="Production", confirm_account_name="Production"
    )
    assert response.status_code == 200
    assert PaymentSession.objects.get().stage == "production"


def test_user_without_the_add_permission_cannot_post_a_launch(emulator):
    assert post_launch(logged_in("auditor")).status_code == 403
    assert not PaymentSession.objects.exists()
    event = AuditEvent.objects.get(action="session.launch")
    assert (event.outcome, event.actor_name) == ("denied", "auditor")


def test_sandbox_credential_cannot_be_picked_for_a_production_flow(emulator):
    sandbox_a = demo_link("Sandbox", 1).launch_credentials().get()
    response = post_launch(
        logged_in("launcher"),
        account="Production",
        confirm_account_name="Production",
        credential=str(sandbox_a.pk),
    )
    assert "credential" in response.context["form"].errors
    assert not PaymentSession.objects.exists()


# --- Sessions pages ------------------------------------------------------------------------


def test_agent_sees_only_their_own_sessions(emulator):
    mine = recorded_session(username="agent")
    theirs = recorded_session(username="launcher")
    html = logged_in("agent").get(SESSIONS).content.decode()
    assert reverse("payments:session", args=[mine.pk]) in html
    assert reverse("payments:session", args=[theirs.pk]) not in html
    assert "My sessions" in html


def test_staff_with_view_all_sessions_see_everyones(emulator):
    theirs = recorded_session(username="agent")
    html = logged_in("registry").get(SESSIONS).content.decode()
    assert reverse("payments:session", args=[theirs.pk]) in html
    assert "Everyone's sessions" in html


def test_staff_can_narrow_the_list_to_their_own(emulator):
    theirs = recorded_session(username="agent")
    html = logged_in("registry").get(f"{SESSIONS}?mine=1").content.decode()
    assert reverse("payments:session", args=[theirs.pk]) not in html


def test_sessions_list_is_403_without_the_view_permission(emulator):
    User.objects.create_user("nobody", password="x" * 12)
    assert logged_in("nobody").get(SESSIONS).status_code == 403


def test_another_agents_session_page_is_404(emulator):
    theirs = recorded_session(username="launcher")
    response = logged_in("agent").get(reverse("payments:session", args=[theirs.pk]))
    assert response.status_code == 404


def test_session_page_shows_what_ran_where_and_the_outcome(emulator):
    session = recorded_session(session_state="Finished", decision="ACCEPT", reason_code="100")
    html = logged_in("agent").get(reverse("payments:session", args=[session.pk])).content.decode()
    assert "Payment accepted" in html
    assert session.session_guid in html
    assert 'data-finished="true"' in html


def test_unknown_session_page_says_to_check_before_launching_again(emulator):
    session = recorded_session(
        outcome=LaunchOutcome.UNKNOWN, session_guid=None, error="VCC may have created it."
    )
    html = logged_in("agent").get(reverse("payments:session", args=[session.pk])).content.decode()
    assert "before launching again" in html


# --- The status endpoint -------------------------------------------------------------------


def test_status_falls_back_to_get_session_without_a_webhook(emulator):
    client = logged_in("agent")
    post_launch(client)
    session = PaymentSession.objects.get()
    requests.post(
        f"{emulator.url}/_emulator/sessions/{session.session_guid}/complete",
        json={"decision": "ACCEPT"},
        timeout=5,
    )
    body = status(client, session)
    assert (body["sessionState"], body["decision"], body["reasonCode"]) == (
        "Finished",
        "ACCEPT",
        "100",
    )
    assert body["finished"] is True
    assert body["headline"] == "Payment accepted"


def test_status_asks_vcc_at_most_once_per_interval(emulator):
    client = logged_in("agent")
    post_launch(client)
    session = PaymentSession.objects.get()
    status(client, session)
    status(client, session)
    assert emulator.stats.session_reads == 1


def test_status_after_a_webhook_asks_vcc_nothing(emulator, settings):
    settings.VCC_WEBHOOK_TOKEN = "hook-token"
    client = logged_in("agent")
    post_launch(client)
    session = PaymentSession.objects.get()
    Client().post(
        "/vcc/webhook/",
        data=status_body(session.session_guid),
        content_type="application/json",
        headers={"Authorization": "Bearer hook-token"},
    )
    body = status(client, session)
    assert body["decision"] == "ACCEPT"
    assert body["source"] == "webhook"
    assert emulator.stats.session_reads == 0


def test_status_of_a_failed_launch_is_finished_without_asking_vcc(emulator):
    session = recorded_session(outcome=LaunchOutcome.FAILED, session_guid=None, error="No.")
    body = status(logged_in("agent"), session)
    assert body["finished"] is True
    assert emulator.stats.session_reads == 0


def test_status_while_vcc_is_down_answers_with_a_message(emulator):
    client = logged_in("agent")
    post_launch(client)
    session = PaymentSession.objects.get()
    emulator.faults.inject("read", status=503)
    body = status(client, session)
    assert body["finished"] is False
    assert body["message"]


def test_status_of_another_agents_session_is_404(emulator):
    theirs = recorded_session(username="launcher")
    url = reverse("payments:session_status", args=[theirs.pk])
    assert logged_in("agent").get(url).status_code == 404


# --- Any input -------------------------------------------------------------------------------

FIELDS = [
    "flow",
    "link",
    "credential",
    "kind",
    "agent_id",
    "amount",
    "currency",
    "customer_phone",
    "country",
    "email",
    "payment_data_json",
    "confirm_account_name",
    "skip_call_transfer",
]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    overrides=st.dictionaries(
        st.sampled_from(FIELDS),
        st.one_of(
            st.text(max_size=200),
            st.sampled_from(["", "1", "4", "digital", "Production", "+447700900123", "{}"]),
        ),
        max_size=5,
    )
)
def test_any_launch_post_is_answered_never_a_500_nothing_half_written(
    emulator, monkeypatch, overrides
):
    sent = []
    for name in ("create_agent_assist_session", "create_digital_session"):
        create = getattr(VccClient, name)

        def spy(self, *, payment_data, _create=create, **kwargs):
            sent.append((kwargs, payment_data))
            return _create(self, payment_data=payment_data, **kwargs)

        monkeypatch.setattr(VccClient, name, spy)
    client = logged_in("launcher")
    before = PaymentSession.objects.count()
    data = launch_data(**overrides)
    response = client.post(LAUNCH, data)
    # Whatever the page accepts, only valid paymentData reaches VCC (the form checked this
    # before the launch service became the only place that does).
    kind = data.get("kind")
    for _kwargs, payment_data in sent:
        assert payment_data_validate(payment_data, kind=kind) == payment_data
    assert response.status_code in (200, 403, 409)
    added = PaymentSession.objects.order_by("-pk")[: PaymentSession.objects.count() - before]
    for session in added:
        assert session.outcome in LaunchOutcome.values
        assert session.session_guid or session.error
    form = response.context.get("form") if response.status_code == 200 else None
    if response.status_code != 200 or (form is not None and form.errors):
        assert PaymentSession.objects.count() == before
