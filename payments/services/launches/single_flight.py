"""One VCC status read per session at a time, and a failed read remembered for a few seconds.

The launch page polls every few seconds and the API may be asked to refresh as often as its
callers like: when VCC is slow or failing, every poll would otherwise start its own read (and
its retries), each holding a web worker for the whole deadline. The lock and the remembered
failure live in Django's cache, shared by every process, like the token lock in
payments/vcc/tokens.py (`cache.add` is atomic on the database and Redis backends).
"""

import contextlib
import hashlib
import logging
import math
import secrets
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError
from redis.exceptions import RedisError

from payments.vcc.errors import VccError, VccSessionNotFound, error_from_record, error_record

logger = logging.getLogger(__name__)

CACHE_ERRORS = (DatabaseError, ConnectionError, TimeoutError, RedisError)
ALREADY_READING = object()


def status_read_once(session_guid: str, read: Callable[[], object]):
    """Return read(), or ALREADY_READING when another request is reading this session now.

    A read that failed (other than VCC not knowing the session) in the last
    VCC_STATUS_FAILURE_CACHE seconds is raised again without asking VCC. When the cache itself
    fails, the read goes ahead without it: the lock only spares VCC, it guards no data.
    """
    digest = hashlib.sha256(session_guid.encode()).hexdigest()[:40]
    lock_key, failed_key = f"vcc:status:{digest}:lock", f"vcc:status:{digest}:failed"
    remember = float(settings.VCC_STATUS_FAILURE_CACHE)
    try:
        record = cache.get(failed_key)
        if isinstance(record, dict) and record.get("until", 0.0) > time.time():
            raise error_from_record(
                record,
                note=" (from a status check moments ago: VCC is asked again in a few seconds)",
            )
        owner = secrets.token_hex(8)
        lock_timeout = math.ceil(float(settings.VCC_DEADLINE)) + 1
        if not cache.add(lock_key, owner, timeout=lock_timeout):
            return ALREADY_READING
    except CACHE_ERRORS as exc:
        logger.warning("Status read lock unavailable (%s): asking VCC without it", type(exc))
        return read()
    try:
        return read()
    except VccError as exc:
        if remember > 0 and not isinstance(exc, VccSessionNotFound):
            failed = {**error_record(exc), "until": time.time() + remember}
            with contextlib.suppress(*CACHE_ERRORS):
                cache.set(failed_key, failed, timeout=math.ceil(remember))
        raise
    finally:
        with contextlib.suppress(*CACHE_ERRORS):
            if cache.get(lock_key) == owner:
                cache.delete(lock_key)
