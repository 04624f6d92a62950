"""Writes to people and groups: access, passwords, e-mail and active status, each audited.

The anti-escalation rules live here, not in the admin: nobody but a superuser hands out more
than they hold, changes their own access, touches a superuser, or takes over a stronger user
(sets their password, deactivates them or changes their e-mail, where password resets go).
"""

from collections.abc import Iterable

from django.contrib.auth import password_validation
from django.contrib.auth.models import Group, Permission, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import ProtectedError, Q

from payments.models import AuditOutcome
from payments.services.audit import audit_record

REFUSED = "access.escalation_refused"
ACCESS_FIELDS = ["is_active", "is_staff", "is_superuser"]
# Every other field a user editor writes; the password never, its hash never.
PROFILE_FIELDS = ["username", "first_name", "last_name", "email", "last_login", "date_joined"]


class AccessRefused(PermissionDenied):
    """A user or group write that would hand out, or take over, more than the actor holds."""


def grantable_groups(user):
    """Groups a person may hand out: those they belong to (superusers: all)."""
    return Group.objects.all() if user.is_superuser else Group.objects.filter(user=user)


def grantable_permissions(user):
    """Permissions a person may hand out: those they hold themselves (superusers: all)."""
    if user.is_superuser:
        return Permission.objects.all()
    held = Q(user=user) | Q(group__user=user)
    return Permission.objects.filter(pk__in=Permission.objects.filter(held).values("pk"))


def _ids(queryset) -> set[str]:
    return {str(pk) for pk in queryset.values_list("pk", flat=True)}


def _pks(items: Iterable) -> set[str]:
    # Strings, so ids posted by a browser compare equal to stored ones.
    return {str(getattr(item, "pk", item)) for item in items}


def _refuse(*, actor, target, object_type: str, refusals: list[str], origin: str):
    reason = "; ".join(refusals)
    audit_record(
        action=REFUSED,
        actor=actor,
        outcome=AuditOutcome.DENIED,
        origin=origin,
        obj=target,
        object_type=object_type,
        reason=reason,
    )
    raise AccessRefused(reason)


def _beyond(actor: User, target: User) -> list[str]:
    """The groups and permissions the target holds that the actor does not."""
    groups = target.groups.exclude(pk__in=grantable_groups(actor).values("pk"))
    held = Q(user=target) | Q(group__user=target)
    permissions = (
        Permission.objects.filter(held)
        .exclude(pk__in=grantable_permissions(actor).values("pk"))
        .distinct()
    )
    return sorted(
        {f"group {name}" for name in groups.values_list("name", flat=True)}
        | {
            f"permission {app}.{codename}"
            for app, codename in permissions.values_list("content_type__app_label", "codename")
        }
    )


def _takeover_refusals(actor: User, stored: User, takes: list[str]) -> list[str]:
    """Taking over someone stronger (their password, e-mail or active status) is escalation."""
    if not takes or stored.pk == actor.pk or actor.is_superuser:
        return []
    beyond = _beyond(actor, stored)
    if not beyond:
        return []
    shown = ", ".join(beyond[:3]) + (f" and {len(beyond) - 3} more" if len(beyond) > 3 else "")
    return [f"{actor} may not {' or '.join(takes)} {stored}, who holds {shown} that they do not"]


