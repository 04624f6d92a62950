from django.core.management.base import BaseCommand, CommandError

from payments.models import AuditEvent
from payments.services import audit_verify_chain


class Command(BaseCommand):
    help = (
        "Check the audit trail's hash chain. Exits 1 and names the first broken row when a row "
        "was edited, deleted or reordered outside the application."
    )

    def handle(self, *args, **options):
        checked = AuditEvent.objects.count()
        broken = audit_verify_chain()
        if broken is None:
            self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {checked} events checked."))
            return
        if broken.event_id is None:
            last = AuditEvent.objects.order_by("-id").first()
            where = f"after the last row (#{last.pk})" if last else "(no rows left)"
            raise CommandError(f"Audit chain broken {where}: {broken.problem}.", returncode=1)
        event = AuditEvent.objects.get(pk=broken.event_id)
        previous = AuditEvent.objects.filter(id__lt=event.pk).order_by("-id").first()
        raise CommandError(
            f"Audit chain broken. First broken row: audit event #{event.pk} "
            f"({event.created_at:%Y-%m-%d %H:%M:%S} UTC, {event.action}, "
            f"{event.actor_name or 'system'}) {broken.problem}"
            f"{f'; the row before it is #{previous.pk}' if previous else ''}. "
            "Rows before it are intact; rows from it on cannot be trusted.",
            returncode=1,
        )
