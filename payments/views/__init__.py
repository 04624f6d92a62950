"""The pages. Home and the favicon live here; each area has its own module in this package."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_safe


@login_required
def home(request):
    return render(request, "payments/home.html")


@require_safe
def favicon(request):
    """Browsers ask for /favicon.ico on every page (the admin's too): send them the icon."""
    return redirect(static("payments/favicon.svg"), permanent=True)