def _edit_refusals(actor, stored: User | None) -> list[str]:
    """Refusals whatever is written: no right to add or change people, or a superuser."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return ["Only a signed-in user may change people"]
    if actor.is_superuser:
        return []
    needs = "auth.change_user" if stored is not None else "auth.add_user"
    if not actor.has_perm(needs):
        return [f"{actor} may not {'change' if stored is not None else 'add'} people"]
    if stored is not None and stored.is_superuser:
        return [f"{actor} may not change the superuser {stored}"]
    return []


def _access_refusals(
    actor, stored: User | None, *, groups, permissions, is_superuser, is_staff, is_active, email
) -> list[str]:
    refusals = _edit_refusals(actor, stored)
    if refusals or actor.is_superuser:
        return refusals
    if is_superuser and not (stored and stored.is_superuser):
        refusals.append(f"{actor} may not make anyone a superuser")
    current_groups = _ids(stored.groups.all()) if stored else set()
    current_perms = _ids(stored.user_permissions.all()) if stored else set()
    if stored is not None and stored.pk == actor.pk:
        if groups is not None and _pks(groups) != current_groups:
            refusals.append(f"{actor} may not change their own groups")
        if permissions is not None and _pks(permissions) != current_perms:
            refusals.append(f"{actor} may not change their own permissions")
        if is_staff is not None and is_staff != stored.is_staff:
            refusals.append(f"{actor} may not change their own staff status")
        return refusals
    if groups is not None and _pks(groups) - current_groups - _ids(grantable_groups(actor)):
        refusals.append(f"{actor} may not grant groups they do not belong to")
    if permissions is not None and (
        _pks(permissions) - current_perms - _ids(grantable_permissions(actor))
    ):
        refusals.append(f"{actor} may not grant permissions they do not hold")
    if stored is not None:
        takes = []
        if stored.is_active and is_active is False:
            takes.append("deactivate")
        if email is not None and email != stored.email:
            takes.append("change the e-mail of")
        refusals += _takeover_refusals(actor, stored, takes)
    return refusals


def user_check_access(
    *,
    user: User | None,
    actor,
    origin: str = "",
    groups: Iterable | None = None,
    permissions: Iterable | None = None,
    is_superuser: bool | None = None,
    is_staff: bool | None = None,
    is_active: bool | None = None,
    email: str | None = None,
) -> None:
    """Refuse (audited, AccessRefused) a proposed change to a person, None meaning unchanged.

    user is the person as stored (None: a new one). user_create and user_save ask this too;
    the admin asks it first with what was posted, read-only fields included, so a tampered
    form is refused and recorded rather than silently ignored.
    """
    stored = User.objects.get(pk=user.pk) if user is not None else None
    refusals = _access_refusals(
        actor,
        stored,
        groups=groups,
        permissions=permissions,
        is_superuser=is_superuser,
        is_staff=is_staff,
        is_active=is_active,
        email=email,
    )
    if refusals:
        _refuse(actor=actor, target=stored, object_type="user", refusals=refusals, origin=origin)


def _profile(user: User) -> dict:
    values = {}
    for name in PROFILE_FIELDS:
        value = getattr(user, name)
        # The admin posts times to the second: a stored microsecond is not a change.
        values[name] = value.replace(microsecond=0) if hasattr(value, "microsecond") else value
    return values


def _access(user: User) -> dict:
    return {
        **{name: getattr(user, name) for name in ACCESS_FIELDS},
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "permissions": sorted(
            f"{app}.{codename}"
            for app, codename in user.user_permissions.values_list(
                "content_type__app_label", "codename"
            )
        ),
    }


def _audit_changes(action: str, before: dict, after: dict, *, actor, origin, obj) -> None:
    changed = [key for key in after if before.get(key) != after[key]]
    if changed:
        audit_record(
            action=action,
            actor=actor,
            origin=origin,
            obj=obj,
            before={key: before.get(key) for key in changed},
            after={key: after[key] for key in changed},
        )


def user_create(
    *,
    user: User,
    password: str | None,
    actor,
    origin: str = "",
    groups: Iterable | None = None,
    permissions: Iterable | None = None,
) -> User:
    """Create a person with a password (None: password sign-in disabled), audited."""
    if user.pk is not None:
        raise ValueError("user_create makes new users; use user_save for existing ones")
    user_check_access(
        user=None,
        actor=actor,
        origin=origin,
        groups=groups,
        permissions=permissions,
        is_superuser=user.is_superuser,
        is_staff=user.is_staff,
    )
    if password is not None:
        password_validation.validate_password(password, user)
    with transaction.atomic():
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        user.full_clean()
        user.save()
        if groups is not None:
            user.groups.set(groups)
        if permissions is not None:
            user.user_permissions.set(permissions)
        audit_user_created(user, actor=actor, origin=origin)
    return user


def audit_user_created(user: User, *, actor, origin: str) -> None:
    """A new person's rows: who they are, what they may do, whether a password signs in."""
    audit_record(
        action="user.created",
        actor=actor,
        origin=origin,
        obj=user,
        after={**_profile(user), **_access(user)},
    )
    audit_password(user, actor=actor, origin=origin)


