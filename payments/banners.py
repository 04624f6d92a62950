"""The change-freeze banner every page shows (a context processor)."""

from django.utils import timezone

from payments.services.freezes import freezes_for_banner


def freeze_banner(request):
    """Freezes in force or starting within 24 hours, for signed-in people."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    now = timezone.now()
    freezes = freezes_for_banner(now=now)
    for freeze in freezes:
        freeze.in_force = freeze.starts_at <= now
    return {"freeze_banner": freezes}
