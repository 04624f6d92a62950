"""Stored secrets under key rotation: re-encrypt them under the first key, audited."""

from dataclasses import dataclass, field

from django.db import transaction

from payments import crypto
from payments.crypto import SecretDecryptionError
from payments.selectors.secrets import (
    UNDECRYPTABLE,
    SecretProblem,
    secret_fields,
    stored_ciphertexts,
)
from payments.services.audit import audit_record


@dataclass
class ReencryptResult:
    rows: int = 0
    reencrypted: int = 0
    already_current: int = 0
    failed: list[SecretProblem] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "reencrypted": self.reencrypted,
            "already_current": self.already_current,
            "failed": len(self.failed),
        }


def _reencrypt_row(model, model_field, pk, result: ReencryptResult) -> None:
    locked = stored_ciphertexts(model._base_manager.select_for_update().filter(pk=pk), model_field)
    row = locked.first()
    if row is None:  # deleted, or emptied, since the batch was listed
        return
    result.rows += 1
    token = row[1]
    if crypto.decrypts_with_primary_key(token):
        result.already_current += 1
        return
    try:
        plaintext = crypto.decrypt(token)
    except SecretDecryptionError:
        result.failed.append(SecretProblem(model._meta.label, pk, model_field.name, UNDECRYPTABLE))
        return
    # update() encrypts through the field, under the first key; no save(): no signals,
    # no history row, no auto_now change for what is not a change of the secret.
    model._base_manager.filter(pk=pk).update(**{model_field.attname: plaintext})
    result.reencrypted += 1


def secrets_reencrypt(
    *, batch_size: int = 100, actor=None, origin: str = "", progress=None
) -> ReencryptResult:
    """Re-encrypt every stored secret under the first key, one committed batch at a time.

    Rows already on the first key are skipped, so an interrupted run can simply be run again.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    crypto.reset_crypter()
    result = ReencryptResult()
    for model, model_field in secret_fields():
        pks = model._base_manager.filter(**{f"{model_field.attname}__isnull": False})
        pks = pks.order_by("pk").values_list("pk", flat=True)
        last_pk = None
        while True:
            batch_pks = pks if last_pk is None else pks.filter(pk__gt=last_pk)
            batch = list(batch_pks[:batch_size])
            if not batch:
                break
            with transaction.atomic():
                for pk in batch:
                    _reencrypt_row(model, model_field, pk, result)
            last_pk = batch[-1]
            if progress:
                progress(model._meta.label, model_field.name, result)
    audit_record(
        action="secrets.reencrypted",
        actor=actor,
        origin=origin,
        object_type="secrets",
        object_repr=f"{len(secret_fields())} encrypted field(s)",
        reason="re-encrypt under the first FIELD_ENCRYPTION_KEY",
        after=result.as_dict() | {"failed_rows": [p.location for p in result.failed]},
    )
    return result
