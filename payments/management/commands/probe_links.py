import json

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from payments.models import Stage
from payments.services.host import host_origin
from payments.services.probes import links_probe


class Command(BaseCommand):
    help = (
        "Prove each active configuration link with VCC: start an agent-assist test session "
        "(skipCallTransfer, agent VCC_PROBE_AGENT_ID) and record the outcome on the link. "
        "Staging links only unless --include-production. Exits 1 when a probed link failed, "
        "2 when the run was refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("--account", default="", help="Only this VCC account's links.")
        parser.add_argument("--stage", choices=list(Stage.values), default="")
        parser.add_argument(
            "--include-production",
            action="store_true",
            help="Also probe production links (each production probe is audited).",
        )
        parser.add_argument("--json", action="store_true", help='Print {"links": [...]}.')

    def handle(self, *args, account="", stage="", include_production=False, **options):
        try:
            results = links_probe(
                actor=None,
                origin=host_origin("probe_links"),
                account=account,
                stage=stage,
                include_production=include_production,
            )
        except (PermissionDenied, ValidationError) as exc:
            messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            raise CommandError(" ".join(messages), returncode=2) from None
        failed = [result for result in results if not result.ok]
        if options["json"]:
            self.stdout.write(json.dumps({"links": [result.as_json() for result in results]}))
        else:
            for result in results:
                probe, link = result.probe, result.probe.link
                style = self.style.SUCCESS if result.ok else self.style.ERROR
                state = "ok" if result.ok else "FAILED"
                self.stdout.write(style(f"{state:6} {link}: {probe.message}"))
                if probe.advice:
                    self.stdout.write(f"       What to do: {probe.advice}")
            if not results:
                self.stdout.write("No active links match.")
        if failed:
            raise CommandError(f"{len(failed)} of {len(results)} probed link(s) failed.")
