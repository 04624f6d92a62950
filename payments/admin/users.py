"""User and group admin: forms that show what an editor may grant, and the users service that
decides, writes and audits (A5, A6)."""

import copy

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.http import HttpResponseRedirect, QueryDict
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from payments.services import origin_of
from payments.services.groups import group_check_access, group_delete, group_save
from payments.services.users import (
    AccessRefused,
    grantable_groups,
    grantable_permissions,
    user_check_access,
    user_check_editable,
    user_create,
    user_delete,
    user_save,
    user_set_password,
)

TRUTHY = {"on", "true", "1", "yes"}


def _posted_ids(request, name: str) -> list[str] | None:
    if name not in request.POST:
        return None
    return [value for value in request.POST.getlist(name) if value]


def _posted_flag(request, name: str, readonly) -> bool | None:
    """A read-only flag someone posted anyway: the service judges it rather than the form
    dropping it unseen. Editable flags reach the service through the form."""
    if name not in readonly or name not in request.POST:
        return None
    return request.POST[name].lower() in TRUTHY


def _shown_again(request, refusal: AccessRefused, view, *args):
    """Show the page again, as stored, with the refusal at its top: a 403, never a 500."""
    messages.error(request, f"Nothing was saved: {refusal}.")
    again = copy.copy(request)
    again.method, again.POST = "GET", QueryDict()
    response = view(again, *args)
    response.status_code = 403
    return response


class ServiceTransactionMixin:
    """The admin wraps each save in its own transaction; here the service owns it, so that the
    audit row of a refused write is kept while the refused write is not."""

    @method_decorator(csrf_protect)
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            target = self.get_object(request, unquote(object_id)) if object_id else None
            # A missing object is Django's to report; anything else posted is judged first.
            if request.method == "POST" and (target is not None or object_id is None):
                self.check_posted(request, target)
            return self._changeform_view(request, object_id, form_url, extra_context)
        except AccessRefused as refusal:
            return _shown_again(
                request, refusal, self._changeform_view, object_id, form_url, extra_context
            )

    def save_related(self, request, form, formsets, change):
        # The service wrote the many-to-many fields with the object; formsets only remain.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_queryset(self, request, queryset):
        # The bulk "Delete selected" action: one audited delete per row, all or none.
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)


class GuardedUserAdmin(ServiceTransactionMixin, UserAdmin):
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

    def delete_model(self, request, obj):
        user_delete(user=obj, actor=request.user, origin=origin_of(request))

    def add_view(self, request, form_url="", extra_context=None):
        # UserAdmin.add_view opens the admin's transaction: skip to what it wraps.
        return self._add_view(request, form_url, extra_context)

    def check_posted(self, request, target):
        # Groups and permissions the form does not offer would be a form error, not a refusal.
        readonly = self.get_readonly_fields(request, target)
        user_check_access(
            user=target,
            actor=request.user,
            origin=origin_of(request),
            groups=_posted_ids(request, "groups"),
            permissions=_posted_ids(request, "user_permissions"),
            is_superuser=_posted_flag(request, "is_superuser", readonly),
            is_staff=_posted_flag(request, "is_staff", readonly),
        )

    def save_form(self, request, form, change):
        # A new user's password is set by user_create, not hashed here by the form.
        return super().save_form(request, form, change) if change else form.instance

    def save_model(self, request, obj, form, change):
        if not change:
            usable = form.cleaned_data.get("set_usable_password", True)
            password = form.cleaned_data["password1"] if usable else None
            user_create(user=obj, password=password, actor=request.user, origin=origin_of(request))
            return
        user_save(
            user=obj,
            actor=request.user,
            origin=origin_of(request),
            groups=self._granted(request, form, obj, "groups"),
            permissions=self._granted(request, form, obj, "user_permissions"),
        )

    @staticmethod
    def _granted(request, form, user, name):
        if name not in form.fields:
            return None
        posted = list(form.cleaned_data[name])
        if request.user.is_superuser:
            return posted
        # The form offers only what the editor may grant: what else the user holds stays.
        offered = form.fields[name].queryset
        return posted + list(getattr(user, name).exclude(pk__in=offered.values("pk")))

    @method_decorator(sensitive_post_parameters())
    def user_change_password(self, request, id, form_url=""):
        target = self.get_object(request, unquote(id))
        if request.method != "POST" or target is None:
            return super().user_change_password(request, id, form_url)
        origin = origin_of(request)
        try:
            user_check_editable(user=target, actor=request.user, origin=origin)
            form = self.change_password_form(target, request.POST)
            usable = form.is_valid() and form.cleaned_data["set_usable_password"]
            if not form.is_valid() or not (usable or "unset-password" in request.POST):
                # Errors and conflicting buttons: Django's page says what is wrong.
                return super().user_change_password(request, id, form_url)
            password = form.cleaned_data["password1"] if usable else None
            user_set_password(user=target, password=password, actor=request.user, origin=origin)
        except AccessRefused as refusal:
            return _shown_again(request, refusal, super().user_change_password, id, form_url)
        self.log_change(request, target, self.construct_change_message(request, form, None))
        done = "Password changed successfully." if usable else "Password sign-in was disabled."
        messages.success(request, done)
        update_session_auth_hash(request, target)
        return HttpResponseRedirect(reverse("admin:auth_user_change", args=[target.pk]))


class GuardedGroupAdmin(ServiceTransactionMixin, GroupAdmin):
    """Only superusers change what a group may do; others may rename groups."""

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly.append("permissions")
        return readonly

    def delete_model(self, request, obj):
        group_delete(group=obj, actor=request.user, origin=origin_of(request))

    def check_posted(self, request, target):
        group_check_access(
            group=target,
            actor=request.user,
            origin=origin_of(request),
            permissions=_posted_ids(request, "permissions"),
        )

    def save_model(self, request, obj, form, change):
        permissions = form.cleaned_data["permissions"] if "permissions" in form.fields else None
        origin = origin_of(request)
        group_save(group=obj, actor=request.user, origin=origin, permissions=permissions)


admin.site.unregister(User)
admin.site.register(User, GuardedUserAdmin)
admin.site.unregister(Group)
admin.site.register(Group, GuardedGroupAdmin)
