"""Django's createsuperuser, each person it makes audited in the same transaction.

It takes the place of django.contrib.auth's command because its app comes first in
INSTALLED_APPS (payments/hostcommands/__init__.py).
Prompts, --noinput and DJANGO_SUPERUSER_PASSWORD are Django's own.
"""

from django.contrib.auth.management.commands import createsuperuser

from payments.services.host import host_users_created


class Command(createsuperuser.Command):
    help = "Create a superuser; audited as user.created and user.password_set."

    def handle(self, *args, **options):
        with host_users_created():
            super().handle(*args, **options)
