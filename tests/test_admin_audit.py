"""Every admin write writes its audit row: registry deletes, user access, every password set."""

import json
import re

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from payments.models import AuditEvent, AuditOutcome, VccAccount
from payments.services import credential_save, registry_delete, registry_save
from payments.services.groups import group_save
from payments.services.users import AccessRefused, user_save, user_set_password
from tests.admin_forms import admin_post_data
from tests.factories import (
    AccountConfigurationFactory,
    ApiCredentialFactory,
    PaymentFlowFactory,
    PciEnvironmentFactory,
    UserFactory,
    VccAccountFactory,
)

pytestmark = pytest.mark.django_db

CANARY = "canary-audit-4f2e9b-leak-check"
OLD_PASSWORD = "correct horse battery"
NEW_PASSWORD = "Takeover-password-123"


def new_events(since: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(pk__gt=since).order_by("pk"))


def last_event_id() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def assert_no_secret(event: AuditEvent, *secrets: str):
    text = json.dumps([event.before, event.after, event.reason, event.object_repr])
    for secret in secrets:
        assert secret not in text
    assert not re.search(r"gAAAA[\w-]{20,}", text)
    assert "client_secret" not in text
    assert "pbkdf2" not in text and "argon2" not in text and "md5$" not in text


# --- registry deletes -------------------------------------------------------------------

REGISTRY = {
    "vccaccount": lambda: VccAccountFactory(name="Retired account"),
    "apicredential": lambda: ApiCredentialFactory(secret=CANARY, label="Retired"),
    "pcienvironment": lambda: PciEnvironmentFactory(name="Retired environment"),
    "paymentflow": lambda: PaymentFlowFactory(name="Retired flow"),
    "accountconfiguration": lambda: AccountConfigurationFactory(notes="Retired link"),
}


def assert_one_delete(since: int, obj, actor):
    [event] = new_events(since)
    assert event.action == f"{obj._meta.model_name}.deleted"
    assert event.outcome == AuditOutcome.SUCCESS
    assert event.actor == actor
    assert event.object_id == str(obj.pk)
    assert event.before["id"] == obj.pk
    assert event.after == {}
    assert not type(obj).objects.filter(pk=obj.pk).exists()
    assert_no_secret(event, CANARY)
    return event


@pytest.mark.parametrize("model_name", REGISTRY)
def test_admin_delete_writes_one_audit_row_with_the_before_values(
    admin_client, admin_user, model_name
):
    obj = REGISTRY[model_name]()
    since = last_event_id()
    url = reverse(f"admin:payments_{model_name}_delete", args=[obj.pk])
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    event = assert_one_delete(since, obj, admin_user)
    if model_name == "apicredential":
        assert event.before["secret_fingerprint"] == obj.secret_fingerprint
        assert event.before["label"] == "Retired"


@pytest.mark.parametrize("model_name", REGISTRY)
def test_admin_bulk_delete_action_writes_one_audit_row_per_row(
    admin_client, admin_user, model_name
):
    obj = REGISTRY[model_name]()
    since = last_event_id()
    response = admin_client.post(
        reverse(f"admin:payments_{model_name}_changelist"),
        {"action": "delete_selected", "_selected_action": [str(obj.pk)], "post": "yes"},
    )
    assert response.status_code == 302
    assert_one_delete(since, obj, admin_user)


@pytest.mark.parametrize(
    ("prefix", "make"),
    [
        ("credentials", lambda account: ApiCredentialFactory(account=account, secret=CANARY)),
        ("configurations", lambda account: AccountConfigurationFactory(account=account)),
    ],
)
def test_admin_inline_delete_writes_one_audit_row_with_the_reason(
    admin_client, admin_user, prefix, make
):
    account = VccAccountFactory(name="Inline parent")
    obj = make(account)
    url = reverse("admin:payments_vccaccount_change", args=[account.pk])
    data = admin_post_data(admin_client.get(url))
    data |= {f"{prefix}-0-DELETE": "on", "change_reason": "retired with the old tenant"}
    since = last_event_id()
    response = admin_client.post(url, data)
    assert response.status_code == 302
    # The account and the other inline rows were posted unchanged: no event for them.
    event = assert_one_delete(since, obj, admin_user)
    assert event.reason == "retired with the old tenant"


def test_registry_delete_without_the_permission_is_refused_and_audited():
    flow = PaymentFlowFactory()
    clerk = UserFactory(is_staff=True)
    clerk.user_permissions.set(Permission.objects.filter(codename="change_paymentflow"))
    clerk = User.objects.get(pk=clerk.pk)
    with pytest.raises(PermissionDenied):
        registry_delete(instance=flow, actor=clerk, origin="10.0.0.9")
    assert type(flow).objects.filter(pk=flow.pk).exists()
    event = AuditEvent.objects.get(action="paymentflow.deleted")
    assert event.outcome == AuditOutcome.DENIED
    assert event.actor == clerk
    assert event.origin == "10.0.0.9"


