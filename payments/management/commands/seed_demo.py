import secrets

from django.conf import settings
from django.core.management.base import BaseCommand

from payments.services.demo import demo_seed


class Command(BaseCommand):
    help = "Create the demo data (both seed topologies) and demo users; safe to run again."

    def add_arguments(self, parser):
        parser.add_argument(
            "--emulator-url",
            default=settings.VCC_EMULATOR_URL,
            help="Base URL the demo accounts use for VCC (default: the local emulator).",
        )
        parser.add_argument(
            "--password",
            default=settings.DEMO_PASSWORD,
            help="Password for newly created demo users (default: DEMO_PASSWORD, else random).",
        )

    def handle(self, *args, emulator_url, password, **options):
        password = password or secrets.token_urlsafe(12)
        result = demo_seed(emulator_url=emulator_url.rstrip("/"), password=password)
        self.stdout.write(f"Demo data: {result.created_objects} objects created.")
        if not result.created_users:
            self.stdout.write("Demo users already exist; their passwords are unchanged.")
            return
        self.stdout.write(self.style.SUCCESS("Demo logins (shown once):"))
        for username, role in result.created_users:
            self.stdout.write(f"  {username:<10} {password}   ({role})")
