"""The AUDIT_KEY keys: the first keys new audit rows and digests, every one verifies (rotation)."""

import base64
import hashlib
import hmac

from django.conf import settings


class UnknownAuditKey(Exception):
    """A row or digest names a key id that no configured AUDIT_KEY has."""


def _raw(key: str) -> bytes:
    return base64.urlsafe_b64decode(key.encode())


def audit_key_id(key: str) -> str:
    """Return the public id of a key: a hash of it, which names it without revealing it."""
    return hashlib.sha256(b"vccregistry.audit-key-id:" + _raw(key)).hexdigest()[:12]


def signing_key_id() -> str:
    return audit_key_id(settings.AUDIT_KEY[0])


def _purpose_key(key_id: str, purpose: bytes) -> bytes:
    for key in settings.AUDIT_KEY:
        if audit_key_id(key) == key_id:
            # One derived key per use, so a row hash can never pass for a digest signature.
            return hmac.new(_raw(key), purpose, hashlib.sha256).digest()
    raise UnknownAuditKey(key_id)


def keyed_hash(key_id: str, purpose: bytes, message: bytes) -> str:
    """Return the HMAC-SHA256 of a message under the key with that id, for one purpose."""
    return hmac.new(_purpose_key(key_id, purpose), message, hashlib.sha256).hexdigest()
