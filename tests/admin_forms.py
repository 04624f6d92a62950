"""Build the POST an admin add/change page would send, from the page's own forms."""

from django import forms


def _field_data(form, name: str, field) -> dict:
    key = form.add_prefix(name)
    value = form[name].value()
    if isinstance(field.widget, forms.MultiWidget):
        parts = field.widget.decompress(value)
        return {f"{key}_{i}": "" if part is None else part for i, part in enumerate(parts)}
    if isinstance(field, forms.BooleanField):
        return {key: "on"} if value else {}
    if isinstance(field, forms.ModelMultipleChoiceField):
        # A browser can only submit the options the page offers.
        pks = [getattr(item, "pk", item) for item in value or []]
        offered = field.queryset.filter(pk__in=pks).values_list("pk", flat=True)
        return {key: [str(pk) for pk in offered]}
    if isinstance(field, forms.ModelChoiceField) and hasattr(value, "pk"):
        value = value.pk
    return {key: "" if value is None else str(value)}


def form_data(form) -> dict:
    data = {}
    for name, field in form.fields.items():
        if not field.disabled:
            data.update(_field_data(form, name, field))
    return data


def admin_post_data(response) -> dict:
    """The data of the admin form on this page, as the browser would submit it unchanged."""
    data = form_data(response.context["adminform"].form)
    for inline in response.context.get("inline_admin_formsets", []):
        formset = inline.formset
        data.update(form_data(formset.management_form))
        for inline_form in formset.initial_forms:
            data.update(form_data(inline_form))
    return data
