"""A secret written under a key no longer configured: every page renders, nothing 500s."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from payments.models import ApiCredential, LaunchOutcome, PaymentSession
from payments.services.api_tokens import api_token_issue
from tests.admin_forms import admin_post_data
from tests.conftest import raw_column

pytestmark = pytest.mark.django_db

TABLE = "payments_apicredential"
RUNBOOK = "docs/runbooks/key-rotation.md"


@pytest.fixture
def unreadable(demo):
    """Sandbox's credential A, its secret written under a key this deployment does not hold."""
    credential = ApiCredential.objects.get(account__name="Sandbox", label="A")
    foreign = Fernet(Fernet.generate_key()).encrypt(b"secret-under-a-lost-key").decode()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET client_secret = %s WHERE id = %s", [foreign, credential.pk]
        )
    return credential


@pytest.fixture
def admin_client(client, unreadable):
    client.force_login(User.objects.get(username="admin"))
    return client


def _pages(credential) -> list[str]:
    return [
        reverse("admin:payments_apicredential_changelist"),
        reverse("admin:payments_apicredential_change", args=[credential.pk]),
        reverse("admin:payments_apicredential_history", args=[credential.pk]),
        reverse("admin:payments_vccaccount_change", args=[credential.account_id]),
        reverse("payments:topology"),
    ]


def test_pages_render_and_mark_the_unreadable_secret(admin_client, unreadable):
    for url in _pages(unreadable):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    change = admin_client.get(_pages(unreadable)[1]).content.decode()
    assert "does not decrypt" in change
    assert RUNBOOK in change


def test_resolve_answers_for_a_link_whose_credential_is_unreadable(client, unreadable):
    token = api_token_issue(user=User.objects.get(username="agent"))[1]
    response = client.get(
        "/api/v1/resolve",
        {"flow": "Card payment", "stage": "staging", "account": "Sandbox"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.content
    assert response.json()["configurationId"] == 1


def test_reentering_the_secret_replaces_the_unreadable_one(admin_client, unreadable):
    url = reverse("admin:payments_apicredential_change", args=[unreadable.pk])
    data = admin_post_data(admin_client.get(url))
    data["client_secret"] = "a-fresh-secret-typed-again-1234"
    data["change_reason"] = "re-entered after a lost key"
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert ApiCredential.objects.get(pk=unreadable.pk).client_secret == (
        "a-fresh-secret-typed-again-1234"
    )


def test_export_registry_exports_credentials_without_reading_their_secrets(unreadable):
    out, err = StringIO(), StringIO()
    call_command("export_registry", stdout=out, stderr=err)
    assert unreadable.client_id in out.getvalue()
    assert "gAAAA" not in out.getvalue()
    assert "Traceback" not in err.getvalue()


def test_launch_session_command_exits_with_a_clear_message(unreadable):
    out, err = StringIO(), StringIO()
    args = ["--account", "Sandbox", "--configuration-id", "1", "--as", "agent"]
    with pytest.raises(CommandError) as info:
        call_command("launch_session", *args, stdout=out, stderr=err)
    assert "credentials A on Sandbox cannot be decrypted" in str(info.value)
    assert "Traceback" not in out.getvalue() + err.getvalue()


def test_launch_with_the_unreadable_credential_names_it(unreadable):
    from payments.models import SessionKind
    from payments.services import session_launch
    from tests.launch_support import demo_link

    with pytest.raises(Exception) as info:
        session_launch(
            link=demo_link("Sandbox", 1),
            launched_by=User.objects.get(username="agent"),
            kind=SessionKind.AGENT_ASSIST,
            payment_data={"Amount": "1.00", "Currency": "GBP"},
        )
    assert "credentials A" in str(info.value)
    assert "?" not in str(info.value)
    assert not PaymentSession.objects.filter(outcome=LaunchOutcome.CREATED).exists()
    assert raw_column(TABLE, "client_secret", unreadable.pk).startswith("gAAAA")


def test_account_change_page_marks_the_unreadable_secret_in_its_inline(admin_client, unreadable):
    url = reverse("admin:payments_vccaccount_change", args=[unreadable.account_id])
    html = admin_client.get(url).content.decode()
    assert "does not decrypt" in html and RUNBOOK in html


def test_status_poll_with_the_unreadable_credential_names_it(unreadable):
    from payments.services import session_refresh
    from payments.vcc.errors import VccError
    from tests.launch_support import recorded_session

    session = recorded_session()
    with pytest.raises(VccError) as info:
        session_refresh(session=session)
    assert "credentials A on Sandbox cannot be decrypted" in info.value.message
    assert RUNBOOK in info.value.message


def test_editing_the_credential_without_a_new_secret_keeps_the_stored_one(admin_client, unreadable):
    before = raw_column(TABLE, "client_secret", unreadable.pk)
    url = reverse("admin:payments_apicredential_change", args=[unreadable.pk])
    data = admin_post_data(admin_client.get(url))
    data["label"] = "A2"
    data["change_reason"] = "renamed while the key is being found"
    response = admin_client.post(url, data)
    assert response.status_code == 302
    assert ApiCredential.objects.get(pk=unreadable.pk).label == "A2"
    assert raw_column(TABLE, "client_secret", unreadable.pk) == before
