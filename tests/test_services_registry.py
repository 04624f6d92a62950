import pytest
from django.core.exceptions import ValidationError

from payments.models import AccountKind, AuditEvent, PaymentFlow, VccAccount
from payments.services import audit_verify_chain, credential_save, registry_save
from tests.factories import ApiCredentialFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_registry_save_validates_before_writing():
    account = VccAccount(name="", kind=AccountKind.SANDBOX)
    with pytest.raises(ValidationError):
        registry_save(instance=account, actor=None)
    assert not VccAccount.objects.exists()
    assert not AuditEvent.objects.exists()


def test_registry_save_records_history_reason_and_audit_changes():
    actor = UserFactory(username="alice")
    account = registry_save(
        instance=VccAccount(name="Sandbox", kind=AccountKind.SANDBOX), actor=actor, reason="new"
    )
    account.region = "nam"
    registry_save(instance=account, actor=actor, reason="moved to the US")
    assert account.history.first().history_change_reason == "moved to the US"
    event = AuditEvent.objects.filter(action="vccaccount.changed").get()
    assert event.actor == actor
    assert event.before["region"] == "emea"
    assert event.after["region"] == "nam"
    assert audit_verify_chain() is None


def test_credential_save_blank_secret_keeps_the_old_one():
    # Staging only: the factory's default ("both") does not fit its sandbox account (item 8).
    credential = ApiCredentialFactory(
        secret="first-secret-value-0001", allowed_environments="staging"
    )
    credential.label = "Z"
    credential_save(credential=credential, new_secret=None, actor=None)
    credential.refresh_from_db()
    assert credential.client_secret == "first-secret-value-0001"
    assert not AuditEvent.objects.filter(action="credential.secret_rotated").exists()


def test_credential_history_never_holds_the_secret():
    credential = ApiCredentialFactory(secret="history-secret-0001", allowed_environments="staging")
    before = credential.history.count()
    credential_save(credential=credential, new_secret="history-secret-0002", actor=None)
    rows = list(credential.history.values())
    assert len(rows) == before + 1
    assert "history-secret" not in str(rows)
    assert rows[0]["secret_fingerprint"] != rows[1]["secret_fingerprint"]


def test_demo_seed_is_idempotent(demo):
    counts = {
        "flows": PaymentFlow.objects.count(),
        "accounts": VccAccount.objects.count(),
        "events": AuditEvent.objects.count(),
    }
    from payments.services.demo import demo_seed

    again = demo_seed(emulator_url="http://127.0.0.1:8100", password="x")
    assert again.created_objects == 0 and again.created_users == []
    assert counts == {
        "flows": PaymentFlow.objects.count(),
        "accounts": VccAccount.objects.count(),
        "events": AuditEvent.objects.count(),
    }


def test_demo_seed_builds_both_topologies(demo):
    links = {
        (link.account.name, link.configuration_id): link.flow.number
        for link in VccAccount.objects.get(name="Sandbox").configurations.all()
        | VccAccount.objects.get(name="Production").configurations.all()
        | VccAccount.objects.get(name="Contact Centre").configurations.all()
    }
    assert links == {
        ("Sandbox", 1): 695,
        ("Sandbox", 2): 696,
        ("Sandbox", 3): 699,
        ("Production", 1): 422,
        ("Production", 2): 423,
        ("Contact Centre", 1): 695,
        ("Contact Centre", 2): 696,
        ("Contact Centre", 3): 699,
        ("Contact Centre", 4): 422,
        ("Contact Centre", 5): 423,
    }
    assert PaymentFlow.objects.get(number=422).promoted_from.number == 695
    assert {u for u, _ in demo.created_users} == {
        "admin",
        "registry",
        "approver",
        "agent",
        "launcher",
        "auditor",
    }
