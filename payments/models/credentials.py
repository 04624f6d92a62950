"""API credentials: a VCC account's client-credentials sets, their secret encrypted at rest."""

from typing import TYPE_CHECKING

from django.core.exceptions import FieldError, ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from payments import crypto
from payments.fields import EncryptedSecretField
from payments.models.choices import (
    DEFAULT_ALLOWED_FOR_KIND,
    STAGES_FOR_ALLOWED,
    STAGES_FOR_KIND,
    AllowedEnvironments,
    allowed_fits_kind,
)
from payments.models.registry import VccAccount
from payments.models.signals import secret_rotated

if TYPE_CHECKING:
    from payments.models.registry import AccountConfiguration

# How a credential without a stored secret is shown wherever credentials are listed or chosen.
NO_SECRET = "no secret — cannot launch"
SECRET_DERIVED_FIELDS = ("client_secret", "secret_fingerprint", "last_rotated_at")
# Stands for a stored secret that does not decrypt: unequal to any new value.
UNREADABLE_SECRET = object()


class ApiCredentialQuerySet(models.QuerySet):
    def update(self, **kwargs):
        _refuse_secret_writes(kwargs, "update()")
        return super().update(**kwargs)

    def bulk_update(self, objs, fields, batch_size=None):
        _refuse_secret_writes(fields, "bulk_update()")
        return super().bulk_update(objs, fields, batch_size=batch_size)

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


def _refuse_secret_writes(fields, how: str) -> None:
    # These paths skip save(), so the fingerprint, last_rotated_at and the rotation audit
    # event could not follow the stored secret.
    touched = [name for name in SECRET_DERIVED_FIELDS if name in fields]
    if touched:
        raise FieldError(
            f"ApiCredential {how} may not write {', '.join(touched)}: set the secret on each "
            "credential and save() it (credential_save), so its fingerprint, rotation time and "
            "audit event follow the stored value."
        )


def _allowed_environments_for(stage: str) -> list[str]:
    return [value for value, stages in STAGES_FOR_ALLOWED.items() if stage in stages]


class ApiCredential(models.Model):
    # No index of its own: the unique (account, label) index starts with it.
    account = models.ForeignKey(
        VccAccount, on_delete=models.PROTECT, related_name="credentials", db_index=False
    )
    label = models.CharField(max_length=40, help_text='A short name people use, e.g. "A".')
    client_id = models.CharField("client ID", max_length=200, unique=True)
    client_secret = EncryptedSecretField(
        max_length=500,
        null=True,
        blank=True,
        help_text="Write-only: never shown again once saved. Leave blank to keep the stored one.",
    )
    secret_fingerprint = models.CharField(max_length=40, blank=True, editable=False)
    # Blank until saved: clean() and save() fill in the default of the account's kind.
    allowed_environments = models.CharField(
        max_length=20,
        choices=AllowedEnvironments.choices,
        blank=True,
        default="",
        help_text="Left blank: staging only on a sandbox or combined account, production only on "
        "a production account.",
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

    def save(self, *args, **kwargs):
        """Save; the fingerprint, rotation time and rotation event follow the stored secret."""
        if not self.allowed_environments and self.account_id:
            self.allowed_environments = DEFAULT_ALLOWED_FOR_KIND[self.account.kind]
        # credential_save names who and why; any other path is recorded as the system's.
        context = self.__dict__.pop("_rotation_context", None) or {
            "reason": "secret changed outside the registry services"
        }
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "client_secret" not in update_fields:
            return super().save(*args, **kwargs)
        if "client_secret" in self.get_deferred_fields():
            # Never read, so unchanged: Django saves only the loaded fields.
            return super().save(*args, **kwargs)
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "secret_fingerprint", "last_rotated_at"}
        # Whatever path set client_secret (constructor, attribute, create(), a form, an import),
        # the fingerprint is derived here from the value about to be stored.
        self.set_secret(self.client_secret)
        with transaction.atomic():
            stored = None if self._state.adding else self._stored_secret()
            # The secrets are compared, not fingerprints, which change with SECRET_KEY and the
            # display rule; a stored secret that no longer decrypts is replaced: a rotation.
            rotated = stored is not None and stored[0] != (self.client_secret or None)
            if rotated:
                self.last_rotated_at = timezone.now()
            super().save(*args, **kwargs)
            if rotated:
                self._record_rotation(stored[1], context)

    def _stored_secret(self) -> tuple[str | None, str] | None:
        """Return the stored (secret, fingerprint), or None when the row does not exist."""
        rows = type(self)._base_manager.filter(pk=self.pk)
        try:
            return rows.values_list("client_secret", "secret_fingerprint").first()
        except crypto.SecretDecryptionError:
            return (UNREADABLE_SECRET, rows.values_list("secret_fingerprint", flat=True).get())

    def clean(self):
        if not self.account_id:
            return
        kind = self.account.kind
        if not self.allowed_environments:
            self.allowed_environments = DEFAULT_ALLOWED_FOR_KIND.get(kind, "")
        # Checked when set: a stored contradiction (manage.py check reports it) must not block
        # rotating the credential's secret.
        unchanged = ApiCredential._base_manager.filter(
            pk=self.pk, allowed_environments=self.allowed_environments, account_id=self.account_id
        )
        if not allowed_fits_kind(self.allowed_environments, kind) and not unchanged.exists():
            stages = " or ".join(sorted(STAGES_FOR_KIND[kind]))
            message = f"{self.account.name} is a {kind} account: its credentials may launch "
            message += f"{stages} only, not “{self.get_allowed_environments_display()}”."
            raise ValidationError({"allowed_environments": message})

    def set_secret(self, secret: str | None) -> None:
        self.client_secret = secret
        self.secret_fingerprint = crypto.secret_fingerprint(secret) if secret else ""

    def _record_rotation(self, old_fingerprint: str, context: dict) -> None:
        # The audit trail is the services' (payments.services.registry listens): models
        # announce the rotation inside the save's transaction and never import a service.
        secret_rotated.send(
            sender=type(self), credential=self, old_fingerprint=old_fingerprint, context=context
        )

    @property
    def secret_status(self) -> str:
        """The stored secret's fingerprint, or NO_SECRET wherever credentials are listed."""
        return self.secret_fingerprint or NO_SECRET

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
