"""The same launch refusal through the page, the API and the CLI: same answer, same audit row."""

import json
import uuid
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from payments.models import ApiCredential, AuditEvent, PaymentSession
from payments.services import session_launch
from payments.services.api_tokens import api_token_issue
from tests.launch_support import demo_link

pytestmark = pytest.mark.django_db

PAYMENT = {"Amount": "12.40", "Currency": "GBP"}
# What a refusal's audit row says, whichever door it came through (origin aside).
ROW_FIELDS = ["action", "outcome", "actor_name", "object_type", "object_id", "reason"]


# Each case: who asks, where, with which credential and typed confirmation, and how the
# service refuses it.
CASES = {
    "no launch permission": {
        "username": "auditor",
        "account": "Sandbox",
        "configuration_id": 1,
        "credential": None,
        "confirm": "",
        "refusal": PermissionDenied,
    },
    "production without the exact typed confirmation": {
        "username": "launcher",
        "account": "Production",
        "configuration_id": 1,
        "credential": None,
        "confirm": "production",
        "refusal": ValidationError,
    },
    "credential not allowed for the link": {
        "username": "launcher",
        "account": "Contact Centre",
        "configuration_id": 1,
        "credential": "B",
        "confirm": "",
        "refusal": ValidationError,
    },
}


def credential_of(case: dict) -> ApiCredential | None:
    if case["credential"] is None:
        return None
    return ApiCredential.objects.get(account__name=case["account"], label=case["credential"])


def through_the_service(case: dict) -> Exception:
    with pytest.raises(case["refusal"]) as info:
        session_launch(
            link=demo_link(case["account"], case["configuration_id"]),
            launched_by=User.objects.get(username=case["username"]),
            kind="agent_assist",
            payment_data=dict(PAYMENT),
            credential=credential_of(case),
            confirm_account_name=case["confirm"],
        )
    return info.value


def through_the_page(case: dict) -> str:
    client = Client()
    client.force_login(User.objects.get(username=case["username"]))
    credential = credential_of(case)
    response = client.post(
        reverse("payments:launch"),
        {
            "link": str(demo_link(case["account"], case["configuration_id"]).pk),
            "credential": str(credential.pk) if credential else "",
            "kind": "agent_assist",
            "amount": PAYMENT["Amount"],
            "currency": PAYMENT["Currency"],
            "confirm_account_name": case["confirm"],
            "launch_key": uuid.uuid4().hex,
        },
    )
    assert response.status_code == (403 if case["refusal"] is PermissionDenied else 200)
    errors = response.context["form"].errors
    assert errors
    return " ".join(message for messages in errors.values() for message in messages)


def through_the_api(case: dict) -> str:
    token = api_token_issue(user=User.objects.get(username=case["username"]))[1]
    body = {
        "account": case["account"],
        "configurationId": case["configuration_id"],
        "credential": case["credential"] or "",
        "confirmAccountName": case["confirm"],
        "paymentData": PAYMENT,
    }
    response = Client().post(
        "/api/v1/sessions",
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == (403 if case["refusal"] is PermissionDenied else 422)
    return response.json()["detail"]


def through_the_cli(case: dict) -> str:
    args = [
        "--account", case["account"],
        "--configuration-id", str(case["configuration_id"]),
        "--as", case["username"],
        "--amount", PAYMENT["Amount"],
        "--currency", PAYMENT["Currency"],
        "--confirm-account-name", case["confirm"],
    ]  # fmt: skip
    if case["credential"]:
        args += ["--credential", case["credential"]]
    with pytest.raises(CommandError) as info:
        call_command("launch_session", *args, stdout=StringIO(), stderr=StringIO())
    assert info.value.returncode == 2
    return str(info.value)


DOORS = {"page": through_the_page, "api": through_the_api, "cli": through_the_cli}


def launch_rows() -> list[dict]:
    # Only the launch's rows: issuing the API door's token writes one of its own.
    events = AuditEvent.objects.filter(action__startswith="session.").order_by("pk")
    return list(events.values(*ROW_FIELDS))


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("case_name", CASES)
def test_launch_refusal_is_the_same_through_every_front_door(demo, door, case_name):
    case = CASES[case_name]
    refusal = through_the_service(case)
    expected = launch_rows()
    assert [(row["action"], row["outcome"]) for row in expected] == [("session.launch", "denied")]

    shown = DOORS[door](case)

    assert launch_rows() == expected * 2
    # The door shows the service's own words.
    for message in getattr(refusal, "messages", [str(refusal)]):
        assert message in shown
    assert not PaymentSession.objects.exists()
