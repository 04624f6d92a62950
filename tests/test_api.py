import hashlib
import json
import logging
import socket
from datetime import timedelta

import pytest
import requests
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from payments.models import (
    AccountConfiguration,
    ApiCredential,
    ApiToken,
    AuditEvent,
    PaymentSession,
    VccAccount,
)
from payments.services.api_tokens import api_token_issue, api_token_revoke
from tests.conftest import point_accounts_at, provision_from_registry
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RESOLVE = "/api/v1/resolve"


@pytest.fixture
def token_for(demo):
    def issue(username: str) -> str:
        return api_token_issue(user=User.objects.get(username=username))[1]

    return issue


def get(client, path, token=None, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(path, params, headers=headers)


def resolve(client, token, **params):
    return get(client, RESOLVE, token, **params)


# --- resolve --------------------------------------------------------------------


def test_resolve_answers_account_configuration_and_credential_label(client, token_for):
    response = resolve(
        client, token_for("auditor"), flow="Card payment", stage="staging", account="Sandbox"
    )
    assert response.status_code == 200
    assert response.json() == {
        "account": "Sandbox",
        "region": "emea",
        "authBaseUrl": "http://127.0.0.1:8100",
        "paymentBaseUrl": "http://127.0.0.1:8100/globalpci",
        "configurationId": 1,
        "flowNumber": 695,
        "flowName": "Card payment",
        "stage": "staging",
        "environment": "PCI Pal staging",
        "credential": "A",
        "warnings": [],
    }


def test_resolve_same_configuration_id_differs_by_account(client, token_for):
    token = token_for("auditor")
    production = resolve(
        client, token, flow="card payment", stage="production", account="Production"
    )
    combined = resolve(
        client, token, flow="card payment", stage="production", account="Contact Centre"
    )
    assert (production.json()["configurationId"], production.json()["flowNumber"]) == (1, 422)
    assert (combined.json()["configurationId"], combined.json()["flowNumber"]) == (4, 422)


def test_resolve_accepts_the_flow_number(client, token_for):
    response = resolve(
        client, token_for("auditor"), flow="423", stage="production", account="Production"
    )
    assert response.status_code == 200
    assert response.json()["configurationId"] == 2


def test_resolve_ambiguous_flow_is_409_listing_the_candidate_accounts(client, token_for):
    response = resolve(client, token_for("auditor"), flow="Card payment", stage="staging")
    assert response.status_code == 409
    body = response.json()
    assert "name the account" in body["detail"]
    assert body["candidates"] == [
        {"account": "Contact Centre", "configurationId": 1, "flowNumber": 695},
        {"account": "Sandbox", "configurationId": 1, "flowNumber": 695},
    ]


def test_resolve_unknown_flow_is_404_with_a_message(client, token_for):
    response = resolve(client, token_for("auditor"), flow="Card topup", stage="staging")
    assert response.status_code == 404
    assert (
        "No active configuration link starts flow 'Card topup' on staging"
        in (response.json()["detail"])
    )


def test_resolve_ignores_an_inactive_link(client, token_for):
    AccountConfiguration.objects.filter(account__name="Sandbox", configuration_id=2).update(
        is_active=False
    )
    response = resolve(
        client, token_for("auditor"), flow="Card refund", stage="staging", account="Sandbox"
    )
    assert response.status_code == 404


def test_resolve_credential_is_null_when_none_may_launch(client, token_for):
    ApiCredential.objects.filter(client_id="sandbox-client-a").update(is_enabled=False)
    response = resolve(
        client, token_for("auditor"), flow="Card payment", stage="staging", account="Sandbox"
    )
    assert response.status_code == 200
    assert response.json()["credential"] is None


def test_resolve_never_returns_a_secret_or_its_fingerprint(client, token_for):
    credential = ApiCredential.objects.get(client_id="contact-centre-client-a")
    response = resolve(
        client, token_for("admin"), flow="696", stage="staging", account="Contact Centre"
    )
    assert response.status_code == 200
    assert credential.client_secret not in response.content.decode()
    assert credential.secret_fingerprint not in response.content.decode()
    assert "client_id" not in response.json()


def test_resolve_staging_works_for_an_agent(client, token_for):
    response = resolve(
        client, token_for("agent"), flow="Card payment", stage="staging", account="Sandbox"
    )
    assert response.status_code == 200


def test_resolve_production_is_403_for_an_agent_without_production_role(client, token_for):
    response = resolve(
        client, token_for("agent"), flow="Card payment", stage="production", account="Production"
    )
    assert response.status_code == 403
    assert "Production launchers" in response.json()["detail"]


def test_resolve_production_works_for_a_production_launcher(client, token_for):
    response = resolve(
        client, token_for("launcher"), flow="Card payment", stage="production", account="Production"
    )
    assert response.status_code == 200


def test_resolve_is_403_for_a_user_without_any_role(client, demo):
    token = api_token_issue(user=UserFactory(username="nobody"))[1]
    response = resolve(client, token, flow="Card payment", stage="staging", account="Sandbox")
    assert response.status_code == 403
    assert "nobody may neither view configuration links nor launch" in response.json()["detail"]


def test_resolve_invalid_stage_is_422_naming_the_parameter(client, token_for):
    response = resolve(client, token_for("auditor"), flow="Card payment", stage="live")
    assert response.status_code == 422
    body = response.json()
    assert body["detail"].startswith("The request is not valid: query.stage")
    assert body["errors"][0]["loc"] == ["query", "stage"]


def test_resolve_missing_flow_is_422(client, token_for):
    response = resolve(client, token_for("auditor"), stage="staging")
    assert response.status_code == 422
    assert "query.flow" in response.json()["detail"]


def test_resolve_nul_character_is_422_not_a_database_error(client, token_for):
    response = resolve(client, token_for("auditor"), flow="Card\x00payment", stage="staging")
    assert response.status_code == 422


# --- authentication -------------------------------------------------------------


def test_missing_token_is_401_saying_how_to_authenticate(client, demo):
    response = resolve(client, None, flow="Card payment", stage="staging")
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_basic_auth_header_is_401(client, demo):
    response = client.get(
        RESOLVE, {"flow": "x", "stage": "staging"}, headers={"Authorization": "Basic YTpi"}
    )
    assert response.status_code == 401


def test_unknown_token_is_401(client, demo):
    response = resolve(client, "vcc_not-a-token", flow="Card payment", stage="staging")
    assert response.status_code == 401
    assert "not valid" in response.json()["detail"]


def test_revoked_token_is_401(client, demo):
    token, raw_token = api_token_issue(user=User.objects.get(username="auditor"))
    api_token_revoke(token=token, actor=None)
    response = resolve(client, raw_token, flow="Card payment", stage="staging")
    assert response.status_code == 401


def test_token_of_an_inactive_user_is_401(client, token_for):
    raw_token = token_for("auditor")
    User.objects.filter(username="auditor").update(is_active=False)
    response = resolve(client, raw_token, flow="Card payment", stage="staging")
    assert response.status_code == 401


def test_token_is_stored_only_as_its_sha256_hash(demo):
    token, raw_token = api_token_issue(user=User.objects.get(username="auditor"), name="IVR")
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert stored["token_hash"] == hashlib.sha256(raw_token.encode()).hexdigest()
    assert raw_token not in json.dumps(stored, default=str)
    assert raw_token.startswith(stored["prefix"]) and len(stored["prefix"]) == 12


def test_token_issue_and_revoke_are_audited(demo):
    token, raw_token = api_token_issue(user=User.objects.get(username="auditor"))
    api_token_revoke(token=token, actor=None)
    events = AuditEvent.objects.filter(object_type="apitoken", object_id=str(token.pk))
    assert sorted(events.values_list("action", flat=True)) == [
        "apitoken.issued",
        "apitoken.revoked",
    ]
    assert raw_token not in str(list(events.values()))


def test_first_use_records_last_used_at(client, demo):
    token, raw_token = api_token_issue(user=User.objects.get(username="auditor"))
    resolve(client, raw_token, flow="695", stage="staging", account="Sandbox")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_last_used_at_is_written_at_most_once_a_minute(client, demo):
    token, raw_token = api_token_issue(user=User.objects.get(username="auditor"))
    recently = timezone.now() - timedelta(seconds=30)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=recently)
    resolve(client, raw_token, flow="695", stage="staging", account="Sandbox")
    token.refresh_from_db()
    assert token.last_used_at == recently


