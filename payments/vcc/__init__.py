"""The remote: the VCC client, its errors, and a local emulator of VCC (payments.vcc.emulator)."""

from payments.vcc.client import (
    AgentAssistSession,
    DigitalSession,
    SessionStatus,
    VccClient,
    VccClientConfig,
)
from payments.vcc.errors import (
    VccAuthenticationError,
    VccConfigurationNotProvisioned,
    VccError,
    VccOutcomeUnknown,
    VccProtocolError,
    VccProviderError,
    VccRateLimited,
    VccRequestRejected,
    VccSessionNotFound,
    VccTokenProtocolError,
    VccUnavailable,
)

__all__ = [
    "AgentAssistSession",
    "DigitalSession",
    "SessionStatus",
    "VccAuthenticationError",
    "VccClient",
    "VccClientConfig",
    "VccConfigurationNotProvisioned",
    "VccError",
    "VccOutcomeUnknown",
    "VccProtocolError",
    "VccProviderError",
    "VccRateLimited",
    "VccRequestRejected",
    "VccSessionNotFound",
    "VccTokenProtocolError",
    "VccUnavailable",
]
