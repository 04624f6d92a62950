"""The emulator's request handling: the documented API with faults, the PCI pages, control.

Faults (latency, status codes, Retry-After, hangs, drips, dropped connections, bad bodies) are
applied here, around the emulated VCC in core.py.
"""

import hmac
import json
import logging
import re
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from payments.vcc.emulator import pages
from payments.vcc.emulator.core import EmulatedVcc

if TYPE_CHECKING:
    from payments.vcc.emulator.server import EmulatorServer

logger = logging.getLogger("payments.vcc.emulator")

MAX_BODY = 1_000_000
SESSION_PATH = re.compile(r"^/globalpci/v1/session/(?P<guid>[^/]+)$")
AGENT_PATH = re.compile(r"^/pci/agent/(?P<guid>[0-9a-f-]{36})(?P<complete>/complete)?$")
PAY_PATH = re.compile(r"^/pci/pay/(?P<guid>[0-9a-f-]{36})(?P<complete>/complete)?$")
CONTROL_COMPLETE = re.compile(r"^/_emulator/sessions/(?P<guid>[^/]+)/complete$")
REQUEST_COUNTERS = {"token": "token_requests", "create": "session_creates", "read": "session_reads"}
BROKEN_BODIES = {
    "html": (b"<!DOCTYPE html><html><body><h1>Sign in</h1></body></html>", "text/html"),
    "malformed": (b'{"sessionGuid": "', "application/json"),
    "empty": (b"{}", "application/json"),
}
# No X-Frame-Options and no frame-ancestors: the registry frames these pages.
FRAMEABLE_PAGE = {"Cache-Control": "no-store"}


