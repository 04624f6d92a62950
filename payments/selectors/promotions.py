"""Reads of promotions shared by the pages, the audit review and the admin."""

from django.db.models import QuerySet

from payments.models import ChangeKind, Promotion, PromotionChange, VccAccount


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


def promotion_changes(promotion: Promotion) -> list[PromotionChange]:
    """The promotion's change set in the order it applies, with what its pages show."""
    return list(
        promotion.changes.select_related(
            "account", "flow__environment", "link__account", "link__flow__environment"
        ).order_by("position")
    )


def promotion_extra_links(promotion: Promotion) -> list[tuple[VccAccount, int]]:
    """The set's links after the first (which is the request's own account and id)."""
    links = [c for c in promotion_changes(promotion) if c.kind == ChangeKind.LINK]
    return [(change.account, change.configuration_id) for change in links[1:]]


def change_rows(promotion: Promotion) -> list[dict]:
    """Each change of the set as the pages show it: what it does, before and after."""
    source = promotion.source_flow
    node = promotion.target_environment.name
    number = promotion.production_flow_number
    rows = []
    for change in promotion_changes(promotion):
        if change.kind == ChangeKind.CREATE_FLOW:
            before = f"no flow {change.flow_number} on {node}"
            after = f"flow {change.flow_number} “{source.name}”, promoted from {source.number}"
        elif change.kind == ChangeKind.LINK:
            target = change.flow.number if change.flow_id else number
            before = f"no id {change.configuration_id} on {change.account.name}"
            after = f"id {change.configuration_id} → flow {target}"
        else:
            link = change.link
            before = f"id {link.configuration_id} → flow {link.flow.number}, active"
            after = f"id {link.configuration_id} switched off"
        rows.append(
            {
                "change": change,
                "account": change.account or (change.link.account if change.link_id else None),
                "label": change.get_kind_display(),
                "before": before,
                "after": after,
            }
        )
    return rows
