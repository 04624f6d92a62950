"""The VCC emulator on its own, driven with the documented example requests over HTTP."""

import base64
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from django.core.management import CommandError, call_command

from payments.models import ApiCredential
from payments.services import credential_save
from payments.vcc.emulator import EmulatorServer, Faults, StaticWorld
from tests.conftest import provision_from_registry
from tests.vcc_helpers import CANARY_SECRET, CLIENT_ID, PAYMENT_DATA, WORLD, closed_port

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = (1, 3)
DIGITAL_EXAMPLE = {
    "agentId": "agent12345",
    "paymentData": {
        "FirstName": "John",
        "Surname": "Smith",
        "Email": "john.smith@example.com",
        "Street1": "Hubska 52",
        "City": "Wroclaw",
        "Postcode": "50-348",
        "Country": "GB",
        "Amount": "12.40",
        "Currency": "GBP",
        "CustomerPhoneNumber": "+48500000000",
        "MerchantReferenceCode": "0123456789098760",
    },
}


@pytest.fixture
def emulator():
    server = EmulatorServer(world=StaticWorld(WORLD)).start()
    yield server
    server.stop()


def token_request(server, **form):
    data = {
        "grant_type": "client_credentials",
        "scope": "globalpci",
        "client_id": CLIENT_ID,
        "client_secret": CANARY_SECRET,
        **form,
    }
    data = {key: value for key, value in data.items() if value is not None}
    return requests.post(f"{server.url}/Auth/connect/token", data=data, timeout=TIMEOUT)


def bearer(server) -> dict:
    token = token_request(server).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def create(server, body=None, *, path="/v1/session", headers=None):
    if body is None:
        body = {
            "agentId": "agent1234",
            "paymentData": PAYMENT_DATA,
            "accountConfigurationId": 1,
            "skipCallTransfer": True,
        }
    return requests.post(
        f"{server.url}/globalpci{path}",
        json=body,
        headers=headers or bearer(server),
        timeout=TIMEOUT,
    )


def status(server, guid, headers=None):
    return requests.get(
        f"{server.url}/globalpci/v1/session/{guid}",
        headers=headers or bearer(server),
        timeout=TIMEOUT,
    )


# --- Authentication API ---------------------------------------------------------------------


def test_token_grant_answers_the_documented_shape(emulator):
    response = token_request(emulator)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert response.headers["Cache-Control"] == "no-store"


def test_token_grant_accepts_basic_authentication(emulator):
    credentials = base64.b64encode(f"{CLIENT_ID}:{CANARY_SECRET}".encode()).decode()
    response = requests.post(
        f"{emulator.url}/Auth/connect/token",
        data={"grant_type": "client_credentials", "scope": "globalpci"},
        headers={"Authorization": f"Basic {credentials}"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200


def test_token_lifetime_is_configurable(emulator):
    emulator.faults.token_lifetime = 120
    assert token_request(emulator).json()["expires_in"] == 120


def test_unsupported_grant_type_is_the_documented_error(emulator):
    response = token_request(emulator, grant_type="password")
    assert response.status_code == 400
    assert response.json() == {
        "error": "unsupported_grant_type",
        "error_description": "Invalid grant_type",
    }


def test_missing_scope_is_the_documented_error(emulator):
    response = token_request(emulator, scope=None)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_scope",
        "error_description": "You must specify a scope",
    }


def test_unknown_scope_is_the_documented_error(emulator):
    response = token_request(emulator, scope="globalpci reporting")
    assert response.status_code == 400
    assert response.json()["error_description"] == '"reporting" is an invalid scope'


@pytest.mark.parametrize(
    "form", [{"client_secret": "wrong"}, {"client_id": "nobody"}, {"client_secret": None}]
)
def test_wrong_client_is_invalid_client(emulator, form):
    response = token_request(emulator, **form)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_client"}


def test_invalid_client_status_and_forcing_are_fault_settings(emulator):
    emulator.faults.invalid_client = True
    emulator.faults.invalid_client_status = 401
    response = token_request(emulator)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}