class Handler(BaseHTTPRequestHandler):
    server_version = "VCC-Emulator/1.0"
    sys_version = ""
    # A connection that never sends its request (a browser's preconnect) is let go.
    timeout = 30

    # --- Plumbing -------------------------------------------------------------------------

    @property
    def owner(self) -> "EmulatorServer":
        return self.server.emulator_server

    @property
    def vcc(self) -> EmulatedVcc:
        return self.owner.vcc

    def log_message(self, format, *args):
        logger.info("%s %s", self.address_string(), format % args)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        self.path_only = urlsplit(self.path).path
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._json(413, {"message": "The request body is too large or its length is invalid."})
            return
        self.body = self.rfile.read(length) if length else b""
        try:
            self._route(method)
        except Exception:
            logger.exception("The emulator failed on %s %s", method, self.path_only)
            self._json(500, {"message": "The emulator failed; see its log."})

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            # The client gave up (a read timeout after a hang): nobody is listening.
            self.close_connection = True

    def _json(self, status: int, payload, headers: dict | None = None) -> None:
        # A final newline keeps curl output readable; JSON parsers ignore it.
        body = json.dumps(payload).encode() + b"\n"
        self._send(status, body, "application/json; charset=utf-8", headers)

    def _html(self, status: int, body: bytes) -> None:
        self._send(status, body, "text/html; charset=utf-8", FRAMEABLE_PAGE)

    def _error(self, status: int, message: str) -> None:
        """A Payment API error: the documented message in the configured envelope."""
        if self.owner.faults.error_format == "text":
            self._send(status, message.encode(), "text/plain; charset=utf-8")
        else:
            self._json(status, {"message": message})

    def _form(self) -> dict:
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {key: values[0] for key, values in parsed.items()}

    # --- Routing ----------------------------------------------------------------------------

    def _route(self, method: str) -> None:
        path = self.path_only
        if method == "POST" and path == "/Auth/connect/token":
            self._api("token", self._token)
        elif method == "POST" and path == "/globalpci/v1/session":
            self._api("create", lambda: self._create("agent_assist"))
        elif method == "POST" and path == "/globalpci/v1/digitalsession":
            self._api("create", lambda: self._create("digital"))
        elif method == "GET" and (match := SESSION_PATH.match(path)):
            self._api("read", lambda: self._read(match["guid"]))
        elif match := AGENT_PATH.match(path):
            self._agent_page(method, match["guid"], complete=bool(match["complete"]))
        elif match := PAY_PATH.match(path):
            self._customer_page(method, match["guid"], complete=bool(match["complete"]))
        elif path.startswith("/_emulator/") or path == "/":
            self._control(method, path)
        elif method == "GET" and path == "/pci/static/emulator.css":
            self._send(200, pages.STYLESHEET, "text/css; charset=utf-8")
        else:
            self._json(404, {"message": "Not found."})

    # --- The documented API, with faults -----------------------------------------------------

    def _api(self, target: str, handle) -> None:
        owner = self.owner
        owner.stats.count(REQUEST_COUNTERS[target])
        if owner.faults.latency_ms:
            owner.wait(owner.faults.latency_ms / 1000)
        rule = owner.faults.take(target)
        if rule is not None:
            owner.stats.count("faults_injected")
        if rule is not None and rule.status is not None:
            self._fault_status(rule)
            return
        status, payload, headers = handle()
        if rule is None:
            self._api_answer(status, payload, headers)
            return
        if rule.hang:
            owner.wait(rule.hang)
        if rule.drop:
            self.close_connection = True
            return
        if rule.body is not None:
            body, content_type = BROKEN_BODIES[rule.body]
            self._send(200, body, content_type)
            return
        if rule.drip:
            self._drip(status, payload, rule.drip)
            return
        self._api_answer(status, payload, headers)

    def _api_answer(self, status: int, payload, headers: dict) -> None:
        if isinstance(payload, str):
            self._error(status, payload)
        elif payload is None:
            self._send(status, b"", "application/json", headers)
        else:
            self._json(status, payload, headers)

    def _fault_status(self, rule) -> None:
        headers = {}
        if rule.retry_after is not None:
            headers["Retry-After"] = rule.retry_after
        if 300 <= rule.status < 400:
            headers["Location"] = rule.location or "https://login.example.invalid/"
        if rule.status == 401:
            self.owner.stats.count("unauthorized")
            headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        payload = rule.payload
        if payload is None:
            payload = {"message": f"Injected fault: {rule.status}."}
        if isinstance(payload, str):
            self._send(rule.status, payload.encode(), "text/plain; charset=utf-8", headers)
        else:
            self._json(rule.status, payload, headers)

    def _drip(self, status: int, payload, interval: float) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for index in range(len(body)):
            if self.owner.wait(interval):
                return
            try:
                self.wfile.write(body[index : index + 1])
                self.wfile.flush()
            except OSError:
                return

    def _token(self):
        status, payload = self.vcc.token(
            self.body,
            self.headers.get("Content-Type", ""),
            self.headers.get("Authorization", ""),
        )
        return status, payload, {"Cache-Control": "no-store", "Pragma": "no-cache"}

    def _account(self):
        account = self.vcc.bearer(self.headers.get("Authorization", ""))
        if account is None:
            self.owner.stats.count("unauthorized")
        return account

    def _unauthorized(self):
        return 401, None, {"WWW-Authenticate": 'Bearer error="invalid_token"'}

    def _create(self, kind: str):
        account = self._account()
        if account is None:
            return self._unauthorized()
        if "application/json" not in self.headers.get("Content-Type", "").lower():
            return 415, "The request body must be application/json.", {}
        try:
            payload = json.loads(self.body or b"null")
        except ValueError:
            return 400, "The request body is not valid JSON.", {}
        status, answer = self.vcc.create(account, payload, kind=kind)
        return status, answer, {}

    def _read(self, guid: str):
        account = self._account()
        if account is None:
            return self._unauthorized()
        status, answer = self.vcc.read(account, guid)
        return status, answer, {}

    # --- The PCI provider's pages -------------------------------------------------------------

    def _agent_page(self, method: str, guid: str, *, complete: bool) -> None:
        session = self.vcc.session(guid)
        if session is None or session.kind != "agent_assist":
            self._html(404, pages.problem_page("Session not found", _GONE))
            return
        if complete:
            self._complete(method, session)
            return
        if method == "POST":
            form = self._form()
            bearer, refresh = form.get("X-BEARER-TOKEN", ""), form.get("X-REFRESH-TOKEN", "")
        else:
            bearer = self.headers.get("X-BEARER-TOKEN", "")
            refresh = self.headers.get("X-REFRESH-TOKEN", "")
        if not _matches(bearer, session.access_token) or not _matches(
            refresh, session.refresh_token
        ):
            self._html(401, pages.problem_page("Not authorised", _TOKENS_NEEDED))
            return
        self.owner.stats.count("agent_page_loads")
        self._show(session, complete_url=f"/pci/agent/{guid}/complete")

    def _customer_page(self, method: str, guid: str, *, complete: bool) -> None:
        session = self.vcc.session(guid)
        if session is None or session.kind != "digital":
            self._html(404, pages.problem_page("Payment link not found", _GONE))
            return
        if complete:
            self._complete(method, session)
            return
        self._show(session, complete_url=f"/pci/pay/{guid}/complete")

    def _show(self, session, *, complete_url: str) -> None:
        if session.finished:
            self._html(200, pages.result_page(session, purge_after=self.owner.faults.purge_after))
            return
        self.vcc.start(session)
        self._html(200, pages.payment_page(session, complete_url=complete_url))

    def _complete(self, method: str, session) -> None:
        form = self._form()
        if method != "POST" or not _matches(form.get("page_key", ""), session.page_key):
            self._html(403, pages.problem_page("Not authorised", _RELOAD))
            return
        decision = form.get("decision", "")
        if decision not in ("ACCEPT", "DECLINE"):
            self._html(400, pages.problem_page("Choose an outcome", _RELOAD))
            return
        session = self.vcc.complete(session.guid, decision) or session
        self._html(200, pages.result_page(session, purge_after=self.owner.faults.purge_after))

    # --- Control endpoints ------------------------------------------------------------------

    def _control(self, method: str, path: str) -> None:
        owner = self.owner
        if method == "GET" and path == "/":
            self._send(200, owner.index_page(), "text/html; charset=utf-8")
        elif method == "GET" and path == "/_emulator/stats":
            self._json(200, owner.stats.as_dict())
        elif method == "GET" and path == "/_emulator/faults":
            self._json(200, owner.faults.as_dict())
        elif method == "POST" and path == "/_emulator/faults":
            try:
                owner.faults.update(json.loads(self.body or b"{}"))
            except ValueError as exc:
                self._json(400, {"message": str(exc)})
                return
            self._json(200, owner.faults.as_dict())
        elif method == "POST" and path == "/_emulator/reset":
            owner.reset()
            self._json(200, {"message": "Sessions, tokens, counters and faults reset."})
        elif method == "POST" and path == "/_emulator/tokens/expire":
            self.vcc.expire_tokens()
            self._json(200, {"message": "Every issued access token has expired."})
        elif method == "GET" and path == "/_emulator/sessions":
            self._json(200, [session.status() for session in self.vcc.sessions()])
        elif method == "POST" and (match := CONTROL_COMPLETE.match(path)):
            try:
                decision = json.loads(self.body or b"{}").get("decision", "")
                session = self.vcc.complete(match["guid"], str(decision))
            except (ValueError, AttributeError):
                self._json(400, {"message": 'Send {"decision": "ACCEPT"} or "DECLINE".'})
                return
            if session is None:
                self._json(404, {"message": "Session not found."})
                return
            self._json(200, session.status())
        else:
            self._json(404, {"message": "Not found."})


_GONE = (
    "This payment session does not exist on the emulator: it was never created here, the "
    "emulator restarted, or its result was purged after it completed."
)
_TOKENS_NEEDED = (
    "This page opens only with the session's agent tokens, POSTed as X-BEARER-TOKEN and "
    "X-REFRESH-TOKEN. Open it from the registry's launch page."
)
_RELOAD = "Open the payment page again from the registry and choose an outcome there."


def _matches(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())
