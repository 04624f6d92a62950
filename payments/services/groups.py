"""Writes to groups: only superusers change what a group may do; everything audited."""

from collections.abc import Iterable

from django.contrib.auth.models import Group
from django.db import transaction

from payments.services.audit import audit_record
from payments.services.users import _audit_changes, _ids, _pks, _refuse, delete_audited


def _group_refusals(actor, stored: Group | None, permissions) -> list[str]:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return ["Only a signed-in user may change groups"]
    if actor.is_superuser:
        return []
    needed = "auth.change_group" if stored else "auth.add_group"
    if not actor.has_perm(needed):
        return [f"{actor} may not {'change' if stored else 'add'} groups"]
    current = _ids(stored.permissions.all()) if stored else set()
    if permissions is not None and _pks(permissions) != current:
        return [f"{actor} may not change the permissions of a group"]
    return []


def group_check_access(
    *, group: Group | None, actor, origin: str = "", permissions: Iterable | None = None
) -> None:
    """Refuse (audited, AccessRefused) a group write only a superuser may make."""
    stored = Group.objects.get(pk=group.pk) if group is not None and group.pk else None
    refusals = _group_refusals(actor, stored, permissions)
    if refusals:
        _refuse(actor=actor, target=stored, object_type="group", refusals=refusals, origin=origin)


def _group_state(group: Group) -> dict:
    permissions = group.permissions.values_list("content_type__app_label", "codename")
    return {
        "name": group.name,
        "permissions": sorted(f"{app}.{codename}" for app, codename in permissions),
    }


def group_save(
    *, group: Group, actor, origin: str = "", permissions: Iterable | None = None
) -> Group:
    """Create or rename a group and, for superusers only, change its permissions; audited."""
    stored = Group.objects.filter(pk=group.pk).first() if group.pk else None
    group_check_access(group=stored, actor=actor, origin=origin, permissions=permissions)
    with transaction.atomic():
        before = _group_state(stored) if stored else {}
        group.full_clean()
        group.save()
        if permissions is not None:
            group.permissions.set(permissions)
        after = _group_state(group)
        action = "group.changed" if stored else "group.created"
        if stored is None:
            audit_record(action=action, actor=actor, origin=origin, obj=group, after=after)
        else:
            _audit_changes(action, before, after, actor=actor, origin=origin, obj=group)
    return group


def group_delete(*, group: Group, actor, origin: str = "") -> None:
    """Delete a group (its members lose what it granted) if the actor may; audited."""
    stored = Group.objects.get(pk=group.pk)
    if not (getattr(actor, "is_authenticated", False) and actor.has_perm("auth.delete_group")):
        refusal = f"{actor or 'Nobody'} may not delete groups"
        _refuse(actor=actor, target=stored, object_type="group", refusals=[refusal], origin=origin)
    before = {
        **_group_state(stored),
        "members": sorted(stored.user_set.values_list("username", flat=True)),
    }
    delete_audited(stored, actor=actor, origin=origin, before=before)
