"""Django's own user commands, run on the host, are audited like the same change on a page.

docs/SECURITY.md: `manage.py changepassword` and `createsuperuser` set passwords and make
superusers outside the admin; they go through payments.services.host, which audits them with no
registry user as the actor and the command and the host's user as the origin.
"""

import getpass

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command, get_commands

from payments.models import AuditEvent
from payments.services import audit_verify_chain

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-enough-host-password-42"


def test_the_registry_owns_both_commands():
    """Django runs the first app's command of a name: the registry's, not django.contrib.auth's."""
    commands = get_commands()
    assert commands["changepassword"] == "payments.hostcommands"
    assert commands["createsuperuser"] == "payments.hostcommands"


def test_changepassword_is_audited_without_the_password(monkeypatch):
    person = User.objects.create_user("person", password="the-old-password-0123")
    answers = iter([PASSWORD, PASSWORD])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))

    call_command("changepassword", "person")

    person.refresh_from_db()
    assert person.check_password(PASSWORD)
    event = AuditEvent.objects.get(action="user.password_set")
    assert event.actor is None and event.object_id == str(person.pk)
    assert event.origin.startswith("manage.py changepassword (host user ")
    assert event.after == {"password_sign_in": True}
    assert PASSWORD not in str(event.__dict__) and person.password not in str(event.__dict__)
    assert audit_verify_chain() is None


def test_changepassword_refuses_a_weak_password_and_changes_nothing(monkeypatch):
    person = User.objects.create_user("person", password="the-old-password-0123")
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": "123")

    with pytest.raises(CommandError, match="after 3 attempts"):
        call_command("changepassword", "person")

    person.refresh_from_db()
    assert person.check_password("the-old-password-0123")
    assert not AuditEvent.objects.filter(action="user.password_set").exists()


def test_createsuperuser_is_audited_as_a_created_superuser(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)

    call_command(
        "createsuperuser", "--noinput", username="root2", email="root2@example.com", verbosity=0
    )

    root = User.objects.get(username="root2")
    assert root.is_superuser and root.check_password(PASSWORD)
    created = AuditEvent.objects.get(action="user.created")
    assert created.object_id == str(root.pk) and created.actor is None
    assert created.origin.startswith("manage.py createsuperuser (host user ")
    assert created.after["is_superuser"] is True
    assert AuditEvent.objects.filter(action="user.password_set", object_id=str(root.pk)).exists()
    assert PASSWORD not in str(list(AuditEvent.objects.values()))


def test_createsuperuser_that_fails_writes_neither_user_nor_row(monkeypatch):
    User.objects.create_user("taken", password="the-old-password-0123")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)

    with pytest.raises(CommandError, match="already taken"):
        call_command("createsuperuser", "--noinput", username="taken", email="", verbosity=0)

    assert not User.objects.filter(is_superuser=True, username="taken").exists()
    assert not AuditEvent.objects.filter(action="user.created").exists()
