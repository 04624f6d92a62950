"""GET /api/v1/alignment and the warnings /api/v1/resolve carries for a colliding id."""

import pytest
from django.contrib.auth.models import User

from payments.models import AccountConfiguration, PaymentFlow, VccAccount
from payments.services.api_tokens import api_token_issue
from payments.services.registry import registry_save

pytestmark = pytest.mark.django_db


@pytest.fixture
def token_for(demo):
    def issue(username: str) -> str:
        return api_token_issue(user=User.objects.get(username=username))[1]

    return issue


@pytest.fixture
def collision(demo):
    """Production id 3 starts Card refund (423); id 3 is flow 699 on Sandbox and Contact Centre."""
    link = AccountConfiguration(
        account=VccAccount.objects.get(name="Production"),
        configuration_id=3,
        flow=PaymentFlow.objects.get(number=423),
    )
    registry_save(instance=link, actor=None, reason="test", restore=True)
    return link


def get(client, path, token, **params):
    return client.get(path, params, headers={"Authorization": f"Bearer {token}"})


def test_alignment_api_lists_each_shared_id(client, token_for):
    response = get(client, "/api/v1/alignment", token_for("auditor"))

    assert response.status_code == 200
    ids = response.json()["ids"]
    assert [(row["configurationId"], row["status"]) for row in ids] == [
        (1, "aligned"),
        (2, "aligned"),
        (3, "aligned"),
    ]
    first = ids[0]["accounts"]
    assert {row["account"]: row["flow"] for row in first} == {
        "Contact Centre": 695,
        "Production": 422,
        "Sandbox": 695,
    }


def test_alignment_api_reports_the_collision(client, token_for, collision):
    ids = get(client, "/api/v1/alignment", token_for("auditor")).json()["ids"]

    third = next(row for row in ids if row["configurationId"] == 3)
    assert third["status"] == "collision"
    production = next(row for row in third["accounts"] if row["account"] == "Production")
    assert production["flow"] == 423
    assert production["idsElsewhere"] == {"Contact Centre": [2, 5], "Sandbox": [2]}


def test_alignment_api_needs_the_view_permission(client, token_for):
    response = get(client, "/api/v1/alignment", token_for("agent"))

    assert response.status_code == 403
    assert "alignment report" in response.json()["detail"]


def test_alignment_api_needs_a_token(client, demo):
    assert client.get("/api/v1/alignment").status_code == 401


def test_resolve_warns_when_the_id_collides_elsewhere(client, token_for, collision):
    response = get(
        client,
        "/api/v1/resolve",
        token_for("auditor"),
        flow="699",
        stage="staging",
        account="Sandbox",
    )

    assert response.status_code == 200
    assert response.json()["configurationId"] == 3
    [warning] = response.json()["warnings"]
    assert "on Production it starts flow 423" in warning


def test_resolve_no_warning_for_an_aligned_id(client, token_for, collision):
    response = get(
        client,
        "/api/v1/resolve",
        token_for("auditor"),
        flow="695",
        stage="staging",
        account="Sandbox",
    )

    assert response.json()["warnings"] == []
