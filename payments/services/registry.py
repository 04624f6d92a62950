"""Writes to the registry: accounts, credentials, environments, flows and configuration links."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import ProtectedError
from django.dispatch import receiver

from payments.models import ApiCredential, AuditOutcome, Promotion
from payments.models.signals import secret_rotated
from payments.services.audit import audit_record
from payments.services.production import (
    ProductionWriteRefused,
    production_refusal_record,
    production_write_action,
)

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
    *,
    instance: models.Model,
    actor,
    origin: str = "",
    reason: str = "",
    via_promotion: Promotion | None = None,
    break_glass: bool = False,
    restore: bool = False,
    relations_locked: bool = False,
) -> models.Model:
    """Validate and save a registry object, recording history and an audit event.

    A production change is refused (payments/services/production.py) unless the write is part
    of applying `via_promotion`, a break-glass change by a holder of the permission, or a
    `restore` (an import into an empty registry, the demo seed). `relations_locked` says the
    caller holds a lock on every row the instance's foreign keys name.
    """
    authority = {"via_promotion": via_promotion, "break_glass": break_glass, "restore": restore}
    try:
        with transaction.atomic():
            created = instance.pk is None
            before = snapshot(instance)
            _validate(instance, relations_locked=relations_locked)
            action = production_write_action(
                instance=instance,
                before=before,
                actor=actor,
                operation="created" if created else "changed",
                origin=origin,
                reason=reason,
                **authority,
            )
            instance._change_reason = reason or None
            _save_or_refuse(instance)
            # Just saved, so the instance holds what is stored: no need to read it back.
            saved = {name: getattr(instance, name) for name in _audited_fields(instance)}
            before, after = _changes(before, saved)
            # No change, no event: a form saved as it was shown is not something that happened.
            if created or after:
                audit_record(
                    action=action,
                    actor=actor,
                    origin=origin,
                    obj=instance,
                    reason=reason,
                    before=before,
                    after=after,
                )
    except ProductionWriteRefused as refusal:
        production_refusal_record(refusal=refusal)
        raise
    return instance


def _validate(instance: models.Model, *, relations_locked: bool) -> None:
    # A field never loaded (a credential's deferred secret) is not saved either: validating it
    # would read it, and a secret no configured key decrypts would stop an unrelated edit.
    deferred = instance.get_deferred_fields()
    if not relations_locked:
        instance.full_clean(exclude=deferred)
        return
    # Every row a foreign key names is locked by the caller (a promotion's apply): asking
    # whether each exists would be one query per key. Uniqueness and constraints are checked.
    relations = {field.name for field in instance._meta.concrete_fields if field.is_relation}
    instance.full_clean(
        exclude=deferred | relations, validate_unique=False, validate_constraints=False
    )
    instance.validate_unique(exclude=deferred)
    instance.validate_constraints(exclude=deferred)


def _save_or_refuse(instance: models.Model) -> None:
    # full_clean() checked uniqueness, but another request may insert the same row before this
    # INSERT (PostgreSQL read committed): the savepoint keeps the caller's transaction usable
    # and the refusal is the ValidationError full_clean() would have given a moment later.
    adding = instance._state.adding
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        if adding:
            instance.pk = None
            instance._state.adding = True
        # Now the other row is visible: the same "already exists" a form shows. A violation
        # these checks cannot name is raised as it was, for the caller that knows more.
        instance.validate_unique()
        instance.validate_constraints()
        raise exc


def registry_delete(
    *,
    instance: models.Model,
    actor,
    origin: str = "",
    reason: str = "",
    break_glass: bool = False,
) -> None:
    """Delete a registry object if the actor may, recording what it held in the audit trail."""
    # Deletes stay possible (superusers only, see roles.py): a row anything still points at is
    # protected and must be deactivated instead, so only mistakes and unused rows can go.
    opts = instance._meta
    action = f"{opts.model_name}.deleted"
    # The one place every registry delete passes: rules about which rows may go belong here.
    if not (
        getattr(actor, "is_authenticated", False)
        and actor.has_perm(f"{opts.app_label}.delete_{opts.model_name}")
    ):
        refusal = f"{actor or 'Nobody'} may not delete {opts.verbose_name} {instance}"
        audit_record(
            action=action,
            actor=actor,
            outcome=AuditOutcome.DENIED,
            origin=origin,
            obj=instance,
            reason=refusal,
        )
        raise PermissionDenied(refusal)
    before = snapshot(instance)
    try:
        action = production_write_action(
            instance=instance,
            before=before,
            actor=actor,
            operation="deleted",
            origin=origin,
            reason=reason,
            break_glass=break_glass,
        )
    except ProductionWriteRefused as refusal:
        production_refusal_record(refusal=refusal)
        raise
    with transaction.atomic():
        object_id, object_repr = str(instance.pk), str(instance)
        instance._change_reason = reason or None
        try:
            instance.delete()
        except ProtectedError as exc:
            used_by = ", ".join(sorted({str(obj) for obj in exc.protected_objects})[:5])
            raise ValidationError(
                f"{object_repr} cannot be deleted: it is still used by {used_by}. "
                "Deactivate it instead."
            ) from exc
        audit_record(
            action=action,
            actor=actor,
            origin=origin,
            object_type=opts.model_name,
            object_id=object_id,
            object_repr=object_repr,
            reason=reason,
            before=before,
        )


def credential_save(
    *,
    credential: ApiCredential,
    new_secret: str | None,
    actor,
    origin: str = "",
    reason: str = "",
    break_glass: bool = False,
    restore: bool = False,
) -> ApiCredential:
    """Save a credential; a new secret replaces the stored one, blank keeps it."""
    if new_secret:
        credential.set_secret(new_secret)
    # The model's save() sets last_rotated_at and records credential.secret_rotated when the
    # stored secret changes (whatever path changed it); this names who and why.
    credential._rotation_context = {"actor": actor, "origin": origin, "reason": reason}
    registry_save(
        instance=credential,
        actor=actor,
        origin=origin,
        reason=reason,
        break_glass=break_glass,
        restore=restore,
    )
    return credential


@receiver(secret_rotated)
def _audit_secret_rotation(*, credential, old_fingerprint: str, context: dict, **kwargs) -> None:
    """Record a rotation, whatever path changed the secret (the model announces it)."""
    audit_record(
        action="credential.secret_rotated",
        obj=credential,
        before={"secret_fingerprint": old_fingerprint},
        after={"secret_fingerprint": credential.secret_fingerprint},
        **context,
    )