def test_token_request_must_be_form_encoded(emulator):
    response = requests.post(
        f"{emulator.url}/Auth/connect/token",
        json={"grant_type": "client_credentials"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# --- Payment API ----------------------------------------------------------------------------


def test_agent_assist_session_answers_the_documented_fields(emulator):
    response = create(emulator)
    assert response.status_code == 200
    body = response.json()
    documented = ["sessionGuid", "iframeUrl", "agentAccessToken", "agentRefreshToken"]
    for field in [*documented, "providerSessionGuid", "paymentFormUrl"]:
        assert body[field]
    assert body["iframeUrl"] == f"{emulator.url}/pci/agent/{body['sessionGuid']}"


def test_session_answer_says_which_flow_would_start(emulator):
    body = create(emulator).json()
    assert body["emulator"] == {
        "account": "Sandbox",
        "accountConfigurationId": 1,
        "flowNumber": 695,
        "flowName": "Card payment",
        "stage": "staging",
        "environment": "PCI Pal staging",
    }


def test_documented_digital_session_example_is_accepted(emulator):
    response = create(emulator, DIGITAL_EXAMPLE, path="/v1/digitalsession")
    assert response.status_code == 200
    body = response.json()
    assert body["paymentLinkUrl"] == f"{emulator.url}/pci/pay/{body['sessionGuid']}"
    assert "agentAccessToken" not in body


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}],
)
def test_payment_api_without_a_valid_bearer_token_is_401(emulator, headers):
    response = requests.post(
        f"{emulator.url}/globalpci/v1/session",
        json={"paymentData": {}},
        headers=headers,
        timeout=TIMEOUT,
    )
    assert response.status_code == 401
    assert "invalid_token" in response.headers["WWW-Authenticate"]
    assert emulator.stats.sessions_created == 0


def test_expired_token_is_401(emulator):
    emulator.faults.token_lifetime = 0
    assert create(emulator).status_code == 401


def test_missing_payment_data_is_400(emulator):
    response = create(emulator, {"agentId": "agent1234"})
    assert response.status_code == 400
    assert response.json() == {"message": "The paymentData field is required."}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"paymentData": {"Amount": 12.4}}, "Every paymentData value must be a string."),
        ({"paymentData": {}, "accountConfigurationId": "1"}, "must be an integer"),
        ({"paymentData": {}, "accountConfigurationId": True}, "must be an integer"),
        ({"paymentData": {}, "skipCallTransfer": "yes"}, "must be true or false"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_malformed_session_bodies_are_400(emulator, body, message):
    response = create(emulator, body)
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_body_that_is_not_json_is_400(emulator):
    response = requests.post(
        f"{emulator.url}/globalpci/v1/session",
        data=b"{not json",
        headers={**bearer(emulator), "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 400


def test_unknown_configuration_id_is_the_documented_message(emulator):
    response = create(emulator, {"paymentData": PAYMENT_DATA, "accountConfigurationId": 8})
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Account configuration does not exists for account: Sandbox, configuration Id: 8."
    )


def test_error_envelope_can_be_plain_text(emulator):
    emulator.faults.error_format = "text"
    response = create(emulator, {"paymentData": PAYMENT_DATA, "accountConfigurationId": 8})
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text.startswith("Account configuration does not exists for account")


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            "invalid_client_key",
            "Provider's authorization endpoint returned error message 'invalid_client_key'",
        ),
        (
            "invalid_client",
            "Provider's authorization endpoint returned error message "
            "'invalid_client'/'invalid_client' for account name: Sandbox, configuration id: 1",
        ),
    ],
)
def test_provider_errors_are_the_documented_messages(emulator, fault, message):
    emulator.faults.provider_error = fault
    response = create(emulator)
    assert response.status_code == 400
    assert response.json()["message"] == message
    assert emulator.stats.sessions_created == 0


def test_same_configuration_id_starts_another_flow_on_another_account(emulator):
    token = token_request(
        emulator, client_id="production-client-b", client_secret="other-secret"
    ).json()["access_token"]
    body = create(emulator, headers={"Authorization": f"Bearer {token}"}).json()
    assert body["emulator"]["account"] == "Production"
    assert body["emulator"]["flowNumber"] == 422


def test_status_of_an_unfinished_session_has_no_result(emulator):
    guid = create(emulator).json()["sessionGuid"]
    body = status(emulator, guid).json()
    assert set(body) == {
        "lastUpdatedOn",
        "callGuid",
        "createdOn",
        "sessionGuid",
        "sessionState",
        "providerSessionGuid",
    }
    assert body["sessionState"] == "Created"


