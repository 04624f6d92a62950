"""POST /api/v1/sessions takes exactly its documented fields, of exactly their types (issue 14)."""

import json

import pytest
from django.contrib.auth.models import User

from payments.models import PaymentSession
from payments.services.api_tokens import api_token_issue

pytestmark = pytest.mark.django_db

SESSIONS = "/api/v1/sessions"
PAYMENT_DATA = {"Amount": "12.40", "Currency": "GBP"}


@pytest.fixture
def agent_token(demo):
    return api_token_issue(user=User.objects.get(username="agent"))[1]


def _post(client, token, body):
    return client.post(
        SESSIONS,
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


def _refused_fields(response) -> set[str]:
    assert response.status_code == 422, response.content
    return {".".join(error["loc"]) for error in response.json()["errors"]}


def test_launch_configuration_id_true_is_refused(client, agent_token):
    body = {"account": "Sandbox", "configurationId": True, "paymentData": PAYMENT_DATA}
    assert "body.configurationId" in _refused_fields(_post(client, agent_token, body))
    assert not PaymentSession.objects.exists()


def test_launch_configuration_id_as_text_is_refused(client, agent_token):
    body = {"account": "Sandbox", "configurationId": "1", "paymentData": PAYMENT_DATA}
    assert "body.configurationId" in _refused_fields(_post(client, agent_token, body))


def test_launch_skip_call_transfer_as_text_is_refused(client, agent_token):
    body = {
        "account": "Sandbox",
        "configurationId": 1,
        "paymentData": PAYMENT_DATA,
        "skipCallTransfer": "yes",
    }
    assert "body.skipCallTransfer" in _refused_fields(_post(client, agent_token, body))


def test_launch_unknown_fields_are_refused_by_name(client, agent_token):
    body = {
        "account": "Sandbox",
        "configurationId": 1,
        "paymentData": PAYMENT_DATA,
        "client_secret": "s3cr3t-value",
        "amount": "12.40",
    }
    response = _post(client, agent_token, body)
    assert {"body.client_secret", "body.amount"} <= _refused_fields(response)
    # Named, never echoed: the refusal must not carry the value someone sent by mistake.
    assert "s3cr3t-value" not in response.content.decode()
    assert not PaymentSession.objects.exists()


def test_launch_empty_payment_data_is_refused(client, agent_token):
    body = {"account": "Sandbox", "configurationId": 1, "paymentData": {}}
    assert "body.paymentData" in _refused_fields(_post(client, agent_token, body))
    assert not PaymentSession.objects.exists()