def test_registry_delete_of_a_row_still_in_use_is_a_validation_error(admin_user):
    link = AccountConfigurationFactory()
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="Deactivate it instead"):
        registry_delete(instance=link.flow, actor=admin_user)
    assert not AuditEvent.objects.filter(action="paymentflow.deleted").exists()


# --- no change, no event ----------------------------------------------------------------


def test_registry_save_without_changes_writes_no_event(admin_user):
    account = registry_save(instance=VccAccount(name="Quiet", kind="sandbox"), actor=admin_user)
    since = last_event_id()
    registry_save(instance=account, actor=admin_user, reason="")
    account.notes = "now with notes"
    registry_save(instance=account, actor=admin_user, reason="")
    [event] = new_events(since)
    assert event.action == "vccaccount.changed"
    assert event.after == {"notes": "now with notes"}


def test_credential_save_without_changes_writes_no_event(admin_user):
    credential = ApiCredentialFactory(secret=CANARY)
    since = last_event_id()
    credential_save(credential=credential, new_secret=None, actor=admin_user)
    credential_save(credential=credential, new_secret=CANARY, actor=admin_user)
    assert new_events(since) == []


def test_admin_credential_form_saved_unchanged_writes_no_event(admin_client):
    credential = ApiCredentialFactory(secret=CANARY)
    url = reverse("admin:payments_apicredential_change", args=[credential.pk])
    data = admin_post_data(admin_client.get(url))
    since = last_event_id()
    assert admin_client.post(url, data).status_code == 302
    assert new_events(since) == []


def test_user_and_group_saved_unchanged_write_no_event(admin_client, admin_user):
    colleague = UserFactory(email="ann@example.com")
    group = Group.objects.create(name="Quiet group")
    since = last_event_id()
    user_save(user=User.objects.get(pk=colleague.pk), actor=admin_user, groups=[])
    group_save(group=group, actor=admin_user, permissions=[])
    url = reverse("admin:auth_user_change", args=[colleague.pk])
    assert admin_client.post(url, admin_post_data(admin_client.get(url))).status_code == 302
    assert new_events(since) == []


# --- users cannot take over stronger users -----------------------------------


def person(**fields) -> User:
    """A user whose password is stored (the factory sets it without saving)."""
    user = UserFactory(**fields)
    user.set_password(OLD_PASSWORD)
    user.save()
    return user


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def editor(demo):
    """Staff holding only change_user (and view_user to open the page)."""
    user = UserFactory(username="mallory", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["change_user", "view_user"]))
    return User.objects.get(pk=user.pk)


@pytest.fixture
def approver(demo):
    user = User.objects.get(username="approver")
    user.set_password(OLD_PASSWORD)
    user.save()
    return user


def refusal_since(since: int) -> AuditEvent:
    [event] = [e for e in new_events(since) if e.action == "access.escalation_refused"]
    assert event.outcome == AuditOutcome.DENIED
    assert event.object_id == str(User.objects.get(username="approver").pk)
    return event


def test_change_user_staff_cannot_set_the_password_of_a_stronger_user(editor, approver):
    url = reverse("admin:auth_user_password_change", args=[approver.pk])
    since = last_event_id()
    response = client_for(editor).post(
        url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
    )
    assert response.status_code == 403
    assert "Nothing was saved" in response.content.decode()
    event = refusal_since(since)
    assert "set the password of approver" in event.reason
    assert event.actor == editor
    assert_no_secret(event, NEW_PASSWORD)
    approver.refresh_from_db()
    assert approver.check_password(OLD_PASSWORD)
    assert not Client().login(username="approver", password=NEW_PASSWORD)
    assert not AuditEvent.objects.filter(action="user.password_set").exists()


@pytest.mark.parametrize(
    ("change", "said"),
    [({"is_active": None}, "deactivate"), ({"email": "mallory@evil.example"}, "e-mail")],
)
def test_change_user_staff_cannot_deactivate_or_re_mail_a_stronger_user(
    editor, approver, change, said
):
    client = client_for(editor)
    url = reverse("admin:auth_user_change", args=[approver.pk])
    data = admin_post_data(client.get(url))
    for key, value in change.items():
        data.pop(key, None) if value is None else data.update({key: value})
    since = last_event_id()
    response = client.post(url, data)
    assert response.status_code == 403
    assert said in refusal_since(since).reason
    stored = User.objects.get(pk=approver.pk)
    assert (stored.is_active, stored.email) == (approver.is_active, approver.email)
    assert stored.is_active


def test_change_user_staff_may_still_edit_a_weaker_user_and_it_is_audited(editor):
    colleague = UserFactory(username="newbie", is_staff=True, email="old@example.com")
    client = client_for(editor)
    url = reverse("admin:auth_user_change", args=[colleague.pk])
    data = admin_post_data(client.get(url)) | {"email": "new@example.com"}
    since = last_event_id()
    assert client.post(url, data).status_code == 302
    [event] = new_events(since)
    assert (event.action, event.actor) == ("user.changed", editor)
    assert (event.before, event.after) == (
        {"email": "old@example.com"},
        {"email": "new@example.com"},
    )


