"""Scheduling a promotion from its page: the worker applies it at the time chosen."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from payments.models import Promotion
from payments.services import origin_of
from payments.services.schedules import promotion_schedule, promotion_unschedule


class ScheduleForm(forms.Form):
    apply_at = forms.DateTimeField(
        label="Apply at",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


@login_required
@require_POST
def promotion_schedule_view(request, pk: int):
    promotion = get_object_or_404(Promotion, pk=pk)
    back = redirect("payments:promotion", pk=pk)
    if request.POST.get("unschedule"):
        try:
            promotion_unschedule(promotion=promotion, actor=request.user, origin=origin_of(request))
        except PermissionDenied as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Promotion #{pk} is no longer scheduled.")
        return back
    form = ScheduleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose the date and time to apply it at.")
        return back
    try:
        schedule = promotion_schedule(
            promotion=promotion,
            apply_at=form.cleaned_data["apply_at"],
            actor=request.user,
            origin=origin_of(request),
        )
    except (PermissionDenied, ValidationError) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        return back
    when = timezone.localtime(schedule.apply_at)
    messages.success(
        request,
        f"Promotion #{pk} is scheduled for {when:%Y-%m-%d %H:%M %Z}: the worker applies it then "
        "if it is still approved, sound and not in a change freeze.",
    )
    return back
