"""Access tokens shared by every process through Django's cache, fetched once at a time.

The cache (database or Redis) holds each token encrypted with the field encryption key until
`expires_in` minus a margin. A lock in the same cache (`cache.add`, atomic on both backends)
lets one process fetch while the others poll the cache for its result: one token request per
credential however many processes need one at the same moment.
"""

import hashlib
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import cache
from django.views.decorators.debug import sensitive_variables

from payments import crypto
from payments.vcc.errors import VccUnavailable
from payments.vcc.transport import Deadline

POLL_INTERVAL = 0.05


@dataclass(frozen=True)
class Token:
    value: str
    lifetime: float

    def __repr__(self) -> str:
        return f"Token(lifetime={self.lifetime:g})"


class TokenCache:
    def __init__(self, *, auth_url: str, client_id: str, refresh_margin: float, describe: str):
        digest = hashlib.sha256(f"{auth_url}\n{client_id}".encode()).hexdigest()[:40]
        self.key = f"vcc:token:{digest}"
        self.lock_key = f"{self.key}:lock"
        self.refresh_margin = refresh_margin
        self.describe = describe

    @sensitive_variables("stored")
    def cached(self) -> str | None:
        stored = cache.get(self.key)
        if not stored:
            return None
        try:
            return crypto.decrypt(stored)
        except crypto.SecretDecryptionError:
            # Written under a key no longer configured: as good as absent.
            return None

    @sensitive_variables("token")
    def get(self, fetch: Callable[[Deadline], Token], deadline: Deadline) -> str:
        """Return a cached token, or fetch one (a single fetch across processes)."""
        owner = secrets.token_hex(8)
        lock_timeout = math.ceil(deadline.seconds) + 1
        while True:
            token = self.cached()
            if token:
                return token
            if cache.add(self.lock_key, owner, timeout=lock_timeout):
                try:
                    token = self.cached()
                    if token:
                        return token
                    started = time.monotonic()
                    fetched = fetch(deadline)
                    self._store(fetched, elapsed=time.monotonic() - started)
                    return fetched.value
                finally:
                    if cache.get(self.lock_key) == owner:
                        cache.delete(self.lock_key)
            if deadline.remaining() <= POLL_INTERVAL:
                raise VccUnavailable(
                    f"Another process was fetching a VCC access token for {self.describe} and "
                    f"did not finish within {deadline.seconds:g} s. Try again in a minute.",
                )
            time.sleep(POLL_INTERVAL)

    @sensitive_variables("token")
    def invalidate(self, token: str) -> None:
        """Drop the cached token if it is the one VCC refused (not a newer one)."""
        if self.cached() == token:
            cache.delete(self.key)

    def _store(self, token: Token, *, elapsed: float) -> None:
        ttl = math.floor(token.lifetime - self.refresh_margin - elapsed)
        # A lifetime shorter than the margin: not cached, so refreshed before every use.
        if ttl >= 1:
            cache.set(self.key, crypto.encrypt(token.value), timeout=ttl)
