"""The emulator's HTTP server: a ThreadingHTTPServer from the standard library, on loopback.

It needs no database: what VCC has provisioned is its world (world.py), in memory or in a file.
"""

import logging
import threading
from http.server import ThreadingHTTPServer

from payments.vcc.emulator import pages
from payments.vcc.emulator.core import EmulatedVcc
from payments.vcc.emulator.faults import Faults, Stats
from payments.vcc.emulator.handler import Handler
from payments.vcc.emulator.webhooks import WebhookSender
from payments.vcc.emulator.world import World

logger = logging.getLogger("payments.vcc.emulator")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The standard library listens with a backlog of 5: under a burst of concurrent clients
    # (load tests, benchmarks) new connections would be reset before a thread picks them up.
    request_queue_size = 128

    def __init__(self, address, handler, *, emulator_server: "EmulatorServer"):
        self.emulator_server = emulator_server
        super().__init__(address, handler)


class EmulatorServer:
    """A local VCC on 127.0.0.1; port 0 picks a free port (see .url after start())."""

    def __init__(
        self,
        *,
        world: World,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_url: str | None = None,
        webhook_token: str | None = None,
        faults: Faults | None = None,
    ):
        self.host = host
        self.port = port
        self.faults = faults or Faults()
        self.stats = Stats()
        self.webhook_url = webhook_url or ""
        self.webhook_token = webhook_token or ""
        self.vcc = EmulatedVcc(world, faults=self.faults, stats=self.stats)
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._webhooks: WebhookSender | None = None

    @property
    def world(self) -> World:
        return self.vcc.world

    def provision(self, world: World) -> None:
        """Replace what this VCC has provisioned; sessions and tokens already issued stay."""
        self.vcc.world = world

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def bind(self) -> None:
        """Listen on the port (raises OSError when it is taken); serving starts separately."""
        if self._httpd is not None:
            return
        self._httpd = _Server((self.host, self.port), Handler, emulator_server=self)
        self.port = self._httpd.server_address[1]
        self.vcc.base_url = self.url
        self._stopping.clear()
        if self.webhook_url:
            self._webhooks = WebhookSender(
                url=self.webhook_url, token=self.webhook_token, faults=self.faults, stats=self.stats
            )
            self.vcc.on_finished = self._webhooks.send
            self._webhooks.start()

    def start(self) -> "EmulatorServer":
        """Serve in a background thread (tests); returns self."""
        self.bind()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (the management command)."""
        self.bind()
        try:
            self._httpd.serve_forever()
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving; the sessions and tokens are kept, so start() resumes on the same port."""
        self._stopping.set()
        if self._httpd is not None:
            if self._thread is not None:
                self._httpd.shutdown()
                self._thread.join(timeout=5)
                self._thread = None
            self._httpd.server_close()
            self._httpd = None
        if self._webhooks is not None:
            self._webhooks.stop()
            self._webhooks = None
            self.vcc.on_finished = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def wait(self, seconds: float) -> bool:
        """Sleep, but wake at once when the server stops; True if it is stopping."""
        return self._stopping.wait(seconds)

    def reset(self) -> None:
        self.vcc.reset()
        self.stats.reset()
        self.faults.clear()

    def expire_tokens(self) -> None:
        self.vcc.expire_tokens()

    def complete(self, session_guid: str, decision: str = "ACCEPT"):
        return self.vcc.complete(session_guid, decision)

    def index_page(self) -> bytes:
        return pages.index_page(
            base=self.url,
            world=self.describe_world(),
            sessions=self.vcc.sessions(),
            webhook_url=self.webhook_url,
            webhook_token=bool(self.webhook_token),
        )

    def describe_world(self) -> str:
        try:
            return self.world.summary()
        except Exception:
            logger.exception("The emulator could not describe its world")
            return "unavailable"
