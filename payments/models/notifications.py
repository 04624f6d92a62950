"""The notification outbox: what to tell whom, and each delivery's state."""

from django.conf import settings
from django.db import models

from payments.fields import EncryptedSecretField


class NotificationPreference(models.Model):
    """One person's choice of what reaches them (e-mail on unless they turn it off)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    email_enabled = models.BooleanField(
        "send me e-mails",
        default=True,
        help_text="Turn off to stop every registry e-mail.",
    )

    def __str__(self):
        return f"{self.user} · e-mails {'on' if self.email_enabled else 'off'}"


class WebhookFormat(models.TextChoices):
    SLACK = "slack", 'Slack-compatible ({"text": …})'
    JSON = "json", "Generic JSON, signed (X-Registry-Signature)"


class WebhookEndpoint(models.Model):
    """An outgoing webhook a registry admin configured: every notification is posted to it."""

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500, help_text="https://hooks.slack.com/… or your receiver.")
    format = models.CharField(max_length=10, choices=WebhookFormat.choices)
    secret = EncryptedSecretField(
        max_length=200,
        blank=True,
        null=True,
        help_text="The HMAC-SHA256 key of the X-Registry-Signature header (generic JSON only).",
    )
    actions = models.CharField(
        max_length=500,
        blank=True,
        help_text="Comma-separated audit actions to send (e.g. promotion.approved); empty: all.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def wants(self, action: str) -> bool:
        wanted = [name.strip() for name in self.actions.split(",") if name.strip()]
        return not wanted or action in wanted


class Notification(models.Model):
    """One message about one audited event, with the page where the reader acts."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    event = models.ForeignKey(
        "payments.AuditEvent", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=60)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    link = models.URLField(max_length=500, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return self.subject


class DeliveryChannel(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (gave up)"
    SKIPPED = "skipped", "Skipped"


class DeliveryQuerySet(models.QuerySet):
    def due(self, now):
        return self.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)


class Delivery(models.Model):
    """One notification to one person (e-mail) or one webhook: the outbox row the worker sends."""

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(max_length=10, choices=DeliveryChannel.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    webhook = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    state = models.CharField(
        max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(channel=DeliveryChannel.EMAIL, recipient__isnull=False)
                    | models.Q(channel=DeliveryChannel.WEBHOOK, webhook__isnull=False)
                ),
                name="delivery_has_its_channel_target",
            ),
        ]

    def __str__(self):
        target = self.recipient or self.webhook
        return f"{self.get_channel_display()} to {target}: {self.notification.subject}"
