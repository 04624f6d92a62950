from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from payments import crypto
from payments.fields import EncryptedSecretField
from payments.models.choices import (
    STAGES_FOR_ALLOWED,
    STAGES_FOR_KIND,
    AccountKind,
    AllowedEnvironments,
    Region,
    Stage,
)
from payments.vcc.regions import base_urls


class VccAccountQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


class VccAccount(models.Model):
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=AccountKind.choices)
    region = models.CharField(max_length=10, choices=Region.choices, default=Region.EMEA)
    auth_base_url = models.URLField(
        "authentication API base URL",
        blank=True,
        help_text="Left blank, the region's documented default is used. "
        "Point it at the VCC emulator or a proxy when needed.",
    )
    payment_base_url = models.URLField(
        "Payment API base URL",
        blank=True,
        help_text="Left blank, the region's default is used (not documented by VCC: check it).",
    )
    is_active = models.BooleanField(default=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = VccAccountQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = "VCC account"
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=AccountKind.values), name="vccaccount_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(region__in=Region.values), name="vccaccount_region_valid"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.get_kind_display().split(' ')[0].lower()})"

    def clean(self):
        self.auth_base_url, self.payment_base_url = base_urls(
            self.region, auth_base_url=self.auth_base_url, payment_base_url=self.payment_base_url
        )
        if self.pk:
            allowed = STAGES_FOR_KIND.get(self.kind, set())
            clashing = self.configurations.exclude(flow__environment__stage__in=allowed)
            if clashing.exists():
                raise ValidationError(
                    {
                        "kind": f"A {self.kind} account cannot link to "
                        f"{', '.join(str(link) for link in clashing[:3])}: move or remove "
                        "those configuration links first."
                    }
                )

    @property
    def stages(self) -> set[str]:
        return STAGES_FOR_KIND[self.kind]


class ApiCredentialQuerySet(models.QuerySet):
    def enabled(self):
        return self.filter(is_enabled=True)

    def for_stage(self, stage: str):
        return self.filter(allowed_environments__in=_allowed_environments_for(stage))

    def may_launch(self, stage: str):
        """Enabled, allowed on the stage and with a secret stored (invariant 2): one filter, as
        a launch builds this query every time."""
        return self.filter(
            ~Q(secret_fingerprint=""),
            is_enabled=True,
            allowed_environments__in=_allowed_environments_for(stage),
        )


class ApiCredentialManager(models.Manager.from_queryset(ApiCredentialQuerySet)):
    """Credentials come without their secret: it is read and decrypted only when used.

    A secret no configured FIELD_ENCRYPTION_KEY decrypts then stops only what needs it (a
    launch, a check with VCC), never a page listing or showing the credential.
    """

    def get_queryset(self):
        return super().get_queryset().defer("client_secret")


def _allowed_environments_for(stage: str) -> list[str]:
    return [value for value, stages in STAGES_FOR_ALLOWED.items() if stage in stages]


class ApiCredential(models.Model):
    account = models.ForeignKey(VccAccount, on_delete=models.PROTECT, related_name="credentials")
    label = models.CharField(max_length=40, help_text='A short name people use, e.g. "A".')
    client_id = models.CharField("client ID", max_length=200, unique=True)
    client_secret = EncryptedSecretField(
        max_length=500,
        null=True,
        blank=True,
        help_text="Write-only: never shown again once saved. Leave blank to keep the stored one.",
    )
    secret_fingerprint = models.CharField(max_length=40, blank=True, editable=False)
    allowed_environments = models.CharField(
        max_length=20, choices=AllowedEnvironments.choices, default=AllowedEnvironments.BOTH
    )
    is_enabled = models.BooleanField("enabled", default=True)
    last_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_verified_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_verification_ok = models.BooleanField(null=True, editable=False)
    last_verification_error = models.CharField(max_length=500, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ApiCredentialManager()
    history = HistoricalRecords(excluded_fields=["client_secret"])

    class Meta:
        ordering = ["account__name", "label"]
        verbose_name = "API credential"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "label"], name="apicredential_label_unique_per_account"
            ),
            models.CheckConstraint(
                condition=Q(allowed_environments__in=AllowedEnvironments.values),
                name="apicredential_allowed_environments_valid",
            ),
        ]

    def __str__(self):
        return f"{self.account.name} · credentials {self.label}"

    def set_secret(self, secret: str) -> None:
        self.client_secret = secret
        self.secret_fingerprint = crypto.secret_fingerprint(secret) if secret else ""

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_fingerprint)

    @property
    def stages(self) -> set[str]:
        return STAGES_FOR_ALLOWED[self.allowed_environments]

    def refusal_for(self, configuration: "AccountConfiguration") -> str | None:
        """Return why this credential may not launch the link's flow, or None (invariant 2)."""
        if self.account_id != configuration.account_id:
            return (
                f"Credentials {self.label} belong to {self.account.name}, not to "
                f"{configuration.account.name}."
            )
        if not self.is_enabled:
            return f"Credentials {self.label} on {self.account.name} are disabled."
        stage = configuration.flow.environment.stage
        if stage not in self.stages:
            return (
                f"Credentials {self.label} on {self.account.name} are not allowed to launch "
                f"{stage} flows ({self.get_allowed_environments_display().lower()})."
            )
        if not self.has_secret:
            return f"Credentials {self.label} on {self.account.name} have no secret stored."
        return None


