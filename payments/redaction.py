"""The one set of redaction rules: what a secret looks like, and what is shown in its place.

Logs, error reports, the audit export, the registry file check, stored-secret serialisation and
the VCC client's error messages all use these, so a secret hidden in one is hidden in all.
This module imports only the standard library: every layer, the VCC package included, may use it.
"""

import functools
import re

# Shown wherever a secret was: logs, the audit pages and exports, serialised models, VCC errors.
REDACTED = "[redacted]"
# What serialised secrets showed before there was one placeholder; still never stored as a secret.
LEGACY_PLACEHOLDERS = frozenset({"[secret redacted]"})

# A key, field or variable whose name says its value is a secret.
SECRET_NAME = re.compile(r"secret|password|passwd|token|authorization|api_?key", re.IGNORECASE)
# Names that mention a secret without holding one: a fingerprint identifies, it does not unlock.
NOT_SECRET_NAME = re.compile(r"fingerprint", re.IGNORECASE)

# A Fernet token, what the encrypted fields store: "gAAAA" is its version byte and the start of
# its timestamp in URL-safe base64. Five A's, not six, so a token is caught by its prefix alone.
FERNET_TOKEN = re.compile(r"gAAAA[A-Za-z0-9_=-]{20,}")

# "name=value", "name: value", '"name": "value"' in free text (form bodies, JSON, headers, reprs).
# A name starts only after a non-name character and is bounded in length, so a long base64
# word (hyphens included) is tried once, not at every position: the search stays linear.
_NAME_WORD = r"secret|password|passwd|token|api_?key"
_NAMED_VALUE = re.compile(
    rf"""(?P<name>["']?(?<![\w-])[\w-]{{0,40}}?(?:{_NAME_WORD})[\w-]{{0,40}}["']?\s*[:=]\s*)"""
    r"""(?P<value>"[^"]*"|'[^']*'|[^"'&\s,;})\]]+)""",
    re.IGNORECASE,
)
# "Authorization: Bearer <token>": the scheme stays readable, the credential does not.
_BEARER = re.compile(r"(?P<scheme>\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def is_secret_name(name: object) -> bool:
    """Whether a key or variable of this name holds a secret (fingerprints do not)."""
    return _is_secret_text(str(name))


# A registry file of 10,000 links asks this of ~36,000 keys with a few dozen distinct names.
@functools.lru_cache(maxsize=1024)
def _is_secret_text(text: str) -> bool:
    return bool(SECRET_NAME.search(text)) and not NOT_SECRET_NAME.search(text)


def is_placeholder(value: object) -> bool:
    """Whether the value is what we show instead of a secret (so never a secret itself)."""
    return value == REDACTED or value in LEGACY_PLACEHOLDERS


def _redact_named(match: re.Match) -> str:
    if NOT_SECRET_NAME.search(match.group("name")):
        return match.group(0)
    value = match.group("value")
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match.group('name')}{quote}{REDACTED}{quote}"


def redact_text(text: str) -> str:
    """Return text with Fernet tokens, bearer credentials and secret-named values replaced."""
    text = FERNET_TOKEN.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: m.group("scheme") + REDACTED, text)
    return _NAMED_VALUE.sub(_redact_named, text)


def redact_data(value):
    """Return JSON-like data with secret-named keys' values and secrets in text replaced."""
    if isinstance(value, dict):
        return {
            key: REDACTED if is_secret_name(key) else redact_data(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact_data(item) for item in value)
    if isinstance(value, str):
        return redact_text(value)
    return value
