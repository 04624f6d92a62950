"""Keep secrets out of logs and error reports: a logging filter and an exception reporter filter."""

import logging
import re

from django.views.debug import SafeExceptionReporterFilter

REDACTED = "[redacted]"

# Names whose values are secrets wherever they appear: form bodies, JSON, headers, reprs.
SECRET_NAMES = (
    r"client_secret|access_token|refresh_token|id_token|agentAccessToken|agentRefreshToken"
    r"|X-BEARER-TOKEN|X-REFRESH-TOKEN|password"
)
_NAMED_VALUE = re.compile(
    rf"""(?P<name>["']?\b(?:{SECRET_NAMES})\b["']?\s*[:=]\s*)"""
    r"""(?P<value>"[^"]*"|'[^']*'|[^"'&\s,;})\]]+)""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<scheme>\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_FERNET = re.compile(r"gAAAAA[A-Za-z0-9_=-]{20,}")


def _redact_named(match: re.Match) -> str:
    value = match.group("value")
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match.group('name')}{quote}{REDACTED}{quote}"


def redact(text: str) -> str:
    """Return text with bearer tokens, named secrets and Fernet tokens replaced."""
    text = _FERNET.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: m.group("scheme") + REDACTED, text)
    return _NAMED_VALUE.sub(_redact_named, text)


class RedactSecretsFilter(logging.Filter):
    """Rewrite each record's message and traceback text with secrets redacted; never drop it."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class SecretsExceptionReporterFilter(SafeExceptionReporterFilter):
    """Also cleanse local variables named like secrets, and secrets nested in any value.

    Django cleanses only the variables listed by @sensitive_variables; a secret passed on in
    `**kwargs` or a request body one frame further down would still reach the error e-mail.
    """

    hidden_local = re.compile(r"secret|token|password|authorization|api_key", re.IGNORECASE)

    def get_traceback_frame_variables(self, request, tb_frame):
        cleansed = []
        for name, value in super().get_traceback_frame_variables(request, tb_frame):
            if isinstance(value, str) and value == self.cleansed_substitute:
                pass
            elif self.hidden_local.search(name) or self.hidden_settings.search(name):
                value = self.cleansed_substitute
            else:
                value = self._cleanse_value(value)
            cleansed.append((name, value))
        return cleansed

    def get_post_parameters(self, request):
        """Hide POSTed values named like secrets (client_secret, credentials-0-client_secret)."""
        parameters = super().get_post_parameters(request)
        hidden = [
            name
            for name in parameters
            if self.hidden_local.search(name) or self.hidden_settings.search(name)
        ]
        if not hidden:
            return parameters
        parameters = parameters.copy()
        for name in hidden:
            parameters[name] = self.cleansed_substitute
        return parameters

    def _cleanse_value(self, value, depth: int = 0):
        if depth > 5:
            return value
        if isinstance(value, str):
            return redact(value)
        if isinstance(value, bytes | bytearray):
            text = bytes(value).decode("latin-1")
            return redact(text) if redact(text) != text else value
        if type(value) is dict:
            return {
                key: self.cleansed_substitute
                if self.hidden_settings.search(str(key))
                else self._cleanse_value(item, depth + 1)
                for key, item in value.items()
            }
        if type(value) in (list, tuple):
            return type(value)(self._cleanse_value(item, depth + 1) for item in value)
        return value