def test_status_after_completion_is_the_documented_example_shape(emulator):
    guid = create(emulator).json()["sessionGuid"]
    emulator.complete(guid, "ACCEPT")
    body = status(emulator, guid).json()
    assert body["sessionState"] == "Finished"
    result = body["paymentResultData"]
    assert result["decision"] == "ACCEPT"
    assert result["reasonCode"] == "100"
    assert result["Amount"] == "1240"
    assert result["Currency"] == "GBP"
    assert result["MerchantReferenceCode"] == "0123456789098760"
    assert result["transactionType"] == "Capture"
    assert len(result["requestID"]) == 22
    assert body["lastUpdatedOn"].endswith("Z")


def test_status_of_an_unknown_session_is_404(emulator):
    assert status(emulator, "e7d3588c-bb25-4808-98a6-5f3657dce467").status_code == 404


def test_status_of_another_accounts_session_is_404(emulator):
    guid = create(emulator).json()["sessionGuid"]
    token = token_request(
        emulator, client_id="production-client-b", client_secret="other-secret"
    ).json()["access_token"]
    assert status(emulator, guid, {"Authorization": f"Bearer {token}"}).status_code == 404


def test_finished_session_is_purged_after_the_purge_time(emulator):
    emulator.faults.purge_after = 0.2
    headers = bearer(emulator)
    guid = create(emulator, headers=headers).json()["sessionGuid"]
    emulator.complete(guid, "DECLINE")
    assert status(emulator, guid, headers).status_code == 200
    time.sleep(0.3)
    assert status(emulator, guid, headers).status_code == 404


def test_unfinished_session_is_not_purged(emulator):
    emulator.faults.purge_after = 0
    guid = create(emulator).json()["sessionGuid"]
    assert status(emulator, guid).status_code == 200


# --- The PCI provider's agent page and the customer page -------------------------------------


def open_agent_page(server, session: dict, **overrides):
    form = {
        "X-BEARER-TOKEN": session["agentAccessToken"],
        "X-REFRESH-TOKEN": session["agentRefreshToken"],
        **overrides,
    }
    return requests.post(session["iframeUrl"], data=form, timeout=TIMEOUT)


def page_key(html: str) -> str:
    return html.split('name="page_key" value="')[1].split('"')[0]


def test_agent_page_opens_with_the_posted_tokens_and_is_frameable(emulator):
    session = create(emulator).json()
    response = open_agent_page(emulator, session)
    assert response.status_code == 200
    assert "Accept payment" in response.text and "Decline payment" in response.text
    assert "£12.40" in response.text and "flow 695" in response.text
    assert "X-Frame-Options" not in response.headers
    assert "frame-ancestors" not in response.headers.get("Content-Security-Policy", "")
    assert session["agentAccessToken"] not in response.text
    assert status(emulator, session["sessionGuid"]).json()["sessionState"] == "InProgress"


def test_agent_page_opens_with_the_tokens_as_headers(emulator):
    session = create(emulator).json()
    response = requests.get(
        session["iframeUrl"],
        headers={
            "X-BEARER-TOKEN": session["agentAccessToken"],
            "X-REFRESH-TOKEN": session["agentRefreshToken"],
        },
        timeout=TIMEOUT,
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "overrides", [{"X-BEARER-TOKEN": "wrong"}, {"X-REFRESH-TOKEN": "wrong"}, {"X-BEARER-TOKEN": ""}]
)
def test_agent_page_refuses_wrong_tokens(emulator, overrides):
    session = create(emulator).json()
    response = open_agent_page(emulator, session, **overrides)
    assert response.status_code == 401
    assert "Not authorised" in response.text
    assert "Accept payment" not in response.text


@pytest.mark.parametrize(
    ("decision", "heading", "reason"),
    [("ACCEPT", "Payment accepted", "100"), ("DECLINE", "Payment declined", "481")],
)
def test_agent_page_finishes_the_session(emulator, decision, heading, reason):
    session = create(emulator).json()
    key = page_key(open_agent_page(emulator, session).text)
    response = requests.post(
        f"{session['iframeUrl']}/complete",
        data={"page_key": key, "decision": decision},
        timeout=TIMEOUT,
    )
    assert heading in response.text
    body = status(emulator, session["sessionGuid"]).json()
    assert body["sessionState"] == "Finished"
    assert body["paymentResultData"]["decision"] == decision
    assert body["paymentResultData"]["reasonCode"] == reason


