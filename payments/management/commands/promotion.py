"""Promotions from the command line: show, request and approve, through the same services as the
page and the API (same rules, same audit rows; docs/ARCHITECTURE.md)."""

import json

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from payments.management.cli import EXIT_REFUSED, acting_user, one_line_errors
from payments.refusals import refusal_message
from payments.selectors.promotions import (
    Ambiguous,
    NotFound,
    account_named,
    production_node_named,
    promotion_for_reader,
    promotion_numbered,
    staging_flow_numbered,
)
from payments.serialisers import promotion_json
from payments.services import promotion_approve, promotion_request
from payments.services.host import host_origin


class Command(BaseCommand):
    help = (
        "Show, request or approve a promotion of a staging flow to production, as the "
        "promotion pages do: --as names the registry user who acts, whose permissions apply "
        "and whom the audit trail records. Approving needs the version `show` prints (--seen), "
        "so what is approved is what was read."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        one_line_errors(parser)
        return parser

    def add_arguments(self, parser):
        steps = parser.add_subparsers(dest="step", required=True, metavar="{show,request,approve}")
        show = steps.add_parser("show", help="Print a promotion, its version and your steps.")
        show.add_argument("number", type=int, help="The promotion's number (#N).")

        request = steps.add_parser("request", help="Request a promotion (four eyes approve it).")
        request.add_argument("--source-flow", type=int, required=True, metavar="N")
        request.add_argument(
            "--source-environment",
            default="",
            metavar="NODE",
            help="The staging node, when several have that flow number.",
        )
        request.add_argument("--target-account", required=True, metavar="NAME")
        request.add_argument("--production-flow-number", type=int, required=True, metavar="N")
        request.add_argument("--configuration-id", type=int, required=True, metavar="N")
        request.add_argument(
            "--target-environment",
            default="",
            metavar="NODE",
            help="The production node (default: the provider's only one).",
        )
        request.add_argument("--reason", required=True, help="Kept in the audit trail.")
        request.add_argument(
            "--idempotency-key",
            metavar="UUID",
            help="Request at most once with this key: run again with it for the first result.",
        )

        approve = steps.add_parser("approve", help="Approve someone else's request.")
        approve.add_argument("number", type=int, help="The promotion's number (#N).")
        approve.add_argument(
            "--seen",
            required=True,
            metavar="VERSION",
            help="The version `show` printed: a request changed since is refused.",
        )
        for step in (show, request, approve):
            one_line_errors(step)
            step.add_argument(
                "--as", dest="username", metavar="USERNAME", help="Registry user who acts."
            )
            step.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, step, username, **options):
        user = acting_user(username, doing="acting")
        try:
            promotion = getattr(self, f"_{step}")(user, options)
        except (NotFound, Ambiguous) as error:
            raise CommandError(str(error), returncode=EXIT_REFUSED) from None
        except (PermissionDenied, ValidationError) as error:
            raise CommandError(refusal_message(error), returncode=EXIT_REFUSED) from None
        shown = promotion_json(promotion, user)
        if options["json"]:
            self.stdout.write(json.dumps(shown, default=str))
            return
        self.stdout.write(
            f"Promotion #{shown['id']} ({shown['state']}): flow {shown['sourceFlow']} on "
            f"{shown['sourceEnvironment']} → {shown['productionFlowNumber']} on "
            f"{shown['targetAccount']} id {shown['configurationId']}, requested by "
            f"{shown['requestedBy']}.\n"
            f"Version: {shown['version']}\n"
            f"Your steps: {', '.join(shown['steps']) or 'none'}"
        )

    def _show(self, user, options):
        return promotion_for_reader(options["number"], user)

    def _request(self, user, options):
        return promotion_request(
            source_flow=staging_flow_numbered(
                options["source_flow"], options["source_environment"]
            ),
            target_account=account_named(options["target_account"]),
            production_flow_number=options["production_flow_number"],
            configuration_id=options["configuration_id"],
            reason=options["reason"],
            target_environment=production_node_named(options["target_environment"]),
            actor=user,
            idempotency_key=options["idempotency_key"] or None,
            origin=host_origin("promotion"),
        )

    def _approve(self, user, options):
        try:
            seen = parse_datetime(options["seen"])
        except ValueError:  # well formed, but no such date or time
            seen = None
        if seen is None:
            raise CommandError(
                f"--seen {options['seen'][:40]!r} is not a version: copy the one "
                "`manage.py promotion show N` prints.",
                returncode=EXIT_REFUSED,
            )
        return promotion_approve(
            promotion=promotion_numbered(options["number"]),
            actor=user,
            origin=host_origin("promotion"),
            seen_updated_at=seen,
        )
