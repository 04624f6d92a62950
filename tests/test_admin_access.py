"""Who may do what in the admin: staff without rights, view-only staff, privilege escalation."""

import re

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.urls import reverse

from payments.models import ApiCredential, AuditEvent, AuditOutcome
from tests.admin_forms import admin_post_data
from tests.conftest import raw_column
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CANARY = "canary-access-5b71c2-leak-check"


def staff(*codenames, groups=(), **extra) -> User:
    user = UserFactory(is_staff=True, **extra)
    user.set_password("correct horse battery")
    user.save()
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    user.groups.set(Group.objects.filter(name__in=groups))
    return User.objects.get(pk=user.pk)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


@pytest.fixture
def credential(demo):
    credential = ApiCredential.objects.get(client_id="sandbox-client-a")
    credential.set_secret(CANARY)
    credential.save()
    return credential


def refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="access.escalation_refused"))


# --- A1, A2: staff without rights and view-only staff ----------------------------------


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:payments_apicredential_changelist",
        "admin:payments_apicredential_change",
        "admin:payments_apicredential_history",
        "admin:payments_apicredential_delete",
    ],
)
def test_staff_without_permissions_gets_no_credential_data(credential, url_name):
    """Staff without permissions are refused and see no credential data (TEST_PLAN A1)."""
    args = [] if url_name.endswith("changelist") else [credential.pk]
    response = client_for(staff()).get(reverse(url_name, args=args))
    assert response.status_code in (302, 403)
    assert credential.client_id not in response.content.decode()


def test_view_only_staff_sees_metadata_but_not_the_secret(credential):
    """View-only staff see metadata and fingerprint, not the secret or ciphertext (TEST_PLAN A2)."""
    auditor = staff("view_apicredential")
    response = client_for(auditor).get(change_url(credential))
    html = response.content.decode()
    assert response.status_code == 200
    assert credential.client_id in html
    assert credential.secret_fingerprint in html
    assert CANARY not in html
    assert not re.search(r"gAAAA[\w-]{20,}", html)
    assert 'name="client_secret"' not in html


def test_view_only_staff_sees_no_secret_in_the_account_inline(credential):
    """View-only staff see the account's credentials inline, never their secret (TEST_PLAN A2)."""
    auditor = staff("view_apicredential", "view_vccaccount", "view_accountconfiguration")
    response = client_for(auditor).get(change_url(credential.account))
    html = response.content.decode()
    assert response.status_code == 200
    assert credential.client_id in html
    assert CANARY not in html


def test_demo_auditor_sees_no_secret(credential):
    """The seeded Auditors role sees credentials but no secret (TEST_PLAN A2)."""
    auditor = User.objects.get(username="auditor")
    html = client_for(auditor).get(change_url(credential)).content.decode()
    assert credential.client_id in html
    assert CANARY not in html


def test_view_only_staff_post_is_refused_and_changes_nothing(credential):
    """A POST by view-only staff is refused with 403 and changes nothing (TEST_PLAN A2)."""
    stored = raw_column("payments_apicredential", "client_secret", credential.pk)
    data = {"account": credential.account_id, "label": "X", "client_id": "stolen"}
    data |= {"client_secret": "replaced-secret", "allowed_environments": "both"}
    response = client_for(staff("view_apicredential")).post(change_url(credential), data)
    assert response.status_code == 403
    credential.refresh_from_db()
    assert credential.client_id == "sandbox-client-a"
    assert raw_column("payments_apicredential", "client_secret", credential.pk) == stored


