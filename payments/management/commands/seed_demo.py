import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from payments.crypto import SecretDecryptionError
from payments.services.demo import demo_emulator_world_write, demo_seed


class Command(BaseCommand):
    help = "Create the demo data (both seed topologies) and demo users; safe to run again."

    def add_arguments(self, parser):
        parser.add_argument(
            "--emulator-url",
            default=settings.VCC_EMULATOR_URL or "http://127.0.0.1:8100",
            help="Base URL the demo accounts use for VCC (default: the local emulator).",
        )
        parser.add_argument(
            "--password",
            default=settings.DEMO_PASSWORD,
            help="Password for newly created demo users (default: DEMO_PASSWORD, else random).",
        )
        parser.add_argument(
            "--emulator-world",
            default=None,
            metavar="FILE",
            help="Where to write the VCC emulator's world, derived from the demo data (default: "
            "VCC_EMULATOR_WORLD, var/vcc-emulator-world.json); rewritten on every run.",
        )

    def handle(self, *args, emulator_url, password, emulator_world, **options):
        password = password or secrets.token_urlsafe(12)
        result = demo_seed(emulator_url=emulator_url.rstrip("/"), password=password)
        self.stdout.write(f"Demo data: {result.created_objects} objects created.")
        try:
            world = demo_emulator_world_write(path=emulator_world or settings.VCC_EMULATOR_WORLD)
        except SecretDecryptionError:
            raise CommandError(
                "The demo credentials' secrets cannot be decrypted with the configured keys, so "
                "the emulator's world was not written: check FIELD_ENCRYPTION_KEY."
            ) from None
        except OSError as exc:
            raise CommandError(f"Cannot write the emulator's world: {exc}") from None
        self.stdout.write(
            f"VCC emulator world: {world} (Contact Centre id 3 is deliberately not provisioned)."
        )
        if not result.created_users:
            self.stdout.write("Demo users already exist; their passwords are unchanged.")
            return
        self.stdout.write(
            self.style.SUCCESS("Demo logins (the password is DEMO_PASSWORD in .env):")
        )
        for username, role in result.created_users:
            self.stdout.write(f"  {username:<10} {password}   ({role})")
