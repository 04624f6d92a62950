"""Writes to the registry: accounts, credentials, environments, flows and configuration links."""

from django.db import models, transaction

from payments.models import ApiCredential
from payments.services.audit import audit_record

UNAUDITED_FIELDS = {"created_at", "updated_at", "client_secret"}


def _audited_fields(instance: models.Model) -> list[str]:
    return [
        field.attname
        for field in instance._meta.concrete_fields
        if field.name not in UNAUDITED_FIELDS
    ]


def snapshot(instance: models.Model) -> dict:
    """Return the audited field values of an instance as stored (never a secret)."""
    if instance.pk is None:
        return {}
    fields = _audited_fields(instance)
    return type(instance)._base_manager.filter(pk=instance.pk).values(*fields).first() or {}


def _changes(before: dict, after: dict) -> tuple[dict, dict]:
    changed = [key for key in after if before.get(key) != after.get(key)]
    return {key: before.get(key) for key in changed if before}, {key: after[key] for key in changed}


def registry_save(
    *, instance: models.Model, actor, origin: str = "", reason: str = ""
) -> models.Model:
    """Validate and save a registry object, recording history and an audit event."""
    with transaction.atomic():
        created = instance.pk is None
        before = snapshot(instance)
        instance.full_clean()
        instance._change_reason = reason or None
        instance.save()
        # Just saved, so the instance holds what is stored: no need to read it back.
        saved = {name: getattr(instance, name) for name in _audited_fields(instance)}
        before, after = _changes(before, saved)
        audit_record(
            action=f"{instance._meta.model_name}.{'created' if created else 'changed'}",
            actor=actor,
            origin=origin,
            obj=instance,
            reason=reason,
            before=before,
            after=after,
        )
    return instance


def credential_save(
    *,
    credential: ApiCredential,
    new_secret: str | None,
    actor,
    origin: str = "",
    reason: str = "",
) -> ApiCredential:
    """Save a credential; a new secret replaces the stored one, blank keeps it."""
    if new_secret:
        credential.set_secret(new_secret)
    # The model's save() sets last_rotated_at and records credential.secret_rotated when the
    # stored secret changes (whatever path changed it); this names who and why.
    credential._rotation_context = {"actor": actor, "origin": origin, "reason": reason}
    registry_save(instance=credential, actor=actor, origin=origin, reason=reason)
    return credential