def test_the_service_refuses_the_takeover_whoever_calls_it(editor, approver):
    with pytest.raises(AccessRefused):
        user_set_password(user=approver, password=NEW_PASSWORD, actor=editor)
    approver.email = "mallory@evil.example"
    with pytest.raises(AccessRefused):
        user_save(user=approver, actor=editor)
    assert User.objects.get(pk=approver.pk).email != "mallory@evil.example"
    assert AuditEvent.objects.filter(action="access.escalation_refused").count() == 2


# --- every password set is audited, never the password ----------------------------------


def assert_password_audited(since: int, user: User, actor: User, password: str):
    [event] = [e for e in new_events(since) if e.action == "user.password_set"]
    assert event.object_id == str(user.pk)
    assert event.actor == actor
    assert event.after == {"password_sign_in": True}
    assert_no_secret(event, password, User.objects.get(pk=user.pk).password)
    assert User.objects.get(pk=user.pk).check_password(password)


def test_admin_add_user_audits_the_creation_and_the_password(admin_client, admin_user):
    since = last_event_id()
    response = admin_client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "fresh",
            "usable_password": "true",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    fresh = User.objects.get(username="fresh")
    assert_password_audited(since, fresh, admin_user, NEW_PASSWORD)
    created = AuditEvent.objects.get(action="user.created")
    assert created.after["username"] == "fresh"
    assert_no_secret(created, NEW_PASSWORD, fresh.password)


def test_admin_password_form_audits_the_password(admin_client, admin_user):
    colleague = UserFactory()
    since = last_event_id()
    response = admin_client.post(
        reverse("admin:auth_user_password_change", args=[colleague.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 302
    assert_password_audited(since, colleague, admin_user, NEW_PASSWORD)


def test_admin_password_form_disabling_password_sign_in_is_audited(admin_client, admin_user):
    colleague = UserFactory()
    response = admin_client.post(
        reverse("admin:auth_user_password_change", args=[colleague.pk]),
        {"usable_password": "false", "unset-password": "1"},
    )
    assert response.status_code == 302
    assert not User.objects.get(pk=colleague.pk).has_usable_password()
    event = AuditEvent.objects.get(action="user.password_disabled")
    assert event.after == {"password_sign_in": False}


@pytest.mark.parametrize(
    ("url", "form"),
    [
        ("/accounts/password_change/", {"new_password1": NEW_PASSWORD}),
        ("/admin/password_change/", {"new_password1": NEW_PASSWORD}),
    ],
)
def test_self_service_password_change_is_audited(url, form):
    user = person(is_staff=True)
    client = client_for(user)
    since = last_event_id()
    data = {"old_password": OLD_PASSWORD, "new_password2": NEW_PASSWORD, **form}
    response = client.post(url, data)
    assert response.status_code == 302
    assert_password_audited(since, user, user, NEW_PASSWORD)
    # Still signed in: the session follows the new password hash.
    assert client.get("/admin/").status_code == 200


def test_password_reset_link_sets_the_password_audited(settings):
    settings.PASSWORD_RESET_ENABLED = True  # the reset pages are off unless configured
    user = person(email="ann@example.com")
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    client = Client()
    page = client.get(f"/accounts/reset/{uid}/{token}/")
    assert page.status_code == 302
    since = last_event_id()
    data = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    assert client.post(page.url, data).status_code == 302
    assert_password_audited(since, user, user, NEW_PASSWORD)


# --- people and groups: deletes and group changes are audited too -----------------------


def test_admin_user_delete_and_bulk_delete_write_one_audit_row_each(admin_client, admin_user):
    leaver, other = person(username="leaver", email="l@example.com"), person(username="other")
    since = last_event_id()
    url = reverse("admin:auth_user_delete", args=[leaver.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    response = admin_client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "delete_selected", "_selected_action": [str(other.pk)], "post": "yes"},
    )
    assert response.status_code == 302
    events = new_events(since)
    assert [(e.action, e.object_repr, e.actor) for e in events] == [
        ("user.deleted", "leaver", admin_user),
        ("user.deleted", "other", admin_user),
    ]
    assert events[0].before["email"] == "l@example.com"
    assert "password" not in events[0].before
    assert not User.objects.filter(username__in=["leaver", "other"]).exists()


def test_admin_group_delete_and_permission_change_are_audited(admin_client, admin_user):
    group = Group.objects.create(name="Temporary")
    member = person(username="member")
    member.groups.add(group)
    perm = Permission.objects.get(codename="view_vccaccount")
    since = last_event_id()
    url = reverse("admin:auth_group_change", args=[group.pk])
    data = {"name": "Temporary", "permissions": [str(perm.pk)]}
    assert admin_client.post(url, data).status_code == 302
    url = reverse("admin:auth_group_delete", args=[group.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    changed, deleted = new_events(since)
    assert (changed.action, changed.after) == (
        "group.changed",
        {"permissions": ["payments.view_vccaccount"]},
    )
    assert (deleted.action, deleted.actor) == ("group.deleted", admin_user)
    assert deleted.before == {
        "name": "Temporary",
        "permissions": ["payments.view_vccaccount"],
        "members": ["member"],
    }
