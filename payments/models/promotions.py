import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords


class PromotionState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    APPLIED = "applied", "Applied"
    CANCELLED = "cancelled", "Cancelled"
    ROLLED_BACK = "rolled_back", "Rolled back"


OPEN_PROMOTION_STATES = [PromotionState.REQUESTED, PromotionState.APPROVED, PromotionState.APPLIED]


class PromotionQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(state__in=[PromotionState.REQUESTED, PromotionState.APPROVED])


class Promotion(models.Model):
    """A request to promote a staging flow to production, approved by a second person."""

    source_flow = models.ForeignKey(
        "payments.PaymentFlow", on_delete=models.PROTECT, related_name="promotions"
    )
    target_account = models.ForeignKey(
        "payments.VccAccount", on_delete=models.PROTECT, related_name="promotions"
    )
    target_environment = models.ForeignKey(
        "payments.PciEnvironment", on_delete=models.PROTECT, related_name="promotions"
    )
    production_flow_number = models.PositiveIntegerField()
    configuration_id = models.PositiveIntegerField("production accountConfigurationId")
    reason = models.TextField()
    state = models.CharField(
        max_length=20, choices=PromotionState.choices, default=PromotionState.REQUESTED
    )
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rejected_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    applied_at = models.DateTimeField(null=True, blank=True)
    production_flow = models.ForeignKey(
        "payments.PaymentFlow",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="applied_promotions",
    )
    production_link = models.ForeignKey(
        "payments.AccountConfiguration",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="applied_promotions",
    )
    rolled_back_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    rollback_reason = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PromotionQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["-requested_at"]
        permissions = [
            ("approve_promotion", "Can approve or reject a promotion requested by someone else"),
            ("apply_promotion", "Can apply an approved promotion"),
        ]
        constraints = [
            # Invariant 3: promoting one staging flow to one account is one promotion.
            models.UniqueConstraint(
                fields=["source_flow", "target_account"],
                condition=Q(state__in=OPEN_PROMOTION_STATES),
                name="promotion_one_open_per_flow_and_account",
            ),
            # Invariant 4: four eyes.
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("requested_by")),
                name="promotion_requester_never_approves",
            ),
            models.CheckConstraint(
                condition=Q(state__in=PromotionState.values), name="promotion_state_valid"
            ),
        ]

    def __str__(self):
        return (
            f"Promote flow {self.source_flow.number} → {self.production_flow_number} "
            f"on {self.target_account.name} (id {self.configuration_id})"
            f" · {self.get_state_display()}"
        )
