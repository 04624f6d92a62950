"""The main navigation: each page a person may use, by permission."""

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    help: str
    permission: str | None = None  # any of a comma-separated list
    staff_only: bool = False


# Pages add themselves here; an entry whose URL does not exist yet is left out.
NAV_ITEMS = [
    NavItem(
        "Launch",
        "payments:launch",
        "Start a test payment session on a flow.",
        "payments.add_paymentsession",
    ),
    NavItem(
        "My sessions",
        "payments:sessions",
        "Recent sessions and their outcomes.",
        "payments.view_paymentsession",
    ),
    NavItem(
        "Promotions",
        "payments:promotions",
        "Promote staging flows to production.",
        "payments.view_promotion",
    ),
    NavItem(
        "Link health",
        "payments:link_health",
        "Which configuration links VCC proves, and which it refuses.",
        "payments.view_linkprobe",
    ),
    NavItem(
        "Audit", "payments:audit", "Timeline of promotions and changes.", "payments.view_auditevent"
    ),
    NavItem("Admin", "admin:index", "Accounts, credentials, flows and links.", staff_only=True),
]


def _allowed(user, item: NavItem) -> bool:
    if item.staff_only and not user.is_staff:
        return False
    if item.permission is None:
        return True
    return any(user.has_perm(perm.strip()) for perm in item.permission.split(","))


def navigation(request) -> dict:
    """Template context: the navigation entries the user may open."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = []
    for item in NAV_ITEMS:
        if not _allowed(user, item):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        active = request.path.startswith(url) if url != "/" else request.path == "/"
        items.append({"label": item.label, "url": url, "help": item.help, "active": active})
    return {"nav_items": items}
