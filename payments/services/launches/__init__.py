"""Launching test payment sessions on VCC and following their status.

gate: who may launch what, and the request checks (the only place they are made);
launching: session_launch and its idempotency; outcomes: what a VCC answer means for the
record; health: a credential VCC refused; status: polling and webhooks.
"""

from payments.services.launches.gate import launch_permission_refusal
from payments.services.launches.launching import LaunchResult, session_launch
from payments.services.launches.status import (
    NOT_FOUND_MESSAGE,
    STATUS_SOURCE_NOT_FOUND,
    session_apply_status,
    session_is_settled,
    session_refresh,
)

__all__ = [
    "NOT_FOUND_MESSAGE",
    "STATUS_SOURCE_NOT_FOUND",
    "LaunchResult",
    "launch_permission_refusal",
    "session_apply_status",
    "session_is_settled",
    "session_launch",
    "session_refresh",
]
