from django.core.management.base import BaseCommand, CommandError

from payments.services.host import host_origin
from payments.services.secrets import secrets_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret under the first FIELD_ENCRYPTION_KEY, batch by batch. "
        "Safe to interrupt and run again: rows already on the first key are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=100)

    def handle(self, *args, batch_size=100, verbosity=1, **options):
        self.verbosity = verbosity
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        result = secrets_reencrypt(
            batch_size=batch_size, origin=host_origin("reencrypt_secrets"), progress=self._progress
        )
        for problem in result.failed:
            self.stderr.write(self.style.ERROR(str(problem)))
        summary = (
            f"{result.rows} stored secret(s): {result.reencrypted} re-encrypted, "
            f"{result.already_current} already on the first key, {len(result.failed)} failed."
        )
        if result.failed:
            raise CommandError(summary + " Add the missing key and run again.")
        self.stdout.write(self.style.SUCCESS(summary))

    def _progress(self, model, field, result):
        if self.verbosity >= 2:
            self.stdout.write(f"{model}.{field}: {result.rows} row(s) so far")