class PciEnvironment(models.Model):
    provider = models.CharField(max_length=100, default="PCI Pal")
    stage = models.CharField(max_length=20, choices=Stage.choices)
    name = models.CharField(max_length=100, unique=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["provider", "-stage", "name"]
        verbose_name = "PCI environment"
        constraints = [
            models.CheckConstraint(
                condition=Q(stage__in=Stage.values), name="pcienvironment_stage_valid"
            ),
        ]

    def __str__(self):
        return self.name


class PaymentFlowQuerySet(models.QuerySet):
    def for_stage(self, stage: str):
        return self.filter(environment__stage=stage)

    def active(self):
        return self.filter(is_active=True)


class PaymentFlow(models.Model):
    environment = models.ForeignKey(PciEnvironment, on_delete=models.PROTECT, related_name="flows")
    number = models.PositiveIntegerField(help_text="The flow number on the PCI provider's node.")
    name = models.CharField(max_length=100)
    promoted_from = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="promoted_to",
        limit_choices_to={"environment__stage": Stage.STAGING},
        help_text="The staging flow this production flow was promoted from.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PaymentFlowQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["environment__stage", "number"]
        verbose_name = "payment flow"
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "number"], name="paymentflow_number_unique_per_environment"
            ),
            models.CheckConstraint(
                condition=~Q(promoted_from=models.F("id")),
                name="paymentflow_not_promoted_from_self",
            ),
        ]

    def __str__(self):
        return f"Flow {self.number} “{self.name}” · {self.environment.stage}"

    @property
    def stage(self) -> str:
        return self.environment.stage

    def clean(self):
        if self.promoted_from_id is None:
            return
        errors = []
        if self.environment_id and self.environment.stage != Stage.PRODUCTION:
            errors.append("Only a production flow can be promoted from a staging flow.")
        if self.promoted_from.environment.stage != Stage.STAGING:
            errors.append(f"{self.promoted_from} is not a staging flow.")
        if errors:
            raise ValidationError({"promoted_from": errors})


class AccountConfigurationQuerySet(models.QuerySet):
    def with_related(self):
        return self.select_related("account", "flow__environment")

    def for_stage(self, stage: str):
        return self.filter(flow__environment__stage=stage)

    def find(self, account_name: str, configuration_id: int) -> "AccountConfiguration | None":
        """The link an account name and accountConfigurationId name, or None."""
        try:
            return self.with_related().get(
                account__name=account_name, configuration_id=configuration_id
            )
        except self.model.DoesNotExist:
            return None

    def launchable(self):
        return self.filter(is_active=True, account__is_active=True, flow__is_active=True)

    def launchable_by(self, user):
        """Links the user may launch: staging for agents, production with the permission."""
        links = self.launchable()
        if not user.has_perm("payments.launch_production"):
            links = links.for_stage(Stage.STAGING)
        return links


class AccountConfiguration(models.Model):
    account = models.ForeignKey(VccAccount, on_delete=models.PROTECT, related_name="configurations")
    configuration_id = models.PositiveIntegerField(
        "accountConfigurationId",
        help_text="Provisioned by Vonage on this VCC account; cannot be derived from the flow.",
    )
    flow = models.ForeignKey(PaymentFlow, on_delete=models.PROTECT, related_name="configurations")
    is_active = models.BooleanField(default=True)
    notes = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AccountConfigurationQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["account__name", "configuration_id"]
        verbose_name = "account configuration link"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "configuration_id"],
                name="accountconfiguration_id_unique_per_account",
            ),
        ]

    def __str__(self):
        return (
            f"{self.account.name} · id {self.configuration_id} → "
            f"Flow {self.flow.number} · {self.flow.environment.stage}"
        )

    def clean(self):
        if not (self.account_id and self.flow_id):
            return
        stage = self.flow.environment.stage
        if stage not in STAGES_FOR_KIND[self.account.kind]:
            raise ValidationError(
                {
                    "flow": f"{self.account.name} is a {self.account.kind} account: it can only "
                    f"link to {' or '.join(sorted(STAGES_FOR_KIND[self.account.kind]))} flows, "
                    f"and {self.flow} is on {stage}."
                }
            )

    def launch_credentials(self):
        """Credentials that may launch this link's flow (invariant 2), best first."""
        credentials = self.account.credentials.may_launch(self.flow.environment.stage)
        # One account: ordering by label alone spares the join the default ordering needs.
        return credentials.order_by("label")