def test_last_used_at_moves_on_after_a_minute(client, demo):
    token, raw_token = api_token_issue(user=User.objects.get(username="auditor"))
    earlier = timezone.now() - timedelta(minutes=2)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=earlier)
    resolve(client, raw_token, flow="695", stage="staging", account="Sandbox")
    token.refresh_from_db()
    assert token.last_used_at > earlier


# --- errors, OpenAPI and docs -----------------------------------------------------


def test_unknown_endpoint_is_404_json(client, demo):
    response = client.get("/api/v1/flows")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "/api/v1/docs" in response.json()["detail"]


def test_wrong_method_is_405_json_with_allow(client, token_for):
    response = client.delete(RESOLVE, headers={"Authorization": f"Bearer {token_for('auditor')}"})
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert response.json()["detail"] == "DELETE is not allowed here; use GET."


def test_openapi_document_describes_the_endpoints_and_bearer_auth(client, db):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/resolve" in document["paths"]
    assert document["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"


def test_docs_page_loads_the_openapi_document_from_local_static_files(client, db):
    response = client.get("/api/v1/docs")
    html = response.content.decode()
    assert response.status_code == 200
    assert "/api/v1/openapi.json" in html
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()


# --- admin ----------------------------------------------------------------------


def test_admin_lists_tokens_without_their_hash(admin_client, demo):
    token, _ = api_token_issue(user=User.objects.get(username="auditor"), name="IVR")
    response = admin_client.get(reverse("admin:payments_apitoken_changelist"))
    html = response.content.decode()
    assert response.status_code == 200
    assert token.prefix in html
    assert token.token_hash not in html


def test_admin_revoke_action_revokes_and_audits(admin_client, demo):
    token, raw_token = api_token_issue(user=User.objects.get(username="auditor"))
    response = admin_client.post(
        reverse("admin:payments_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
        follow=True,
    )
    assert "1 token(s) revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="apitoken.revoked", actor__username="root").exists()


def test_admin_cannot_add_tokens_whose_plaintext_it_would_have_to_show(admin_client, db):
    response = admin_client.get(reverse("admin:payments_apitoken_add"))
    assert response.status_code == 403


def test_admin_filters_tokens_by_status(admin_client, demo):
    active, _ = api_token_issue(user=User.objects.get(username="auditor"), name="kept")
    revoked, _ = api_token_issue(user=User.objects.get(username="auditor"), name="gone")
    api_token_revoke(token=revoked, actor=None)
    response = admin_client.get(reverse("admin:payments_apitoken_changelist"), {"status": "active"})
    assert list(response.context["cl"].queryset) == [active]


# --- sessions ---------------------------------------------------------------------

SESSIONS = "/api/v1/sessions"
PAYMENT_DATA = {"Amount": "12.40", "Currency": "GBP", "MerchantReferenceCode": "order-1"}


def post(client, token, body, path=SESSIONS):
    return client.post(
        path,
        json.dumps(body) if not isinstance(body, str) else body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


def launch_body(**overrides):
    body = {"account": "Sandbox", "configurationId": 1, "paymentData": PAYMENT_DATA}
    body.update(overrides)
    return body


@pytest.fixture
def unreachable_vcc(demo):
    """Point every account at a loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    VccAccount.objects.update(
        auth_base_url=f"http://127.0.0.1:{port}",
        payment_base_url=f"http://127.0.0.1:{port}/globalpci",
    )


def test_launch_without_the_launch_permission_is_403_and_audited(client, token_for):
    response = post(client, token_for("auditor"), launch_body())
    assert response.status_code == 403
    assert "Agents group" in response.json()["detail"]
    assert AuditEvent.objects.filter(action="session.launch", outcome="denied").exists()
    assert not PaymentSession.objects.exists()


def test_launch_production_without_the_production_role_is_403(client, token_for):
    body = launch_body(account="Production", confirmAccountName="Production")
    response = post(client, token_for("agent"), body)
    assert response.status_code == 403
    assert "production launch permission" in response.json()["detail"]


def test_launch_production_without_typed_confirmation_is_422(client, token_for):
    response = post(client, token_for("launcher"), launch_body(account="Production"))
    assert response.status_code == 422
    assert "type the account name “Production” exactly" in response.json()["detail"]
    assert not PaymentSession.objects.exists()


def test_launch_needs_a_link(client, token_for):
    response = post(client, token_for("agent"), {"paymentData": PAYMENT_DATA})
    assert response.status_code == 422
    assert "account + configurationId, or flow + stage" in response.json()["detail"]


def test_launch_configuration_id_needs_the_account(client, token_for):
    response = post(client, token_for("agent"), launch_body(account=""))
    assert response.status_code == 422
    assert "configurationId needs account" in response.json()["detail"]


def test_launch_unknown_link_is_404(client, token_for):
    response = post(client, token_for("agent"), launch_body(configurationId=9))
    assert response.status_code == 404
    assert "has no configuration link with id 9" in response.json()["detail"]


def test_launch_by_ambiguous_flow_is_409(client, token_for):
    body = {"flow": "Card payment", "stage": "staging", "paymentData": PAYMENT_DATA}
    response = post(client, token_for("agent"), body)
    assert response.status_code == 409
    assert [c["account"] for c in response.json()["candidates"]] == ["Contact Centre", "Sandbox"]


def test_launch_unknown_credential_label_is_422(client, token_for):
    response = post(client, token_for("agent"), launch_body(credential="Z"))
    assert response.status_code == 422
    assert "no credentials labelled 'Z'" in response.json()["detail"]


def test_launch_refused_credential_is_422_naming_why(client, token_for):
    body = launch_body(account="Contact Centre", credential="B")
    response = post(client, token_for("agent"), body)
    assert response.status_code == 422
    assert "not allowed to launch staging flows" in response.json()["detail"]


def test_launch_invalid_payment_data_is_422(client, token_for):
    body = launch_body(paymentData={"Amount": "-3", "Currency": "GBP"})
    response = post(client, token_for("agent"), body)
    assert response.status_code == 422
    assert "Amount must be more than zero" in response.json()["detail"]


def test_launch_body_that_is_not_json_is_400(client, token_for):
    response = post(client, token_for("agent"), "{not json")
    assert response.status_code == 400
    assert response.json()["detail"] == "The request body is not valid JSON: send a JSON object."


def test_launch_validation_errors_do_not_echo_payment_data(client, token_for):
    body = launch_body(paymentData={"CardNumber": 4111111111111111})
    response = post(client, token_for("agent"), body)
    assert response.status_code == 422
    assert "4111111111111111" not in response.content.decode()


def test_launch_when_vcc_is_unreachable_is_503_and_recorded(client, token_for, unreachable_vcc):
    response = post(client, token_for("agent"), launch_body())
    assert response.status_code == 503
    body = response.json()
    assert body["outcome"] == "failed"
    assert "Try again" in body["detail"]
    assert body["session"]["sessionGuid"] is None
    assert PaymentSession.objects.get().outcome == "failed"


def make_session(username: str, guid: str) -> PaymentSession:
    link = AccountConfiguration.objects.with_related().get(
        account__name="Sandbox", configuration_id=1
    )
    return PaymentSession.objects.create(
        launched_by=User.objects.get(username=username),
        kind="agent_assist",
        account=link.account,
        account_name="Sandbox",
        credential_label="A",
        link=link,
        configuration_id=1,
        flow=link.flow,
        flow_number=695,
        flow_name="Card payment",
        stage="staging",
        environment_name="PCI Pal staging",
        agent_id="agent1234",
        session_guid=guid,
        outcome="created",
        session_state="Finished",
        decision="ACCEPT",
        result_summary={"decision": "ACCEPT", "reasonCode": "100"},
    )


def test_read_own_session(client, token_for):
    make_session("agent", "guid-own-1")
    response = get(client, f"{SESSIONS}/guid-own-1", token_for("agent"))
    assert response.status_code == 200
    body = response.json()
    assert (body["sessionGuid"], body["sessionState"], body["decision"]) == (
        "guid-own-1",
        "Finished",
        "ACCEPT",
    )
    assert body["result"] == {"decision": "ACCEPT", "reasonCode": "100"}
    assert "agentPage" not in body


def test_read_someone_elses_session_is_404(client, token_for):
    make_session("launcher", "guid-other-1")
    response = get(client, f"{SESSIONS}/guid-other-1", token_for("agent"))
    assert response.status_code == 404


def test_read_any_session_with_view_all_sessions(client, token_for):
    make_session("launcher", "guid-other-2")
    response = get(client, f"{SESSIONS}/guid-other-2", token_for("auditor"))
    assert response.status_code == 200
    assert response.json()["launchedBy"] == "launcher"


def test_read_unknown_session_is_404_with_a_message(client, token_for):
    response = get(client, f"{SESSIONS}/no-such-guid", token_for("agent"))
    assert response.status_code == 404
    assert "No session no-such-guid" in response.json()["detail"]


def test_read_session_with_a_malformed_guid_is_422(client, token_for):
    response = get(client, f"{SESSIONS}/bad%20guid", token_for("agent"))
    assert response.status_code == 422


def test_launch_refusal_names_the_field_by_its_json_name(client, token_for):
    response = post(client, token_for("launcher"), launch_body(account="Production"))
    assert response.json()["errors"] == [
        {
            "loc": ["body", "confirmAccountName"],
            "msg": "This is a production flow: type the account name “Production” exactly to "
            "confirm.",
        }
    ]


# --- sessions on the VCC emulator ---------------------------------------------------


@pytest.fixture
def emulator(vcc_emulator, demo):
    point_accounts_at(vcc_emulator)
    provision_from_registry(vcc_emulator)
    return vcc_emulator


def test_launch_agent_assist_returns_a_working_agent_page_once(client, token_for, emulator):
    response = post(client, token_for("agent"), launch_body(agentId="agent-42"))
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert (body["outcome"], body["account"], body["configurationId"], body["flowNumber"]) == (
        "created",
        "Sandbox",
        1,
        695,
    )
    assert (body["credential"], body["agentId"], body["launchedBy"]) == ("A", "agent-42", "agent")
    page = body["agentPage"]
    assert page["iframeUrl"] == f"{emulator.url}/pci/agent/{body['sessionGuid']}"
    agent_page = requests.post(
        page["iframeUrl"],
        data={
            "X-BEARER-TOKEN": page["agentAccessToken"],
            "X-REFRESH-TOKEN": page["agentRefreshToken"],
        },
        timeout=5,
    )
    assert agent_page.status_code == 200


def test_launched_session_stores_and_logs_no_agent_token(client, token_for, emulator, caplog):
    caplog.set_level(logging.DEBUG)
    page = post(client, token_for("agent"), launch_body()).json()["agentPage"]
    tokens = [page["agentAccessToken"], page["agentRefreshToken"]]
    stored = str(list(PaymentSession.objects.values())) + str(list(AuditEvent.objects.values()))
    assert not any(token in stored for token in tokens)
    assert not any(token in caplog.text for token in tokens)


def test_read_session_never_returns_the_agent_tokens(client, token_for, emulator):
    token = token_for("agent")
    launched = post(client, token, launch_body()).json()
    response = get(client, f"{SESSIONS}/{launched['sessionGuid']}", token)
    assert response.status_code == 200
    assert launched["agentPage"]["agentAccessToken"] not in response.content.decode()
    assert "agentPage" not in response.json()


def test_read_session_with_refresh_polls_vcc_for_the_result(client, token_for, emulator):
    token = token_for("agent")
    guid = post(client, token, launch_body()).json()["sessionGuid"]
    emulator.vcc.complete(guid, "ACCEPT")
    stored = get(client, f"{SESSIONS}/{guid}", token).json()
    refreshed = get(client, f"{SESSIONS}/{guid}", token, refresh="true").json()
    assert stored["sessionState"] == ""
    assert (refreshed["sessionState"], refreshed["decision"], refreshed["reasonCode"]) == (
        "Finished",
        "ACCEPT",
        "100",
    )
    assert refreshed["refreshError"] is None


def test_launch_by_flow_and_stage(client, token_for, emulator):
    body = {
        "flow": "Card refund",
        "stage": "staging",
        "account": "Sandbox",
        "paymentData": PAYMENT_DATA,
    }
    response = post(client, token_for("agent"), body)
    assert response.status_code == 201
    assert (response.json()["configurationId"], response.json()["flowNumber"]) == (2, 696)


def test_launch_digital_session_has_no_agent_page(client, token_for, emulator):
    body = launch_body(
        kind="digital", paymentData={**PAYMENT_DATA, "CustomerPhoneNumber": "+447700900123"}
    )
    response = post(client, token_for("agent"), body)
    assert response.status_code == 201
    assert response.json()["kind"] == "digital"
    assert response.json()["agentPage"] is None


def test_production_launch_with_typed_confirmation_is_audited(client, token_for, emulator):
    body = launch_body(account="Production", confirmAccountName="Production")
    response = post(client, token_for("launcher"), body)
    assert response.status_code == 201
    assert response.json()["flowNumber"] == 422
    event = AuditEvent.objects.get(action="session.launched_production")
    assert event.actor_name == "launcher"


def test_launch_whose_outcome_is_unknown_is_504(client, token_for, emulator):
    emulator.faults.inject("create", status=503, times=1)
    response = post(client, token_for("agent"), launch_body())
    assert response.status_code == 504
    body = response.json()
    assert body["outcome"] == "unknown"
    assert body["session"]["outcome"] == "unknown"
    assert emulator.stats.as_dict()["session_creates"] <= 1


def test_launch_refused_by_vcc_is_502_with_its_message(client, token_for, emulator):
    emulator.faults.invalid_client = True
    response = post(client, token_for("agent"), launch_body())
    assert response.status_code == 502
    assert response.json()["outcome"] == "failed"
    assert "credentials A" in response.json()["detail"]


def test_launch_rate_limited_by_vcc_is_503_with_retry_after(client, token_for, emulator):
    emulator.faults.inject("create", status=429, retry_after="7", times=1)
    response = post(client, token_for("agent"), launch_body())
    assert response.status_code == 503
    assert response["Retry-After"] == "7"


def test_launch_schema_errors_name_the_json_field(client, token_for):
    response = post(client, token_for("agent"), {"account": "Sandbox", "configurationId": 1})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"loc": ["body", "paymentData"], "msg": "Field required"}]


def test_read_session_refresh_when_vcc_fails_keeps_the_stored_state(client, token_for, emulator):
    token = token_for("agent")
    guid = post(client, token, launch_body()).json()["sessionGuid"]
    emulator.faults.inject("read", status=500)
    response = get(client, f"{SESSIONS}/{guid}", token, refresh="true")
    assert response.status_code == 200
    assert response.json()["sessionState"] == ""
    assert "try again" in response.json()["refreshError"].lower()
