"""Reads of promotions shared by the pages, the audit review and the admin."""

from django.db.models import QuerySet

from payments.models import Promotion


def promotions_with_related() -> QuerySet:
    """Promotions with everything their pages show fetched in the same query."""
    return Promotion.objects.select_related(
        "source_flow__environment",
        "target_account",
        "target_environment",
        "requested_by",
        "approved_by",
        "rejected_by",
        "applied_by",
        "rolled_back_by",
        "production_flow__environment",
        "production_link",
    )
