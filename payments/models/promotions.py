"""A promotion and its state machine: which steps exist, from which state, and who takes them."""

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from payments.roles import ROLES


class PromotionState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    APPLIED = "applied", "Applied"
    CANCELLED = "cancelled", "Cancelled"
    ROLLED_BACK = "rolled_back", "Rolled back"


class VerificationState(models.TextChoices):
    """Whether VCC started a session on every new link after apply (blank: not asked)."""

    PENDING = "pending", "Verification pending"
    VERIFIED = "verified", "Verified"
    FAILED = "failed", "Verification failed"


OPEN_PROMOTION_STATES = [PromotionState.REQUESTED, PromotionState.APPROVED, PromotionState.APPLIED]
# Waiting for a decision: the requester may still edit or cancel, an approver reject.
PENDING_PROMOTION_STATES = [PromotionState.REQUESTED, PromotionState.APPROVED]

PERMISSION_REQUEST = "payments.add_promotion"
PERMISSION_EDIT = "payments.change_promotion"
PERMISSION_APPROVE = "payments.approve_promotion"
# Rolling back touches production exactly like applying does, so it takes the same permission.
PERMISSION_APPLY = "payments.apply_promotion"
PERMISSION_ROLLBACK = PERMISSION_APPLY


class StepRefused(PermissionDenied):
    """Refused for who the person is on this promotion, not for a group they lack."""


@dataclass(frozen=True)
class Step:
    """One step of a promotion: its permission, the states it starts from and where it leads."""

    verb: str  # "You may not <verb> promotions"
    done: str  # "only a requested promotion can be <done>"; the audit action is promotion.<done>
    permission: str
    sources: tuple[str, ...]
    target: str
    # True: only the requester takes it; False: never the requester (four eyes); None: anyone.
    by_requester: bool | None = None

    @property
    def action(self) -> str:
        return "promotion." + self.done.replace(" ", "_")


# The state machine, in the order the page offers the steps.
STEPS = {
    "request": Step("request", "requested", PERMISSION_REQUEST, (), PromotionState.REQUESTED),
    "approve": Step(
        "approve",
        "approved",
        PERMISSION_APPROVE,
        (PromotionState.REQUESTED,),
        PromotionState.APPROVED,
        by_requester=False,
    ),
    "apply": Step(
        "apply", "applied", PERMISSION_APPLY, (PromotionState.APPROVED,), PromotionState.APPLIED
    ),
    "reject": Step(
        "reject",
        "rejected",
        PERMISSION_APPROVE,
        tuple(PENDING_PROMOTION_STATES),
        PromotionState.REJECTED,
        by_requester=False,
    ),
    "rollback": Step(
        "roll back",
        "rolled back",
        PERMISSION_ROLLBACK,
        (PromotionState.APPLIED,),
        PromotionState.ROLLED_BACK,
    ),
    "edit": Step(
        "edit",
        "edited",
        PERMISSION_EDIT,
        tuple(PENDING_PROMOTION_STATES),
        PromotionState.REQUESTED,
        by_requester=True,
    ),
    "cancel": Step(
        "cancel",
        "cancelled",
        PERMISSION_EDIT,
        tuple(PENDING_PROMOTION_STATES),
        PromotionState.CANCELLED,
        by_requester=True,
    ),
}


def _group_holding(permission: str) -> str:
    codename = permission.partition(".")[2]
    return next(name for name, codenames in ROLES.items() if codename in codenames)


class PromotionQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(state__in=PENDING_PROMOTION_STATES)


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
    # Verified promotions (services/promotions/verify.py): probe the new links after apply.
    verify_after_apply = models.BooleanField(
        "probe the new links after apply",
        default=False,
        help_text="After apply, VCC is asked to start a test session on each new link; a link "
        "it refuses switches the set's new links off until a probe succeeds.",
    )
    verification = models.CharField(
        max_length=10, choices=VerificationState.choices, blank=True, default=""
    )
    verification_checked_at = models.DateTimeField(null=True, blank=True)
    verification_message = models.TextField(blank=True)
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

    @staticmethod
    def permission_refusal(step: str, user) -> PermissionDenied | None:
        """Why `user` may never take `step` on any promotion (None: their groups allow it)."""
        permission = STEPS[step].permission
        if getattr(user, "is_authenticated", False) and user.has_perm(permission):
            return None
        return PermissionDenied(
            f"You may not {STEPS[step].verb} promotions: that needs the "
            f"{_group_holding(permission)} group (permission {permission})."
        )

    def step_refusal(self, step: str, user) -> PermissionDenied | ValidationError | None:
        """Why `user` may not take `step` on this promotion now (None: they may)."""
        refusal = self.permission_refusal(step, user)
        if refusal is not None:
            return refusal
        rule = STEPS[step]
        is_requester = self.requested_by_id == user.pk
        if rule.by_requester and not is_requester:
            return StepRefused(
                f"Only {self.requested_by} (who requested it) may {rule.verb} this promotion; "
                + (
                    "an approver can reject it."
                    if step == "cancel"
                    else "reject it and request a new one instead."
                )
            )
        if rule.by_requester is False and is_requester:
            return StepRefused(
                f"You requested this promotion, so someone else must {rule.verb} it (four eyes): "
                "another approver must act."
                + (" You may cancel it instead." if step == "reject" else "")
            )
        if self.state not in rule.sources:
            states = " or ".join(
                sorted(PromotionState(state).label.lower() for state in rule.sources)
            )
            article = "an" if states[0] in "aeiou" else "a"
            return ValidationError(
                f"Promotion #{self.pk} is {self.get_state_display().lower()}: only "
                f"{article} {states} promotion can be {rule.done}."
            )
        return None

    def step_taken(self, step: str) -> bool:
        """Whether `step` already happened (taking it again changes nothing)."""
        return step != "edit" and self.state == STEPS[step].target

    def steps_for(self, user) -> list[str]:
        """The steps `user` may take on this promotion now, in the order the page offers them."""
        return [
            step for step in STEPS if step != "request" and self.step_refusal(step, user) is None
        ]

    @property
    def is_pending(self) -> bool:
        return self.state in PENDING_PROMOTION_STATES

    def awaits_another_approver(self, user) -> bool:
        """Whether `user` requested it and it waits for an approval only someone else gives."""
        return self.requested_by_id == user.pk and self.state in STEPS["approve"].sources
