from django.core.management.base import BaseCommand, CommandError

from payments.selectors.secrets import OLD_KEY, secrets_verify


class Command(BaseCommand):
    help = (
        "List every stored secret that does not decrypt, sits on an older key or looks double "
        "encrypted (model, pk and field; never values). Exits non-zero when one needs fixing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--require-primary",
            action="store_true",
            help="Also fail for secrets on an older key (after a rotation, before dropping it).",
        )
        parser.add_argument("--database", default="default")

    def handle(self, *args, require_primary=False, database="default", **options):
        failing = 0
        checked_problems = list(secrets_verify(using=database))
        for problem in checked_problems:
            fails = require_primary or problem.problem != OLD_KEY
            failing += fails
            style = self.style.ERROR if fails else self.style.WARNING
            self.stdout.write(style(str(problem)))
        if failing:
            raise CommandError(
                f"{failing} stored secret(s) need attention (see docs/runbooks/key-rotation.md)."
            )
        if checked_problems:
            self.stdout.write(
                f"{len(checked_problems)} secret(s) still on an older key: run reencrypt_secrets."
            )
        else:
            message = "Every stored secret decrypts with the first key."
            self.stdout.write(self.style.SUCCESS(message))