def test_agent_page_completion_needs_the_page_key(emulator):
    session = create(emulator).json()
    response = requests.post(
        f"{session['iframeUrl']}/complete",
        data={"page_key": "guessed", "decision": "ACCEPT"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 403
    assert status(emulator, session["sessionGuid"]).json()["sessionState"] == "Created"


def test_agent_page_of_a_finished_session_shows_the_result(emulator):
    session = create(emulator).json()
    emulator.complete(session["sessionGuid"], "DECLINE")
    response = open_agent_page(emulator, session)
    assert "Payment declined" in response.text
    assert "Accept payment" not in response.text


def test_customer_page_of_a_digital_session_takes_the_payment(emulator):
    session = create(emulator, DIGITAL_EXAMPLE, path="/v1/digitalsession").json()
    page = requests.get(session["paymentLinkUrl"], timeout=TIMEOUT)
    assert "Pay £12.40" in page.text
    response = requests.post(
        f"{session['paymentLinkUrl']}/complete",
        data={"page_key": page_key(page.text), "decision": "ACCEPT"},
        timeout=TIMEOUT,
    )
    assert "Payment accepted" in response.text
    assert status(emulator, session["sessionGuid"]).json()["sessionState"] == "Finished"


def test_customer_page_of_an_unknown_session_is_404(emulator):
    response = requests.get(
        f"{emulator.url}/pci/pay/e7d3588c-bb25-4808-98a6-5f3657dce467", timeout=TIMEOUT
    )
    assert response.status_code == 404
    assert "Payment link not found" in response.text


def test_stylesheet_is_served(emulator):
    response = requests.get(f"{emulator.url}/pci/static/emulator.css", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/css")


# --- Webhooks -------------------------------------------------------------------------------


class Receiver:
    """A stand-in webhook receiver answering the given statuses in turn (then 200)."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.received = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                receiver.received.append(
                    (self.headers.get("Authorization"), json.loads(self.rfile.read(length)))
                )
                code = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/vcc/webhook/"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(statuses=()):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for each in made:
        each.close()


def wait_for(condition, timeout: float = 3) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def emulator_with_webhook(url, **faults):
    return EmulatorServer(
        world=StaticWorld(WORLD),
        webhook_url=url,
        webhook_token="webhook-token-1234",
        faults=Faults(webhook_retry_interval=0.05, **faults),
    ).start()


def test_finished_session_is_posted_to_the_webhook_with_the_bearer_token(receiver):
    target = receiver()
    server = emulator_with_webhook(target.url)
    try:
        guid = create(server).json()["sessionGuid"]
        server.complete(guid, "ACCEPT")
        assert wait_for(lambda: server.stats.webhooks_delivered == 1)
        authorization, body = target.received[0]
        assert authorization == "Bearer webhook-token-1234"
        assert body == status(server, guid).json()
    finally:
        server.stop()


def test_webhook_is_retried_until_answered_200(receiver):
    target = receiver([500, 503])
    server = emulator_with_webhook(target.url)
    try:
        server.complete(create(server).json()["sessionGuid"], "DECLINE")
        assert wait_for(lambda: server.stats.webhooks_delivered == 1)
        assert server.stats.webhook_attempts == 3
    finally:
        server.stop()


def test_webhook_is_abandoned_after_the_maximum_attempts():
    server = emulator_with_webhook(
        f"http://127.0.0.1:{closed_port()}/vcc/webhook/", webhook_max_attempts=3
    )
    try:
        guid = create(server).json()["sessionGuid"]
        session = server.complete(guid, "ACCEPT")
        assert wait_for(lambda: server.stats.webhooks_abandoned == 1)
        assert server.stats.webhook_attempts == 3
        assert session.webhook.startswith("abandoned after 3 attempts")
    finally:
        server.stop()


# --- Faults ---------------------------------------------------------------------------------


def test_latency_delays_every_api_answer(emulator):
    emulator.faults.latency_ms = 150
    started = time.monotonic()
    token_request(emulator)
    assert time.monotonic() - started >= 0.15


def test_status_fault_with_retry_after_for_a_number_of_times(emulator):
    when = "Wed, 21 Oct 2015 07:28:00 GMT"
    emulator.faults.inject("token", status=429, retry_after=when, times=1)
    first = token_request(emulator)
    assert first.status_code == 429
    assert first.headers["Retry-After"] == when
    assert token_request(emulator).status_code == 200
    assert emulator.stats.faults_injected == 1


def test_status_fault_on_a_create_makes_no_session(emulator):
    headers = bearer(emulator)
    emulator.faults.inject("create", status=503)
    assert create(emulator, headers=headers).status_code == 503
    assert emulator.stats.sessions_created == 0


def test_hang_fault_creates_the_session_then_outlasts_the_read_timeout(emulator):
    headers = bearer(emulator)
    emulator.faults.inject("create", hang=1.0, times=1)
    with pytest.raises(requests.ReadTimeout):
        requests.post(
            f"{emulator.url}/globalpci/v1/session",
            json={"paymentData": PAYMENT_DATA},
            headers=headers,
            timeout=(1, 0.2),
        )
    assert emulator.stats.sessions_created == 1


def test_drop_fault_closes_the_connection_without_an_answer(emulator):
    headers = bearer(emulator)
    emulator.faults.inject("create", drop=True)
    with pytest.raises(requests.ConnectionError):
        create(emulator, headers=headers)
    assert emulator.stats.sessions_created == 1


def test_drip_fault_sends_the_body_slowly(emulator):
    emulator.faults.inject("token", drip=0.004)
    started = time.monotonic()
    assert token_request(emulator).status_code == 200
    assert time.monotonic() - started > 0.3


@pytest.mark.parametrize(
    ("body", "content_type"), [("html", "text/html"), ("malformed", "application/json")]
)
def test_body_faults_answer_200_with_a_broken_body(emulator, body, content_type):
    emulator.faults.inject("token", body=body)
    response = token_request(emulator)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(content_type)
    with pytest.raises(ValueError):
        response.json()


def test_fault_rules_are_validated():
    with pytest.raises(ValueError, match="on must be one of"):
        Faults().inject("sometimes", status=500)
    with pytest.raises(ValueError, match="body must be one of"):
        Faults().inject("token", body="xml")


# --- Control endpoints ------------------------------------------------------------------------


def test_faults_are_set_over_http(emulator):
    response = requests.post(
        f"{emulator.url}/_emulator/faults",
        json={"latency_ms": 5, "rules": [{"on": "read", "status": 503, "times": 2}]},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert emulator.faults.latency_ms == 5
    assert emulator.faults.rules[0].status == 503
    requests.post(f"{emulator.url}/_emulator/faults", json={"clear": True}, timeout=TIMEOUT)
    assert emulator.faults.rules == [] and emulator.faults.latency_ms == 0


@pytest.mark.parametrize(
    "payload",
    [{"latency": 5}, {"invalid_client": "yes"}, {"rules": [{"on": "token", "colour": 1}]}, [1]],
)
def test_bad_fault_settings_are_refused_with_a_message(emulator, payload):
    response = requests.post(f"{emulator.url}/_emulator/faults", json=payload, timeout=TIMEOUT)
    assert response.status_code == 400
    assert response.json()["message"]


def test_stats_and_reset_over_http(emulator):
    create(emulator)
    stats = requests.get(f"{emulator.url}/_emulator/stats", timeout=TIMEOUT).json()
    assert stats["token_requests"] == 1 and stats["sessions_created"] == 1
    requests.post(f"{emulator.url}/_emulator/reset", timeout=TIMEOUT)
    assert emulator.stats.token_requests == 0
    assert emulator.vcc.sessions() == []


def test_sessions_are_completed_over_http(emulator):
    guid = create(emulator).json()["sessionGuid"]
    url = f"{emulator.url}/_emulator/sessions/{guid}/complete"
    assert requests.post(url, json={"decision": "maybe"}, timeout=TIMEOUT).status_code == 400
    response = requests.post(url, json={"decision": "DECLINE"}, timeout=TIMEOUT)
    assert response.json()["paymentResultData"]["decision"] == "DECLINE"
    unknown = f"{emulator.url}/_emulator/sessions/nope/complete"
    assert requests.post(unknown, json={"decision": "ACCEPT"}, timeout=TIMEOUT).status_code == 404


def test_index_page_lists_sessions(emulator):
    guid = create(emulator).json()["sessionGuid"]
    page = requests.get(f"{emulator.url}/", timeout=TIMEOUT)
    assert "VCC emulator" in page.text and guid in page.text
    assert "static: 2 accounts" in page.text


def test_unknown_path_is_404_json(emulator):
    response = requests.get(f"{emulator.url}/globalpci/v2/things", timeout=TIMEOUT)
    assert response.status_code == 404


def test_oversized_body_is_refused(emulator):
    response = requests.post(
        f"{emulator.url}/globalpci/v1/session", data=b"x" * 1_000_001, timeout=TIMEOUT
    )
    assert response.status_code == 413


# --- Worlds ---------------------------------------------------------------------------------


def test_static_world_from_a_json_file(tmp_path):
    path = tmp_path / "world.json"
    path.write_text(json.dumps(WORLD))
    world = StaticWorld.from_file(path)
    account = world.authenticate(CLIENT_ID, CANARY_SECRET)
    assert account.name == "Sandbox"
    assert world.configuration(account, 2).flow_number == 696
    assert world.default_configuration(account).configuration_id == 1
    assert world.authenticate(CLIENT_ID, "wrong") is None


@pytest.mark.parametrize("content", ["not json", '{"accounts": [{"credentials": []}]}'])
def test_static_world_in_the_wrong_shape_says_so(tmp_path, content):
    path = tmp_path / "world.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="emulator world"):
        StaticWorld.from_file(path)


def _known_secret(client_id: str, secret: str) -> None:
    credential = ApiCredential.objects.get(client_id=client_id)
    credential_save(credential=credential, new_secret=secret, actor=None)


def test_world_from_registry_grants_tokens_to_stored_credentials(vcc_emulator, demo):
    _known_secret("sandbox-client-a", "registry-secret-0001")
    provision_from_registry(vcc_emulator)
    response = token_request(
        vcc_emulator, client_id="sandbox-client-a", client_secret="registry-secret-0001"
    )
    assert response.status_code == 200
    assert token_request(vcc_emulator, client_id="sandbox-client-a").status_code == 400


def test_world_from_registry_knows_each_accounts_links(vcc_emulator, demo):
    _known_secret("production-client-b", "registry-secret-0002")
    _known_secret("contact-centre-client-a", "registry-secret-0003")
    provision_from_registry(vcc_emulator)
    production = token_request(
        vcc_emulator, client_id="production-client-b", client_secret="registry-secret-0002"
    ).json()["access_token"]
    combined = token_request(
        vcc_emulator, client_id="contact-centre-client-a", client_secret="registry-secret-0003"
    ).json()["access_token"]
    body = {"paymentData": PAYMENT_DATA, "accountConfigurationId": 1}
    on_production = create(vcc_emulator, body, headers={"Authorization": f"Bearer {production}"})
    assert on_production.json()["emulator"]["flowNumber"] == 422
    body["accountConfigurationId"] = 4
    on_combined = create(vcc_emulator, body, headers={"Authorization": f"Bearer {combined}"})
    assert on_combined.json()["emulator"]["flowNumber"] == 422
    assert on_combined.json()["emulator"]["account"] == "Contact Centre"
    body["accountConfigurationId"] = 4
    missing = create(vcc_emulator, body, headers={"Authorization": f"Bearer {production}"})
    assert missing.json()["message"] == (
        "Account configuration does not exists for account: Production, configuration Id: 4."
    )


# --- The management command ---------------------------------------------------------------------


def test_command_refuses_a_non_loopback_address():
    with pytest.raises(CommandError, match="not a loopback address"):
        call_command("vcc_emulator", host="0.0.0.0")


def test_command_refuses_a_world_file_it_cannot_read(tmp_path):
    with pytest.raises(CommandError, match="Cannot read the emulator world"):
        call_command("vcc_emulator", world=str(tmp_path / "missing.json"))


def test_command_says_when_the_port_is_taken(emulator, tmp_path):
    path = tmp_path / "world.json"
    path.write_text(json.dumps(WORLD))
    with pytest.raises(CommandError, match="Choose another --port"):
        call_command("vcc_emulator", port=emulator.port, world=str(path))


def test_command_serves_the_documented_api(tmp_path):
    path = tmp_path / "world.json"
    path.write_text(json.dumps(WORLD))
    port = closed_port()
    command = ["manage.py", "vcc_emulator", "--port", str(port), "--world", str(path)]
    process = subprocess.Popen(
        [sys.executable, *command, "--webhook-url", ""],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = process.stdout.readline()
        assert f"VCC emulator listening on http://127.0.0.1:{port}/" in banner
        server = type("Running", (), {"url": f"http://127.0.0.1:{port}"})()
        assert create(server).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
