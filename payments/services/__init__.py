"""The only code that writes to the domain models."""

from payments.services.audit import audit_record, audit_verify_chain, origin_of
from payments.services.credentials import credential_verify
from payments.services.groups import group_check_access, group_delete, group_save
from payments.services.launches import (
    LaunchResult,
    session_apply_status,
    session_launch,
    session_refresh,
)
from payments.services.promotions import (
    promotion_apply,
    promotion_approve,
    promotion_cancel,
    promotion_edit,
    promotion_reject,
    promotion_request,
    promotion_rollback,
    promotion_verify,
)
from payments.services.registry import credential_save, registry_delete, registry_save
from payments.services.secrets import secrets_reencrypt
from payments.services.users import (
    AccessRefused,
    user_check_access,
    user_check_editable,
    user_create,
    user_delete,
    user_save,
    user_set_password,
)

__all__ = [
    "AccessRefused",
    "LaunchResult",
    "audit_record",
    "audit_verify_chain",
    "credential_save",
    "credential_verify",
    "group_check_access",
    "group_delete",
    "group_save",
    "origin_of",
    "promotion_apply",
    "promotion_approve",
    "promotion_cancel",
    "promotion_edit",
    "promotion_reject",
    "promotion_request",
    "promotion_rollback",
    "promotion_verify",
    "registry_delete",
    "registry_save",
    "secrets_reencrypt",
    "session_apply_status",
    "session_launch",
    "session_refresh",
    "user_check_access",
    "user_check_editable",
    "user_create",
    "user_delete",
    "user_save",
    "user_set_password",
]
