"""Keep secrets out of logs and error reports, by the rules in payments.redaction."""

import logging

from django.views.debug import SafeExceptionReporterFilter

from payments.redaction import is_secret_name, redact_text


class RedactSecretsFilter(logging.Filter):
    """Rewrite each record's message and traceback text with secrets redacted; never drop it."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


class SecretsExceptionReporterFilter(SafeExceptionReporterFilter):
    """Also cleanse local variables named like secrets, and secrets nested in any value.

    Django cleanses only the variables listed by @sensitive_variables; a secret passed on in
    `**kwargs` or a request body one frame further down would still reach the error e-mail.
    """

    def get_traceback_frame_variables(self, request, tb_frame):
        cleansed = []
        for name, value in super().get_traceback_frame_variables(request, tb_frame):
            if isinstance(value, str) and value == self.cleansed_substitute:
                pass
            elif is_secret_name(name) or self.hidden_settings.search(name):
                value = self.cleansed_substitute
            else:
                value = self._cleanse_value(value)
            cleansed.append((name, value))
        return cleansed

    def get_post_parameters(self, request):
        """Hide POSTed values named like secrets (client_secret, credentials-0-client_secret)."""
        parameters = super().get_post_parameters(request)
        hidden = [
            name for name in parameters if is_secret_name(name) or self.hidden_settings.search(name)
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
            return redact_text(value)
        if isinstance(value, bytes | bytearray):
            text = bytes(value).decode("latin-1")
            return redact_text(text) if redact_text(text) != text else value
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
