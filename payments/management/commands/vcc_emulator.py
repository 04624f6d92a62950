import ipaddress
import socket
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from payments.vcc.emulator import EmulatorServer, Faults, WorldFile


def _loopback(host: str) -> bool:
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return all(ipaddress.ip_address(address.split("%")[0]).is_loopback for address in addresses)


class Command(BaseCommand):
    help = (
        "Run a local VCC emulator (token endpoint, Payment API, PCI agent and payment-link "
        "pages, webhooks) on loopback, with the accounts, API clients and configuration ids of "
        "its world file (seed_demo writes one from the demo data)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Loopback address to bind.")
        parser.add_argument("--port", type=int, default=8100)
        parser.add_argument(
            "--webhook-url",
            default="http://127.0.0.1:8000/vcc/webhook/",
            help="Where finished sessions are POSTed (the registry's webhook receiver).",
        )
        parser.add_argument(
            "--webhook-token",
            default=None,
            help="Bearer token sent with webhooks (default: VCC_WEBHOOK_TOKEN from settings).",
        )
        parser.add_argument(
            "--token-lifetime", type=int, default=3600, help="expires_in of access tokens (s)."
        )
        parser.add_argument(
            "--purge-after",
            type=float,
            default=900,
            help="Seconds a finished session stays readable (VCC: 15 minutes).",
        )
        parser.add_argument(
            "--latency-ms", type=int, default=0, help="Delay added to every API answer."
        )
        parser.add_argument(
            "--world",
            metavar="FILE",
            default=None,
            help="The JSON file of what VCC has provisioned: accounts, API clients (secrets as "
            "SHA-256) and configuration ids; read again when edited. Default: "
            "VCC_EMULATOR_WORLD from the settings (var/vcc-emulator-world.json).",
        )

    def handle(self, *args, host, port, webhook_url, webhook_token, world, **options):
        if not _loopback(host):
            raise CommandError(
                f"{host} is not a loopback address. The emulator's control endpoints have no "
                "authentication, so it only listens on this machine (e.g. 127.0.0.1)."
            )
        if options["token_lifetime"] < 0 or options["purge_after"] < 0:
            raise CommandError("--token-lifetime and --purge-after cannot be negative.")
        path = world or settings.VCC_EMULATOR_WORLD
        try:
            chosen_world = WorldFile(path)
        except ValueError as exc:
            hint = "" if Path(path).exists() else " (`manage.py seed_demo` writes the demo's)"
            raise CommandError(f"{exc}{hint}") from None
        if webhook_token is None:
            webhook_token = settings.VCC_WEBHOOK_TOKEN
        faults = Faults(
            token_lifetime=options["token_lifetime"],
            purge_after=options["purge_after"],
            latency_ms=options["latency_ms"],
        )
        server = EmulatorServer(
            world=chosen_world,
            host=host,
            port=port,
            webhook_url=webhook_url or None,
            webhook_token=webhook_token,
            faults=faults,
        )
        try:
            server.bind()
        except OSError as exc:
            raise CommandError(
                f"Cannot listen on {host}:{port} ({exc.strerror or exc}). Is another emulator "
                "running? Choose another --port."
            ) from None
        self.stdout.write(f"VCC emulator listening on {server.url}/ ({server.describe_world()})")
        if webhook_url:
            with_token = "with" if webhook_token else "WITHOUT a"
            self.stdout.write(f"Webhooks go to {webhook_url} {with_token} bearer token.")
        else:
            self.stdout.write("No webhook URL: finished sessions are not announced.")
        self.stdout.write("Press Ctrl-C to stop.")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")
