"""User and group admin that staff cannot use to raise anyone's privileges (A5, A6)."""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, Permission, User
from django.core.exceptions import PermissionDenied
from django.db.models import Q

from payments.models import AuditOutcome
from payments.services import audit_record, origin_of

TRUTHY = {"on", "true", "1", "yes"}


def grantable_groups(user):
    """Groups a person may hand out: those they belong to (superusers: all)."""
    return Group.objects.all() if user.is_superuser else user.groups.all()


def grantable_permissions(user):
    """Permissions a person may hand out: those they hold themselves (superusers: all)."""
    if user.is_superuser:
        return Permission.objects.all()
    held = Q(user=user) | Q(group__user=user)
    return Permission.objects.filter(pk__in=Permission.objects.filter(held).values("pk"))


def _posted_ids(request, name: str) -> set[str]:
    return {value for value in request.POST.getlist(name) if value}


def _ids(queryset) -> set[str]:
    return {str(pk) for pk in queryset.values_list("pk", flat=True)}


def _refuse(request, *, target, object_type: str, refusals: list[str]):
    audit_record(
        action="access.escalation_refused",
        actor=request.user,
        outcome=AuditOutcome.DENIED,
        origin=origin_of(request),
        obj=target,
        object_type=object_type,
        reason="; ".join(refusals),
    )
    raise PermissionDenied("; ".join(refusals))


def _access_snapshot(user: User) -> dict:
    return {
        "is_superuser": user.is_superuser,
        "is_staff": user.is_staff,
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "permissions": sorted(
            f"{app}.{codename}"
            for app, codename in user.user_permissions.values_list(
                "content_type__app_label", "codename"
            )
        ),
    }


class GuardedUserAdmin(UserAdmin):
    """Non-superusers edit people without handing out more than they hold themselves."""

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly.append("is_superuser")
            if obj is not None and obj.pk == request.user.pk:
                readonly += ["is_staff", "groups", "user_permissions"]
        return readonly

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups":
            kwargs["queryset"] = grantable_groups(request.user)
        elif db_field.name == "user_permissions":
            kwargs["queryset"] = grantable_permissions(request.user).select_related("content_type")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def escalations(self, request, target: User | None) -> list[str]:
        """What a POST by a non-superuser would grant beyond what they may grant."""
        editor = request.user
        refusals = []
        if target is not None and target.is_superuser:
            refusals.append(f"{editor} may not change the superuser {target}")
        if request.POST.get("is_superuser", "").lower() in TRUTHY:
            refusals.append(f"{editor} may not make anyone a superuser")
        current_groups = _ids(target.groups.all()) if target else set()
        current_perms = _ids(target.user_permissions.all()) if target else set()
        posted_groups = _posted_ids(request, "groups")
        posted_perms = _posted_ids(request, "user_permissions")
        if target is not None and target.pk == editor.pk:
            if "groups" in request.POST and posted_groups != current_groups:
                refusals.append(f"{editor} may not change their own groups")
            if "user_permissions" in request.POST and posted_perms != current_perms:
                refusals.append(f"{editor} may not change their own permissions")
            return refusals
        if posted_groups - current_groups - _ids(grantable_groups(editor)):
            refusals.append(f"{editor} may not grant groups they do not belong to")
        if posted_perms - current_perms - _ids(grantable_permissions(editor)):
            refusals.append(f"{editor} may not grant permissions they do not hold")
        return refusals

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and not request.user.is_superuser:
            target = self.get_object(request, unquote(object_id)) if object_id else None
            refusals = self.escalations(request, target)
            if refusals:
                _refuse(request, target=target, object_type="user", refusals=refusals)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def user_change_password(self, request, id, form_url=""):
        target = self.get_object(request, unquote(id))
        if target is not None and target.is_superuser and not request.user.is_superuser:
            _refuse(
                request,
                target=target,
                object_type="user",
                refusals=[f"{request.user} may not set the password of the superuser {target}"],
            )
        return super().user_change_password(request, id, form_url)

    def save_related(self, request, form, formsets, change):
        user = form.instance
        before = _access_snapshot(user) if change else {}
        kept_groups, kept_perms = [], []
        if change and not request.user.is_superuser:
            # Memberships the editor cannot see in the form must survive the save.
            kept_groups = list(user.groups.exclude(pk__in=grantable_groups(request.user)))
            kept_perms = list(
                user.user_permissions.exclude(pk__in=grantable_permissions(request.user))
            )
        super().save_related(request, form, formsets, change)
        user.groups.add(*kept_groups)
        user.user_permissions.add(*kept_perms)
        after = _access_snapshot(user)
        if after != before:
            changed = [key for key in after if before.get(key) != after[key]]
            audit_record(
                action="user.access_changed",
                actor=request.user,
                origin=origin_of(request),
                obj=user,
                before={key: before.get(key) for key in changed},
                after={key: after[key] for key in changed},
            )


class GuardedGroupAdmin(GroupAdmin):
    """Only superusers change what a group may do; others may rename groups."""

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly.append("permissions")
        return readonly

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and not request.user.is_superuser:
            target = self.get_object(request, unquote(object_id)) if object_id else None
            current = _ids(target.permissions.all()) if target else set()
            if "permissions" in request.POST and _posted_ids(request, "permissions") != current:
                _refuse(
                    request,
                    target=target,
                    object_type="group",
                    refusals=[f"{request.user} may not change the permissions of a group"],
                )
        return super().changeform_view(request, object_id, form_url, extra_context)


admin.site.unregister(User)
admin.site.register(User, GuardedUserAdmin)
admin.site.unregister(Group)
admin.site.register(Group, GuardedGroupAdmin)
