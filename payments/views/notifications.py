"""Each person's notification settings (e-mails on or off)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from payments.models import NotificationPreference
from payments.services.preferences import notification_preference_save


class PreferenceForm(forms.ModelForm):
    class Meta:
        model = NotificationPreference
        fields = ["email_enabled"]


@login_required
@require_http_methods(["GET", "POST"])
def notification_settings(request):
    preference = NotificationPreference.objects.filter(user=request.user).first()
    preference = preference or NotificationPreference(user=request.user)
    form = PreferenceForm(request.POST or None, instance=preference)
    if request.method == "POST" and form.is_valid():
        notification_preference_save(
            user=request.user, email_enabled=form.cleaned_data["email_enabled"]
        )
        state = "on" if form.cleaned_data["email_enabled"] else "off"
        messages.success(request, f"E-mails from the registry are {state}.")
        return redirect("payments:notification_settings")
    return render(
        request,
        "payments/notifications/settings.html",
        {"form": form, "has_email": bool(request.user.email)},
    )
