"""A launch key launches once, through the service, the API and the CLI, on the VCC emulator."""

import json
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from payments.models import PaymentSession
from payments.refusals import error_codes
from payments.services import session_launch
from payments.services.api_tokens import api_token_issue
from tests.conftest import point_accounts_at, provision_from_registry
from tests.launch_support import demo_link
from tests.threads import postgres_only, run_together

pytestmark = pytest.mark.django_db(transaction=True)

PAYMENT = {"Amount": "12.40", "Currency": "GBP", "MerchantReferenceCode": "REF-1"}
KEY = "3f2b6c1e-idempotency-test-key"
SESSIONS = "/api/v1/sessions"


@pytest.fixture
def emulator(demo, vcc_emulator, settings):
    settings.VCC_MAX_RETRIES = 1
    settings.VCC_BACKOFF_BASE = 0.01
    settings.VCC_BACKOFF_CAP = 0.02
    point_accounts_at(vcc_emulator)
    provision_from_registry(vcc_emulator)
    return vcc_emulator


def launch(username="agent", **kwargs):
    values = {
        "link": demo_link("Sandbox", 1),
        "launched_by": User.objects.get(username=username),
        "kind": "agent_assist",
        "payment_data": dict(PAYMENT),
        "idempotency_key": KEY,
    }
    values.update(kwargs)
    return session_launch(**values)


def post(token: str, body: dict, key: str | None = KEY):
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return Client().post(
        SESSIONS, json.dumps(body), content_type="application/json", headers=headers
    )


def launch_body(**overrides) -> dict:
    return {"account": "Sandbox", "configurationId": 1, "paymentData": PAYMENT, **overrides}


# --- The service -------------------------------------------------------------------------


def test_service_replay_returns_the_first_session_and_sends_nothing(emulator):
    first = launch()
    again = launch()
    assert first.ok and not first.replayed
    assert again.replayed
    assert again.session.pk == first.session.pk
    assert again.agent_session is None  # the tokens were shown once, never stored
    assert emulator.stats.session_creates == 1
    assert PaymentSession.objects.get().idempotency_key == KEY


def test_service_same_key_with_another_request_is_a_conflict(emulator):
    first = launch()
    with pytest.raises(ValidationError) as info:
        launch(payment_data={**PAYMENT, "Amount": "99.00"})
    assert error_codes(info.value) == {"idempotency_conflict"}
    assert f"session #{first.session.pk}" in info.value.message_dict["idempotency_key"][0]
    assert emulator.stats.session_creates == 1


def test_service_keys_are_the_launchers_own(emulator):
    mine = launch("agent")
    theirs = launch("launcher")
    assert not theirs.replayed
    assert theirs.session.pk != mine.session.pk
    assert emulator.stats.session_creates == 2


def test_service_replay_of_a_failed_launch_returns_it_without_retrying(emulator):
    emulator.faults.inject("create", status=503, times=1)
    first = launch()
    again = launch()
    assert again.replayed
    assert again.session.pk == first.session.pk
    assert again.session.outcome == "unknown"
    assert emulator.stats.session_creates == 1


def test_service_refuses_a_malformed_key(emulator):
    with pytest.raises(ValidationError) as info:
        launch(idempotency_key="x" * 101)
    assert "idempotency_key" in info.value.message_dict
    assert emulator.stats.session_creates == 0


def test_launches_without_a_key_are_never_replays(emulator):
    assert not launch(idempotency_key="").replayed
    assert not launch(idempotency_key="").replayed
    assert emulator.stats.session_creates == 2


# --- The API -----------------------------------------------------------------------------


def test_api_replay_with_the_same_key_and_body_returns_the_first_session(emulator):
    token = api_token_issue(user=User.objects.get(username="agent"))[1]
    first = post(token, launch_body())
    again = post(token, launch_body())
    assert first.status_code == 201
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["sessionGuid"] == first.json()["sessionGuid"]
    assert again.json()["agentPage"] is None
    assert first.json()["agentPage"]["agentAccessToken"] not in again.content.decode()
    assert emulator.stats.session_creates == 1


def test_api_same_key_with_another_body_is_409(emulator):
    token = api_token_issue(user=User.objects.get(username="agent"))[1]
    assert post(token, launch_body()).status_code == 201
    response = post(token, launch_body(agentId="someone-else"))
    assert response.status_code == 409
    assert "different request" in response.json()["detail"]
    assert response.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert emulator.stats.session_creates == 1


def test_api_malformed_key_is_422_naming_the_header(emulator):
    token = api_token_issue(user=User.objects.get(username="agent"))[1]
    response = post(token, launch_body(), key="k" * 101)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert emulator.stats.session_creates == 0


# --- The CLI -----------------------------------------------------------------------------

CLI = ["--account", "Sandbox", "--configuration-id", "1", "--as", "agent", "--json"]


def cli(*args) -> dict:
    out = StringIO()
    call_command("launch_session", *CLI, *args, stdout=out)
    return json.loads(out.getvalue())


def test_cli_replay_with_the_same_key_prints_the_first_session(emulator):
    first = cli("--idempotency-key", KEY, "--amount", "5", "--currency", "GBP")
    again = cli("--idempotency-key", KEY, "--amount", "5", "--currency", "GBP")
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again["sessionGuid"] == first["sessionGuid"]
    assert emulator.stats.session_creates == 1


def test_cli_same_key_with_other_arguments_is_refused(emulator):
    cli("--idempotency-key", KEY)
    with pytest.raises(CommandError) as info:
        cli("--idempotency-key", KEY, "--reference", "OTHER")
    assert info.value.returncode == 2
    assert "different request" in str(info.value)
    assert emulator.stats.session_creates == 1


# --- Concurrent requests with one key (PostgreSQL: real unique-index waits) ----------------


@postgres_only
def test_concurrent_service_launches_with_one_key_create_one_vcc_session(emulator):
    # The emulator answers slowly, so the second launch arrives while the first waits for VCC.
    emulator.faults.inject("create", hang=0.3, times=1)

    def work(_index):
        try:
            return launch()
        finally:
            connection.close()

    outcomes = run_together(2, work)
    results = [outcome.value for outcome in outcomes if outcome.error is None]
    errors = [outcome.error for outcome in outcomes if outcome.error is not None]
    assert emulator.stats.session_creates == 1
    assert PaymentSession.objects.count() == 1
    session = PaymentSession.objects.get()
    assert all(result.session.pk == session.pk for result in results)
    assert len(results) + len(errors) == 2
    for error in errors:
        assert isinstance(error, ValidationError)
        assert error_codes(error) == {"idempotency_in_progress"}
    assert sum(1 for result in results if not result.replayed) == 1


@postgres_only
def test_concurrent_api_requests_with_one_key_create_one_vcc_session(emulator):
    token = api_token_issue(user=User.objects.get(username="agent"))[1]
    emulator.faults.inject("create", hang=0.3, times=1)

    def work(_index):
        try:
            return post(token, launch_body())
        finally:
            connection.close()

    outcomes = run_together(2, work)
    assert [outcome.error for outcome in outcomes] == [None, None]
    statuses = sorted(outcome.value.status_code for outcome in outcomes)
    assert statuses in ([200, 201], [201, 409])
    assert emulator.stats.session_creates == 1
    assert PaymentSession.objects.count() == 1
