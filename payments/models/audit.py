from django.conf import settings
from django.db import models


class AuditOutcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    DENIED = "denied", "Denied"


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Audit events are append-only.")

    def delete(self):
        raise PermissionError("Audit events are append-only.")


class AuditEvent(models.Model):
    """One append-only, hash-chained record of who did what (PCI DSS 10.2.2)."""

    created_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=60, db_index=True)
    outcome = models.CharField(max_length=10, choices=AuditOutcome.choices)
    origin = models.CharField(max_length=100, blank=True, help_text="IP address or request id.")
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    reason = models.TextField(blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, unique=True)
    row_hash = models.CharField(max_length=64, unique=True)
    # Which AUDIT_KEY keyed row_hash; "" marks a legacy row hashed without a key (written
    # before keyed hashes), which proves order but not that the application wrote it.
    key_id = models.CharField(max_length=16, blank=True, default="")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name or 'system'} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events are append-only.")


class AuditChainHead(models.Model):
    """The one row that serialises appends to the audit chain (locked while appending)."""

    last_hash = models.CharField(max_length=64)
    # The event whose row_hash is last_hash (0: the genesis, no event yet). On PostgreSQL a
    # trigger lets the head move only forward, onto the event that carries that hash.
    last_event_id = models.BigIntegerField(default=0)

    def __str__(self):
        return f"audit chain head {self.last_hash[:12]}"
