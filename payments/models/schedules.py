"""Time in the registry: scheduled promotions, change freezes and the worker's periodic jobs."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class PromotionSchedule(models.Model):
    """When the worker is to apply an approved promotion, and what became of it."""

    promotion = models.OneToOneField(
        "payments.Promotion", on_delete=models.CASCADE, related_name="schedule"
    )
    apply_at = models.DateTimeField(db_index=True)
    scheduled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    scheduled_at = models.DateTimeField(auto_now_add=True)
    # Set once the worker has tried: done (applied) or held back, with why.
    attempted_at = models.DateTimeField(null=True, blank=True)
    applied = models.BooleanField(default=False)
    outcome = models.TextField(blank=True)

    class Meta:
        ordering = ["apply_at"]

    def __str__(self):
        return f"Promotion #{self.promotion_id} at {self.apply_at:%Y-%m-%d %H:%M %Z}"


class ChangeFreezeQuerySet(models.QuerySet):
    def in_force(self, now):
        return self.filter(starts_at__lte=now, ends_at__gt=now)

    def in_force_or_starting(self, now, within):
        return self.filter(starts_at__lte=now + within, ends_at__gt=now)


class ChangeFreeze(models.Model):
    """A window in which no promotion is applied to the production accounts it covers."""

    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=300, help_text="Shown to everyone, e.g. “Peak season”.")
    all_production_accounts = models.BooleanField(
        default=True, help_text="Cover every production and combined account."
    )
    accounts = models.ManyToManyField(
        "payments.VccAccount",
        blank=True,
        related_name="change_freezes",
        help_text="The accounts covered when not all production accounts are.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ChangeFreezeQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")),
                name="change_freeze_ends_after_start",
            )
        ]

    def __str__(self):
        return (
            f"Freeze {self.starts_at:%Y-%m-%d %H:%M} – {self.ends_at:%Y-%m-%d %H:%M}: {self.reason}"
        )


class PeriodicJob(models.Model):
    """When the worker next enqueues one periodic task (one row per job, locked to claim it)."""

    name = models.CharField(max_length=60, unique=True)
    next_run_at = models.DateTimeField()
    last_enqueued_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.name} next at {self.next_run_at:%Y-%m-%d %H:%M:%S}"
