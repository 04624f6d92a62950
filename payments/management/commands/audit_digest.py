from django.core.management.base import BaseCommand, CommandError

from payments.services.audit_digest import DigestRefused, audit_digest_write


class Command(BaseCommand):
    help = (
        "Write a signed digest of the audit chain (last event id, head hash, event count, time, "
        "key id) as a JSON file into AUDIT_DIGEST_DIR, to be shipped off the host."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dir", help="Write into this directory instead of AUDIT_DIGEST_DIR.")

    def handle(self, *args, **options):
        try:
            path = audit_digest_write(directory=options["dir"])
        except DigestRefused as exc:
            raise CommandError(f"No digest written: {exc}.", returncode=1) from exc
        except OSError as exc:
            raise CommandError(
                f"No digest written: cannot write into the digest directory ({exc.strerror}).",
                returncode=1,
            ) from exc
        self.stdout.write(self.style.SUCCESS(f"Wrote {path}"))
