from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from payments.models.choices import (
    STAGES_FOR_KIND,
    AccountKind,
    Region,
    Stage,
    allowed_fits_kind,
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
            # Only a change of kind: contradictions already stored are manage.py check's.
            stored = VccAccount._base_manager.filter(pk=self.pk).values_list("kind", flat=True)
            misfits = stored.first() != self.kind and ", ".join(
                each.label
                for each in self.credentials.all()
                if not allowed_fits_kind(each.allowed_environments, self.kind)
            )
            if misfits:
                message = f"Credentials {misfits} of {self.name} may launch stages a {self.kind} "
                raise ValidationError({"kind": message + "account does not have: change them."})

    @property
    def stages(self) -> set[str]:
        return STAGES_FOR_KIND[self.kind]


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

    def clean(self):
        stored = PciEnvironment._base_manager.filter(pk=self.pk).values_list("stage", flat=True)
        if self.pk and stored.first() not in (None, self.stage):
            links = AccountConfiguration.objects.filter(flow__environment=self).with_related()
            _refuse_reclassifying("stage", f"PCI environment {self}", links)


def _refuse_reclassifying(field: str, what: str, links) -> None:
    """Item 5: a stage change would silently turn these links into the other stage's."""
    named = "; ".join(str(link) for link in links[:5])
    if named:
        message = f"Changing the stage of {what} would reclassify the links that depend on it: "
        message += f"{named}. Remove those links first (production links by a promotion)."
        raise ValidationError({field: message})


class PaymentFlowQuerySet(models.QuerySet):
    def for_stage(self, stage: str):
        return self.filter(environment__stage=stage)

    def active(self):
        return self.filter(is_active=True)


class PaymentFlow(models.Model):
    # No index of its own: the unique (environment, number) index starts with it.
    environment = models.ForeignKey(
        PciEnvironment, on_delete=models.PROTECT, related_name="flows", db_index=False
    )
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
        # Held by nobody in the demo roles (superusers have every permission): a production
        # change without a promotion, with a reason, audited as <model>.break_glass.
        permissions = [("break_glass", "Can change production directly in an emergency")]
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
        if self.pk and self.environment_id:
            stored = PaymentFlow._base_manager.filter(pk=self.pk).values_list(
                "environment__stage", flat=True
            )
            if stored.first() not in (None, self.environment.stage):
                links = self.configurations.with_related()
                _refuse_reclassifying("environment", f"flow {self.number}", links)
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
    # No index of its own: the unique (account, configuration_id) index starts with it.
    account = models.ForeignKey(
        VccAccount, on_delete=models.PROTECT, related_name="configurations", db_index=False
    )
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
