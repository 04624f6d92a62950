from payments.models.audit import AuditChainHead, AuditEvent, AuditOutcome
from payments.models.changes import ChangeKind, PromotionChange
from payments.models.choices import (
    REGION_BASE_URLS,
    AccountKind,
    AllowedEnvironments,
    Region,
    Stage,
)
from payments.models.credentials import ApiCredential
from payments.models.notifications import (
    Delivery,
    DeliveryChannel,
    DeliveryState,
    Notification,
    NotificationPreference,
    WebhookEndpoint,
    WebhookFormat,
)
from payments.models.probes import LinkProbe
from payments.models.promotions import Promotion, PromotionState, VerificationState
from payments.models.registry import (
    AccountConfiguration,
    PaymentFlow,
    PciEnvironment,
    VccAccount,
)
from payments.models.schedules import ChangeFreeze, PeriodicJob, PromotionSchedule
from payments.models.sessions import AgentProfile, LaunchOutcome, PaymentSession, SessionKind
from payments.models.tokens import ApiToken

__all__ = [
    "LinkProbe",
    "WebhookFormat",
    "WebhookEndpoint",
    "PromotionSchedule",
    "PeriodicJob",
    "NotificationPreference",
    "Notification",
    "DeliveryState",
    "DeliveryChannel",
    "Delivery",
    "ChangeFreeze",
    "ChangeKind",
    "PromotionChange",
    "REGION_BASE_URLS",
    "AccountConfiguration",
    "AccountKind",
    "AgentProfile",
    "AllowedEnvironments",
    "ApiCredential",
    "ApiToken",
    "AuditChainHead",
    "AuditEvent",
    "AuditOutcome",
    "LaunchOutcome",
    "PaymentFlow",
    "PaymentSession",
    "PciEnvironment",
    "Promotion",
    "PromotionState",
    "VerificationState",
    "Region",
    "SessionKind",
    "Stage",
    "VccAccount",
]
