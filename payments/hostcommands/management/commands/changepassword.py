"""Django's changepassword, its password set and audited by the host service.

It takes the place of django.contrib.auth's command because its app comes first in
INSTALLED_APPS (payments/hostcommands/__init__.py).
The prompts and messages are Django's; the rules and the write are the service's.
"""

import getpass

from django.contrib.auth.management.commands import changepassword
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management import CommandError

from payments.services.host import host_password_set

MAX_TRIES = 3


class Command(changepassword.Command):
    help = "Change a user's password; audited as user.password_set, never the password itself."

    def handle(self, *args, **options):
        username = options["username"] or getpass.getuser()
        user = User._default_manager.using(options["database"]).filter(username=username).first()
        if user is None:
            raise CommandError(f"user '{username}' does not exist")
        self.stdout.write(f"Changing password for user '{user}'")
        for _ in range(MAX_TRIES):
            password = self._get_pass()
            if password != self._get_pass("Password (again): "):
                self.stdout.write("Passwords do not match. Please try again.")
                continue
            try:
                host_password_set(user=user, password=password)
            except ValidationError as error:
                self.stderr.write("\n".join(error.messages))
                continue
            return f"Password changed successfully for user '{user}'"
        raise CommandError(f"Aborting password change for user '{user}' after {MAX_TRIES} attempts")
