from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from payments.selectors.registry_export import registry_dumps, registry_export


class Command(BaseCommand):
    help = (
        "Write the registry (environments, flows with lineage, accounts, credentials without "
        "their secrets, configuration links) as JSON in a stable order, for version control."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="Write to this file instead of stdout.")

    def handle(self, *args, output, **options):
        text = registry_dumps(registry_export())
        if not output:
            self.stdout.write(text, ending="")
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror}.") from None
        self.stderr.write(f"Registry written to {output}.")
