import json
import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from payments.selectors.registry_file import registry_loads
from payments.services.host import host_origin
from payments.services.registry_io import (
    RegistryFileError,
    registry_import,
    registry_import_actor_check,
)


class Command(BaseCommand):
    help = (
        "Apply a registry file written by export_registry: validate everything, print the "
        "changes, then apply them in one audited transaction (or nothing at all on any error). "
        "Production changes are never applied by an import: they become one pending promotion "
        "per production flow, requested by --actor, for an approver to approve and apply; "
        "into an empty registry a superuser --actor restores the whole file. "
        'Secrets come from the environment variables that the file names in "client_secret_env".'
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The registry file (JSON).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the changes; write nothing."
        )
        parser.add_argument(
            "--actor",
            default="",
            help="Required: the username of an active user allowed to request promotions (a "
            "superuser to restore an empty registry); recorded in the audit trail.",
        )

    def handle(self, *args, file, dry_run, actor, **options):
        document = self._read(file)
        if not actor:
            raise CommandError(
                "--actor is required: the username of an active user allowed to request "
                "promotions. Nothing was imported."
            )
        User = get_user_model()
        user = User.objects.filter(**{User.USERNAME_FIELD: actor}).first()
        if user is None:
            raise CommandError(f'--actor: there is no user "{actor}". Nothing was imported.')
        try:
            registry_import_actor_check(actor=user, origin=host_origin("import_registry"))
            result = registry_import(
                document=document,
                actor=user,
                dry_run=dry_run,
                environ=os.environ,
                origin=host_origin("import_registry"),
                source=Path(file).name,
            )
        except PermissionDenied as exc:
            raise CommandError(f"{exc} Nothing was imported.") from None
        except RegistryFileError as exc:
            problems = "\n".join(f"  - {problem}" for problem in exc.problems)
            raise CommandError(
                f"{file} was not imported; the registry is unchanged. Fix these and run again:\n"
                f"{problems}"
            ) from None
        listed = dry_run or bool(result.production_changes)
        if listed:
            self.stdout.write("Applies directly:")
        for change in result.changes:
            self.stdout.write(str(change))
        for index, plan in enumerate(result.promotions, 1):
            self.stdout.write(
                f"Needs a promotion ({index} of {len(result.promotions)}: {plan}; an import "
                "never applies these, an approver applies the promotion):"
            )
            for change in plan.changes:
                self.stdout.write(str(change))
        if result.refused:
            self.stdout.write(
                "Refused (no promotion can make these, so the import would write nothing):"
            )
            for problem in result.refused:
                self.stdout.write(f"  - {problem}")
        for name in result.not_in_file:
            self.stdout.write(f"  not in the file, left as it is: {name}")
        summary = (
            f"{len(result.changes)} change(s), {result.unchanged} unchanged, "
            f"{len(result.not_in_file)} not in the file."
        )
        planned = len(result.production_changes)
        if planned and dry_run:
            summary += (
                f" {planned} production change(s) need a promotion "
                f"({len(result.promotions)} promotion(s), one per production flow)."
            )
        elif planned:
            summary += (
                f" {planned} production change(s) planned as {len(result.promotions)} pending "
                "promotion(s), one per production flow, for an approver to approve and apply."
            )
        if dry_run:
            self.stdout.write(f"Dry run: {summary} Nothing was written.")
        elif result.restored:
            self.stdout.write(self.style.SUCCESS(f"Restored into an empty registry: {summary}"))
        else:
            self.stdout.write(self.style.SUCCESS(f"Imported: {summary}"))
        for plan in [] if dry_run else result.promotions:
            url = settings.SITE_URL + reverse("payments:promotion", args=[plan.promotion.pk])
            self.stdout.write(f"Promotion #{plan.promotion.pk} ({plan}), pending approval: {url}")

    def _read(self, file: str):
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "it is not UTF-8 text"
            raise CommandError(f"Cannot read {file}: {reason}.") from None
        try:
            return registry_loads(text)
        except RegistryFileError as exc:
            raise CommandError(
                f"{file} was not imported: {' '.join(exc.problems)} Nothing was imported."
            ) from None
        except json.JSONDecodeError as exc:
            raise CommandError(
                f"{file} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}. "
                "Nothing was imported."
            ) from None
