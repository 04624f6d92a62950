"""Encryption of stored secrets: keys from FIELD_ENCRYPTION_KEY, read when first needed."""

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.utils.crypto import salted_hmac

FERNET_PREFIX = "gAAAA"


class SecretDecryptionError(Exception):
    """A stored secret does not decrypt with any configured key."""


@functools.cache
def get_crypter() -> MultiFernet:
    """Return the crypter for the configured keys; the first key encrypts."""
    return MultiFernet([Fernet(key) for key in settings.FIELD_ENCRYPTION_KEY])


def reset_crypter() -> None:
    """Forget the cached keys, so changed settings take effect (rotation, tests)."""
    get_crypter.cache_clear()


def encrypt(plaintext: str) -> str:
    return get_crypter().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return get_crypter().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError("no configured FIELD_ENCRYPTION_KEY decrypts it") from exc


def decrypts_with_primary_key(token: str) -> bool:
    try:
        Fernet(settings.FIELD_ENCRYPTION_KEY[0]).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def looks_encrypted(value: str) -> bool:
    return value.startswith(FERNET_PREFIX)


# Only a secret this long shows its last 4 characters: the 28+ it keeps hidden still hold
# well over 128 bits when random, while 4 of a short secret would be much of it.
FINGERPRINT_TAIL_MIN_LENGTH = 32


def secret_fingerprint(secret: str) -> str:
    """Return a short, non-reversible label for a secret, safe to show and to keep in history."""
    digest = salted_hmac("vccregistry.secret-fingerprint", secret).hexdigest()[:8]
    if len(secret) >= FINGERPRINT_TAIL_MIN_LENGTH:
        return f"…{secret[-4:]} · {digest}"
    return f"… · {digest}"
