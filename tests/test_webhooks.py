import json
import logging
import time

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.models import PaymentSession, SessionKind
from payments.services import session_launch
from payments.services.demo import demo_seed
from payments.vcc.emulator.webhooks import WebhookSender
from tests.conftest import DEMO_PASSWORD, point_accounts_at, provision_from_registry
from tests.launch_support import demo_link, recorded_session, status_body

pytestmark = pytest.mark.django_db

TOKEN = "webhook-token-for-tests-7f3a"
URL = "/vcc/webhook/"


@pytest.fixture
def token(settings):
    settings.VCC_WEBHOOK_TOKEN = TOKEN
    return TOKEN


@pytest.fixture
def session(demo):
    return recorded_session()


def post(client, body, *, token=TOKEN, content_type="application/json"):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post(URL, data=data, content_type=content_type, headers=headers)


def test_webhook_url_is_vcc_webhook():
    assert reverse("vcc_webhook") == URL


def test_webhook_stores_the_status_and_answers_200(client, token, session):
    response = post(client, status_body(session.session_guid))
    assert response.status_code == 200
    assert response.json()["stored"] is True
    session.refresh_from_db()
    assert (session.session_state, session.decision, session.reason_code) == (
        "Finished",
        "ACCEPT",
        "100",
    )
    assert session.status_source == "webhook"
    assert session.provider_session_guid == "7d1541fa-5747-429a-a6a0-1939f4d88028"


def test_webhook_keeps_only_the_non_secret_result_summary(client, token, session):
    body = status_body(session.session_guid)
    body["paymentResultData"]["CardNumber"] = "4111111111111111"
    post(client, body)
    session.refresh_from_db()
    assert "4111111111111111" not in json.dumps(session.result_summary)
    assert session.result_summary["requestID"] == "5193857291616388004008"


def test_webhook_replayed_is_idempotent(client, token, session):
    body = status_body(session.session_guid)
    first = post(client, body)
    second = post(client, body)
    assert (first.status_code, second.status_code) == (200, 200)
    session.refresh_from_db()
    assert session.decision == "ACCEPT"
    assert PaymentSession.objects.count() == 1


def test_webhook_never_turns_a_finished_session_back(client, token, session):
    post(client, status_body(session.session_guid))
    late = status_body(session.session_guid, state="Started", decision="")
    assert post(client, late).status_code == 200
    session.refresh_from_db()
    assert session.session_state == "Finished"


def test_webhook_older_than_the_stored_status_is_ignored(client, token, session):
    post(client, status_body(session.session_guid, lastUpdatedOn="2026-02-23T10:00:00Z"))
    older = status_body(
        session.session_guid, decision="DECLINE", lastUpdatedOn="2026-02-23T09:00:00Z"
    )
    post(client, older)
    session.refresh_from_db()
    assert session.decision == "ACCEPT"


def test_webhook_without_a_configured_token_refuses_everything(client, settings, session, caplog):
    settings.VCC_WEBHOOK_TOKEN = ""
    with caplog.at_level(logging.ERROR, logger="payments.webhooks"):
        response = post(client, status_body(session.session_guid), token="")
    assert response.status_code == 503
    assert "VCC_WEBHOOK_TOKEN is not set" in caplog.text
    session.refresh_from_db()
    assert session.session_state == ""


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer", ""])
def test_webhook_without_the_right_bearer_token_is_401(client, token, session, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.post(
        URL,
        data=json.dumps(status_body(session.session_guid)),
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]
    session.refresh_from_db()
    assert session.session_state == ""


def test_webhook_does_not_log_the_token(client, token, session, caplog):
    with caplog.at_level(logging.DEBUG):
        post(client, status_body(session.session_guid))
        post(client, status_body(session.session_guid), token="nearly-" + TOKEN)
    assert TOKEN not in caplog.text


def test_webhook_for_an_unknown_session_is_404_so_vcc_retries(client, token, demo):
    response = post(client, status_body("00000000-0000-0000-0000-000000000000"))
    assert response.status_code == 404
    assert "sessionGuid" in response.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        '"text"',
        json.dumps({"sessionState": "Finished"}),
        json.dumps({"sessionGuid": 5}),
        json.dumps({"sessionGuid": "x", "paymentResultData": "ACCEPT"}),
        b"\xff\xfe",
    ],
)
def test_webhook_with_a_bad_body_is_400_json(client, token, demo, body):
    response = post(client, body)
    assert response.status_code == 400
    assert response.json()["error"]


def test_webhook_with_a_state_too_long_to_store_is_400_and_changes_nothing(client, token, session):
    response = post(client, status_body(session.session_guid, sessionState="S" * 200))
    assert response.status_code == 400
    session.refresh_from_db()
    assert session.session_state == ""


def test_webhook_with_a_huge_body_is_413(client, token, session):
    body = status_body(session.session_guid, padding="x" * 70_000)
    assert post(client, body).status_code == 413


def test_webhook_answers_get_with_405_json(client, token):
    response = client.get(URL)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_webhook_needs_no_csrf_token(token, session):
    strict = Client(enforce_csrf_checks=True)
    assert post(strict, status_body(session.session_guid)).status_code == 200


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=60),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    fields=st.dictionaries(
        st.sampled_from(
            [
                "sessionGuid",
                "sessionState",
                "paymentResultData",
                "providerSessionGuid",
                "lastUpdatedOn",
                "callGuid",
            ]
        ),
        JSON_VALUES,
    ),
    keep_guid=st.booleans(),
    raw=st.one_of(st.none(), st.binary(max_size=200)),
)
def test_any_body_gets_a_json_answer_never_a_500(token, session, fields, keep_guid, raw):
    client = Client()
    before = PaymentSession.objects.values().get(pk=session.pk)
    body = {**status_body(session.session_guid), **fields} if keep_guid else fields
    response = post(client, raw if raw is not None else body)
    assert response.status_code in (200, 400, 404), response.content
    assert response.json()
    after = PaymentSession.objects.values().get(pk=session.pk)
    if response.status_code != 200:
        assert after == before
    PaymentSession.objects.filter(pk=session.pk).update(
        **{key: before[key] for key in ("session_state", "decision", "reason_code")},
        result_summary={},
        status_source="",
    )


@pytest.mark.django_db(transaction=True)
def test_emulator_webhook_reaches_the_registry_and_is_stored(live_server, vcc_emulator, settings):
    settings.VCC_WEBHOOK_TOKEN = TOKEN
    demo_seed(emulator_url=vcc_emulator.url, password=DEMO_PASSWORD)
    point_accounts_at(vcc_emulator)
    provision_from_registry(vcc_emulator)
    sender = WebhookSender(
        url=f"{live_server.url}{URL}",
        token=TOKEN,
        faults=vcc_emulator.faults,
        stats=vcc_emulator.stats,
    )
    sender.start()
    vcc_emulator.vcc.on_finished = sender.send
    try:
        result = session_launch(
            link=demo_link("Sandbox", 1),
            launched_by=User.objects.get(username="agent"),
            kind=SessionKind.AGENT_ASSIST,
            payment_data={"Amount": "1.00", "Currency": "GBP"},
        )
        vcc_emulator.vcc.complete(result.session.session_guid, "ACCEPT")
        deadline = time.monotonic() + 10
        while vcc_emulator.stats.webhooks_delivered == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sender.stop()
    session = PaymentSession.objects.get(pk=result.session.pk)
    assert vcc_emulator.stats.webhooks_delivered == 1
    assert (session.status_source, session.decision) == ("webhook", "ACCEPT")
