"""How the error summary names a field: "Amount must be…", never "Amount: Amount must be…"."""

from django import template

register = template.Library()


@register.filter
def with_label(error, label) -> str:
    """The error prefixed with its field's label, unless the message already begins with it."""
    message, label = str(error), str(label)
    if label and message.casefold().startswith(label.casefold()):
        return message
    return f"{label}: {message}" if label else message
