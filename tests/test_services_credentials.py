"""credential_verify: a token grant from VCC (the emulator), recorded on the credential."""

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.db import connection
from django.urls import reverse

from payments.models import ApiCredential, AuditEvent, AuditOutcome
from payments.services import audit_verify_chain, credential_save, credential_verify
from payments.vcc.emulator import EmulatorServer, StaticWorld
from tests.conftest import point_accounts_at, provision_from_registry
from tests.factories import ApiCredentialFactory, VccAccountFactory
from tests.vcc_helpers import CANARY_SECRET, CLIENT_ID, WORLD, closed_port

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_vcc(settings):
    settings.VCC_CONNECT_TIMEOUT = 0.5
    settings.VCC_READ_TIMEOUT = 0.3
    settings.VCC_DEADLINE = 2.0
    settings.VCC_BACKOFF_BASE = 0.01
    settings.VCC_BACKOFF_CAP = 0.05


@pytest.fixture
def emulator():
    server = EmulatorServer(world=StaticWorld(WORLD)).start()
    yield server
    server.stop()


@pytest.fixture
def credential(emulator):
    account = VccAccountFactory(
        name="Sandbox", auth_base_url=emulator.url, payment_base_url=f"{emulator.url}/globalpci"
    )
    return ApiCredentialFactory(
        account=account, label="A", client_id=CLIENT_ID, secret=CANARY_SECRET
    )


def test_working_credentials_are_recorded_as_verified(credential, emulator):
    assert credential_verify(credential=credential, actor=None, origin="127.0.0.1") is True
    stored = ApiCredential.objects.get(pk=credential.pk)
    assert stored.last_verification_ok is True
    assert stored.last_verified_at is not None
    assert stored.last_verification_error == ""
    assert credential.last_verified_at == stored.last_verified_at
    assert emulator.stats.token_requests == 1


def test_a_verification_is_an_audit_event(credential, admin_user):
    credential_verify(credential=credential, actor=admin_user, origin="10.0.0.7")
    event = AuditEvent.objects.get(action="credential.verified")
    assert event.outcome == AuditOutcome.SUCCESS
    assert event.actor == admin_user
    assert event.origin == "10.0.0.7"
    assert event.object_id == str(credential.pk)
    assert event.after["last_verification_ok"] is True
    assert audit_verify_chain() is None


def test_wrong_secret_is_recorded_with_the_time_and_an_actionable_reason(credential):
    credential_save(credential=credential, new_secret="not-the-secret-vcc-knows", actor=None)
    assert credential_verify(credential=credential, actor=None) is False
    stored = ApiCredential.objects.get(pk=credential.pk)
    assert stored.last_verification_ok is False
    assert stored.last_verified_at is not None
    assert "VCC rejected credentials A on Sandbox (invalid_client)" in (
        stored.last_verification_error
    )
    event = AuditEvent.objects.get(action="credential.verified")
    assert event.outcome == AuditOutcome.FAILURE
    assert event.reason == stored.last_verification_error


def test_unreachable_vcc_is_recorded_as_a_failure(credential):
    credential.account.auth_base_url = f"http://127.0.0.1:{closed_port()}"
    credential.account.save()
    assert credential_verify(credential=credential, actor=None) is False
    assert "connection was refused" in credential.last_verification_error


def test_credentials_without_a_secret_fail_without_asking_vcc(emulator):
    account = VccAccountFactory(name="Sandbox", auth_base_url=emulator.url)
    credential = ApiCredentialFactory(account=account, label="A", secret="")
    assert credential_verify(credential=credential, actor=None) is False
    assert "have no client secret stored" in credential.last_verification_error
    assert emulator.stats.token_requests == 0


def test_a_secret_that_does_not_decrypt_is_recorded_not_raised(credential, emulator):
    foreign = Fernet(Fernet.generate_key()).encrypt(b"written-under-another-key").decode()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ApiCredential._meta.db_table} SET client_secret = %s WHERE id = %s",
            [foreign, credential.pk],
        )
    loaded = ApiCredential.objects.defer("client_secret").select_related("account")
    assert credential_verify(credential=loaded.get(pk=credential.pk), actor=None) is False
    stored = ApiCredential.objects.defer("client_secret").get(pk=credential.pk)
    assert "cannot be decrypted" in stored.last_verification_error
    assert emulator.stats.token_requests == 0


def test_the_secret_is_never_recorded(credential):
    credential_save(credential=credential, new_secret=f"{CANARY_SECRET}-wrong", actor=None)
    credential_verify(credential=credential, actor=None)
    event = AuditEvent.objects.get(action="credential.verified")
    recorded = f"{event.reason} {event.before} {event.after} {event.object_repr}"
    assert CANARY_SECRET not in recorded
    stored = ApiCredential.objects.get(pk=credential.pk)
    assert CANARY_SECRET not in stored.last_verification_error


def test_a_check_adds_no_history_row(credential):
    before = credential.history.count()
    credential_verify(credential=credential, actor=None)
    assert credential.history.count() == before


def test_checks_demo_credentials_against_the_registry_world(vcc_emulator, demo):
    credential = ApiCredential.objects.get(client_id="production-client-b")
    credential_save(credential=credential, new_secret="registry-secret-0009", actor=None)
    point_accounts_at(vcc_emulator)
    provision_from_registry(vcc_emulator)
    credential = ApiCredential.objects.select_related("account").get(pk=credential.pk)
    assert credential_verify(credential=credential, actor=None) is True
    assert vcc_emulator.stats.tokens_issued == 1


# --- The admin action ---------------------------------------------------------------------------

CHANGELIST = "admin:payments_apicredential_changelist"


def run_action(client, *credentials):
    return client.post(
        reverse(CHANGELIST),
        {"action": "check_with_vcc", "_selected_action": [c.pk for c in credentials]},
        follow=True,
    )


def test_admin_action_checks_the_selected_credentials(admin_client, credential):
    wrong = ApiCredentialFactory(
        account=credential.account, label="B", client_id="unknown-client", secret="x" * 16
    )
    html = run_action(admin_client, credential, wrong).content.decode()
    assert "Sandbox · credentials A: VCC granted a token." in html
    assert "Sandbox · credentials B: VCC rejected credentials B on Sandbox" in html
    assert ApiCredential.objects.get(pk=wrong.pk).last_verification_ok is False
    assert "worked" in html and "failed" in html


def test_admin_action_limits_how_many_are_checked_at_once(admin_client, credential, emulator):
    others = [ApiCredentialFactory(account=credential.account) for _ in range(10)]
    html = run_action(admin_client, credential, *others).content.decode()
    assert "Select at most 10 credentials" in html
    assert emulator.stats.token_requests == 0


def test_admin_action_is_not_offered_without_change_permission(client, demo, emulator):
    client.force_login(User.objects.get(username="auditor"))
    credential = ApiCredential.objects.get(client_id="sandbox-client-a")
    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    assert "Check credentials with VCC" not in page.content.decode()
    run_action(client, credential)
    assert ApiCredential.objects.get(pk=credential.pk).last_verified_at is None