def test_extra_fields_posted_to_the_credential_form_are_ignored(admin_client, credential):
    """Server-set fields (fingerprint, rotation, check times) cannot be posted (TEST_PLAN A8)."""
    data = admin_post_data(admin_client.get(change_url(credential)))
    data |= {
        "secret_fingerprint": "…forged",
        "last_rotated_at": "2001-01-01 00:00",
        "last_verification_ok": "on",
        "last_verification_error": "forged",
        "created_at": "2001-01-01 00:00",
    }
    response = admin_client.post(change_url(credential), data)
    assert response.status_code == 302
    saved = ApiCredential.objects.get(pk=credential.pk)
    assert saved.secret_fingerprint == credential.secret_fingerprint
    # Set by the fixture's rotation, not the posted 2001 date.
    assert saved.last_rotated_at == credential.last_rotated_at
    assert saved.last_rotated_at.year != 2001
    assert saved.last_verification_ok is None
    assert saved.last_verification_error == ""


# --- A5: privilege escalation through the user admin ------------------------------------


@pytest.fixture
def user_manager(demo):
    """Staff who may change users and belong to Registry admins."""
    return staff("view_user", "change_user", "add_user", groups=["Registry admins"])


def post_user(client, user, **changes):
    data = admin_post_data(client.get(change_url(user)))
    data.update(changes)
    return client.post(change_url(user), data)


def test_staff_cannot_make_themselves_superuser(user_manager):
    """A user editor cannot make themselves superuser; the refusal is audited (TEST_PLAN A5)."""
    client = client_for(user_manager)
    page = client.get(change_url(user_manager)).content.decode()
    assert 'name="is_superuser"' not in page
    response = post_user(client, user_manager, is_superuser="on")
    assert response.status_code == 403
    user_manager.refresh_from_db()
    assert not user_manager.is_superuser
    [event] = refusals()
    assert event.outcome == AuditOutcome.DENIED
    assert event.actor == user_manager
    assert "superuser" in event.reason


def test_staff_cannot_grant_themselves_a_permission(user_manager):
    """A user editor cannot grant themselves apply_promotion (TEST_PLAN A5)."""
    client = client_for(user_manager)
    page = client.get(change_url(user_manager)).content.decode()
    assert 'name="user_permissions"' not in page
    assert 'name="groups"' not in page
    promote = Permission.objects.get(codename="apply_promotion")
    response = post_user(client, user_manager, user_permissions=[str(promote.pk)])
    assert response.status_code == 403
    assert not User.objects.get(pk=user_manager.pk).has_perm("payments.apply_promotion")
    assert "their own permissions" in refusals()[0].reason


def test_staff_cannot_put_themselves_in_another_group(user_manager):
    """A user editor cannot add themselves to a group they are not in (TEST_PLAN A5)."""
    approvers = Group.objects.get(name="Approvers")
    registry = Group.objects.get(name="Registry admins")
    response = post_user(
        client_for(user_manager), user_manager, groups=[str(registry.pk), str(approvers.pk)]
    )
    assert response.status_code == 403
    assert list(user_manager.groups.all()) == [registry]
    assert len(refusals()) == 1


def test_staff_cannot_grant_others_a_group_they_do_not_hold(user_manager):
    """A user editor cannot give a colleague a group they do not hold (TEST_PLAN A5)."""
    colleague = staff()
    approvers = Group.objects.get(name="Approvers")
    response = post_user(client_for(user_manager), colleague, groups=[str(approvers.pk)])
    assert response.status_code == 403
    assert not colleague.groups.exists()
    assert "groups they do not belong to" in refusals()[0].reason


def test_staff_cannot_grant_others_a_permission_they_do_not_hold(user_manager):
    """A user editor cannot give a colleague a permission they do not hold (TEST_PLAN A5)."""
    colleague = staff()
    perm = Permission.objects.get(codename="apply_promotion")
    response = post_user(client_for(user_manager), colleague, user_permissions=[str(perm.pk)])
    assert response.status_code == 403
    assert not colleague.user_permissions.exists()


def test_staff_cannot_make_someone_else_superuser(user_manager):
    """A user editor cannot make a colleague superuser (TEST_PLAN A5)."""
    colleague = staff()
    response = post_user(client_for(user_manager), colleague, is_superuser="on")
    assert response.status_code == 403
    colleague.refresh_from_db()
    assert not colleague.is_superuser


