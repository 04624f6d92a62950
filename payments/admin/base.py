"""Shared admin pieces: service-backed saving and the change reason kept in history."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.http import HttpResponseRedirect
from simple_history.admin import SimpleHistoryAdmin

from payments.fields import EncryptedSecretField
from payments.services import origin_of, registry_delete, registry_save

admin.site.site_header = "VCC Registry"
# The collapsible app list beside every page takes a quarter of a 1280 px screen from the
# changelists; the admin's index lists the same models (issue 15, item 4).
admin.site.enable_nav_sidebar = False
admin.site.site_title = "VCC Registry"
admin.site.index_title = "Accounts, credentials, flows and configuration links"


class SafeAutocompleteSelect(AutocompleteSelect):
    """Render a garbage or tampered value as no selection: Django's widget fails (a 500)."""

    def optgroups(self, name, value, attr=None):
        remote = self.field.remote_field
        to_field = remote.model._meta.get_field(remote.field_name)
        return super().optgroups(name, [v for v in value if _valid_for(to_field, v)], attr)


def _valid_for(to_field, value) -> bool:
    try:
        to_field.run_validators(to_field.to_python(value))
    except (ValidationError, ValueError, TypeError, OverflowError):
        return False
    return True


class SafeAutocompleteMixin:
    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = SafeAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def without_secrets_unless_editable(model_admin, request, obj, fields) -> list:
    """A2: a view-only page shows every field read-only, so it would print a secret in clear."""
    if model_admin.has_change_permission(request, obj):
        return list(fields)
    secret_names = {
        field.name
        for field in model_admin.model._meta.concrete_fields
        if isinstance(field, EncryptedSecretField)
    }
    return [name for name in fields if name not in secret_names]


class ChangeReasonForm(forms.ModelForm):
    change_reason = forms.CharField(
        required=False,
        max_length=200,
        help_text="Why this change? Kept in the object's history and the audit trail.",
    )


class ServiceSavedMixin:
    """Save and delete through the registry services so every write is checked and audited."""

    form = ChangeReasonForm

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            # The forms passed but the model refused (a tampered inline management form can
            # post existing rows as new ones); the admin's transaction has rolled back.
            messages.error(
                request,
                f"Nothing was saved: {' '.join(exc.messages)} Reload the page and try again.",
            )
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        registry_save(
            instance=obj,
            actor=request.user,
            origin=origin_of(request),
            reason=form.cleaned_data.get("change_reason", ""),
        )

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        reason = form.cleaned_data.get("change_reason", "")
        for instance in instances:
            self.save_inline(request, instance, formset, reason)
        for obj in formset.deleted_objects:
            registry_delete(
                instance=obj, actor=request.user, origin=origin_of(request), reason=reason
            )
        formset.save_m2m()

    def save_inline(self, request, instance, formset, reason):
        registry_save(
            instance=instance, actor=request.user, origin=origin_of(request), reason=reason
        )

    def delete_model(self, request, obj):
        registry_delete(instance=obj, actor=request.user, origin=origin_of(request))

    def delete_queryset(self, request, queryset):
        # The bulk "Delete selected" action: one audited delete per row, all or none.
        with transaction.atomic():
            for obj in queryset:
                registry_delete(instance=obj, actor=request.user, origin=origin_of(request))


class RegistryAdmin(SafeAutocompleteMixin, ServiceSavedMixin, SimpleHistoryAdmin):
    # A base URL typed without a scheme is taken as https (Django 6 behaviour).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_fields(self, request, obj=None):
        fields = without_secrets_unless_editable(
            self, request, obj, super().get_fields(request, obj)
        )
        if "change_reason" in fields:
            fields.remove("change_reason")
            fields.append("change_reason")
        return fields


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records nobody edits in the admin: sessions and audit events."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
