"""Translate a service's refusal for each front door: a form, the API, the command line.

Services refuse with PermissionDenied or ValidationError (field names and codes). The HTTP
status comes from the exception's type and the error codes, never from its message text.
"""

from collections.abc import Mapping

from django.core.exceptions import PermissionDenied, ValidationError

# Error codes that are not "fix your input" (the door's invalid-input status) but a conflict
# with what already happened, or a request too large to read.
CODE_STATUS = {
    "idempotency_conflict": 409,
    "idempotency_in_progress": 409,
    "too_large": 413,
}
# The services name fields the Python way; the API's callers know them by these places.
API_LOCATIONS = {
    "agent_id": ["body", "agentId"],
    "payment_data": ["body", "paymentData"],
    "confirm_account_name": ["body", "confirmAccountName"],
    "configuration_id": ["body", "configurationId"],
    "skip_call_transfer": ["body", "skipCallTransfer"],
    "idempotency_key": ["header", "Idempotency-Key"],
    "source_flow": ["body", "sourceFlow"],
    "target_account": ["body", "targetAccount"],
    "target_environment": ["body", "targetEnvironment"],
    "production_flow_number": ["body", "productionFlowNumber"],
}


def error_codes(error: ValidationError | PermissionDenied) -> set[str]:
    """The codes of every message in a refusal (empty for a PermissionDenied)."""
    if not isinstance(error, ValidationError):
        return set()
    return {item.code for item in _items(error) if item.code}


def refusal_status(error: ValidationError | PermissionDenied, *, invalid: int = 422) -> int:
    """The HTTP status of a refusal: 403, a code's own status, or the door's invalid status."""
    if isinstance(error, PermissionDenied):
        return 403
    statuses = sorted({CODE_STATUS[code] for code in error_codes(error) if code in CODE_STATUS})
    return statuses[0] if statuses else invalid


def form_add_refusal(
    form,
    error: ValidationError | PermissionDenied,
    fields: Mapping[str, str] | None = None,
    *,
    denied_field: str | None = None,
) -> None:
    """Show a refusal next to the form fields it concerns, the rest above the form.

    fields renames a service's field for this form ("payment_data" -> "payment_data_json");
    a "field:code" key moves one kind of message elsewhere. denied_field is where a
    PermissionDenied goes (None: above the form).
    """
    fields = fields or {}
    if isinstance(error, PermissionDenied):
        form.add_error(_on_form(form, denied_field), str(error) or "You may not do this.")
        return
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for name, items in error.error_dict.items():
        for item in items:
            target = fields.get(f"{name}:{item.code}") or fields.get(name, name)
            form.add_error(_on_form(form, target), item.messages)


def api_errors(error: ValidationError) -> list[dict]:
    """A ValidationError as the API's [{"loc": [...], "msg": ...}] list, by JSON names."""
    if not hasattr(error, "error_dict"):
        return [{"loc": ["body"], "msg": message} for message in error.messages]
    return [
        {"loc": API_LOCATIONS.get(name, ["body", name]), "msg": message}
        for name, items in error.error_dict.items()
        for item in items
        for message in item.messages
    ]


def api_refusal(error: ValidationError | PermissionDenied) -> tuple[int, dict]:
    """The status and JSON body the API answers a refusal with."""
    if isinstance(error, PermissionDenied):
        detail = str(error) or "This token's user does not have the permission this needs."
        return 403, {"detail": detail}
    errors = api_errors(error)
    detail = " ".join(item["msg"] for item in errors) or "The request was refused."
    return refusal_status(error), {"detail": detail, "errors": errors}


def refusal_message(error: ValidationError | PermissionDenied) -> str:
    """A refusal as one line of text: what a command prints, or a plain answer body."""
    if isinstance(error, PermissionDenied):
        return str(error) or "You may not do this."
    return " ".join(" ".join(error.messages).split())


def _on_form(form, name: str | None) -> str | None:
    return name if name in form.fields else None


def _items(error: ValidationError) -> list[ValidationError]:
    if hasattr(error, "error_dict"):
        return [item for items in error.error_dict.values() for item in items]
    return list(error.error_list)
