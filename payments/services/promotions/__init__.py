"""Promotion of a staging flow to production: request, four-eyes approval, apply, roll back.

The model (payments.models.promotions) holds the state machine: which steps exist, from which
state, and who may take them. Every service here takes the acting person as `actor` and runs
through one private transition helper (_transition.py) that locks, checks the step against the
model, saves and writes the audit row, and audits refusals the same way for every front door.
Unique constraints are the backstop; an IntegrityError becomes a clear "already exists" message.
"""

from payments.models.promotions import (
    PERMISSION_APPLY,
    PERMISSION_APPROVE,
    PERMISSION_EDIT,
    PERMISSION_REQUEST,
    PERMISSION_ROLLBACK,
)
from payments.services.promotions._transition import NUMBER_MAX, REASON_MAX_LENGTH
from payments.services.promotions.apply import promotion_apply, promotion_rollback
from payments.services.promotions.decide import (
    VERSION_NOT_TRACKED,
    promotion_approve,
    promotion_cancel,
    promotion_reject,
)
from payments.services.promotions.request import promotion_edit, promotion_request
from payments.services.promotions.rules import promotion_problems, promotion_snapshot
from payments.services.promotions.verify import promotion_verify

__all__ = [
    "NUMBER_MAX",
    "PERMISSION_APPLY",
    "PERMISSION_APPROVE",
    "PERMISSION_EDIT",
    "PERMISSION_REQUEST",
    "PERMISSION_ROLLBACK",
    "REASON_MAX_LENGTH",
    "VERSION_NOT_TRACKED",
    "promotion_apply",
    "promotion_approve",
    "promotion_cancel",
    "promotion_edit",
    "promotion_problems",
    "promotion_reject",
    "promotion_request",
    "promotion_rollback",
    "promotion_snapshot",
    "promotion_verify",
]
