from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from payments.models import AuditEvent
from payments.services.audit import ChainBreak
from payments.services.audit_digest import audit_verify_digests


class Command(BaseCommand):
    help = (
        "Check the audit trail's keyed hash chain and that it still holds everything every "
        "signed digest saw. Exits 1 and names the first broken row, or what is missing, when "
        "rows were edited, deleted or reordered outside the application."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--digests",
            help="Check against the digests in this directory (e.g. copies fetched back from "
            "off-host storage) instead of AUDIT_DIGEST_DIR.",
        )

    def handle(self, *args, **options):
        directory = options["digests"] or settings.AUDIT_DIGEST_DIR
        digests, walk = audit_verify_digests(directory=directory)
        problems = [self._break_message(walk.broken)] if walk.broken else []
        problems += digests.problems
        if problems:
            raise CommandError("\n".join(problems), returncode=1)
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {walk.checked} events checked."))
        if walk.unkeyed:
            self.stdout.write(
                f"Events up to #{walk.last_unkeyed_id} ({walk.unkeyed}) are legacy unkeyed rows, "
                "written before AUDIT_KEY: they prove their order, not who wrote them."
            )
        if digests.digests:
            self.stdout.write(f"Matches all {digests.digests} digests in {directory}.")
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"No digests in {directory}: rows deleted from the end of the chain (with "
                    "the head set back) cannot be detected. Run audit_digest on a schedule."
                )
            )

    def _break_message(self, broken: ChainBreak) -> str:
        if broken.event_id is None:
            last = AuditEvent.objects.order_by("-id").first()
            where = f"after the last row (#{last.pk})" if last else "(no rows left)"
            return f"Audit chain broken {where}: {broken.problem}."
        event = AuditEvent.objects.get(pk=broken.event_id)
        previous = AuditEvent.objects.filter(id__lt=event.pk).order_by("-id").first()
        return (
            f"Audit chain broken. First broken row: audit event #{event.pk} "
            f"({event.created_at:%Y-%m-%d %H:%M:%S} UTC, {event.action}, "
            f"{event.actor_name or 'system'}) {broken.problem}"
            f"{f'; the row before it is #{previous.pk}' if previous else ''}. "
            "Rows before it are intact; rows from it on cannot be trusted."
        )
