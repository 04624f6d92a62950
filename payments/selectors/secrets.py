"""Stored secrets under key rotation: find the ones that need attention (services re-encrypt)."""

from collections.abc import Iterator
from dataclasses import dataclass

from django.apps import apps
from django.db import models
from django.db.models import ExpressionWrapper, F

from payments import crypto
from payments.crypto import SecretDecryptionError
from payments.fields import EncryptedSecretField

UNDECRYPTABLE = "does not decrypt with any configured FIELD_ENCRYPTION_KEY"
OLD_KEY = "is encrypted with an older key, not the first FIELD_ENCRYPTION_KEY"
DOUBLE_ENCRYPTED = "decrypts to something that looks encrypted again (double encryption)"


@dataclass(frozen=True)
class SecretProblem:
    """One stored secret that needs attention: where it is, never what it is."""

    model: str
    pk: object
    field: str
    problem: str

    @property
    def location(self) -> str:
        return f"{self.model} pk={self.pk} {self.field}"

    def __str__(self):
        return f"{self.location} {self.problem}"


def secret_fields() -> list[tuple[type[models.Model], EncryptedSecretField]]:
    """Every EncryptedSecretField of every installed model."""
    return [
        (model, model_field)
        for model in apps.get_models()
        for model_field in model._meta.concrete_fields
        if isinstance(model_field, EncryptedSecretField)
    ]


def stored_ciphertexts(
    queryset: models.QuerySet, model_field: EncryptedSecretField
) -> models.QuerySet:
    """(pk, ciphertext as stored) pairs: the field's own decryption is bypassed."""
    raw = ExpressionWrapper(F(model_field.attname), output_field=models.TextField())
    return queryset.filter(**{f"{model_field.attname}__isnull": False}).values_list("pk", raw)


def ciphertext_problem(token: str) -> str | None:
    """Return what is wrong with one stored ciphertext, or None."""
    on_primary = crypto.decrypts_with_primary_key(token)
    try:
        plaintext = crypto.decrypt(token)
    except SecretDecryptionError:
        return UNDECRYPTABLE
    if crypto.looks_encrypted(plaintext):
        return DOUBLE_ENCRYPTED
    return None if on_primary else OLD_KEY


def secrets_verify(*, using: str = "default") -> Iterator[SecretProblem]:
    """Yield each stored secret that does not decrypt, is on an old key or looks re-encrypted."""
    for model, model_field in secret_fields():
        stored = stored_ciphertexts(model._base_manager.using(using).order_by("pk"), model_field)
        for pk, token in stored.iterator(chunk_size=500):
            problem = ciphertext_problem(token)
            if problem:
                yield SecretProblem(model._meta.label, pk, model_field.name, problem)


RUNBOOK = "docs/runbooks/key-rotation.md"
UNREADABLE_SECRET = (
    "Unreadable: the stored secret does not decrypt with the configured FIELD_ENCRYPTION_KEY. "
    f"Add the key it was written with, or type the secret again (see {RUNBOOK})."
)


def secret_unreadable(instance: models.Model, field_name: str = "client_secret") -> bool:
    """Whether the instance's stored secret exists and no configured key decrypts it."""
    model_field = instance._meta.get_field(field_name)
    queryset = type(instance)._base_manager.filter(pk=instance.pk)
    row = stored_ciphertexts(queryset, model_field).first()
    if row is None or not row[1]:
        return False
    try:
        crypto.decrypt(row[1])
    except SecretDecryptionError:
        return True
    return False