def user_save(
    *,
    user: User,
    actor,
    origin: str = "",
    groups: Iterable | None = None,
    permissions: Iterable | None = None,
) -> User:
    """Save a person's profile, active/staff/superuser flags and, if given, groups and
    permissions (None keeps them), refusing escalation and takeover, auditing what changed."""
    with transaction.atomic():
        # Locked, so the rules judge the person as they are when the write lands.
        stored = User.objects.select_for_update().filter(pk=user.pk).first()
        if stored is None:
            raise ValueError("user_save changes existing users; use user_create for new ones")
        refusals = _access_refusals(
            actor,
            stored,
            groups=groups,
            permissions=permissions,
            is_superuser=user.is_superuser,
            is_staff=user.is_staff,
            is_active=user.is_active,
            email=user.email,
        )
        if not refusals:
            _write_user(user, stored, actor=actor, origin=origin, groups=groups, perms=permissions)
    if refusals:
        # Outside the transaction: the refusal's audit row must not roll back with it.
        _refuse(actor=actor, target=stored, object_type="user", refusals=refusals, origin=origin)
    return user


def _write_user(user: User, stored: User, *, actor, origin: str, groups, perms) -> None:
    profile, access = _profile(stored), _access(stored)
    # The password is written by user_set_password only: never from a stale instance.
    user.password = stored.password
    user.full_clean(exclude=["password"])
    user.save()
    if groups is not None:
        user.groups.set(groups)
    if perms is not None:
        user.user_permissions.set(perms)
    for action, before, after in [
        ("user.changed", profile, _profile(user)),
        ("user.access_changed", access, _access(user)),
    ]:
        _audit_changes(action, before, after, actor=actor, origin=origin, obj=user)


def user_check_editable(*, user: User, actor, origin: str = "") -> None:
    """Refuse (audited) an actor who may not change this person at all, before any form."""
    refusals = _edit_refusals(actor, user)
    if refusals:
        _refuse(actor=actor, target=user, object_type="user", refusals=refusals, origin=origin)


def user_set_password(*, user: User, password: str | None, actor, origin: str = "") -> User:
    """Set a person's password (None: disable password sign-in), audited without the password.

    Anyone may set their own; an editor needs change_user and may not set the password of a
    superuser or of someone holding groups or permissions the editor lacks.
    """
    with transaction.atomic():
        stored = User.objects.select_for_update().get(pk=user.pk)
        own = getattr(actor, "pk", None) == stored.pk
        refusals = [] if own else _edit_refusals(actor, stored)
        if not refusals and not own:
            what = "set the password of" if password is not None else "disable the password of"
            refusals = _takeover_refusals(actor, stored, [what])
        if not refusals:
            if password is None:
                user.set_unusable_password()
            else:
                password_validation.validate_password(password, stored)
                user.set_password(password)
            user.save(update_fields=["password"])
            audit_password(user, actor=actor, origin=origin)
    if refusals:
        _refuse(actor=actor, target=stored, object_type="user", refusals=refusals, origin=origin)
    return user


def audit_password(user: User, *, actor, origin: str) -> None:
    """A password was set or disabled: the row says whether one can sign in, nothing more."""
    usable = user.has_usable_password()
    audit_record(
        action="user.password_set" if usable else "user.password_disabled",
        actor=actor,
        origin=origin,
        obj=user,
        after={"password_sign_in": usable},  # never the password or its hash
    )


def user_delete(*, user: User, actor, origin: str = "") -> None:
    """Delete a person if the actor may, recording who they were and what they held."""
    stored = User.objects.get(pk=user.pk)
    refusals = _edit_refusals(actor, stored)
    if not refusals and not actor.is_superuser and not actor.has_perm("auth.delete_user"):
        refusals = [f"{actor} may not delete people"]
    if refusals:
        _refuse(actor=actor, target=stored, object_type="user", refusals=refusals, origin=origin)
    delete_audited(
        stored, actor=actor, origin=origin, before={**_profile(stored), **_access(stored)}
    )


def delete_audited(obj, *, actor, origin: str, before: dict) -> None:
    """Delete and audit in one transaction; a row others still point at is a clear error."""
    object_id, object_repr = str(obj.pk), str(obj)
    with transaction.atomic():
        try:
            obj.delete()
        except ProtectedError as exc:
            raise ValidationError(f"{object_repr} cannot be deleted: it is still in use.") from exc
        audit_record(
            action=f"{obj._meta.model_name}.deleted",
            actor=actor,
            origin=origin,
            object_type=obj._meta.model_name,
            object_id=object_id,
            object_repr=object_repr,
            before=before,
        )
