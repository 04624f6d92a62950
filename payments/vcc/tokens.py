"""Access tokens shared by every process through Django's cache, fetched once at a time.

The cache (database or Redis) holds each token encrypted with the field encryption key until
`expires_in` minus a margin. A lock in the same cache (`cache.add`, atomic on both backends)
lets one process fetch while the others poll the cache for its result: one token request per
credential however many processes need one at the same moment.

Each process also keeps the tokens it has used in memory until the same expiry, so a launch with
a valid token reads no cache at all. A token VCC refuses is dropped from both.

payments.crypto is the one module outside payments.vcc this package imports: a token in the
shared cache is encrypted with the field encryption key, which every process already holds.
"""

import contextlib
import hashlib
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import cache
from django.db import DatabaseError
from django.views.decorators.debug import sensitive_variables
from redis.exceptions import RedisError

from payments import crypto
from payments.vcc.errors import VccError, VccUnavailable, error_from_record, error_record
from payments.vcc.transport import Deadline

logger = logging.getLogger("payments.vcc")

POLL_INTERVAL = 0.05

# This process's tokens: cache key -> (token, expiry as a time.time() value).
_in_memory: dict[str, tuple[str, float]] = {}


def forget_tokens_in_memory() -> None:
    """Drop this process's copies; the shared cache is untouched (for tests)."""
    _in_memory.clear()


@dataclass(frozen=True)
class Token:
    value: str
    lifetime: float

    def __repr__(self) -> str:
        return f"Token(lifetime={self.lifetime:g})"


class TokenCache:
    def __init__(
        self,
        *,
        auth_url: str,
        client_id: str,
        refresh_margin: float,
        describe: str,
        failure_cache: float = 0.0,
    ):
        digest = hashlib.sha256(f"{auth_url}\n{client_id}".encode()).hexdigest()[:40]
        self.key = f"vcc:token:{digest}"
        self.lock_key = f"{self.key}:lock"
        self.failed_key = f"{self.key}:failed"
        self.refresh_margin = refresh_margin
        self.describe = describe
        self.failure_cache = failure_cache

    @sensitive_variables("stored")
    def cached(self) -> str | None:
        """The token in the shared cache, or None (remembered in memory until it expires)."""
        stored = cache.get(self.key)
        if not isinstance(stored, dict):
            return None
        try:
            token = crypto.decrypt(stored["token"])
        except (crypto.SecretDecryptionError, KeyError):
            # Written under a key no longer configured: as good as absent.
            return None
        _in_memory[self.key] = (token, stored.get("expires_at", 0.0))
        return token

    @sensitive_variables("token")
    def in_memory(self) -> str | None:
        token, expires_at = _in_memory.get(self.key, (None, 0.0))
        if token is None or time.time() >= expires_at:
            return None
        return token

    @sensitive_variables("token")
    def get(self, fetch: Callable[[Deadline], Token], deadline: Deadline) -> str:
        """Return a cached token, or fetch one (a single fetch across processes).

        The cache only saves token requests: when it fails (Redis or the database down), the
        token is fetched without it rather than failing the call.
        """
        token = self.in_memory()
        if token:
            return token
        try:
            return self._get_shared(fetch, deadline)
        except _CacheDown as down:
            logger.warning(
                "VCC token cache unavailable (%s): fetching a token for %s without it",
                down,
                self.describe,
            )
            return fetch(deadline).value

    @sensitive_variables("token")
    def _get_shared(self, fetch: Callable[[Deadline], Token], deadline: Deadline) -> str:
        owner = secrets.token_hex(8)
        lock_timeout = math.ceil(deadline.seconds) + 1
        while True:
            token = _cache_call(self.cached)
            if token:
                return token
            self._raise_recent_failure()
            if _cache_call(cache.add, self.lock_key, owner, timeout=lock_timeout):
                try:
                    token = _cache_call(self.cached)
                    if token:
                        return token
                    self._raise_recent_failure()
                    started = time.monotonic()
                    try:
                        fetched = fetch(deadline)
                    except VccError as exc:
                        self._remember_failure(exc)
                        raise
                    self._store(fetched, elapsed=time.monotonic() - started)
                    return fetched.value
                finally:
                    with contextlib.suppress(_CacheDown):
                        if _cache_call(cache.get, self.lock_key) == owner:
                            _cache_call(cache.delete, self.lock_key)
            if deadline.remaining() <= POLL_INTERVAL:
                raise VccUnavailable(
                    f"Another process was fetching a VCC access token for {self.describe} and "
                    f"did not finish within {deadline.seconds:g} s. Try again in a minute.",
                )
            time.sleep(POLL_INTERVAL)

    def _raise_recent_failure(self) -> None:
        record = _cache_call(cache.get, self.failed_key)
        if isinstance(record, dict) and record.get("until", 0.0) > time.time():
            raise error_from_record(
                record, note=" (VCC failed this token request moments ago: not asked again yet)"
            )

    def _remember_failure(self, error: VccError) -> None:
        # Only a brownout (VCC down, 5xx, rate limiting) is remembered: asking again at once
        # would fail the same way and add to VCC's load. A refusal is cheap and stays fresh.
        if not (error.retryable and self.failure_cache > 0):
            return
        record = {**error_record(error), "until": time.time() + self.failure_cache}
        with contextlib.suppress(_CacheDown):
            _cache_call(cache.set, self.failed_key, record, timeout=math.ceil(self.failure_cache))

    @sensitive_variables("token")
    def invalidate(self, token: str) -> None:
        """Drop the cached token if it is the one VCC refused (not a newer one)."""
        with contextlib.suppress(_CacheDown):
            if _cache_call(self.cached) == token:
                _cache_call(cache.delete, self.key)
        if _in_memory.get(self.key, (None,))[0] == token:
            del _in_memory[self.key]

    def _store(self, token: Token, *, elapsed: float) -> None:
        ttl = math.floor(token.lifetime - self.refresh_margin - elapsed)
        # A lifetime shorter than the margin: not cached, so refreshed before every use.
        if ttl >= 1:
            expires_at = time.time() + ttl
            _in_memory[self.key] = (token.value, expires_at)
            stored = {"token": crypto.encrypt(token.value), "expires_at": expires_at}
            with contextlib.suppress(_CacheDown):
                _cache_call(cache.set, self.key, stored, timeout=ttl)


class _CacheDown(Exception):
    pass


def _cache_call(operation, *args, **kwargs):
    try:
        return operation(*args, **kwargs)
    except (DatabaseError, ConnectionError, TimeoutError, RedisError) as exc:
        raise _CacheDown(type(exc).__name__) from None
