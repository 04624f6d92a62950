"""HTTP for the VCC client: explicit timeouts, an overall deadline, no redirects.

`requests` timeouts bound each socket operation, not the request: a server that drips one byte
per second never trips a 10 s read timeout. A watchdog shuts the request's socket down when the
deadline passes, which wakes a blocked read at once, whether it waits for headers or body.
"""

import contextlib
import email.utils
import functools
import heapq
import itertools
import logging
import os
import random
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

logger = logging.getLogger("payments.vcc")

MAX_BODY_BYTES = 1_000_000
_current = threading.local()


class Deadline:
    """An overall time budget shared by every attempt of one operation."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._at - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0


class TransportFailure(Exception):
    """No HTTP answer. `sent` is False only when the connection provably never opened."""

    def __init__(self, reason: str, *, sent: bool, deadline: bool = False, permanent: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.sent = sent
        self.deadline = deadline
        self.permanent = permanent  # retrying cannot help: a bad URL or certificate


@dataclass
class Reply:
    status: int
    headers: CaseInsensitiveDict
    body: bytes
    elapsed: float


class _Watchdog:
    def __init__(self, seconds: float):
        self.sock = None
        self.fired = False
        self.done = False
        self.at = time.monotonic() + seconds

    def __enter__(self):
        _current.watchdog = self
        _clock.add(self)
        return self

    def __exit__(self, *exc_info):
        self.done = True
        _current.watchdog = None

    def watch(self, sock) -> None:
        if sock is not None:
            self.sock = sock
            if self.fired:
                self.fire()

    def fire(self):
        if self.done:
            return
        self.fired = True
        if self.sock is not None:
            # The plain socket's shutdown: wakes a blocked recv, TLS or not.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self.sock, socket.SHUT_RDWR)


class _WatchdogClock:
    """One thread per process fires every watchdog whose time has come.

    A timer thread per request cost more CPU than the rest of the request's bookkeeping.
    Finished watchdogs stay queued until their time and are then dropped unfired.
    """

    def __init__(self):
        self._condition = threading.Condition()
        self._queue: list[tuple[float, int, _Watchdog]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, watchdog: _Watchdog) -> None:
        with self._condition:
            heapq.heappush(self._queue, (watchdog.at, next(self._order), watchdog))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="vcc-watchdog", daemon=True)
                self._thread.start()
            elif self._queue[0][2] is watchdog:
                self._condition.notify()  # sooner than the one the thread waits for

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._queue:
                    self._condition.wait()
                at, _, watchdog = self._queue[0]
                wait = at - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                heapq.heappop(self._queue)
            watchdog.fire()

    def after_fork(self) -> None:
        # A forked child has no clock thread, and the parent's lock may have been held.
        self.__init__()


_clock = _WatchdogClock()
os.register_at_fork(after_in_child=_clock.after_fork)


class _WatchedConnection:
    # The socket is remembered, not the connection: http.client lets go of a connection's
    # socket once a response that ends with the connection has started.
    def connect(self):
        super().connect()
        watchdog = getattr(_current, "watchdog", None)
        if watchdog is not None:
            watchdog.watch(self.sock)

    def request(self, *args, **kwargs):
        watchdog = getattr(_current, "watchdog", None)
        if watchdog is not None:
            watchdog.watch(self.sock)
        return super().request(*args, **kwargs)


class _HTTPConnection(_WatchedConnection, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_WatchedConnection, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOL_CLASSES = {"http": _HTTPPool, "https": _HTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOL_CLASSES

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _POOL_CLASSES
        return manager


class _Session(requests.Session):
    """A requests session that reads the environment once per host, not on every call.

    `trust_env` would re-read the proxy variables and ~/.netrc on every request (a noticeable
    share of a launch's CPU). Proxies and the CA bundle still come from the environment, read
    once per process; a .netrc never adds credentials to a VCC call.
    """

    def __init__(self):
        super().__init__()
        self.trust_env = False

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        scheme, netloc = urlsplit(url)[:2]
        proxies = {**_environment_proxies(scheme, netloc), **(proxies or {})}
        if verify is True or verify is None:
            verify = _environment_ca_bundle() or verify
        return super().merge_environment_settings(url, proxies, stream, verify, cert)


@functools.lru_cache(maxsize=64)
def _environment_proxies(scheme: str, netloc: str) -> dict:
    return requests.utils.get_environ_proxies(f"{scheme}://{netloc}/")


@functools.lru_cache(maxsize=1)
def _environment_ca_bundle() -> str | None:
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")


def new_session() -> requests.Session:
    session = _Session()
    adapter = _WatchedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _never_opened(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


def _describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "the connection timed out"
    if isinstance(exc, requests.ReadTimeout):
        return "no answer came within the read timeout"
    text = str(exc)
    if "refused" in text.lower():
        return "the connection was refused"
    if "resolution" in text.lower() or "name or service" in text.lower():
        return "the host name did not resolve"
    return "the connection was dropped"


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    deadline: Deadline,
    connect_timeout: float,
    read_timeout: float,
    headers: dict | None = None,
    data: dict | None = None,
    json: dict | None = None,
) -> Reply:
    """Make one attempt; raise TransportFailure when no complete answer arrived."""
    remaining = deadline.remaining()
    if remaining <= 0:
        raise TransportFailure("the time allowed ran out", sent=False, deadline=True)
    timeout = (min(connect_timeout, remaining), min(read_timeout, remaining))
    started = time.monotonic()
    with _Watchdog(remaining) as watchdog:
        try:
            response = session.request(
                method,
                url,
                headers=headers,
                data=data,
                json=json,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
            try:
                body = _read_body(response)
            finally:
                response.close()
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.InvalidSchema,
            requests.exceptions.MissingSchema,
        ):
            raise TransportFailure(
                "the address is not a valid http(s) URL", sent=False, permanent=True
            ) from None
        except requests.exceptions.SSLError as exc:
            # A failed handshake sends nothing; a TLS error later might follow a sent request.
            handshake = any(
                word in str(exc).upper() for word in ("CERTIFICATE", "HANDSHAKE", "WRONG_VERSION")
            )
            raise TransportFailure(
                "the TLS connection failed (certificate or protocol)",
                sent=not handshake,
                permanent=True,
            ) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if watchdog.fired:
                raise TransportFailure(
                    f"no complete answer within the {deadline.seconds:g} s allowed",
                    sent=True,
                    deadline=True,
                ) from None
            if isinstance(exc, requests.RequestException):
                raise TransportFailure(_describe(exc), sent=not _never_opened(exc)) from None
            raise TransportFailure("the connection was dropped", sent=True) from None
        if watchdog.fired:
            # A close-delimited body cut short by the watchdog looks complete: it is not.
            raise TransportFailure(
                f"no complete answer within the {deadline.seconds:g} s allowed",
                sent=True,
                deadline=True,
            )
    elapsed = time.monotonic() - started
    logger.debug(
        "VCC %s %s -> %s in %.0f ms", method, _where(url), response.status_code, elapsed * 1000
    )
    return Reply(response.status_code, response.headers, body, elapsed)


def _read_body(response: requests.Response) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_content(chunk_size=16384):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise TransportFailure(f"the answer was larger than {MAX_BODY_BYTES} bytes", sent=True)
        chunks.append(chunk)
    return b"".join(chunks)


def _where(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc + parts.path


def parse_retry_after(value: str | None) -> float | None:
    """Return the seconds a Retry-After header asks for (delta or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """Capped exponential backoff with full jitter, for attempt 1, 2, ..."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))
