from django.conf import settings
from django.db import models


class SessionKind(models.TextChoices):
    AGENT_ASSIST = "agent_assist", "Agent assist"
    DIGITAL = "digital", "Digital"


class LaunchOutcome(models.TextChoices):
    CREATED = "created", "Created"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Outcome unknown"


class PaymentSessionQuerySet(models.QuerySet):
    def visible_to(self, user):
        if user.has_perm("payments.view_all_sessions"):
            return self
        return self.filter(launched_by=user)


class PaymentSession(models.Model):
    """One launched session, with what ran where as it was at launch. Never card data or tokens."""

    # No index of its own: the unique (launched_by, idempotency_key) index below starts with it
    # and serves every lookup by launcher; a second index would only cost each launch's INSERT.
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="payment_sessions",
        db_index=False,
    )
    launched_at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=20, choices=SessionKind.choices)

    account = models.ForeignKey(
        "payments.VccAccount", on_delete=models.PROTECT, related_name="sessions"
    )
    account_name = models.CharField(max_length=100)
    credential = models.ForeignKey(
        "payments.ApiCredential", on_delete=models.SET_NULL, null=True, related_name="sessions"
    )
    credential_label = models.CharField(max_length=40)
    link = models.ForeignKey(
        "payments.AccountConfiguration",
        on_delete=models.SET_NULL,
        null=True,
        related_name="sessions",
    )
    configuration_id = models.PositiveIntegerField("accountConfigurationId")
    flow = models.ForeignKey(
        "payments.PaymentFlow", on_delete=models.SET_NULL, null=True, related_name="sessions"
    )
    flow_number = models.PositiveIntegerField()
    flow_name = models.CharField(max_length=100)
    stage = models.CharField(max_length=20)
    environment_name = models.CharField(max_length=100)

    agent_id = models.CharField("agentId", max_length=100, blank=True)
    amount = models.CharField(max_length=20, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    merchant_reference = models.CharField(max_length=100, blank=True)

    session_guid = models.CharField(
        "sessionGuid", max_length=64, null=True, blank=True, unique=True
    )
    provider_session_guid = models.CharField("providerSessionGuid", max_length=64, blank=True)
    outcome = models.CharField(max_length=20, choices=LaunchOutcome.choices)
    session_state = models.CharField("sessionState", max_length=40, blank=True)
    decision = models.CharField(max_length=40, blank=True)
    reason_code = models.CharField(max_length=40, blank=True)
    result_summary = models.JSONField(default=dict, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    status_updated_at = models.DateTimeField(null=True, blank=True)
    status_source = models.CharField(max_length=20, blank=True)
    # The launcher's key for this launch (the page's form key, the API's Idempotency-Key, the
    # CLI's --idempotency-key): the same key never launches twice.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, editable=False)
    # A keyed hash of the request the key came with; a replay must match it.
    idempotency_fingerprint = models.CharField(max_length=64, blank=True, editable=False)

    objects = PaymentSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-launched_at"]
        permissions = [
            ("launch_production", "Can launch payment sessions on production flows"),
            ("view_all_sessions", "Can see every agent's payment sessions"),
        ]
        constraints = [
            # NULL keys (launches without one) never collide.
            models.UniqueConstraint(
                fields=["launched_by", "idempotency_key"],
                name="payment_session_launcher_idempotency_key",
            ),
        ]

    def __str__(self):
        guid = self.session_guid or "no sessionGuid"
        return (
            f"{self.get_kind_display()} on {self.account_name} id {self.configuration_id} ({guid})"
        )

    @property
    def is_finished(self) -> bool:
        return self.session_state.lower() == "finished"


class AgentProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile"
    )
    agent_id = models.CharField("agentId", max_length=100)

    class Meta:
        verbose_name = "agent profile"

    def __str__(self):
        return f"{self.user} · agentId {self.agent_id}"
