"""Launch a test payment session from the command line, through the launch service."""

import json

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from payments.management.cli import EXIT_REFUSED, acting_user, one_line_errors
from payments.models import AccountConfiguration, LaunchOutcome, SessionKind
from payments.payment_data import payment_data_from_input, payment_data_parse
from payments.refusals import refusal_message
from payments.serialisers import session_json
from payments.services import session_launch
from payments.services.host import host_origin

EXIT_FAILED = 1  # sent, and VCC failed (or the outcome is unknown): see the recorded session


class Command(BaseCommand):
    help = (
        "Launch a test payment session on ACCOUNT's configuration id, exactly as the launch page "
        "does (same checks, same session record). --as names the registry user who launches: "
        "the session and audit trail record them and their permissions apply; it is required."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        one_line_errors(parser)
        return parser

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, metavar="NAME", help="VCC account name.")
        parser.add_argument(
            "--configuration-id",
            required=True,
            type=int,
            metavar="N",
            help="accountConfigurationId on that account.",
        )
        parser.add_argument(
            "--credential", metavar="LABEL", help="Credential label (default: the first allowed)."
        )
        parser.add_argument("--agent-id", metavar="ID", help="agentId (default: the user's).")
        parser.add_argument("--amount", help="Amount, e.g. 12.40 (needs --currency).")
        parser.add_argument("--currency", help="ISO 4217 code, e.g. GBP.")
        parser.add_argument("--reference", metavar="REF", help="MerchantReferenceCode.")
        parser.add_argument(
            "--payment-data",
            metavar="JSON",
            help='More paymentData as a JSON object of text values, e.g. \'{"FirstName": "Jo"}\'.',
        )
        parser.add_argument(
            "--skip-call-transfer",
            action="store_true",
            help="Send skipCallTransfer=true (test sessions with no live call to transfer).",
        )
        parser.add_argument(
            "--digital", action="store_true", help="A digital session (payment link) instead."
        )
        parser.add_argument("--phone", help="Customer phone number, E.164 (with --digital).")
        parser.add_argument(
            "--confirm-account-name",
            metavar="NAME",
            help="Production flows: the account name typed to confirm (default: --account, "
            "since naming the account on the command line is the confirmation).",
        )
        parser.add_argument(
            "--idempotency-key",
            metavar="KEY",
            help="Launch at most once with this key: run again with it, and the first launch is "
            "printed instead of a new one.",
        )
        parser.add_argument(
            "--as", dest="username", metavar="USERNAME", help="Registry user who launches."
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, **options):
        user = acting_user(options["username"], doing="launching")
        link = self._link(options["account"], options["configuration_id"])
        credential = self._credential(link, options["credential"])
        kind = SessionKind.DIGITAL if options["digital"] else SessionKind.AGENT_ASSIST
        payment_data = self._payment_data(options, kind)
        confirmation = options["confirm_account_name"]
        try:
            result = session_launch(
                link=link,
                launched_by=user,
                kind=kind,
                payment_data=payment_data,
                agent_id=options["agent_id"] or "",
                credential=credential,
                skip_call_transfer=options["skip_call_transfer"],
                confirm_account_name=link.account.name if confirmation is None else confirmation,
                origin=host_origin("launch_session"),
                idempotency_key=options["idempotency_key"] or "",
            )
        except (PermissionDenied, ValidationError) as exc:
            raise CommandError(refusal_message(exc), returncode=EXIT_REFUSED) from None

        session = result.session
        ok = result.ok and session.outcome == LaunchOutcome.CREATED
        if options["json"]:
            summary = {"sessionId": session.pk, **session_json(session)}
            summary["replayed"] = result.replayed
            self.stdout.write(json.dumps(summary))
        elif ok:
            again = " (already launched with this idempotency key)" if result.replayed else ""
            self.stdout.write(
                f"Created {session.get_kind_display().lower()} session {session.session_guid} on "
                f"{session.account_name} id {session.configuration_id} → flow "
                f"{session.flow_number} “{session.flow_name}” ({session.stage}) with credentials "
                f"{session.credential_label} in {session.latency_ms} ms (session #{session.pk})"
                f"{again}."
            )
        if not ok:
            raise CommandError(
                f"{session.get_outcome_display()}: {session.error} (recorded as session "
                f"#{session.pk})",
                returncode=EXIT_FAILED,
            )

    def _link(self, account: str, configuration_id: int) -> AccountConfiguration:
        link = AccountConfiguration.objects.find(account, configuration_id)
        if link is None:
            raise CommandError(
                f"VCC account {account[:100]!r} has no configuration id {configuration_id} in the "
                "registry: check both in the admin's Account configuration links.",
                returncode=EXIT_REFUSED,
            )
        return link

    def _credential(self, link: AccountConfiguration, label: str | None):
        if not label:
            return None
        credential = link.account.credentials.filter(label=label).first()
        if credential is None:
            raise CommandError(
                f"VCC account {link.account.name} has no credentials labelled {label[:40]!r}.",
                returncode=EXIT_REFUSED,
            )
        return credential

    def _payment_data(self, options: dict, kind: str) -> dict:
        if options["phone"] is not None and kind != SessionKind.DIGITAL:
            raise CommandError(
                "--phone is for digital sessions: add --digital.", returncode=EXIT_REFUSED
            )
        try:
            extra = payment_data_parse(options["payment_data"] or "")
        except ValidationError as exc:
            raise CommandError(
                f"--payment-data: {refusal_message(exc)}", returncode=EXIT_REFUSED
            ) from None
        values = {
            "amount": options["amount"],
            "currency": options["currency"],
            "merchant_reference": options["reference"],
            "customer_phone": options["phone"],
        }
        # The launch service checks and normalises what this builds, as for the launch page.
        return payment_data_from_input(values, kind=kind, extra=extra)

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except CommandError:
            raise
        except Exception as exc:  # one line for a person, never a traceback
            if options.get("traceback"):
                raise
            raise CommandError(
                f"launch_session stopped unexpectedly ({type(exc).__name__}). Check the sessions "
                "list before launching again; run it with --traceback to see why.",
                returncode=EXIT_FAILED,
            ) from None
