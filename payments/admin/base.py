"""Shared admin pieces: service-backed saving and the change reason kept in history."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.http import HttpResponseRedirect
from simple_history.admin import SimpleHistoryAdmin

from payments.fields import EncryptedSecretField
from payments.services import origin_of, registry_delete, registry_save
from payments.services.production import (
    BREAK_GLASS_PERMISSION,
    ProductionWriteRefused,
    production_refusal_record,
)

admin.site.site_header = "VCC Registry"
# The collapsible app list beside every page takes a quarter of a 1280 px screen from the
# changelists; the admin's index lists the same models (issue 15, item 4).
admin.site.enable_nav_sidebar = False
admin.site.site_title = "VCC Registry"
admin.site.index_title = "Accounts, credentials, flows and configuration links"


# An inline builds one form per posted row, up to the formset's absolute_max (Django: 1,000 more
# than max_num); a tampered TOTAL_FORMS made one request build thousands (30-47 s). An account
# has a handful of credentials and links.
INLINE_MAX_ROWS = 200


class BoundedInline(admin.TabularInline):
    """A tabular inline that builds at most INLINE_MAX_ROWS forms, whatever the post says."""

    max_num = INLINE_MAX_ROWS

    def get_formset(self, request, obj=None, **kwargs):
        kwargs.setdefault("absolute_max", INLINE_MAX_ROWS)
        return super().get_formset(request, obj, **kwargs)


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


class BreakGlassForm(ChangeReasonForm):
    """The registry's change forms: holders of the permission may change production directly."""

    # Only holders of the break-glass permission see it (RegistryAdmin.get_form drops it).
    break_glass = forms.BooleanField(
        label="Break-glass: make this production change now, without a promotion",
        required=False,
        help_text="Emergency only. The change is recorded as break-glass, shown in red in the "
        "audit trail and sent to the registry admins; the reason above is required.",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("break_glass") and not (cleaned.get("change_reason") or "").strip():
            self.add_error("change_reason", "A break-glass change needs a reason.")
        return cleaned


class ServiceSavedMixin:
    """Save and delete through the registry services so every write is checked and audited."""

    form = ChangeReasonForm

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ProductionWriteRefused as refusal:
            return self._refused(request, refusal)
        except ValidationError as exc:
            # The forms passed but the model refused (a tampered inline management form can
            # post existing rows as new ones); the admin's transaction has rolled back.
            messages.error(
                request,
                f"Nothing was saved: {' '.join(exc.messages)} Reload the page and try again.",
            )
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ProductionWriteRefused as refusal:
            return self._refused(request, refusal)

    def changelist_view(self, request, extra_context=None):
        try:  # actions, "Delete selected" among them
            return super().changelist_view(request, extra_context)
        except ProductionWriteRefused as refusal:
            return self._refused(request, refusal)

    def _refused(self, request, refusal: ProductionWriteRefused):
        # The admin's transaction rolled the refusal's audit event back with everything else.
        production_refusal_record(refusal=refusal)
        messages.error(request, f"Nothing was saved. {refusal.message}")
        return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        registry_save(
            instance=obj,
            actor=request.user,
            origin=origin_of(request),
            reason=form.cleaned_data.get("change_reason", ""),
            break_glass=form.cleaned_data.get("break_glass", False),
        )

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        reason = form.cleaned_data.get("change_reason", "")
        # The page's one break-glass box covers its inlines too.
        request.break_glass = form.cleaned_data.get("break_glass", False)
        for instance in instances:
            self.save_inline(request, instance, formset, reason)
        for obj in formset.deleted_objects:
            registry_delete(
                instance=obj,
                actor=request.user,
                origin=origin_of(request),
                reason=reason,
                break_glass=request.break_glass,
            )
        formset.save_m2m()

    def save_inline(self, request, instance, formset, reason):
        registry_save(
            instance=instance,
            actor=request.user,
            origin=origin_of(request),
            reason=reason,
            break_glass=getattr(request, "break_glass", False),
        )

    def delete_model(self, request, obj):
        registry_delete(instance=obj, actor=request.user, origin=origin_of(request))

    def delete_queryset(self, request, queryset):
        # The bulk "Delete selected" action: one audited delete per row, all or none.
        with transaction.atomic():
            for obj in queryset:
                registry_delete(instance=obj, actor=request.user, origin=origin_of(request))


class CountOnceChangeList(ChangeList):
    """A list that nothing narrows is the whole table: its one count is the total."""

    def get_results(self, request):
        super().get_results(request)
        if self.full_result_count is None and not self.get_filters_params() and not self.query:
            # Without this, the unfiltered list offers "10 results (Show all)" of itself.
            self.full_result_count = self.result_count


class CountOnceAdmin:
    """Every registry changelist: a filtered page says "3 results (Show all)", not "(120 total)".

    Django counts the whole table for that total on every page view, filtered or not (the same
    COUNT twice when nothing is filtered); the audit and session tables grow without end.
    """

    show_full_result_count = False

    def get_changelist(self, request, **kwargs):
        return CountOnceChangeList


class RegistryAdmin(CountOnceAdmin, SafeAutocompleteMixin, ServiceSavedMixin, SimpleHistoryAdmin):
    form = BreakGlassForm
    # A base URL typed without a scheme is taken as https (Django 6 behaviour).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_fields(self, request, obj=None):
        fields = without_secrets_unless_editable(
            self, request, obj, super().get_fields(request, obj)
        )
        for name in ("change_reason", "break_glass"):
            if name in fields:
                fields.remove(name)
        if "change_reason" in self.form.base_fields:
            fields.append("change_reason")
        if "break_glass" in self.form.base_fields and may_break_glass(request):
            fields.append("break_glass")
        return fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if not may_break_glass(request):
            # A posted break_glass=on from anyone else is ignored, not just hidden.
            form.base_fields.pop("break_glass", None)
        return form


def may_break_glass(request) -> bool:
    return request.user.has_perm(BREAK_GLASS_PERMISSION)


class ReadOnlyAdmin(CountOnceAdmin, admin.ModelAdmin):
    """Records nobody edits in the admin: sessions, audit events, tokens, notifications."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
