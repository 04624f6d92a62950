"""Writes made from the host's shell: Django's `changepassword` and `createsuperuser`; and the
origin every registry command records: the command and the host login.

Whoever runs manage.py on the host already holds the database and the encryption keys, so
nothing here is refused. What is done is audited as the same change made on a page would be
(payments/services/users.py writes the rows), with no registry user as the actor and the command
and the host's user as the origin (docs/SECURITY.md).
"""

import getpass
from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models.signals import post_save

from payments.services.users import audit_password, audit_user_created


def host_origin(command: str) -> str:
    """'manage.py createsuperuser (host user deploy)': the audit row's origin."""
    try:
        who = getpass.getuser()
    except OSError:  # no login name and no passwd entry, as in some containers
        who = "unknown"
    return f"manage.py {command} (host user {who})"[:100]


def host_password_set(*, user: User, password: str, command: str = "changepassword") -> User:
    """Set a person's password from the host, validated like any other, and audit it."""
    password_validation.validate_password(password, user)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_password(user, actor=None, origin=host_origin(command))
    return user


@contextmanager
def host_users_created(*, command: str = "createsuperuser") -> Iterator:
    """Audit every person Django's own code creates inside the block, in its transaction.

    createsuperuser writes through the user manager, which the registry does not own: the rows
    are caught as they are saved, in this process only, and audited before the commit, so no
    user it makes can be committed without its audit rows.
    """
    people: list[User] = []

    def collect(sender, instance, created, **kwargs):
        if created:
            people.append(instance)

    uid = f"host_users_created:{id(people)}"
    with transaction.atomic():  # the audit rows are written where the users are: one database
        post_save.connect(collect, sender=User, weak=False, dispatch_uid=uid)
        try:
            yield people
        finally:
            post_save.disconnect(sender=User, dispatch_uid=uid)
        for user in people:
            audit_user_created(user, actor=None, origin=host_origin(command))