def test_staff_may_grant_a_group_they_hold_and_it_is_audited(user_manager):
    colleague = staff()
    registry = Group.objects.get(name="Registry admins")
    response = post_user(client_for(user_manager), colleague, groups=[str(registry.pk)])
    assert response.status_code == 302
    assert list(colleague.groups.all()) == [registry]
    event = AuditEvent.objects.get(action="user.access_changed")
    assert event.after == {"groups": ["Registry admins"]}
    assert event.actor == user_manager


def test_groups_the_editor_cannot_grant_survive_their_edit(user_manager):
    colleague = staff(groups=["Approvers"])
    response = post_user(client_for(user_manager), colleague, first_name="Ann")
    assert response.status_code == 302
    colleague.refresh_from_db()
    assert colleague.first_name == "Ann"
    assert list(colleague.groups.values_list("name", flat=True)) == ["Approvers"]


def test_staff_cannot_edit_or_reset_the_password_of_a_superuser(user_manager, admin_user):
    """A user editor cannot edit a superuser or reset their password (TEST_PLAN A5)."""
    client = client_for(user_manager)
    response = post_user(client, admin_user, first_name="Mallory")
    assert response.status_code == 403
    password_url = reverse("admin:auth_user_password_change", args=[admin_user.pk])
    data = {"password1": "Takeover-password-123", "password2": "Takeover-password-123"}
    assert client.post(password_url, data).status_code == 403
    admin_user.refresh_from_db()
    assert admin_user.check_password("correct horse battery")
    assert len(refusals()) == 2


def test_superuser_may_still_grant_anything(admin_client, demo):
    colleague = staff()
    approvers = Group.objects.get(name="Approvers")
    response = post_user(admin_client, colleague, groups=[str(approvers.pk)], is_superuser="on")
    assert response.status_code == 302
    colleague.refresh_from_db()
    assert colleague.is_superuser
    assert list(colleague.groups.all()) == [approvers]


# --- A6: privilege escalation through groups --------------------------------------------


def test_staff_with_change_group_cannot_add_permissions_to_their_group(demo):
    """A group editor cannot add permissions to a group; the refusal is audited (TEST_PLAN A6)."""
    group_manager = staff("view_group", "change_group", groups=["Registry admins"])
    group = Group.objects.get(name="Registry admins")
    client = client_for(group_manager)
    page = client.get(change_url(group)).content.decode()
    assert 'name="permissions"' not in page
    before = set(group.permissions.values_list("pk", flat=True))
    extra = Permission.objects.get(codename="apply_promotion")
    data = {"name": group.name, "permissions": [str(pk) for pk in before | {extra.pk}]}
    response = client.post(change_url(group), data)
    assert response.status_code == 403
    assert set(group.permissions.values_list("pk", flat=True)) == before
    [event] = refusals()
    assert event.object_type == "group"
    assert not User.objects.get(pk=group_manager.pk).has_perm("payments.apply_promotion")


def test_staff_with_add_group_cannot_create_a_group_with_permissions(demo):
    """A group creator cannot create a group that carries permissions (TEST_PLAN A6)."""
    group_manager = staff("view_group", "add_group")
    extra = Permission.objects.get(codename="apply_promotion")
    response = client_for(group_manager).post(
        reverse("admin:auth_group_add"), {"name": "Escalators", "permissions": [str(extra.pk)]}
    )
    assert response.status_code == 403
    assert not Group.objects.filter(name="Escalators").exists()


def test_superuser_may_change_group_permissions(admin_client, demo):
    group = Group.objects.get(name="Agents")
    extra = Permission.objects.get(codename="launch_production")
    pks = [*group.permissions.values_list("pk", flat=True), extra.pk]
    response = admin_client.post(
        change_url(group), {"name": group.name, "permissions": [str(pk) for pk in pks]}
    )
    assert response.status_code == 302
    assert group.permissions.filter(pk=extra.pk).exists()
